"""The GLSL preprocessor: includes, cycles, template variables, stage defines and #line mapping."""

from __future__ import annotations

from collections.abc import Callable

import moderngl
import pytest

from codecav.shaders.errors import ShaderCompileError, ShaderSourceError
from codecav.shaders.loader import LINE_BASE, build_program, map_driver_message, preprocess, read_shader


def reader(files: dict[str, str]) -> Callable[[str], str]:
    """A source reader over in-memory files."""

    def read(name: str) -> str:
        if name not in files:
            raise ShaderSourceError(f"shader file {name!r} not found")
        return files[name]

    return read


GOOD = {
    "main.glsl": 'float a = {{A}};\n#include "lib.glsl"\nfloat c = 3.0;\n',
    "lib.glsl": "float b = 2.0;\n",
}


def test_stage_define_version_and_defines_come_first() -> None:
    src = preprocess("main.glsl", "FRAGMENT_SHADER", defines={"N": 4, "ON": True}, variables={"A": "1.0"},
                     read=reader(GOOD))
    lines = src.text.splitlines()
    assert lines[:4] == ["#version 330 core", "#define FRAGMENT_SHADER", "#define N 4", "#define ON 1"]


def test_include_is_pasted_with_line_directives() -> None:
    src = preprocess("main.glsl", "VERTEX_SHADER", variables={"A": "1.0"}, read=reader(GOOD))
    body = src.text.splitlines()[2:]
    assert body == [
        "#line 1 0",
        "float a = 1.0;",
        f"#line {LINE_BASE + 1} 1",
        "float b = 2.0;",
        "#line 3 0",
        "float c = 3.0;",
    ]
    assert src.files == ("main.glsl", "lib.glsl")


def test_include_cycle_is_reported_with_its_chain() -> None:
    files = {"a.glsl": '#include "b.glsl"\n', "b.glsl": '#include "c.glsl"\n', "c.glsl": '#include "a.glsl"\n'}
    with pytest.raises(ShaderSourceError, match=r"a\.glsl -> b\.glsl -> c\.glsl -> a\.glsl"):
        preprocess("a.glsl", "VERTEX_SHADER", read=reader(files))


def test_self_include_is_a_cycle() -> None:
    with pytest.raises(ShaderSourceError, match="cycle"):
        preprocess("a.glsl", "VERTEX_SHADER", read=reader({"a.glsl": '#include "a.glsl"\n'}))


def test_same_file_twice_without_cycle_is_fine() -> None:
    files = {"a.glsl": '#include "c.glsl"\n#include "c.glsl"\n', "c.glsl": "// c\n"}
    assert preprocess("a.glsl", "VERTEX_SHADER", read=reader(files)).files == ("a.glsl", "c.glsl", "c.glsl")


def test_undefined_template_variable_names_file_line_and_variable() -> None:
    files = {"main.glsl": "// ok\n#include \"lib.glsl\"\n", "lib.glsl": "\n\nint n = {{ COUNT }};\n"}
    with pytest.raises(ShaderSourceError, match=r"lib\.glsl:3: template variable \{\{COUNT\}\} is undefined"):
        preprocess("main.glsl", "VERTEX_SHADER", variables={"OTHER": 1}, read=reader(files))


def test_missing_include_and_bad_stage() -> None:
    with pytest.raises(ShaderSourceError, match="nope.glsl"):
        preprocess("main.glsl", "VERTEX_SHADER", read=reader({"main.glsl": '#include "nope.glsl"\n'}))
    with pytest.raises(ShaderSourceError, match="not found"):
        read_shader("does_not_exist.glsl")
    with pytest.raises(ValueError, match="GEOMETRY"):
        preprocess("main.glsl", "GEOMETRY", read=reader(GOOD))


def test_version_in_a_file_is_refused() -> None:
    with pytest.raises(ShaderSourceError, match=r"x\.glsl:1: remove #version"):
        preprocess("x.glsl", "VERTEX_SHADER", read=reader({"x.glsl": "#version 330\n"}))


def test_driver_messages_map_to_files() -> None:
    files = ("pica.glsl", "pixel_mlp.glsl")
    mesa = f"0:{LINE_BASE + 42}(7): error: bad"
    assert map_driver_message(mesa, files) == "pixel_mlp.glsl:42:: error: bad"
    assert map_driver_message("0(12) : error C0000: x", files) == "pica.glsl:12: : error C0000: x"
    assert map_driver_message("no location", files) == "no location"


def test_package_shaders_are_found_and_cached() -> None:
    assert "pixel_mlp" in read_shader("pica.glsl")
    assert read_shader("pica.glsl") is read_shader("pica.glsl")


@pytest.mark.gl
def test_compile_error_points_at_the_included_file_line(gl_ctx: moderngl.Context) -> None:
    files = {
        "prog.glsl": (
            "#if defined(VERTEX_SHADER)\nvoid main() { gl_Position = vec4(0.0); }\n"
            '#else\n#include "broken.glsl"\n#endif\n'
        ),
        "broken.glsl": "out vec4 f_color;\nvoid main() {\n    f_color = vec3(1.0);\n}\n",
    }
    with pytest.raises(ShaderCompileError, match=r"prog\.glsl \(fragment_shader\): broken\.glsl:3:"):
        build_program(gl_ctx, "prog.glsl", read=reader(files))


@pytest.mark.gl
def test_compile_error_in_the_main_file(gl_ctx: moderngl.Context) -> None:
    files = {"prog.glsl": "#if defined(VERTEX_SHADER)\nvoid main() {\n    gl_Position = 1.0;\n}\n#else\n"
                          "out vec4 c;\nvoid main() { c = vec4(1.0); }\n#endif\n"}
    with pytest.raises(ShaderCompileError, match=r"\(vertex_shader\): prog\.glsl:3:"):
        build_program(gl_ctx, "prog.glsl", read=reader(files))
