"""Reader and writer of captures in the Multiface layout (facebookresearch/multiface), plus the studio's
ground-truth `expressions.npy`.

Layout under a capture root:
    frame_list.txt                    "<segment> <frame>" per line
    KRT                               per camera: name; 3 rows of K; 1 row of 5 distortion; 3 rows of [R|t]; blank
    tex_mean.png, tex_var.txt         mean average-texture (PNG) and its variance (scalar, 8-bit units squared)
    vert_mean.bin, vert_var.txt       mean tracked mesh (raw float32 V x 3) and its variance (scalar, mm^2)
    images/<seg>/<cam>/<frame>.png
    unwrapped_uv_1024/<seg>/<cam|average>/<frame>.png
    tracked_mesh/<seg>/<frame>.bin    raw float32 V x 3, plus <frame>_transform.txt (3x4 [R|t], head -> world)
    audio/<seg>.wav                   speech segments (16-bit mono)
    expressions.npy                   float32 [frames, 52] ARKit-52 weights in frame_list order (studio only)

Units: files hold millimetres (KRT translations, meshes, transforms), as Multiface's appear to; this
module's arrays are metres (codecav head space), converted here only. Textures: PNGs are stored with the
top row at v = 1 and flipped vertically on load, as Multiface's loader does, so a loaded texture's row 0
is v = 0 (codecav's UV convention). Frames are six-digit zero-padded numbers counted over the capture.
"""

from __future__ import annotations

import wave
from collections import deque
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from codecav.errors import CodecavError

MM_PER_M = 1000.0
"""Files store millimetres; arrays in memory are metres."""

TEXTURE_DIR = "unwrapped_uv_1024"
"""Directory of the unwrapped textures (named as in Multiface whatever the texture size)."""

AVERAGE = "average"
"""Name of the camera-averaged texture directory."""

PNG_COMPRESS_LEVEL = 1
"""zlib level of written PNGs: fast, about 20% larger than level 6."""


class MultifaceError(CodecavError):
    """A capture cannot be read or written; the one-line message names the file and the fix."""


@dataclass(frozen=True)
class MultifaceCamera:
    """One KRT entry."""

    name: str
    """Camera name (image directory)."""
    intrinsics: np.ndarray
    """float64 [3, 3] K in pixels."""
    distortion: np.ndarray
    """float64 [5] distortion coefficients."""
    extrinsics: np.ndarray
    """float64 [3, 4] [R | t] world -> camera, t in metres."""


@dataclass(frozen=True)
class FrameRef:
    """One line of frame_list.txt."""

    segment: str
    """Segment name, e.g. 'SEN_0'."""
    frame: str
    """Frame name (six digits)."""


def format_krt(cameras: list[MultifaceCamera] | tuple[MultifaceCamera, ...]) -> str:
    """KRT file text (translations written in millimetres)."""
    lines: list[str] = []
    for cam in cameras:
        ext = np.asarray(cam.extrinsics, dtype=np.float64).copy()
        ext[:, 3] *= MM_PER_M
        lines.append(cam.name)
        lines += [" ".join(f"{v:.10g}" for v in row) for row in np.asarray(cam.intrinsics, dtype=np.float64)]
        lines.append(" ".join(f"{v:.10g}" for v in np.asarray(cam.distortion, dtype=np.float64)))
        lines += [" ".join(f"{v:.10g}" for v in row) for row in ext]
        lines.append("")
    return "\n".join(lines) + "\n"


def parse_krt(text: str, source: str = "KRT") -> tuple[MultifaceCamera, ...]:
    """Cameras of a KRT file's text; MultifaceError naming the line if it is malformed."""
    lines = text.splitlines()
    cameras: list[MultifaceCamera] = []
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        name = lines[i].strip()
        try:
            rows = [[float(v) for v in lines[i + k].split()] for k in range(1, 8)]
        except (IndexError, ValueError) as exc:
            raise MultifaceError(f"{source}: camera {name!r} at line {i + 1} is truncated or not numeric; "
                                 "re-export the capture") from exc
        if [len(r) for r in rows] != [3, 3, 3, 5, 4, 4, 4]:
            raise MultifaceError(f"{source}: camera {name!r} at line {i + 1} needs 3x3 K, 5 distortion and "
                                 f"3x4 extrinsics, got row lengths {[len(r) for r in rows]}; re-export the capture")
        ext = np.array(rows[4:7])
        ext[:, 3] /= MM_PER_M
        cameras.append(MultifaceCamera(name, np.array(rows[0:3]), np.array(rows[3]), ext))
        i += 8
    if not cameras:
        raise MultifaceError(f"{source}: no cameras; re-export the capture")
    return tuple(cameras)


def frame_name(index: int) -> str:
    """Six-digit frame name of frame `index`."""
    return f"{index:06d}"


def _write_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(array)).save(path, compress_level=PNG_COMPRESS_LEVEL)


def _write_matrix(path: Path, matrix: np.ndarray) -> None:
    path.write_text("\n".join(" ".join(f"{v:.10g}" for v in row) for row in matrix) + "\n")


class MultifaceWriter:
    """Writes one capture frame by frame; `finish()` writes the frame list and the statistics."""

    def __init__(self, root: Path | str, cameras: tuple[MultifaceCamera, ...] | list[MultifaceCamera]) -> None:
        """Create `root` and write its KRT; MultifaceError if it cannot be created."""
        self.root = Path(root)
        """Capture directory."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            (self.root / "KRT").write_text(format_krt(list(cameras)))
        except OSError as exc:
            raise MultifaceError(f"{self.root}: cannot write the capture ({exc.strerror}); "
                                 "pick a writable --out directory") from exc
        self.frames: list[FrameRef] = []
        """Frames written so far, in order."""
        # PNG encoding (zlib releases the GIL) overlaps with rendering the next frame.
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="multiface-png")
        self._pending: deque[Future[None]] = deque()
        self._expressions: list[np.ndarray] = []
        self._tex_sum: np.ndarray | None = None
        self._tex_sq = 0.0
        self._vert_sum: np.ndarray | None = None
        self._vert_sq = 0.0

    def write_frame(
        self, segment: str, images: Mapping[str, np.ndarray], mesh: np.ndarray, transform: np.ndarray,
        average_texture: np.ndarray, expression: np.ndarray,
        camera_textures: Mapping[str, np.ndarray] | None = None,
    ) -> FrameRef:
        """Write the next frame: images per camera (uint8 [H, W, 3]), head-space mesh [V, 3] and head pose
        [3, 4] in metres, textures (uint8 [T, T, 3], row 0 = v 0) and its ARKit-52 weights."""
        ref = FrameRef(segment, frame_name(len(self.frames)))
        for cam, image in images.items():
            self._png(self.root / "images" / segment / cam / f"{ref.frame}.png", image)
        tex_dir = self.root / TEXTURE_DIR / segment
        self._png(tex_dir / AVERAGE / f"{ref.frame}.png", average_texture[::-1])
        for cam, tex in (camera_textures or {}).items():
            self._png(tex_dir / cam / f"{ref.frame}.png", tex[::-1])
        mesh_dir = self.root / "tracked_mesh" / segment
        mesh_dir.mkdir(parents=True, exist_ok=True)
        mesh_mm = (np.asarray(mesh, dtype=np.float64) * MM_PER_M).astype(np.float32)
        mesh_mm.tofile(mesh_dir / f"{ref.frame}.bin")
        pose = np.asarray(transform, dtype=np.float64).copy()
        pose[:, 3] *= MM_PER_M
        _write_matrix(mesh_dir / f"{ref.frame}_transform.txt", pose)
        tex = average_texture.astype(np.float64)
        self._tex_sum = tex if self._tex_sum is None else self._tex_sum + tex
        self._tex_sq += float((tex**2).mean())
        self._vert_sum = mesh_mm.astype(np.float64) if self._vert_sum is None else self._vert_sum + mesh_mm
        self._vert_sq += float((mesh_mm.astype(np.float64) ** 2).mean())
        self._expressions.append(np.asarray(expression, dtype=np.float32))
        self.frames.append(ref)
        return ref

    def _png(self, path: Path, array: np.ndarray) -> None:
        """Queue a PNG write; at most 256 wait, and the first failure is raised here or by finish()."""
        while len(self._pending) >= 256 or (self._pending and self._pending[0].done()):
            self._result(self._pending.popleft())
        self._pending.append(self._pool.submit(_write_png, path, np.array(array)))

    def _result(self, future: Future[None]) -> None:
        try:
            future.result()
        except OSError as exc:
            self._pool.shutdown(wait=False, cancel_futures=True)
            raise MultifaceError(f"{self.root}: cannot write an image ({exc}); free disk space or pick another "
                                 "--out directory") from exc

    def close(self) -> None:
        """Wait for queued PNG writes (raising the first failure) and stop the writer thread."""
        while self._pending:
            self._result(self._pending.popleft())
        self._pool.shutdown(wait=True)

    def write_audio(self, segment: str, audio: np.ndarray, sample_rate: int) -> None:
        """audio/<segment>.wav, 16-bit mono."""
        path = self.root / "audio" / f"{segment}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        with wave.open(str(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(sample_rate)
            out.writeframes(np.asarray(audio, dtype="<i2").tobytes())

    def finish(self) -> None:
        """Write frame_list.txt, tex_mean/var, vert_mean/var and expressions.npy (after the queued images)."""
        self.close()
        if not self.frames or self._tex_sum is None or self._vert_sum is None:
            raise MultifaceError(f"{self.root}: no frames were written; capture at least one frame")
        n = len(self.frames)
        (self.root / "frame_list.txt").write_text("".join(f"{f.segment} {f.frame}\n" for f in self.frames))
        tex_mean = self._tex_sum / n
        _write_png(self.root / "tex_mean.png", (tex_mean[::-1] + 0.5).clip(0, 255).astype(np.uint8))
        (self.root / "tex_var.txt").write_text(f"{max(self._tex_sq / n - float((tex_mean**2).mean()), 0.0):.6f}\n")
        vert_mean = self._vert_sum / n
        vert_mean.astype(np.float32).tofile(self.root / "vert_mean.bin")
        (self.root / "vert_var.txt").write_text(f"{max(self._vert_sq / n - float((vert_mean**2).mean()), 0.0):.6f}\n")
        np.save(self.root / "expressions.npy", np.stack(self._expressions))


def _require(path: Path) -> Path:
    if not path.is_file():
        raise MultifaceError(f"{path}: missing; the capture is incomplete, re-run the capture")
    return path


def _read_scalar(path: Path) -> float:
    try:
        return float(_require(path).read_text().split()[0])
    except (ValueError, IndexError) as exc:
        raise MultifaceError(f"{path}: not a number; re-run the capture") from exc


def _read_png(path: Path) -> np.ndarray:
    try:
        with Image.open(_require(path)) as im:
            return np.asarray(im.convert("RGB"))
    except OSError as exc:
        raise MultifaceError(f"{path}: not a readable PNG ({exc}); re-run the capture") from exc


@dataclass(frozen=True)
class MultifaceCapture:
    """An opened capture: metadata loaded, per-frame files read on demand."""

    root: Path
    """Capture directory."""
    cameras: tuple[MultifaceCamera, ...]
    """Cameras of KRT, in file order."""
    frames: tuple[FrameRef, ...]
    """frame_list.txt entries in order."""
    vert_mean: np.ndarray
    """float32 [V, 3] mean mesh, metres."""
    vert_var: float
    """vert_var.txt as stored (mm^2)."""
    tex_mean: np.ndarray
    """uint8 [T, T, 3] mean texture, row 0 = v 0."""
    tex_var: float
    """tex_var.txt as stored."""
    expressions: np.ndarray | None
    """float32 [frames, 52] ARKit-52 weights (studio captures), or None."""

    @property
    def num_vertices(self) -> int:
        """Vertices V of every tracked mesh."""
        return int(self.vert_mean.shape[0])

    def camera(self, name: str) -> MultifaceCamera:
        """The camera called `name`; MultifaceError listing the names if absent."""
        for cam in self.cameras:
            if cam.name == name:
                return cam
        raise MultifaceError(f"{self.root}: no camera {name!r} in KRT; cameras are {[c.name for c in self.cameras]}")

    def image(self, ref: FrameRef, camera: str) -> np.ndarray:
        """uint8 [H, W, 3] image of `camera` at frame `ref`."""
        return _read_png(self.root / "images" / ref.segment / camera / f"{ref.frame}.png")

    def texture(self, ref: FrameRef, camera: str = AVERAGE) -> np.ndarray:
        """uint8 [T, T, 3] unwrapped texture (flipped on load: row 0 = v 0)."""
        return _read_png(self.root / TEXTURE_DIR / ref.segment / camera / f"{ref.frame}.png")[::-1].copy()

    def mesh(self, ref: FrameRef) -> np.ndarray:
        """float32 [V, 3] tracked mesh in metres."""
        path = _require(self.root / "tracked_mesh" / ref.segment / f"{ref.frame}.bin")
        raw = np.fromfile(path, dtype=np.float32)
        if raw.size != self.vert_mean.size:
            raise MultifaceError(f"{path}: {raw.size} floats, expected {self.vert_mean.size} "
                                 f"({self.num_vertices} vertices x 3); re-run the capture")
        return (raw.reshape(-1, 3) / MM_PER_M).astype(np.float32)

    def transform(self, ref: FrameRef) -> np.ndarray:
        """float64 [3, 4] head pose [R | t] (head -> world), t in metres."""
        path = _require(self.root / "tracked_mesh" / ref.segment / f"{ref.frame}_transform.txt")
        try:
            pose = np.loadtxt(path, ndmin=2)
        except ValueError as exc:
            raise MultifaceError(f"{path}: not a 3x4 matrix; re-run the capture") from exc
        if pose.shape != (3, 4):
            raise MultifaceError(f"{path}: expected 3x4, got {pose.shape[0]}x{pose.shape[1]}; re-run the capture")
        pose[:, 3] /= MM_PER_M
        return pose


def read_capture(root: Path | str) -> MultifaceCapture:
    """Open a capture directory; MultifaceError naming the first missing or corrupt metadata file."""
    base = Path(root)
    if not base.is_dir():
        raise MultifaceError(f"{base}: not a directory; pass the capture directory (it holds frame_list.txt)")
    krt = _require(base / "KRT")
    cameras = parse_krt(krt.read_text(), str(krt))
    frames: list[FrameRef] = []
    for number, line in enumerate(_require(base / "frame_list.txt").read_text().splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2:
            raise MultifaceError(
                f"{base / 'frame_list.txt'}:{number}: expected '<segment> <frame>'; re-run the capture"
            )
        frames.append(FrameRef(parts[0], parts[1]))
    vert = np.fromfile(_require(base / "vert_mean.bin"), dtype=np.float32)
    if vert.size == 0 or vert.size % 3:
        raise MultifaceError(f"{base / 'vert_mean.bin'}: {vert.size} floats is not V x 3; re-run the capture")
    expressions = None
    if (base / "expressions.npy").is_file():
        try:
            expressions = np.load(base / "expressions.npy", allow_pickle=False)
        except ValueError as exc:
            raise MultifaceError(f"{base / 'expressions.npy'}: unreadable ({exc}); re-run the capture") from exc
        if expressions.shape != (len(frames), 52):
            raise MultifaceError(f"{base / 'expressions.npy'}: shape {expressions.shape}, expected "
                                 f"({len(frames)}, 52); re-run the capture")
    return MultifaceCapture(
        root=base,
        cameras=cameras,
        frames=tuple(frames),
        vert_mean=(vert.reshape(-1, 3) / MM_PER_M).astype(np.float32),
        vert_var=_read_scalar(base / "vert_var.txt"),
        tex_mean=_read_png(base / "tex_mean.png")[::-1].copy(),
        tex_var=_read_scalar(base / "tex_var.txt"),
        expressions=expressions,
    )
