"""The video baseline of the call benchmark: VP8 on rendered avatar frames, with the bitrate searched until its
PSNR reaches a target (the avatar path's PSNR), and PSNR helpers.

Two encoder settings are tried:
- `aiortc`: aiortc's own `Vp8Encoder`, every setting kept (qmin 2, qmax 56, denoiser at 4), as an aiortc video
  call would send. aiortc clamps `Vp8Encoder.target_bitrate` to 250 kbit/s..1.5 Mbit/s; the search sets the
  encoder's private bitrate attribute so it can go outside that range.
- `free`: libvpx VP8 through PyAV in real time with the denoiser off and the quantizer free (qmin 0, qmax 63):
  VP8 given every chance to spend bits. Tried only when aiortc's settings never reach the target, to find how
  close VP8 can come at all.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np
from aiortc.codecs.vpx import Vp8Decoder, Vp8Encoder, VpxPayloadDescriptor
from aiortc.jitterbuffer import JitterFrame
from av import VideoFrame

LUMA = np.array([0.299, 0.587, 0.114])
"""BT.601 luma weights."""
FREE_TARGETS_BPS = (1_500_000, 3_000_000, 8_000_000)
"""Target bitrates of the `free` trials (libvpx stops spending more near 1.3 Mbit/s on the call's renders)."""


def psnr(reference: list[np.ndarray], test: list[np.ndarray]) -> float:
    """PSNR in dB over all pixels of all frames (uint8 images, peak 255); inf when identical."""
    mse = float(np.mean([np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
                         for a, b in zip(reference, test, strict=True)]))
    return math.inf if mse == 0.0 else 10.0 * math.log10(255.0**2 / mse)


def luma_psnr(reference: list[np.ndarray], test: list[np.ndarray]) -> float:
    """PSNR of the BT.601 luma of RGB frames (peak 255); inf when identical."""
    mse = float(np.mean([np.mean((a.astype(np.float64) @ LUMA - b.astype(np.float64) @ LUMA) ** 2)
                         for a, b in zip(reference, test, strict=True)]))
    return math.inf if mse == 0.0 else 10.0 * math.log10(255.0**2 / mse)


@dataclass(frozen=True)
class Vp8Trial:
    """One encode of the whole clip at one target bitrate."""

    settings: str
    """'aiortc' (aiortc's Vp8Encoder) or 'free' (libvpx, denoiser off, qmin 0)."""
    target_kbps: float
    """Bitrate asked of the encoder."""
    kbps: float
    """Bitrate produced: VP8 payload bytes (aiortc: RTP payloads with payload descriptors; free: libvpx
    packets), without RTP/UDP headers."""
    psnr_db: float
    """PSNR of the decoded clip against the input frames."""
    luma_psnr_db: float
    """The same on BT.601 luma."""


def _trial(settings: str, frames: list[np.ndarray], decoded: list[np.ndarray], fps: float, target_bps: int,
           total_bytes: int) -> Vp8Trial:
    kbps = total_bytes * 8.0 / 1000.0 / (len(frames) / fps)
    return Vp8Trial(settings, target_bps / 1000.0, kbps, psnr(frames, decoded), luma_psnr(frames, decoded))


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
    return _trial("aiortc", frames, decoded, fps, target_bps, total)


def encode_clip_free(frames: list[np.ndarray], fps: float, target_bps: int) -> Vp8Trial:
    """Encode `frames` with libvpx VP8 in real time, denoiser off and quantizer free (qmin 0, qmax 63), CBR at
    `target_bps`; decode and measure bitrate and PSNR."""
    height, width = frames[0].shape[:2]
    encoder = av.CodecContext.create("libvpx", "w")
    encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
    encoder.bit_rate, encoder.qmin, encoder.qmax, encoder.gop_size = target_bps, 0, 63, 3000
    encoder.options = {"deadline": "realtime", "cpu-used": "-6", "lag-in-frames": "0", "noise-sensitivity": "0",
                       "minrate": str(target_bps), "maxrate": str(target_bps), "bufsize": str(target_bps)}
    decoder = av.CodecContext.create("libvpx", "r")
    total = 0
    decoded: list[np.ndarray] = []
    for index, image in enumerate(frames):
        frame = VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
        frame.pts, frame.time_base = index, Fraction(1, int(round(fps)))
        for packet in encoder.encode(frame):
            total += packet.size
            decoded += [f.to_ndarray(format="rgb24") for f in decoder.decode(packet)]
    for packet in encoder.encode(None):  # flush (lag-in-frames 0: normally nothing is left)
        total += packet.size
        decoded += [f.to_ndarray(format="rgb24") for f in decoder.decode(packet)]
    return _trial("free", frames, decoded, fps, target_bps, total)


@dataclass(frozen=True)
class Vp8Search:
    """The lowest bitrate found whose PSNR reaches the target, or VP8's closest approach to it."""

    target_psnr_db: float
    """PSNR the video had to reach."""
    reached: bool
    """Whether any tried bitrate reached it."""
    best: Vp8Trial
    """The cheapest trial that reached the target; if none did, the trial of highest PSNR (VP8's closest
    approach: the bitrate VP8 needs for the target is then more than its `kbps`, a lower bound)."""
    trials: tuple[Vp8Trial, ...]
    """Every trial, in order."""


def best_trial(trials: list[Vp8Trial], target_psnr_db: float) -> Vp8Trial:
    """The cheapest trial reaching `target_psnr_db`; if none does, the closest approach: the trial of highest PSNR
    (of equal PSNRs to 0.01 dB, the cheapest)."""
    reaching = [t for t in trials if t.psnr_db >= target_psnr_db]
    if reaching:
        return min(reaching, key=lambda t: t.kbps)
    return max(trials, key=lambda t: (round(t.psnr_db, 2), -t.kbps))


def _bisect(encode: Callable[[list[np.ndarray], float, int], Vp8Trial], frames: list[np.ndarray], fps: float,
            target_psnr_db: float, low_bps: int, high_bps: int, steps: int, first: Vp8Trial) -> list[Vp8Trial]:
    """Trials of `encode` bisecting (geometrically) between `low_bps` and `high_bps`, `first` (at `high_bps`)
    having reached the target."""
    trials = [first]
    lo, hi = float(low_bps), float(high_bps)
    for _ in range(steps):
        mid = math.sqrt(lo * hi)
        trial = encode(frames, fps, int(mid))
        trials.append(trial)
        if trial.psnr_db >= target_psnr_db:
            hi = mid
        else:
            lo = mid
    return trials


def search_bitrate(frames: list[np.ndarray], fps: float, target_psnr_db: float, *, low_bps: int = 20_000,
                   high_bps: int = 20_000_000, steps: int = 10) -> Vp8Search:
    """The cheapest VP8 encode reaching `target_psnr_db`: aiortc's settings bisected if they reach it at
    `high_bps`, else the `free` settings (bisected if they reach it at their highest target); if neither
    reaches it, VP8's closest approach over every trial."""
    def reached(encode: Callable[[list[np.ndarray], float, int], Vp8Trial], high: int, first: Vp8Trial,
                before: list[Vp8Trial]) -> Vp8Search:
        trials = _bisect(encode, frames, fps, target_psnr_db, low_bps, high, steps, first)
        return Vp8Search(target_psnr_db, True, best_trial(trials, target_psnr_db), tuple(before + trials))

    aiortc = encode_clip(frames, fps, high_bps)
    if aiortc.psnr_db >= target_psnr_db:
        return reached(encode_clip, high_bps, aiortc, [])
    free = encode_clip_free(frames, fps, FREE_TARGETS_BPS[-1])
    if free.psnr_db >= target_psnr_db:
        return reached(encode_clip_free, FREE_TARGETS_BPS[-1], free, [aiortc])
    # How close VP8 comes below its highest target.
    tried = [aiortc, free, *(encode_clip_free(frames, fps, bps) for bps in FREE_TARGETS_BPS[:-1])]
    return Vp8Search(target_psnr_db, False, best_trial(tried, target_psnr_db), tuple(tried))
