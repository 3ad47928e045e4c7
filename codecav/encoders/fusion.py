"""Fusion of expression sources by face region and confidence, after "Audio- and Gaze-driven Facial Animation
of Codec Avatars" (Richard et al. 2021): headset/webcam cameras drive the upper face, audio drives the mouth
when the mouth camera is unreliable or absent, an eye tracker drives the eyes. Pure functions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from codecav.arkit import ARKIT_52
from codecav.encoders.base import ExpressionSample

REGIONS: tuple[str, ...] = ("eyes", "gaze", "brows", "cheeks_nose", "mouth")
"""Face regions; every ARKit-52 weight belongs to exactly one."""


def region_of(name: str) -> str:
    """The face region of an ARKit-52 blendshape name."""
    if name.startswith("eyeLook"):
        return "gaze"
    if name.startswith("eye"):
        return "eyes"
    if name.startswith("brow"):
        return "brows"
    if name.startswith(("cheekSquint", "noseSneer")):
        return "cheeks_nose"
    return "mouth"  # jaw*, mouth*, tongueOut, cheekPuff


REGION_INDEX: np.ndarray = np.array([REGIONS.index(region_of(n)) for n in ARKIT_52], dtype=np.int64)
"""int64 [52]: index into REGIONS of each ARKit-52 weight."""

_DEFAULT_PRIORS: dict[str, dict[str, float]] = {
    "hmc": {"eyes": 1.0, "gaze": 0.6, "brows": 1.0, "cheeks_nose": 1.0, "mouth": 1.0},
    "face_tracking": {"eyes": 1.0, "gaze": 0.6, "brows": 1.0, "cheeks_nose": 1.0, "mouth": 1.0},
    "webcam": {"eyes": 0.8, "gaze": 0.4, "brows": 0.8, "cheeks_nose": 0.8, "mouth": 0.8},
    "clip": {"eyes": 0.7, "gaze": 0.5, "brows": 0.7, "cheeks_nose": 0.7, "mouth": 0.7},
    "audio": {"eyes": 0.0, "gaze": 0.0, "brows": 0.0, "cheeks_nose": 0.0, "mouth": 0.5},
    "gaze": {"eyes": 0.0, "gaze": 1.0, "brows": 0.0, "cheeks_nose": 0.0, "mouth": 0.0},
}


@dataclass(frozen=True)
class FusionPolicy:
    """How much each kind of source is trusted per region, and how sharply fusion picks the best one."""

    priors: Mapping[str, Mapping[str, float]] = field(default_factory=lambda: _DEFAULT_PRIORS)
    """Source kind (the key samples are passed under, e.g. 'hmc', 'audio', 'gaze') -> region -> trust in
    0..1. Kinds not listed get `default_prior` everywhere."""
    default_prior: float = 0.5
    """Trust of a source kind missing from `priors`."""
    sharpness: float = 4.0
    """Exponent on trust x confidence: 1 averages sources, large values choose the best per weight."""
    min_confidence: float = 0.05
    """Sample confidences below this count as 0 (the source knows nothing about that weight)."""
    head_pose_order: tuple[str, ...] = ("hmc", "face_tracking", "webcam", "clip", "gaze", "audio")
    """Which kind's head pose (and then gaze, after 'gaze') wins when several have one."""

    def prior_vector(self, kind: str) -> np.ndarray:
        """float32 [52]: the trust of source `kind` for each ARKit-52 weight."""
        table = self.priors.get(kind)
        values = [self.default_prior if table is None else float(table.get(r, 0.0)) for r in REGIONS]
        return np.asarray(values, dtype=np.float32)[REGION_INDEX]


def fuse(samples: Mapping[str, ExpressionSample], policy: FusionPolicy | None = None,
         capture_time_us: int | None = None) -> ExpressionSample:
    """One ExpressionSample from the latest sample of each source kind: per weight, a blend of the sources
    by (trust x confidence) ** sharpness; weights no source knows stay 0 with confidence 0. Capture time:
    `capture_time_us`, else the newest input's."""
    policy = policy or FusionPolicy()
    n = len(ARKIT_52)
    if not samples:
        return ExpressionSample(capture_time_us or 0, np.zeros(n, np.float32), np.zeros(n, np.float32))
    total = np.zeros(n, np.float64)
    weighted = np.zeros(n, np.float64)
    best = np.zeros(n, np.float64)
    for kind, sample in samples.items():
        conf = np.where(sample.confidence >= policy.min_confidence, sample.confidence, 0.0).astype(np.float64)
        score = (policy.prior_vector(kind) * conf) ** policy.sharpness
        total += score
        weighted += score * sample.weights
        best = np.maximum(best, conf * (policy.prior_vector(kind) > 0))
    weights = np.where(total > 0, weighted / np.maximum(total, 1e-30), 0.0)
    head_pose = gaze = None
    order = [k for k in policy.head_pose_order if k in samples] + sorted(set(samples) - set(policy.head_pose_order))
    for kind in order:
        head_pose = head_pose or samples[kind].head_pose
    gaze_order = (["gaze"] if "gaze" in samples else []) + [k for k in order if k != "gaze"]
    for kind in gaze_order:
        gaze = gaze or samples[kind].gaze
    time_us = capture_time_us if capture_time_us is not None else max(s.capture_time_us for s in samples.values())
    return ExpressionSample(time_us, np.clip(weights, 0, 1).astype(np.float32), best.astype(np.float32),
                            head_pose, gaze)
