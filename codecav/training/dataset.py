"""Training data from a Multiface-layout capture: per-frame meshes, per-camera unwrapped textures restricted
to the atlas texels the mesh covers, head-space camera centres, the encoder's inputs, and the held-out split.

NumPy only (no torch), so the split and the texel geometry are usable from eval code as well.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from codecav.assets.package import MeshTopology
from codecav.training.errors import TrainingDataError
from codecav.training.multiface import AVERAGE, FrameRef, read_capture

ENCODER_TEXTURE_SIZE = 64
"""Side of the average texture the encoder sees (downsampled by box filtering)."""

REGION_RADIUS_M = {"eyes": 0.032, "mouth": 0.038}
"""Rest-pose distance from a region centre within which vertices belong to the eyes / mouth region."""


@dataclass(frozen=True)
class SplitConfig:
    """How a capture is split into training and held-out parts."""

    heldout_camera_every: int = 6
    """Every this-many-th camera (starting at index 3, never camera 0) is held out; 0 holds out none."""
    heldout_random_fraction: float = 0.1
    """Fraction of the EXP_random frames held out."""
    hold_out_last_sentence: bool = True
    """Hold out the last SEN_* segment when the capture has more than one."""
    seed: int = 0
    """Seed of the random-frame choice."""


@dataclass(frozen=True)
class Split:
    """Frame indices (into the capture's frame list) and camera names of each part."""

    train_frames: tuple[int, ...]
    """Frames trained on."""
    heldout_frames: tuple[int, ...]
    """Frames never trained on (held-out expressions)."""
    train_cameras: tuple[str, ...]
    """Cameras trained on."""
    heldout_cameras: tuple[str, ...]
    """Cameras never trained on (held-out views)."""

    def to_json(self) -> dict[str, list[int] | list[str]]:
        """Plain JSON-able dict (recorded in the package provenance)."""
        return {k: list(v) for k, v in asdict(self).items()}


def make_split(frames: tuple[FrameRef, ...], cameras: list[str], config: SplitConfig) -> Split:
    """Held-out cameras and expressions (see SplitConfig); deterministic for equal arguments."""
    held_cams: list[str] = []
    if config.heldout_camera_every > 0 and len(cameras) > 2:
        held_cams = [cameras[i] for i in range(3, len(cameras), config.heldout_camera_every)]
    sentences = sorted({f.segment for f in frames if f.segment.startswith("SEN_")})
    held_segment = sentences[-1] if config.hold_out_last_sentence and len(sentences) > 1 else None
    rng = np.random.default_rng([config.seed, 11])
    random_idx = [i for i, f in enumerate(frames) if f.segment.startswith("EXP_")]
    n_random = int(round(len(random_idx) * config.heldout_random_fraction))
    held_random = set(rng.choice(random_idx, n_random, replace=False).tolist()) if n_random else set()
    held = [i for i, f in enumerate(frames) if f.segment == held_segment or i in held_random]
    train = [i for i in range(len(frames)) if i not in set(held)]
    if not train or len(held_cams) >= len(cameras):
        raise TrainingDataError(f"capture has too few frames ({len(frames)}) or cameras ({len(cameras)}) to split; "
                                "capture more (e.g. --preset train)")
    return Split(tuple(train), tuple(held), tuple(c for c in cameras if c not in held_cams), tuple(held_cams))


@dataclass(frozen=True)
class TexelGeometry:
    """Where each covered atlas texel lies on the mesh: its triangle's geometry vertices and barycentrics."""

    size: int
    """Atlas side T."""
    index: np.ndarray
    """int64 [N] flat indices (row * T + column) of the covered texels, row 0 at v = 0."""
    vertices: np.ndarray
    """int64 [N, 3] geometry vertices of the covering triangle."""
    barycentric: np.ndarray
    """float32 [N, 3] weights of those vertices at the texel centre."""
    uv: np.ndarray
    """float32 [N, 2] texel-centre UVs."""

    def positions(self, meshes: np.ndarray) -> np.ndarray:
        """float32 [..., N, 3] texel positions of meshes [..., V, 3]."""
        corners = meshes[..., self.vertices, :]  # [..., N, 3, 3]
        out: np.ndarray = np.einsum("...nkc,nk->...nc", corners, self.barycentric).astype(np.float32)
        return out


def texel_geometry(topology: MeshTopology, size: int) -> TexelGeometry:
    """Barycentric texel-to-mesh lookup of a `size` x `size` atlas (texels no triangle covers are left out)."""
    uv = np.asarray(topology.uv, np.float64) * size - 0.5
    faces = np.asarray(topology.faces, np.int64)
    face_of = np.full((size, size), -1, np.int64)
    bary = np.zeros((size, size, 3), np.float64)
    for f, (a, b, c) in enumerate(faces):
        pa, pb, pc = uv[a], uv[b], uv[c]
        lo = np.maximum(np.floor(np.minimum(np.minimum(pa, pb), pc)).astype(int), 0)
        hi = np.minimum(np.ceil(np.maximum(np.maximum(pa, pb), pc)).astype(int), size - 1)
        det = (pb[0] - pa[0]) * (pc[1] - pa[1]) - (pc[0] - pa[0]) * (pb[1] - pa[1])
        if hi[0] < lo[0] or hi[1] < lo[1] or abs(det) < 1e-12:
            continue
        xs, ys = np.meshgrid(np.arange(lo[0], hi[0] + 1), np.arange(lo[1], hi[1] + 1))
        w1 = ((xs - pa[0]) * (pc[1] - pa[1]) - (pc[0] - pa[0]) * (ys - pa[1])) / det
        w2 = ((pb[0] - pa[0]) * (ys - pa[1]) - (xs - pa[0]) * (pb[1] - pa[1])) / det
        w0 = 1.0 - w1 - w2
        inside = (w0 >= -1e-6) & (w1 >= -1e-6) & (w2 >= -1e-6)
        face_of[ys[inside], xs[inside]] = f
        bary[ys[inside], xs[inside]] = np.stack([w0[inside], w1[inside], w2[inside]], axis=1)
    flat = np.flatnonzero(face_of.ravel() >= 0)
    rows, cols = np.divmod(flat, size)
    vertex_index = np.asarray(topology.vertex_index, np.int64)
    return TexelGeometry(
        size=size,
        index=flat,
        vertices=vertex_index[faces[face_of.ravel()[flat]]],
        barycentric=np.clip(bary.reshape(-1, 3)[flat], 0.0, 1.0).astype(np.float32),
        uv=np.stack([(cols + 0.5) / size, (rows + 0.5) / size], axis=1).astype(np.float32),
    )


@dataclass(frozen=True)
class Topology:
    """The capture's mesh (studio/topology.npz): render topology plus per-vertex regions and rest pose."""

    mesh: MeshTopology
    """Faces, UVs and render -> geometry vertex map."""
    vertex_region: np.ndarray
    """int [V] region label per geometry vertex (index into region_names)."""
    region_names: tuple[str, ...]
    """Region names ('skin', 'eyes', 'teeth', 'tongue', 'mouth_interior')."""
    rest_positions: np.ndarray
    """float32 [V, 3] the studio's rest pose (head space, metres)."""


def load_topology(root: Path) -> Topology:
    """studio/topology.npz of a capture; TrainingDataError naming the file if it is missing or incomplete."""
    path = root / "studio" / "topology.npz"
    if not path.is_file():
        raise TrainingDataError(f"{path}: missing; the trainer needs the studio topology (re-run the capture)")
    with np.load(path, allow_pickle=False) as npz:
        try:
            mesh = MeshTopology(np.asarray(npz["faces"], np.int32), np.asarray(npz["uv"], np.float32),
                                np.asarray(npz["vertex_index"], np.int32))
            return Topology(mesh, np.asarray(npz["vertex_region"]), tuple(str(n) for n in npz["region_names"]),
                            np.asarray(npz["rest_positions"], np.float32))
        except KeyError as exc:
            raise TrainingDataError(f"{path}: lacks {exc}; re-run the capture") from None


def region_vertices(topology: Topology) -> dict[str, np.ndarray]:
    """int64 vertex indices of the 'face' (all), 'eyes' (eyeballs and the skin around them) and 'mouth'
    (teeth, tongue, mouth interior and the skin around them) regions, from rest-pose distances."""
    names = topology.region_names
    label = topology.vertex_region
    rest = topology.rest_positions.astype(np.float64)
    eyes = label == names.index("eyes")
    mouth = np.isin(label, [names.index(n) for n in ("teeth", "tongue", "mouth_interior") if n in names])
    out = {"face": np.arange(len(rest))}
    for name, core in (("eyes", eyes), ("mouth", mouth)):
        if not core.any():
            raise TrainingDataError(f"topology has no {name} vertices; re-run the capture with the studio head")
        centres = [rest[core & (rest[:, 0] >= 0)], rest[core & (rest[:, 0] < 0)]] if name == "eyes" else [rest[core]]
        near = np.zeros(len(rest), bool)
        for pts in centres:
            if len(pts):
                near |= np.linalg.norm(rest - pts.mean(axis=0), axis=1) < REGION_RADIUS_M[name]
        out[name] = np.flatnonzero(core | near)
    return out


def fill_from_neighbours(values: np.ndarray, known: np.ndarray, iterations: int) -> tuple[np.ndarray, np.ndarray]:
    """(float64 [C, T, T] copy of `values` where unknown texels within `iterations` steps of known ones take
    the mean of their known 4-neighbours, grown one ring per step; bool [T, T] texels now known)."""
    out = np.array(values, dtype=np.float64)
    filled = np.array(known, bool)
    for _ in range(iterations):
        total = np.zeros_like(out)
        count = np.zeros(filled.shape)
        for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            src = np.roll(filled, (dr, dc), axis=(0, 1))
            total += np.roll(out, (dr, dc), axis=(1, 2)) * src
            count += src
        grow = ~filled & (count > 0)
        if not grow.any():
            break
        out[:, grow] = total[:, grow] / count[grow]
        filled |= grow
    return out, filled


def downsample(texture: np.ndarray, size: int) -> np.ndarray:
    """float32 [size, size, 3] box-filtered copy of a square uint8 texture whose side is a multiple of size."""
    t = texture.shape[0]
    if t % size:
        raise TrainingDataError(f"texture side {t} is not a multiple of {size}; capture textures of 64 * 2^k")
    k = t // size
    out: np.ndarray = texture.reshape(size, k, size, k, 3).astype(np.float32).mean(axis=(1, 3))
    return out


@dataclass(frozen=True)
class CaptureData:
    """Everything the trainer reads from a capture, in memory (metres, head space, textures in 0..255)."""

    root: Path
    """Capture directory."""
    topology: Topology
    """Mesh, regions, rest pose."""
    texels: TexelGeometry
    """Covered texels of the atlas."""
    split: Split
    """Train / held-out frames and cameras."""
    camera_names: tuple[str, ...]
    """Every camera, in KRT order."""
    camera_centres: np.ndarray
    """float32 [K, 3] camera centres in world coordinates."""
    meshes: np.ndarray
    """float32 [F, V, 3] tracked meshes (head space)."""
    transforms: np.ndarray
    """float32 [F, 3, 4] head -> world poses."""
    vert_mean: np.ndarray
    """float32 [V, 3] mean mesh."""
    encoder_textures: np.ndarray
    """float32 [F, 3, E, E] average texture minus the mean texture, downsampled, in 0..1 units."""
    textures: np.ndarray
    """uint8 [F, K, N, 3] every camera's unwrapped texture at the covered texels (0 where unseen);
    only the frames and cameras asked for are filled (see load_capture_data)."""
    loaded_cameras: tuple[str, ...]
    """Cameras whose textures were read into `textures`, in its camera order."""
    expressions: np.ndarray | None
    """float32 [F, 52] ARKit-52 ground truth, or None for captures without it."""
    config: dict[str, object]
    """studio/capture.json when present (capture settings), else {}."""

    def camera_in_head(self, frames: np.ndarray, cameras: np.ndarray) -> np.ndarray:
        """float32 [B, 3] centres of cameras (indices into loaded_cameras) in each frame's head space."""
        centre = self.camera_centres[[self.camera_names.index(self.loaded_cameras[c]) for c in cameras]]
        pose = self.transforms[frames]
        out: np.ndarray = np.einsum("bji,bj->bi", pose[:, :, :3], centre - pose[:, :, 3]).astype(np.float32)
        return out


def load_capture_data(root: Path | str, split_config: SplitConfig | None = None, *, cameras: str = "train",
                      workers: int = 4) -> CaptureData:
    """Read a capture for training (`cameras` 'train': training cameras' textures, 'all': every camera)."""
    capture = read_capture(root)
    base = Path(root)
    topology = load_topology(base)
    names = [c.name for c in capture.cameras]
    split = make_split(capture.frames, names, split_config or SplitConfig())
    first = capture.frames[0]
    if not (base / "unwrapped_uv_1024" / first.segment / names[0]).is_dir():
        raise TrainingDataError(f"{base}: has no per-camera unwrapped textures; capture with camera_textures=True "
                                "(e.g. codecav avatar capture --preset train)")
    size = capture.tex_mean.shape[0]
    texels = texel_geometry(topology.mesh, size)
    loaded = split.train_cameras if cameras == "train" else tuple(names)
    meshes = np.stack([capture.mesh(f) for f in capture.frames])
    if meshes.shape[1] != len(topology.rest_positions):
        raise TrainingDataError(f"{base}: meshes have {meshes.shape[1]} vertices, topology.npz "
                                f"{len(topology.rest_positions)}; re-run the capture")
    transforms = np.stack([capture.transform(f) for f in capture.frames]).astype(np.float32)
    textures = np.zeros((len(capture.frames), len(loaded), len(texels.index), 3), np.uint8)
    enc = np.zeros((len(capture.frames), 3, ENCODER_TEXTURE_SIZE, ENCODER_TEXTURE_SIZE), np.float32)
    mean_small = downsample(capture.tex_mean, ENCODER_TEXTURE_SIZE)

    def read_frame(i: int) -> None:
        ref = capture.frames[i]
        for k, cam in enumerate(loaded):
            textures[i, k] = capture.texture(ref, cam).reshape(-1, 3)[texels.index]
        small = downsample(capture.texture(ref, AVERAGE), ENCODER_TEXTURE_SIZE) - mean_small
        enc[i] = (small / 255.0).transpose(2, 0, 1)

    with ThreadPoolExecutor(max_workers=workers) as pool:  # PNG decoding releases the GIL
        list(pool.map(read_frame, range(len(capture.frames))))
    config_path = base / "studio" / "capture.json"
    config = json.loads(config_path.read_text()) if config_path.is_file() else {}
    return CaptureData(
        root=base, topology=topology, texels=texels, split=split, camera_names=tuple(names),
        camera_centres=np.stack([-c.extrinsics[:, :3].T @ c.extrinsics[:, 3] for c in capture.cameras])
        .astype(np.float32),
        meshes=meshes, transforms=transforms, vert_mean=capture.vert_mean, encoder_textures=enc,
        textures=textures, loaded_cameras=loaded, expressions=capture.expressions, config=config,
    )

