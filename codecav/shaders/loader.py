"""Loads GLSL files from codecav.shaders and preprocesses them into per-stage sources.

One small preprocessor (after moderngl-window's ShaderSource and pygfx's templating):
- `#include "name.glsl"` pastes another file, with cycle detection;
- `{{NAME}}` template variables are substituted from a dict; an undefined one is an error;
- each stage gets `#version`, `#define VERTEX_SHADER` (or FRAGMENT_SHADER) and the caller's defines;
- `#line` directives keep driver messages pointing at the .glsl file's own lines, and
  `build_program` rewrites driver locations back to `name.glsl:LINE`. Mesa reports source-string 0
  whatever `#line` says, so the file is also encoded in the line number: FILE_ID * LINE_BASE + line.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import moderngl

from codecav.shaders.errors import ShaderCompileError, ShaderSourceError

STAGES = ("VERTEX_SHADER", "FRAGMENT_SHADER")
"""Stage defines; a .glsl file holds every stage, selected with `#if defined(VERTEX_SHADER)`."""

DEFAULT_VERSION = "330 core"
"""GLSL version of codecav programs (the OpenGL 3.3 floor of every render target)."""

LINE_BASE = 100_000
"""Line numbers of the i-th file in a stage start at i * LINE_BASE + 1 (files are far shorter)."""

_INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"\s*$')
_TEMPLATE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
# Driver error locations: Mesa "0:12(5): error", NVIDIA "0(12) : error", AMD/Intel "ERROR: 0:12:".
_DRIVER_LOCATIONS = (
    re.compile(r"\b(\d+):(\d+)\(\d+\)"),
    re.compile(r"\b(\d+)\((\d+)\)"),
    re.compile(r"\b(\d+):(\d+):"),
)


@lru_cache(maxsize=64)
def read_shader(name: str) -> str:
    """Text of `codecav/shaders/<name>`; ShaderSourceError naming the file if it does not exist."""
    path = resources.files("codecav.shaders").joinpath(name)
    if not path.is_file():
        raise ShaderSourceError(f"shader file {name!r} not found in codecav/shaders")
    return path.read_text(encoding="utf-8")


@dataclass(frozen=True)
class StageSource:
    """One preprocessed stage, ready for the driver."""

    text: str
    """Full GLSL text with #version, defines and #line directives."""
    files: tuple[str, ...]
    """files[i] is the file whose lines are numbered i * LINE_BASE + line (and source-string i)."""


def _format_define(name: str, value: object) -> str:
    if isinstance(value, bool):
        return f"#define {name} {int(value)}"
    return f"#define {name} {value}".rstrip()


def preprocess(
    name: str,
    stage: str,
    *,
    defines: Mapping[str, object] | None = None,
    variables: Mapping[str, object] | None = None,
    version: str = DEFAULT_VERSION,
    read: Callable[[str], str] = read_shader,
) -> StageSource:
    """Expand includes and template variables of file `name` for `stage` (one of STAGES)."""
    if stage not in STAGES:
        raise ValueError(f"unknown shader stage {stage!r}; use one of {STAGES}")
    values = dict(variables or {})
    files: list[str] = []
    out: list[str] = [f"#version {version}", f"#define {stage}"]
    out += [_format_define(k, v) for k, v in (defines or {}).items()]

    def expand(file: str, stack: tuple[str, ...]) -> None:
        if file in stack:
            raise ShaderSourceError(f"#include cycle: {' -> '.join((*stack, file))}")
        file_id = len(files)
        files.append(file)
        out.append(f"#line {file_id * LINE_BASE + 1} {file_id}")
        for number, line in enumerate(read(file).splitlines(), start=1):
            include = _INCLUDE.match(line)
            if include is not None:
                expand(include.group(1), (*stack, file))
                out.append(f"#line {file_id * LINE_BASE + number + 1} {file_id}")
                continue
            if line.lstrip().startswith("#version"):
                raise ShaderSourceError(f"{file}:{number}: remove #version; the loader writes it")

            def substitute(match: re.Match[str], file: str = file, number: int = number) -> str:
                key = match.group(1)
                if key not in values:
                    raise ShaderSourceError(
                        f"{file}:{number}: template variable {{{{{key}}}}} is undefined; "
                        f"pass it in variables= (given: {sorted(values)})"
                    )
                return str(values[key])

            expanded = _TEMPLATE.sub(substitute, line)
            out.append(expanded)
            if "\n" in expanded:  # a multi-line value: resynchronise the numbering of the lines after it
                out.append(f"#line {file_id * LINE_BASE + number + 1} {file_id}")

    expand(name, ())
    return StageSource("\n".join(out) + "\n", tuple(files))


def map_driver_message(message: str, files: tuple[str, ...]) -> str:
    """Rewrite driver locations `ID:LINE` in `message` to `file.glsl:LINE` using `files`."""
    for pattern in _DRIVER_LOCATIONS:
        def replace(match: re.Match[str]) -> str:
            file_id, line = divmod(int(match.group(2)), LINE_BASE)
            if file_id >= len(files):
                return match.group(0)
            return f"{files[file_id]}:{line}:"

        mapped = pattern.sub(replace, message)
        if mapped != message:
            return mapped
    return message


def build_program(
    ctx: moderngl.Context,
    name: str,
    *,
    defines: Mapping[str, object] | None = None,
    variables: Mapping[str, object] | None = None,
    version: str = DEFAULT_VERSION,
    read: Callable[[str], str] = read_shader,
) -> moderngl.Program:
    """Compile and link the vertex + fragment stages of `name`; ShaderCompileError with file:line on failure."""
    stages = {
        stage: preprocess(name, stage, defines=defines, variables=variables, version=version, read=read)
        for stage in STAGES
    }
    try:
        return ctx.program(
            vertex_shader=stages["VERTEX_SHADER"].text,
            fragment_shader=stages["FRAGMENT_SHADER"].text,
        )
    except moderngl.Error as exc:
        text = str(exc)
        stage_name = "FRAGMENT_SHADER" if "fragment_shader" in text.lower() else "VERTEX_SHADER"
        mapped = map_driver_message(text, stages[stage_name].files)
        lines = [ln.strip() for ln in mapped.splitlines() if ln.strip() and set(ln.strip()) != {"="}]
        detail = "; ".join(ln for ln in lines if ".glsl:" in ln) or "; ".join(lines)
        raise ShaderCompileError(f"{name} ({stage_name.lower()}): {detail}") from exc
