"""GLSL ES 3.00 variants of codecav's PiCA programs, for WebGL2 in the browser participant (codecav/net/web).

The same .glsl files as the desktop renderer go through the same preprocessor (codecav.shaders.loader); only the
`#version` line differs, ES precision statements follow it, and what depends on an avatar's MLP shape is left to
the page as macros, so one served text fits every avatar:
- the defines FEATURE_LAYERS, UV_FREQUENCIES, MLP_INPUT_VEC4S and MLP_VEC4S, and
- the template variable MLP_LAYER_CODE, emitted as the macro name `MLP_LAYER_CODE`,
which the page defines right after the `#version` line (static/avatar/pica.js, mirroring
codecav.decoders.mlp_layout.MlpShape.defines() and .variables()).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

from codecav.shaders.errors import ShaderSourceError
from codecav.shaders.loader import preprocess

ES_VERSION = "300 es"
"""The `#version` of WebGL2 shaders."""

ES_PRECISION = (
    "precision highp float;",
    "precision highp int;",
    "precision highp sampler2D;",
    "precision highp sampler2DArray;",
)
"""Statements put right after `#version`: ES fragment shaders have no default float precision, and the
feature texture array must be sampled at full precision."""

WEB_PROGRAMS = ("pica", "pica_depth", "pica_gbuffer", "pica_resolve")
"""Programs served to the page (the .glsl file names without the suffix)."""

PAGE_DEFINED = ("FEATURE_LAYERS", "UV_FREQUENCIES", "MLP_INPUT_VEC4S", "MLP_VEC4S", "MLP_LAYER_CODE")
"""Macros the page defines per MLP shape after the `#version` line."""


@dataclass(frozen=True)
class Es300Program:
    """Both stages of one program as GLSL ES 3.00 text, ready for gl.shaderSource once the page's macros
    (PAGE_DEFINED) are inserted after the first line."""

    name: str
    """Program name, one of WEB_PROGRAMS."""
    vertex: str
    """Vertex stage text, starting with `#version 300 es`."""
    fragment: str
    """Fragment stage text, starting with `#version 300 es`."""
    files: tuple[str, ...]
    """The fragment stage's files by `#line` source number, to map driver messages back (loader.LINE_BASE)."""


@lru_cache(maxsize=len(WEB_PROGRAMS))
def es300_program(name: str) -> Es300Program:
    """The ES 3.00 sources of program `name` (one of WEB_PROGRAMS); ShaderSourceError naming the known ones."""
    if name not in WEB_PROGRAMS:
        raise ShaderSourceError(f"no web shader program {name!r}; known: {', '.join(WEB_PROGRAMS)}")
    defines = {"COUNT_INVOCATIONS": 0}
    variables = {"MLP_LAYER_CODE": "MLP_LAYER_CODE"}  # a macro the page defines per MLP shape
    stages = [preprocess(f"{name}.glsl", stage, defines=defines, variables=variables, version=ES_VERSION)
              for stage in ("VERTEX_SHADER", "FRAGMENT_SHADER")]
    vertex, fragment = (_with_precision(s.text) for s in stages)
    return Es300Program(name, vertex, fragment, stages[1].files)


def es300_program_json(name: str) -> bytes:
    """UTF-8 JSON `{"name", "vertex", "fragment", "files", "page_defined"}` of es300_program(name): the body
    of `GET /shaders/es300/<name>.json` (ShaderSourceError, to answer 404, for an unknown name)."""
    program = es300_program(name)
    body = {"name": program.name, "vertex": program.vertex, "fragment": program.fragment,
            "files": list(program.files), "page_defined": list(PAGE_DEFINED)}
    return json.dumps(body).encode("utf-8")


def _with_precision(text: str) -> str:
    version, rest = text.split("\n", 1)
    return "\n".join([version, *ES_PRECISION, rest])
