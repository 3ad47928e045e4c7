"""GLSL ES 3.00 variants of the PiCA programs for WebGL2 (codecav.shaders.web): the same files through the same
preprocessor, an ES header, and the MLP shape left to the page as macros."""

from __future__ import annotations

import json

import pytest

from codecav.shaders.errors import ShaderSourceError
from codecav.shaders.loader import preprocess
from codecav.shaders.web import ES_PRECISION, PAGE_DEFINED, WEB_PROGRAMS, es300_program, es300_program_json


@pytest.mark.parametrize("name", WEB_PROGRAMS)
def test_es300_program_is_the_loader_output_with_an_es_header(name: str) -> None:
    program = es300_program(name)
    for stage, text in (("VERTEX_SHADER", program.vertex), ("FRAGMENT_SHADER", program.fragment)):
        lines = text.splitlines()
        assert lines[0] == "#version 300 es"
        assert tuple(lines[1:1 + len(ES_PRECISION)]) == ES_PRECISION
        assert lines[1 + len(ES_PRECISION)] == f"#define {stage}"
        assert "{{" not in text and "core" not in text
        desktop = preprocess(f"{name}.glsl", stage, defines={"COUNT_INVOCATIONS": 0},
                             variables={"MLP_LAYER_CODE": "MLP_LAYER_CODE"})
        assert desktop.text.splitlines()[1:] == lines[1 + len(ES_PRECISION):]  # only the header differs


def test_mlp_programs_leave_the_shape_to_the_page() -> None:
    fragment = es300_program("pica").fragment
    assert "MLP_LAYER_CODE" in fragment and "u_mlp[MLP_VEC4S]" in fragment
    assert set(PAGE_DEFINED) == {"FEATURE_LAYERS", "UV_FREQUENCIES", "MLP_INPUT_VEC4S", "MLP_VEC4S", "MLP_LAYER_CODE"}


def test_json_body_and_unknown_names() -> None:
    body = json.loads(es300_program_json("pica_depth"))
    assert body["name"] == "pica_depth" and body["vertex"].startswith("#version 300 es")
    assert body["files"][0] == "pica_depth.glsl" and body["page_defined"] == list(PAGE_DEFINED)
    with pytest.raises(ShaderSourceError, match="no web shader program 'textured_mesh'; known: pica, "):
        es300_program("textured_mesh")


def test_desktop_callers_still_get_glsl_330() -> None:
    assert preprocess("pica_depth.glsl", "VERTEX_SHADER").text.startswith("#version 330 core\n")
