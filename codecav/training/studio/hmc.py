"""Headset-mounted cameras (HMC) in the studio: a left-eye, a right-eye and a mouth camera fixed on a headset
frame, IR-like lighting from LEDs beside each camera, sensor noise and headset slippage, rendering grayscale
views of a studio identity for training and testing the HMC encoder.

Cameras live on the headset; the headset sits on the head with a small random offset (slippage: rotation about
the headset's centre and translation). Images are uint8 [3, S, S] (left eye, right eye, mouth), row 0 at the top.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from codecav.arkit import ARKIT_52, ARKIT_INDEX
from codecav.clock import MONOTONIC, Clock
from codecav.encoders.hmc import HmcFrame
from codecav.training.studio.albedo import paint_albedo
from codecav.training.studio.expressions import gaze_weights, random_expression
from codecav.training.studio.head_model import HeadModel, load_head_model
from codecav.training.studio.identity import identity_shape, make_identity
from codecav.training.studio.render import Lighting, StudioRenderer, create_context
from codecav.training.studio.rig import Camera

HMC_VIEWS = ("left_eye", "right_eye", "mouth")
"""View names in image order."""

_HEADSET_CENTRE = np.array([0.0, -0.01, 0.09])
"""Point (head space) the headset rotates about when it slips: in front of the eyes."""


@dataclass(frozen=True)
class HmcConfig:
    """Geometry, optics and sensor of the headset cameras."""

    size: int = 128
    """Image side in pixels (square)."""
    eye_offset: tuple[float, float, float] = (0.004, -0.022, 0.085)
    """Eye camera position relative to its eye centre (x mirrored for the right eye), metres: below and in
    front, looking up at the eye as headset eye cameras do."""
    eye_focal: float = 2.1
    """Eye camera focal length in image widths (about 27 degrees field of view; the studio clips at 5 cm)."""
    mouth_position: tuple[float, float, float] = (0.0, -0.045, 0.17)
    """Mouth camera position (head space), under the headset's front."""
    mouth_target: tuple[float, float, float] = (0.0, -0.085, 0.085)
    """Where the mouth camera looks."""
    mouth_focal: float = 1.05
    """Mouth camera focal length in image widths (about 51 degrees)."""
    slip_deg: float = 2.0
    """Slippage: headset rotation (each axis, uniform +-), degrees."""
    slip_m: float = 0.003
    """Slippage: headset translation (each axis, uniform +-), metres."""
    noise: float = 0.02
    """Gaussian read noise (fraction of full scale)."""
    shot: float = 0.02
    """Shot noise scale: standard deviation sqrt(shot * level)."""
    gain_range: tuple[float, float] = (0.85, 1.15)
    """Random exposure gain per frame."""


def _look_at(centre: np.ndarray, target: np.ndarray) -> np.ndarray:
    up = np.array([0.0, 1.0, 0.0])
    forward = target - centre
    forward = forward / np.linalg.norm(forward)
    right = np.cross(forward, up)
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    rot = np.stack([right, down, forward])
    return np.concatenate([rot, (-rot @ centre)[:, None]], axis=1)


def slippage(rng: np.random.Generator, config: HmcConfig) -> np.ndarray:
    """float64 [3, 4] a random headset -> head transform [R | t] within the config's slippage."""
    angles = np.radians(rng.uniform(-config.slip_deg, config.slip_deg, 3))
    cx, sx, cy, sy, cz, sz = np.cos(angles[0]), np.sin(angles[0]), np.cos(angles[1]), np.sin(angles[1]), \
        np.cos(angles[2]), np.sin(angles[2])
    rot = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]]) @ np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]]) @ \
        np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    shift = rng.uniform(-config.slip_m, config.slip_m, 3)
    return np.concatenate([rot, (_HEADSET_CENTRE - rot @ _HEADSET_CENTRE + shift)[:, None]], axis=1)


def hmc_cameras(model: HeadModel, config: HmcConfig | None = None,
                slip: np.ndarray | None = None) -> tuple[Camera, ...]:
    """The three headset cameras in head space, moved by `slip` (headset -> head [3, 4]; None: nominal)."""
    cfg = config or HmcConfig()
    s = cfg.size
    cams = []
    for i, eye in enumerate(model.eye_centres.astype(np.float64)):
        sign = 1.0 if i == 0 else -1.0
        offset = np.array(cfg.eye_offset) * np.array([sign, 1.0, 1.0])
        cams.append((HMC_VIEWS[i], _look_at(eye + offset, eye), cfg.eye_focal))
    cams.append(("mouth", _look_at(np.array(cfg.mouth_position), np.array(cfg.mouth_target)), cfg.mouth_focal))
    out = []
    for name, extrinsics, focal in cams:
        if slip is not None:
            # camera <- headset is `extrinsics`; headset <- head is the inverse of slip
            rot, shift = slip[:, :3], slip[:, 3]
            r = extrinsics[:, :3] @ rot.T
            extrinsics = np.concatenate([r, (extrinsics[:, 3] - r @ shift)[:, None]], axis=1)
        k = np.array([[focal * s, 0.0, s / 2], [0.0, focal * s, s / 2], [0.0, 0.0, 1.0]])
        out.append(Camera(name, k, np.zeros(5), extrinsics, s, s))
    return tuple(out)


def hmc_lighting(cameras: tuple[Camera, ...]) -> Lighting:
    """IR LEDs beside each camera (directional lights from the camera directions), no ambient, black
    background: what a near-infrared headset camera sees."""
    unit = [c.centre / np.linalg.norm(c.centre) for c in cameras]
    dirs = tuple((float(d[0]), float(d[1]), float(d[2])) for d in unit)
    return Lighting(directions=dirs, colours=((0.55, 0.55, 0.55),) * len(dirs), ambient=(0.08, 0.08, 0.08),
                    background=(0.0, 0.0, 0.0))


def to_ir(image: np.ndarray, rng: np.random.Generator | None, config: HmcConfig) -> np.ndarray:
    """uint8 [H, W] IR-like grayscale of an sRGB render: red-weighted (skin reflects near-IR), vignetting, then
    exposure gain, shot and read noise when `rng` is given."""
    rgb = image.astype(np.float32) / 255.0
    gray = 0.7 * rgb[..., 0] + 0.25 * rgb[..., 1] + 0.05 * rgb[..., 2]
    h, w = gray.shape
    yy, xx = np.mgrid[0:h, 0:w]
    r2 = ((xx - w / 2) ** 2 + (yy - h / 2) ** 2) / (0.5 * max(h, w)) ** 2
    gray = gray * (1.0 - 0.35 * r2)
    if rng is not None:
        gray = gray * rng.uniform(*config.gain_range)
        gray = gray + rng.standard_normal(gray.shape) * np.sqrt(config.shot * np.maximum(gray, 0) / 255.0 * 4) \
            + rng.standard_normal(gray.shape) * config.noise
    return (np.clip(gray, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def random_hmc_expression(rng: np.random.Generator) -> np.ndarray:
    """float32 [52]: a sparse random expression plus, often, a random gaze and blink (the HMC must see all)."""
    w = random_expression(rng)
    if rng.random() < 0.6:
        w = np.maximum(w, gaze_weights(float(rng.uniform(-1, 1)), float(rng.uniform(-1, 1))))
    if rng.random() < 0.3:
        blink = float(rng.uniform(0, 1))
        w[ARKIT_INDEX["eyeBlinkLeft"]] = blink
        w[ARKIT_INDEX["eyeBlinkRight"]] = float(np.clip(blink + rng.normal(0, 0.1), 0, 1))
    return np.clip(w, 0.0, 1.0).astype(np.float32)


class HmcStudio:
    """Renders HMC views of one studio identity (GL through EGL; llvmpipe is fine)."""

    def __init__(self, identity: int, config: HmcConfig | None = None, seed: int = 0,
                 albedo_size: int = 512) -> None:
        """Build the identity's head and albedo and a renderer for the headset cameras."""
        self.config = config or HmcConfig()
        """Camera and sensor settings."""
        self.model = load_head_model()
        """The studio head."""
        self.person = make_identity(identity, seed)
        """The identity rendered."""
        self._neutral = identity_shape(self.model, self.person)
        self._ctx = create_context()
        nominal = hmc_cameras(self.model, self.config)
        s = self.config.size
        self._renderer = StudioRenderer(self._ctx, self.model, paint_albedo(self.model, self.person, albedo_size),
                                        s, s, 64, hmc_lighting(nominal))

    def render(self, weights: np.ndarray, slip: np.ndarray | None = None,
               rng: np.random.Generator | None = None) -> np.ndarray:
        """uint8 [3, S, S] left-eye, right-eye and mouth views of expression `weights` [52]; `rng` adds sensor
        noise (None: clean)."""
        self._renderer.set_positions(self.model.posed(np.asarray(weights, np.float32), self._neutral))
        views = [to_ir(self._renderer.render(cam, unwrap=False).image, rng, self.config)
                 for cam in hmc_cameras(self.model, self.config, slip)]
        return np.stack(views)

    def stream(self, weights: np.ndarray, seed: int = 0, slip: bool = True) -> Iterator[np.ndarray]:
        """HMC views of each row of `weights` [T, 52], one slippage for the whole sequence, fresh noise each
        frame."""
        rng = np.random.default_rng(seed)
        offset = slippage(rng, self.config) if slip else None
        for w in weights:
            yield self.render(w, offset, rng)

    def close(self) -> None:
        """Release GL resources."""
        self._renderer.release()
        self._ctx.release()




class StudioHmcStream:
    """Live synthetic HMC: HmcFrames at 30 fps in real time of one identity making random expressions (each held
    0.3 s, eased in), one slippage, fresh noise per frame; endless unless `seconds` is given. The studio is built
    when the stream is made (seconds), so the first frame comes without that delay; frames are timed from the
    first one on `clock` (the real monotonic clock unless a test injects one)."""

    def __init__(self, identity: int, seconds: float | None = None, seed: int = 0, *,
                 clock: Clock = MONOTONIC) -> None:
        self._clock = clock
        self._rng = np.random.default_rng(seed)
        self._studio: HmcStudio | None = HmcStudio(identity)
        self._offset = slippage(self._rng, self._studio.config)
        self._previous, self._target = np.zeros(len(ARKIT_52), np.float32), random_hmc_expression(self._rng)
        self._count = None if seconds is None else int(seconds * 30)
        self._i = 0
        self._start: int | None = None

    def __iter__(self) -> StudioHmcStream:
        return self

    def __next__(self) -> HmcFrame:
        if self._studio is None or (self._count is not None and self._i >= self._count):
            self.close()
            raise StopIteration
        if self._start is None:
            self._start = self._clock.now_us()
        if self._i % 9 == 0:
            self._previous, self._target = self._target, random_hmc_expression(self._rng)
        a = min(1.0, (self._i % 9) / 4.0)
        weights = (1 - a) * self._previous + a * self._target
        due = self._start + int(round(self._i * 1e6 / 30))
        self._clock.sleep_ns((due - self._clock.now_us()) * 1000)  # a camera delivers frames in real time
        self._i += 1
        return HmcFrame(due, self._studio.render(weights, self._offset, self._rng))

    def close(self) -> None:
        """Release the renderer."""
        if self._studio is not None:
            self._studio.close()
            self._studio = None


def studio_hmc_frames(identity: int, seconds: float | None = None, seed: int = 0, *,
                      clock: Clock = MONOTONIC) -> StudioHmcStream:
    """A StudioHmcStream (see there)."""
    return StudioHmcStream(identity, seconds, seed, clock=clock)
