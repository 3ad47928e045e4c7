"""HMC encoder: headset-camera views (left eye, right eye, mouth; grayscale) -> ARKit-52 weights with
onnxruntime, and the source that turns a stream of HMC frames into ExpressionSamples.

The model ("hmc" float32 [N, 3, S, S] in 0..1 -> "arkit" [N, 52]) is trained per identity by
`codecav driver train-hmc --identity N` and ships as codecav/assets/drivers/hmc_<identity>.onnx (or an avatar
package's encoders/hmc.onnx). Per-region confidence comes from a simple image check of each view: a dark,
blown-out or flat view (covered, unplugged, slipped off) lowers the confidence of the regions it sees, so fusion
lets audio drive the mouth when the mouth camera is unreliable."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from codecav.arkit import ARKIT_52
from codecav.assets.package import AvatarPackage
from codecav.encoders.base import ExpressionSample, ExpressionSource
from codecav.encoders.errors import EncoderModelError, MissingEncoderError
from codecav.encoders.fusion import REGION_INDEX, REGIONS
from codecav.encoders.onnx_session import check_io, open_session

HMC_MEMBER = "encoders/hmc.onnx"
"""Avatar package member of an HMC encoder."""
HMC_VIEWS = ("left_eye", "right_eye", "mouth")
"""View order of HMC frames and models."""


@dataclass(frozen=True)
class HmcFrame:
    """One capture of the headset cameras."""

    capture_time_us: int
    """Capture time in microseconds on the local monotonic clock."""
    images: np.ndarray
    """uint8 [3, S, S] grayscale views in HMC_VIEWS order, row 0 at the top."""


def shipped_hmc_model(identity: int) -> Path:
    """Path of the shipped HMC encoder of studio identity `identity` (may not exist)."""
    return Path(str(resources.files("codecav.assets") / "drivers" / f"hmc_{identity}.onnx"))


class HmcEncoder:
    """Runs an HMC encoder model on HmcFrames (CPU, `threads` intra-op threads)."""

    def __init__(self, model: bytes | Path | str, threads: int = 1) -> None:
        """Load `model` (ONNX bytes or path); EncoderModelError if it is missing or has the wrong I/O."""
        what = "HMC encoder " + ("<bytes>" if isinstance(model, bytes) else str(model))
        if not isinstance(model, bytes) and not Path(model).is_file():
            raise MissingEncoderError(f"{what} does not exist; train it with `codecav driver train-hmc`")
        self._session = open_session(model if isinstance(model, bytes) else str(model), what, threads)
        check_io(self._session, what, {"hmc": None}, {"arkit": len(ARKIT_52)})
        shape = self._session.get_inputs()[0].shape
        self.size = int(shape[-1]) if isinstance(shape[-1], int) else 128
        """Image side the model takes."""

    @classmethod
    def from_package(cls, package: AvatarPackage, threads: int = 1) -> HmcEncoder:
        """The package's encoders/hmc.onnx; MissingEncoderError naming the fix if it has none."""
        model = package.encoders_onnx.get(HMC_MEMBER)
        if model is None:
            raise MissingEncoderError(f"{package.source or package.manifest.avatar_id}: avatar has no {HMC_MEMBER}; "
                                      "pass an HMC model with --hmc-model or train one with "
                                      "`codecav driver train-hmc`")
        return cls(model, threads)

    def encode(self, images: np.ndarray) -> np.ndarray:
        """float32 [52] weights for uint8 views [3, S, S], or [N, 52] for [N, 3, S, S]."""
        x = np.asarray(images)
        single = x.ndim == 3
        batch = x[None] if single else x
        if batch.ndim != 4 or batch.shape[1:] != (3, self.size, self.size):
            raise ValueError(f"HMC images must be [3, {self.size}, {self.size}] or [N, 3, ...], got {x.shape}")
        inp = np.ascontiguousarray(batch, dtype=np.float32) * np.float32(1 / 255.0)
        out = np.asarray(self._session.run(["arkit"], {"hmc": inp})[0], np.float32)
        return out[0] if single else out


_UPPER = ("eyes", "gaze", "brows")
"""Regions the eye cameras see; the mouth camera sees the rest."""


def view_quality(image: np.ndarray) -> float:
    """0..1: how usable one grayscale view looks (0 for dark, blown-out or featureless images)."""
    x = np.asarray(image, np.float32) / 255.0
    mean, spread = float(x.mean()), float(x.std())
    exposure = np.clip((mean - 0.05) / 0.1, 0, 1) * np.clip((0.95 - mean) / 0.1, 0, 1)
    return float(exposure * np.clip((spread - 0.02) / 0.05, 0, 1))


def hmc_confidence(images: np.ndarray, base: float = 0.9) -> np.ndarray:
    """float32 [52]: `base` per weight, times the quality of the view that sees its region (the better eye
    view for eyes, gaze and brows; the mouth view for the rest)."""
    eyes = max(view_quality(images[0]), view_quality(images[1]))
    mouth = view_quality(images[2])
    region_conf = np.array([base * (eyes if r in _UPPER else mouth) for r in REGIONS], np.float32)
    return region_conf[REGION_INDEX]


class HmcSource(ExpressionSource):
    """ExpressionSamples from HmcFrames through an HmcEncoder, with per-region confidence from the views."""

    name = "hmc"

    def __init__(self, frames: Iterable[HmcFrame], encoder: HmcEncoder) -> None:
        """`frames`: any iterable of HmcFrames (a clip, the studio, a camera driver)."""
        self.encoder = encoder
        """The model."""
        self._frames: Iterator[HmcFrame] | None = iter(frames)
        self._lock = threading.Lock()

    def read(self, timeout: float | None = None) -> ExpressionSample | None:
        """The next frame's sample; None at the end."""
        with self._lock:
            if self._frames is None:
                return None
            frame = next(self._frames, None)
            if frame is None:
                self._frames = None
                return None
        weights = np.clip(self.encoder.encode(frame.images), 0, 1).astype(np.float32)
        return ExpressionSample(frame.capture_time_us, weights, hmc_confidence(frame.images))

    def close(self) -> None:
        """Stop the stream."""
        with self._lock:
            self._frames = None


def check_model(model: bytes | Path | str) -> None:
    """EncoderModelError unless `model` loads as an HMC encoder (for CLI checks before a run)."""
    try:
        HmcEncoder(model)
    except MissingEncoderError as exc:
        raise EncoderModelError(str(exc)) from None
