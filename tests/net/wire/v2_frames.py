"""Deterministic v2 fixtures: a quant table for LAYOUT_256 and a key frame with deltas (no RNG, golden-safe)."""

from __future__ import annotations

import dataclasses

import numpy as np

from codecav.assets.package import CodeQuantTable
from codecav.latent import LatentFrame
from codecav.net.wire.frames_v2 import KeyReference, encode_latent_frame_v2
from tests.net.frames import LAYOUT_256, sample_frame, unit

TABLE_256 = CodeQuantTable(step=(0.01 + 0.002 * (np.arange(256) % 7)).astype(np.float32),
                           center=np.zeros(256, np.float32))
"""Steps of 0.01 to 0.022, centred at zero."""


def moved_frame(frames_later: int, with_gaze: bool = True) -> LatentFrame:
    """sample_frame() `frames_later` frames on (33,333 us each) with a slightly changed code, pose and gaze."""
    base = sample_frame(with_gaze=with_gaze)
    i = np.arange(256, dtype=np.float64)
    code = base.code + (0.01 * frames_later * np.cos(i * 0.11)).astype(np.float32)
    pose = dataclasses.replace(base.head_pose, position=base.head_pose.position + np.float32(0.001 * frames_later),
                               orientation=unit([0.0, 0.2 + 0.002 * frames_later, 0.01, 0.98]))
    gaze = dataclasses.replace(base.gaze, left=unit([0.05 + 0.003 * frames_later, -0.02, 1.0])) \
        if base.gaze is not None else None
    return dataclasses.replace(base, sequence=base.sequence + frames_later,
                               capture_time_us=base.capture_time_us + 33_333 * frames_later, code=code,
                               head_pose=pose, gaze=gaze)


def key_message(with_gaze: bool = True) -> tuple[bytes, KeyReference]:
    """The key frame of sample_frame() and its reference."""
    data, ref = encode_latent_frame_v2(sample_frame(with_gaze=with_gaze), LAYOUT_256, TABLE_256)
    assert ref is not None
    return data, ref


def delta_message(frames_later: int = 3, with_gaze: bool = True) -> bytes:
    """moved_frame(frames_later) as a delta of key_message()."""
    _, ref = key_message(with_gaze)
    data, _ = encode_latent_frame_v2(moved_frame(frames_later, with_gaze), LAYOUT_256, TABLE_256, key=ref)
    return data
