"""The video baseline of the call benchmark: aiortc's VP8 encoder on rendered avatar frames, with the bitrate
searched until its PSNR reaches a target (the avatar path's PSNR), and PSNR helpers.

aiortc clamps `Vp8Encoder.target_bitrate` to 250 kbit/s..1.5 Mbit/s; the search sets the encoder's private
bitrate attribute so it can go outside that range, keeping every other setting of aiortc's encoder.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from aiortc.codecs.vpx import Vp8Decoder, Vp8Encoder, VpxPayloadDescriptor
from aiortc.jitterbuffer import JitterFrame
from av import VideoFrame


def psnr(reference: list[np.ndarray], test: list[np.ndarray]) -> float:
    """PSNR in dB over all pixels of all frames (uint8 images, peak 255); inf when identical."""
    mse = float(np.mean([np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
                         for a, b in zip(reference, test, strict=True)]))
    return math.inf if mse == 0.0 else 10.0 * math.log10(255.0**2 / mse)


@dataclass(frozen=True)
class Vp8Trial:
    """One encode of the whole clip at one target bitrate."""

    target_kbps: float
    """Bitrate asked of the encoder."""
    kbps: float
    """Bitrate produced: VP8 RTP payload bytes (with payload descriptors, without RTP/UDP headers)."""
    psnr_db: float
    """PSNR of the decoded clip against the input frames."""


def encode_clip(frames: list[np.ndarray], fps: float, target_bps: int) -> Vp8Trial:
    """Encode `frames` (uint8 [H, W, 3], even sizes) with aiortc's Vp8Encoder at `target_bps`, decode them with
    Vp8Decoder, and measure bitrate and PSNR."""
    encoder = Vp8Encoder()
    encoder._Vp8Encoder__target_bitrate = int(target_bps)  # type: ignore[attr-defined]  # beyond aiortc's clamp
    decoder = Vp8Decoder()
    total = 0
    decoded: list[np.ndarray] = []
    for index, image in enumerate(frames):
        frame = VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts = index
        frame.time_base = Fraction(1, int(round(fps)))
        payloads, timestamp = encoder.encode(frame, force_keyframe=index == 0)
        total += sum(len(p) for p in payloads)
        data = b"".join(VpxPayloadDescriptor.parse(p)[1] for p in payloads)
        out = decoder.decode(JitterFrame(data, timestamp))
        if out:
            decoded.append(out[-1].to_ndarray(format="rgb24"))  # type: ignore[attr-defined]
        else:  # nothing decodable: count the previous picture again (a freeze)
            decoded.append(decoded[-1] if decoded else np.zeros_like(image))
    kbps = total * 8.0 / 1000.0 / (len(frames) / fps)
    return Vp8Trial(target_bps / 1000.0, kbps, psnr(frames, decoded))


@dataclass(frozen=True)
class Vp8Search:
    """The lowest bitrate found whose PSNR reaches the target."""

    target_psnr_db: float
    """PSNR the video had to reach."""
    reached: bool
    """Whether any tried bitrate reached it (else `best` is the highest tried)."""
    best: Vp8Trial
    """The cheapest trial that reached the target, or the highest-bitrate trial."""
    trials: tuple[Vp8Trial, ...]
    """Every trial, in order."""


def search_bitrate(frames: list[np.ndarray], fps: float, target_psnr_db: float, *, low_bps: int = 20_000,
                   high_bps: int = 20_000_000, steps: int = 10) -> Vp8Search:
    """Bisect the target bitrate (geometrically) for the cheapest encode reaching `target_psnr_db`."""
    trials = [encode_clip(frames, fps, high_bps)]
    if trials[0].psnr_db < target_psnr_db:
        return Vp8Search(target_psnr_db, False, trials[0], tuple(trials))
    best = trials[0]
    lo, hi = float(low_bps), float(high_bps)
    for _ in range(steps):
        mid = math.sqrt(lo * hi)
        trial = encode_clip(frames, fps, int(mid))
        trials.append(trial)
        if trial.psnr_db >= target_psnr_db:
            hi = mid
            if trial.kbps < best.kbps:
                best = trial
        else:
            lo = mid
    return Vp8Search(target_psnr_db, True, best, tuple(trials))
