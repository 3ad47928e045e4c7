"""FB face tracking (70 weights) -> ARKit-52: a pure function, tested on CPU."""

from __future__ import annotations

import numpy as np
import pytest

from codecav.arkit import ARKIT_52, ARKIT_INDEX
from codecav.xr.openxr.face_tracking import (
    ARKIT_FROM_FB,
    FB_FACE_EXPRESSIONS_2,
    FB_INDEX,
    FB_TO_ARKIT_MATRIX,
    fb_to_arkit,
)


def _fb(**named: float) -> np.ndarray:
    weights = np.zeros(70, np.float32)
    for name, value in named.items():
        weights[FB_INDEX[name]] = value
    return weights


def test_fb_list_has_70_unique_names_matching_the_registry_order() -> None:
    assert len(FB_FACE_EXPRESSIONS_2) == 70 and len(set(FB_FACE_EXPRESSIONS_2)) == 70
    assert FB_FACE_EXPRESSIONS_2[0] == "BROW_LOWERER_L"
    assert FB_FACE_EXPRESSIONS_2[24] == "JAW_DROP"
    assert FB_FACE_EXPRESSIONS_2[63] == "TONGUE_TIP_INTERDENTAL"
    assert FB_FACE_EXPRESSIONS_2[69] == "TONGUE_RETREAT"


def test_fb_list_matches_pyopenxr_enum_when_available() -> None:
    xr = pytest.importorskip("xr", reason="pyopenxr not installed")
    enum = getattr(xr, "FaceExpression2FB", None)
    if enum is None:
        pytest.skip("this pyopenxr has no FaceExpression2FB enum")
    for index, name in enumerate(FB_FACE_EXPRESSIONS_2):
        assert enum[name].value == index


def test_every_arkit_shape_is_mapped_once_and_rows_sum_to_one() -> None:
    assert set(ARKIT_FROM_FB) == set(ARKIT_52)
    assert FB_TO_ARKIT_MATRIX.shape == (52, 70)
    np.testing.assert_allclose(FB_TO_ARKIT_MATRIX.sum(axis=1), 1.0, rtol=1e-6)


def test_neutral_face_maps_to_zero() -> None:
    out = fb_to_arkit(np.zeros(70, np.float32))
    assert out.shape == (52,) and out.dtype == np.float32
    assert not out.any()


def test_single_expressions_land_on_the_right_shape() -> None:
    out = fb_to_arkit(_fb(JAW_DROP=0.8))
    assert out[ARKIT_INDEX["jawOpen"]] == pytest.approx(0.8)
    assert np.count_nonzero(out) == 1
    out = fb_to_arkit(_fb(EYES_CLOSED_L=1.0))
    assert out[ARKIT_INDEX["eyeBlinkLeft"]] == 1.0 and out[ARKIT_INDEX["eyeBlinkRight"]] == 0.0


def test_eye_look_in_is_towards_the_nose() -> None:
    out = fb_to_arkit(_fb(EYES_LOOK_RIGHT_L=1.0, EYES_LOOK_RIGHT_R=1.0))
    assert out[ARKIT_INDEX["eyeLookInLeft"]] == 1.0
    assert out[ARKIT_INDEX["eyeLookOutRight"]] == 1.0
    assert out[ARKIT_INDEX["eyeLookOutLeft"]] == 0.0 and out[ARKIT_INDEX["eyeLookInRight"]] == 0.0


def test_bilateral_and_four_part_shapes_average() -> None:
    out = fb_to_arkit(_fb(INNER_BROW_RAISER_L=1.0, LIP_FUNNELER_LB=1.0, LIP_FUNNELER_RT=1.0))
    assert out[ARKIT_INDEX["browInnerUp"]] == pytest.approx(0.5)
    assert out[ARKIT_INDEX["mouthFunnel"]] == pytest.approx(0.5)


def test_output_is_clipped_to_unit_range() -> None:
    out = fb_to_arkit(np.full(70, 1.5, np.float32))
    assert out.max() == 1.0
    out = fb_to_arkit(np.full(70, -0.5, np.float32))
    assert out.min() == 0.0


@pytest.mark.parametrize("bad", [np.zeros(69), np.zeros(72), np.zeros((2, 70))])
def test_wrong_shape_is_a_one_line_value_error(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="70 XR_FB_face_tracking2 weights") as info:
        fb_to_arkit(bad)
    assert "\n" not in str(info.value)


def test_non_finite_weights_are_rejected() -> None:
    weights = np.zeros(70, np.float32)
    weights[3] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        fb_to_arkit(weights)
