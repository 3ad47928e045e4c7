"""mesh.npz and pixel_mlp.npz: deterministic serialization, safe parsing (no pickles, bounded sizes) and
checks of names, dtypes, shapes, index ranges and finiteness against the manifest."""

from __future__ import annotations

import io
import math
import zipfile
from collections.abc import Mapping

import numpy as np

from codecav.assets.errors import InvalidMemberError, NonFiniteWeightsError, TensorShapeError
from codecav.assets.manifest import MESH_MEMBER, MLP_MEMBER, QUANT_TABLE_MEMBER
from codecav.assets.package import MLP_OUTPUT_CHANNELS, AvatarManifest, CodeQuantTable, MeshTopology, PixelMlp

FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
"""Timestamp of every zip entry codecav writes, so equal packages give equal bytes."""

_FIX_EXPORT = "re-export the avatar"


def npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    """An .npz (stored zip of .npy files, sorted names, fixed timestamps): byte-identical for equal arrays."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name in sorted(arrays):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=FIXED_ZIP_TIME)
            info.create_system = 3
            info.external_attr = 0o644 << 16
            npy = io.BytesIO()
            np.lib.format.write_array(npy, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            zf.writestr(info, npy.getvalue())
    return buf.getvalue()


MAX_NPZ_ARRAYS = 64
"""Most arrays an .npz member may hold."""
NPZ_DTYPE_KINDS = "biuf"
"""dtype kinds an .npz array may have: bool, integers, floats (no objects, strings or records)."""


def read_npz(data: bytes, source: str, member: str, max_bytes: int) -> dict[str, np.ndarray]:
    """Arrays of an .npz member, loaded with allow_pickle=False; InvalidMemberError if unreadable, if its
    arrays declare more than `max_bytes` uncompressed, or if an array's .npy header declares a dtype outside
    NPZ_DTYPE_KINDS or more data than its file holds (checked before anything is allocated)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
            declared = sum(i.file_size for i in infos)
            if declared > max_bytes:
                raise InvalidMemberError(source, member, f"unpacks to {declared} bytes, over the limit of "
                                         f"{max_bytes}", "use smaller arrays or raise max_member_bytes")
            if len(infos) > MAX_NPZ_ARRAYS:
                raise InvalidMemberError(source, member, f"holds {len(infos)} arrays, over the limit of "
                                         f"{MAX_NPZ_ARRAYS}", _FIX_EXPORT)
            for info in infos:
                _check_npy_header(zf, info, source, member)
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return {name: np.asarray(npz[name]) for name in npz.files}
    except InvalidMemberError:
        raise
    except Exception as exc:  # zipfile/numpy raise many types (BadZipFile, ValueError for pickles, ...)
        text = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise InvalidMemberError(source, member, f"is not a readable .npz without pickles ({text})",
                                 _FIX_EXPORT) from None


def _check_npy_header(zf: zipfile.ZipFile, info: zipfile.ZipInfo, source: str, member: str) -> None:
    """The .npy header of `info` declares a plain numeric dtype and no more bytes than the entry holds."""
    fmt = np.lib.format
    with zf.open(info) as fh:
        version = fmt.read_magic(fh)
        read_header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, _, dtype = read_header(fh)
    name = info.filename.removesuffix(".npy")
    if dtype.kind not in NPZ_DTYPE_KINDS or dtype.hasobject or dtype.fields is not None:
        raise InvalidMemberError(source, member, f"array {name} has dtype {dtype.str!r}",
                                 f"{_FIX_EXPORT} with plain numeric arrays, without pickles")
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > info.file_size:
        raise InvalidMemberError(source, member, f"array {name} declares shape {list(shape)} "
                                 f"({nbytes} bytes) but holds {info.file_size} bytes", _FIX_EXPORT)


def mesh_arrays(mesh: MeshTopology) -> dict[str, np.ndarray]:
    """The arrays of mesh.npz."""
    return {"faces": mesh.faces, "uv": mesh.uv, "vertex_index": mesh.vertex_index}


def mlp_arrays(mlp: PixelMlp) -> dict[str, np.ndarray]:
    """The arrays of pixel_mlp.npz: w0, b0, w1, b1, ..."""
    out: dict[str, np.ndarray] = {}
    for i, (w, b) in enumerate(zip(mlp.weights, mlp.biases, strict=True)):
        out[f"w{i}"] = w
        out[f"b{i}"] = b
    return out


def quant_table_arrays(table: CodeQuantTable) -> dict[str, np.ndarray]:
    """quant_table.npz arrays: step and center, float32 [D]."""
    return {"step": np.asarray(table.step, np.float32), "center": np.asarray(table.center, np.float32)}


MIN_QUANT_STEP = 2.0**-20
"""Smallest step a quant table may hold (keeps the wire's integer indices of any sendable code bounded)."""
MAX_QUANT_ABS = 65504.0
"""Largest step or |center| a quant table may hold (the wire's code range, the largest finite float16)."""


def check_quant_table(arrays: Mapping[str, np.ndarray], manifest: AvatarManifest, source: str) -> CodeQuantTable:
    """CodeQuantTable from quant_table.npz arrays after checking names, float32 [D] shapes, finiteness and
    ranges (MIN_QUANT_STEP <= step <= MAX_QUANT_ABS, |center| <= MAX_QUANT_ABS)."""
    member, dim = QUANT_TABLE_MEMBER, manifest.latent.dim
    _expect_names(arrays, ["center", "step"], source, member)
    step = _expect(arrays, "step", np.float32, (dim,), source, member)
    center = _expect(arrays, "center", np.float32, (dim,), source, member)
    _expect_finite(step, "step", source, member)
    _expect_finite(center, "center", source, member)
    if np.any(step < MIN_QUANT_STEP) or np.any(step > MAX_QUANT_ABS):
        raise _shape_error(source, member, f"array step has entries outside [{MIN_QUANT_STEP:g}, {MAX_QUANT_ABS:g}] "
                                           f"(min {float(step.min()):g}, max {float(step.max()):g})")
    if np.any(np.abs(center) > MAX_QUANT_ABS):
        raise _shape_error(source, member, f"array center has entries beyond +-{MAX_QUANT_ABS:g}")
    return CodeQuantTable(step=step, center=center)


def _shape_error(source: str, member: str, problem: str) -> TensorShapeError:
    return TensorShapeError(source, member, problem, f"{_FIX_EXPORT} so its arrays match avatar.json")


def _expect(arrays: Mapping[str, np.ndarray], name: str, dtype: type, shape: tuple[int, ...], source: str,
            member: str) -> np.ndarray:
    array = arrays[name]
    if array.dtype != np.dtype(dtype) or array.shape != shape:
        raise _shape_error(source, member, f"array {name} is {array.dtype} {list(array.shape)}, "
                                           f"expected {np.dtype(dtype)} {list(shape)}")
    return np.ascontiguousarray(array)


def _expect_names(arrays: Mapping[str, np.ndarray], names: list[str], source: str, member: str) -> None:
    missing = [n for n in names if n not in arrays]
    extra = sorted(set(arrays) - set(names))
    if missing or extra:
        raise _shape_error(source, member, f"has arrays {sorted(arrays)}, expected {names}"
                                           + (f" (missing {missing})" if missing else "")
                                           + (f" (unexpected {extra})" if extra else ""))


def _expect_finite(array: np.ndarray, name: str, source: str, member: str) -> None:
    if not np.all(np.isfinite(array)):
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise NonFiniteWeightsError(source, member, f"array {name} holds {bad} NaN/inf value(s)",
                                    f"{_FIX_EXPORT} from a checkpoint without NaN/inf")


def check_mesh(arrays: Mapping[str, np.ndarray], manifest: AvatarManifest, source: str) -> MeshTopology:
    """MeshTopology from mesh.npz arrays after checking names, dtypes, shapes, index ranges and finite UVs."""
    info, member = manifest.mesh, MESH_MEMBER
    _expect_names(arrays, ["faces", "uv", "vertex_index"], source, member)
    faces = _expect(arrays, "faces", np.int32, (info.num_triangles, 3), source, member)
    uv = _expect(arrays, "uv", np.float32, (info.num_render_vertices, 2), source, member)
    vertex_index = _expect(arrays, "vertex_index", np.int32, (info.num_render_vertices,), source, member)
    _expect_finite(uv, "uv", source, member)
    if faces.min() < 0 or faces.max() >= info.num_render_vertices:
        raise _shape_error(source, member, f"array faces has indices {int(faces.min())}..{int(faces.max())}, "
                                           f"outside 0..{info.num_render_vertices - 1} (render vertices)")
    if vertex_index.min() < 0 or vertex_index.max() >= info.num_vertices:
        raise _shape_error(source, member, f"array vertex_index has indices {int(vertex_index.min())}.."
                                           f"{int(vertex_index.max())}, outside 0..{info.num_vertices - 1}")
    return MeshTopology(faces=faces, uv=uv, vertex_index=vertex_index)


def check_pixel_mlp(arrays: Mapping[str, np.ndarray], manifest: AvatarManifest, source: str) -> PixelMlp:
    """PixelMlp from pixel_mlp.npz arrays after checking layer names, shapes (input C + 3 + 4L, hidden widths
    from the manifest, 3 outputs), float32 dtype and finiteness."""
    info, member = manifest.pixel_mlp, MLP_MEMBER
    sizes = [info.input_size(manifest.feature_map.channels), *info.hidden, MLP_OUTPUT_CHANNELS]
    layers = len(sizes) - 1
    _expect_names(arrays, [f"{p}{i}" for i in range(layers) for p in ("w", "b")], source, member)
    weights, biases = [], []
    for i in range(layers):
        w = _expect(arrays, f"w{i}", np.float32, (sizes[i + 1], sizes[i]), source, member)
        b = _expect(arrays, f"b{i}", np.float32, (sizes[i + 1],), source, member)
        _expect_finite(w, f"w{i}", source, member)
        _expect_finite(b, f"b{i}", source, member)
        weights.append(w)
        biases.append(b)
    return PixelMlp(tuple(weights), tuple(biases), info.activation, info.uv_frequencies)
