"""The boundaries of the encoder layer: expression sources (ARKit-52 weights) and latent sources (codes).

Every driver (webcam, OpenXR face tracking, audio, gaze, recorded files) is an ExpressionSource producing
timestamped ARKit-52 weights with a per-weight confidence; fusion blends them and the avatar's expression
encoder turns the result into its latent code. Encoders that see the face directly (the HMC encoder) may
produce codes themselves; anything that yields LatentFrames is a LatentSource, which is what the call sends.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from types import TracebackType
from typing import ClassVar

import numpy as np

from codecav.arkit import ARKIT_52
from codecav.latent import Gaze, HeadPose, LatentFrame


@dataclass(frozen=True)
class ExpressionSample:
    """ARKit-52 expression weights from one source at one capture time."""

    capture_time_us: int
    """Capture time in microseconds on the local monotonic clock (codecav.clock.MONOTONIC.now_us())."""
    weights: np.ndarray
    """float32 [52] in codecav.arkit.ARKIT_52 order, each in 0..1."""
    confidence: np.ndarray
    """float32 [52] in 0..1: how much this source knows about each weight (0: nothing, leave it to others)."""
    head_pose: HeadPose | None = None
    """Head pose, if the source tracks it."""
    gaze: Gaze | None = None
    """Per-eye gaze, if the source tracks it."""

    def __post_init__(self) -> None:
        for name in ("weights", "confidence"):
            value = getattr(self, name)
            if value.shape != (len(ARKIT_52),) or value.dtype != np.float32:
                raise ValueError(f"ExpressionSample.{name} must be float32 [52], got {value.dtype} {value.shape}")


class ExpressionSource(ABC):
    """A stream of ExpressionSamples: `read()` blocks for the next one; None means the stream ended."""

    name: ClassVar[str]
    """Short name used in --source specs, e.g. 'webcam', 'wav', 'gaze'."""

    @abstractmethod
    def read(self, timeout: float | None = None) -> ExpressionSample | None:
        """The next sample; None at the end of the stream (files) or after `timeout` seconds without one."""

    @abstractmethod
    def close(self) -> None:
        """Release devices and files; reading after close returns None."""

    def __enter__(self) -> ExpressionSource:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class LatentSource(ABC):
    """A stream of LatentFrames for one avatar, the sender side of a call."""

    name: ClassVar[str]
    """Short name used in --source specs."""

    @abstractmethod
    def read(self, timeout: float | None = None) -> LatentFrame | None:
        """The next frame; None at the end of the stream or after `timeout` seconds without one."""

    @abstractmethod
    def close(self) -> None:
        """Release devices and files; reading after close returns None."""

    def __enter__(self) -> LatentSource:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
