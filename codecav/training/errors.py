"""Errors of the avatar trainer, exporter and evaluator (the studio has its own, studio/errors.py)."""

from __future__ import annotations

from codecav.errors import CodecavError


class TrainingError(CodecavError):
    """The trainer cannot run as asked; the one-line message names the problem and the fix."""


class TrainingDataError(TrainingError):
    """A capture lacks what the trainer needs (per-camera textures, topology, enough frames)."""


class CheckpointError(TrainingError):
    """A checkpoint is missing, unreadable or from a different model configuration."""


class EvalError(TrainingError):
    """An avatar cannot be evaluated against a capture (mismatched mesh, no held-out data)."""
