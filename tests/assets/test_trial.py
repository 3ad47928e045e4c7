"""The trial run in a limited child process: the backstop behind the static bounds. The models here are
fed to trial_run directly (the static bounds would refuse most of them first); the limits are set low so
each test ends in about a second, and the generous ones are only hang guards."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import codecav.assets.trial as trial_module
from codecav.assets.errors import NonFiniteWeightsError, TrialRunError
from codecav.assets.package import AvatarPackage
from codecav.assets.trial import (
    TrialInput,
    TrialLimits,
    TrialModel,
    discard_prestarted_trial_child,
    prestart_trial_child,
    trial_run,
)
from codecav.assets.verify import run_decoder_once
from tests.assets.attacks import slow_decoder

GiB = 1024**3


def _slow_model() -> TrialModel:
    return TrialModel("decoder.onnx", slow_decoder(4, 5, 4, 2, 2),
                      {"latent": TrialInput((1, 4)), "view_dir": TrialInput((1, 3), fill=(0.0, 0.0, 1.0))},
                      ("geometry", "features"))


def _allocating_model(shape: list[int]) -> TrialModel:
    """ConstantOfShape of `shape`, the shape computed from the input at run time (so nothing folds at load)."""
    nodes = [helper.make_node("ReduceSum", ["latent"], ["l_sum"], keepdims=0),
             helper.make_node("Add", ["shape_f", "l_sum"], ["shape_g"]),
             helper.make_node("Cast", ["shape_g"], ["shape_i"], to=TensorProto.INT64),
             helper.make_node("ConstantOfShape", ["shape_i"], ["big"],
                              value=numpy_helper.from_array(np.array([1.0], np.float32))),
             helper.make_node("ReduceSum", ["big"], ["y"], keepdims=0)]
    graph = helper.make_graph(nodes, "alloc", [helper.make_tensor_value_info("latent", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [])],
                              [numpy_helper.from_array(np.array(shape, np.float32), "shape_f")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return TrialModel("encoders/x.onnx", model.SerializeToString(), {"latent": TrialInput((1, 4))}, ("y",))


def test_wall_clock_deadline_kills_the_child() -> None:
    with pytest.raises(TrialRunError) as info:
        trial_run([_slow_model()], "pkg", TrialLimits(wall_s=1.0, cpu_s=600))
    assert info.value.reason == "trial_timeout"
    assert str(info.value) == ("pkg: member decoder.onnx trial run took more than 1 s and was stopped; "
                               "re-export the avatar with a cheaper decoder")


def test_cpu_limit_stops_the_child() -> None:
    with pytest.raises(TrialRunError) as info:
        trial_run([_slow_model()], "pkg", TrialLimits(wall_s=300, cpu_s=1))
    assert info.value.reason == "trial_cpu_limit"
    assert "used more than 1 s of CPU" in str(info.value)


def test_address_space_limit_refuses_a_big_allocation() -> None:
    with pytest.raises(TrialRunError) as info:
        trial_run([_allocating_model([1, 1024, 1024, 1024])], "pkg", TrialLimits(address_space_bytes=GiB))
    assert info.value.reason == "trial_memory_limit"
    assert str(info.value).startswith("pkg: member encoders/x.onnx ran out of its 1.0 GiB address space")
    assert "\n" not in str(info.value)


def test_within_limits_the_outputs_come_back() -> None:
    (out,) = trial_run([_allocating_model([1, 2, 3, 4])], "pkg")
    assert out.member == "encoders/x.onnx" and out.arrays["y"] == pytest.approx(24.0) and out.ms > 0


def test_synthetic_package_decodes_in_the_child(synthetic: AvatarPackage) -> None:
    geometry, features, ms = run_decoder_once(synthetic)
    assert geometry.shape == (1, 1490, 3) and features.shape == (1, 8, 64, 64) and ms > 0
    assert np.all(np.isfinite(geometry)) and np.all(np.isfinite(features))


def test_encoders_run_in_the_trial(synthetic: AvatarPackage) -> None:
    # An encoder that decodes to NaN for a zero input is caught by the same trial as the decoder.
    graph = helper.make_graph([helper.make_node("Div", ["arkit", "arkit"], ["code"])], "nan_encoder",
                              [helper.make_tensor_value_info("arkit", TensorProto.FLOAT, ["N", 52])],
                              [helper.make_tensor_value_info("code", TensorProto.FLOAT, ["N", 52])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    package = replace(synthetic, encoders_onnx={"encoders/expression.onnx": model.SerializeToString()})
    with pytest.raises(NonFiniteWeightsError, match="member encoders/expression.onnx output code holds NaN"):
        run_decoder_once(package)


def test_a_prestarted_child_runs_the_next_trial_under_the_same_limits() -> None:
    """The child started ahead (onnxruntime loaded while, say, an avatar is still arriving) is the one the next
    trial uses, and its limits still hold: a hanging model is killed at the deadline counted from hand-over."""
    prestart_trial_child()
    waiting = trial_module._prestarted
    assert waiting is not None and waiting.poll() is None
    (out,) = trial_run([_allocating_model([1, 2, 3, 4])], "pkg")
    assert out.arrays["y"] == pytest.approx(24.0)
    assert trial_module._prestarted is None and waiting.returncode == 0  # taken, answered, exited
    prestart_trial_child()
    with pytest.raises(TrialRunError) as info:
        trial_run([_slow_model()], "pkg", TrialLimits(wall_s=0.5, cpu_s=30))
    assert info.value.reason == "trial_timeout"


def test_a_prestarted_child_that_died_is_replaced_and_an_unused_one_exits() -> None:
    prestart_trial_child()
    dead = trial_module._prestarted
    assert dead is not None
    dead.kill()
    dead.wait(10)
    (out,) = trial_run([_allocating_model([1, 2, 3, 4])], "pkg")  # a fresh child instead
    assert out.arrays["y"] == pytest.approx(24.0)
    prestart_trial_child()
    unused = trial_module._prestarted
    assert unused is not None
    discard_prestarted_trial_child()
    assert unused.returncode == 0 and trial_module._prestarted is None  # stdin closed: it left quietly
