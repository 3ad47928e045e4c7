"""Augmentation of the audio driver's training windows in the log-mel domain (torch): what another voice, another
microphone, a room's echo and noise and the speaker's loudness change in the features. The driver trains on
espeak-ng and one recorded voice; augmentation is how it learns that these changes do not move the mouth, and that
a room's noise or echo with nobody speaking leaves the mouth at rest."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from codecav.encoders.audio.features import (
    HOP,
    LOG_FLOOR,
    N_MELS,
    SAMPLE_RATE,
    WINDOW,
    analysis_window,
    hz_to_mel,
    log_mel,
    mel_band_edges_hz,
    mel_filterbank,
)

DB = float(np.log(10) / 10)
"""Natural-log units per decibel of power (log-mel features are natural logs of power)."""


@dataclass(frozen=True)
class AudioAugment:
    """Ranges of the random changes made to each training window (all uniform). With the defaults
    (`AudioAugment()`) only loudness and white noise's mean spectrum are applied, drawn from the generator exactly
    as the audio driver of sessions 9-14 was trained; each other change is off until its share or size is set."""

    gain_db: tuple[float, float] = (-18.0, 12.0)
    """Loudness change of the whole window."""
    noise_prob: float = 0.5
    """Share of windows that get noise added."""
    noise_dbfs: tuple[float, float] = (-90.0, -45.0)
    """RMS level of that noise in dB full scale (log-uniform power)."""
    noise_tilt_db: tuple[float, float] = (0.0, 0.0)
    """The noise spectrum's slope in dB from the lowest band to the highest, relative to white noise: a room's hum
    and fans are well below zero (pink noise is about -21 dB over these seven octaves), hiss above."""
    eq_db: float = 0.0
    """Microphone and room colouring: a smooth random curve over the bands, a slope of up to this many dB from
    end to end plus two ripples of up to half of it."""
    warp: float = 0.0
    """Vocal tract length: the spectrum's frequencies scaled by a factor in 1 +- warp (another voice's formants)."""
    noise_only: float = 0.0
    """Share of windows whose speech is replaced by silence (always with noise added) and whose targets are the
    mouth at rest: a room with nobody speaking."""
    noise_only_dbfs: tuple[float, float] = (-75.0, -35.0)
    """RMS level of those windows' noise (log-uniform power): a quiet room to a noisy one, through a microphone."""
    reverb_prob: float = 0.0
    """Share of windows heard in a room: each frame's energy trails on, decaying, into the frames after it (a
    word's echo goes on after the mouth has closed)."""
    reverb_rt60_s: tuple[float, float] = (0.1, 0.8)
    """The room's reverberation time (60 dB of decay): a furnished office to a bare hall."""
    reverb_drr_db: tuple[float, float] = (-3.0, 12.0)
    """Direct-to-reverberant ratio of a steady sound: near the microphone (high) to across the room (low)."""
    noise_frames: bool = False
    """Add noise as the front end's frames of real white noise, whose band energies fluctuate from frame to frame
    as a microphone's noise does, rather than as its mean spectrum (smooth and constant, which no microphone
    gives: a driver trained only on that does not know real noise for silence)."""


@lru_cache(maxsize=1)
def _band_positions() -> np.ndarray:
    """float64 [N_MELS]: each band's centre on the mel scale, 0 for the lowest band and 1 for the highest."""
    return np.linspace(0.0, 1.0, N_MELS)


@lru_cache(maxsize=1)
def white_noise_bands() -> np.ndarray:
    """float32 [N_MELS]: mel-band power of white noise of variance 1 through the front end's Hann window."""
    window_energy = float((analysis_window().astype(np.float64) ** 2).sum())
    return (mel_filterbank().sum(axis=1) * window_energy).astype(np.float32)


@lru_cache(maxsize=1)
def white_noise_frames(frames: int = 8192) -> np.ndarray:
    """float32 [frames, N_MELS]: mel-band power of consecutive front-end frames of white noise of variance 1 (a
    fixed seed): what `white_noise_bands` is the mean of, with the fluctuation a recording has."""
    noise = np.random.default_rng(12345).standard_normal((frames - 1) * HOP + WINDOW).astype(np.float32)
    return (np.exp(log_mel(noise).astype(np.float64)) - LOG_FLOOR).astype(np.float32)


def warp_bands(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Log-mel windows x [B, T, N_MELS] with every frequency scaled by factor [B] (> 1 raises the formants, as a
    shorter vocal tract does): band i takes the value the unwarped spectrum has at its centre / factor,
    interpolated linearly between bands and held at the ends."""
    edges = mel_band_edges_hz()
    edges_mel = hz_to_mel(edges)
    source_hz = edges[None, 1:-1] / factor.double().numpy()[:, None]  # band i peaks at edge i + 1
    # fractional band index of each source frequency (band centres are evenly spaced in mel), held at the ends
    index = torch.from_numpy((hz_to_mel(source_hz) - edges_mel[1]) / (edges_mel[2] - edges_mel[1]))
    index = index.clamp(0.0, N_MELS - 1.0).to(x.dtype)
    below = index.floor().long()
    above = (below + 1).clamp(max=N_MELS - 1)
    frac = (index - below.to(x.dtype))[:, None, :]

    def bands(chosen: torch.Tensor) -> torch.Tensor:
        return torch.gather(x, 2, chosen[:, None, :].expand(-1, x.shape[1], -1))

    return bands(below) * (1.0 - frac) + bands(above) * frac


def band_curve(slope_db: torch.Tensor, ripple_db: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
    """[B, N_MELS] a smooth gain curve in natural-log units: slope_db [B] from the lowest band to the highest,
    plus ripples ripple_db [B, R] of 1..R half-periods over the bands at phases phase [B, R]."""
    u = torch.from_numpy(_band_positions()).to(slope_db.dtype)
    curve = slope_db[:, None] * (u[None, :] - 0.5)
    k = torch.arange(1, ripple_db.shape[1] + 1, dtype=slope_db.dtype)
    waves = torch.cos(np.pi * k[None, :, None] * u[None, None, :] + phase[:, :, None])
    return (curve + (ripple_db[:, :, None] * waves).sum(dim=1)) * DB


def reverberate(x: torch.Tensor, rt60_s: torch.Tensor, drr_db: torch.Tensor) -> torch.Tensor:
    """Log-mel windows x [B, T, N_MELS] in a room: each frame's power decays by 60 dB over rt60_s [B] seconds into
    the frames after it, scaled so that a steady sound's tail is drr_db [B] below its direct sound. Frame-level
    (10 ms hops) and per band; the tail of sound before the window is not there."""
    decay = 10 ** (-6.0 * (HOP / SAMPLE_RATE) / rt60_s)  # power kept per hop
    scale = (1 - decay) / (decay * 10 ** (drr_db / 10))  # steady tail: scale * decay / (1 - decay) = 1 / DRR
    power = torch.exp(x)
    tail = torch.zeros_like(power[:, 0])
    tails = [tail]
    for t in range(1, x.shape[1]):
        tail = decay[:, None] * (tail + power[:, t - 1])
        tails.append(tail)
    return torch.log(power + scale[:, None, None] * torch.stack(tails, dim=1))


def augment(x: torch.Tensor, y: torch.Tensor, aug: AudioAugment,
            rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Randomly changed copies of log-mel windows x [B, T, N_MELS] and their targets y [B, K]. The random draws
    come from `rng`; those of the switched-off changes are not made, so an `AudioAugment()` consumes `rng` as the
    trainer of sessions 9-14 did."""
    batch = x.shape[0]
    gain = torch.from_numpy(rng.uniform(*aug.gain_db, (batch, 1, 1)).astype(np.float32))
    power = torch.from_numpy((10 ** (rng.uniform(*aug.noise_dbfs, (batch, 1, 1)) / 10)).astype(np.float32))
    noisy = rng.random((batch, 1, 1)) < aug.noise_prob
    if aug.warp > 0:
        x = warp_bands(x, torch.from_numpy(rng.uniform(1 - aug.warp, 1 + aug.warp, batch).astype(np.float32)))
    if aug.eq_db > 0:
        curve = band_curve(torch.from_numpy(rng.uniform(-aug.eq_db, aug.eq_db, batch).astype(np.float32)),
                           torch.from_numpy(rng.uniform(-aug.eq_db / 2, aug.eq_db / 2, (batch, 2)).astype(np.float32)),
                           torch.from_numpy(rng.uniform(0, 2 * np.pi, (batch, 2)).astype(np.float32)))
        x = x + curve[:, None, :]
    if aug.reverb_prob > 0:
        in_room = torch.from_numpy(rng.random(batch) < aug.reverb_prob)
        rt60 = torch.from_numpy(rng.uniform(*aug.reverb_rt60_s, batch).astype(np.float32))
        drr = torch.from_numpy(rng.uniform(*aug.reverb_drr_db, batch).astype(np.float32))
        x = torch.where(in_room[:, None, None], reverberate(x, rt60, drr), x)
    if aug.noise_only > 0:
        quiet = rng.random(batch) < aug.noise_only
        quiet_t = torch.from_numpy(quiet)
        room = torch.from_numpy((10 ** (rng.uniform(*aug.noise_only_dbfs, (batch, 1, 1)) / 10)).astype(np.float32))
        power = torch.where(quiet_t[:, None, None], room, power)
        x = torch.where(quiet_t[:, None, None], torch.full_like(x, float(np.log(LOG_FLOOR))), x)
        y = torch.where(quiet_t[:, None], torch.zeros_like(y), y)
        noisy = noisy | quiet[:, None, None]
    x = x + gain * DB
    shape = torch.from_numpy(white_noise_bands())[None, None, :].expand(batch, 1, -1)
    if aug.noise_frames:
        bank = white_noise_frames()
        first = rng.integers(0, len(bank) - x.shape[1], batch)
        shape = torch.from_numpy(bank[first[:, None] + np.arange(x.shape[1])[None, :]])
    if aug.noise_tilt_db != (0.0, 0.0):
        tilt = torch.from_numpy(rng.uniform(*aug.noise_tilt_db, batch).astype(np.float32))
        shape = shape * torch.exp(band_curve(tilt, torch.zeros(batch, 1), torch.zeros(batch, 1)))[:, None, :]
    with_noise = torch.log(torch.exp(x) + power * shape)
    return torch.where(torch.from_numpy(noisy), with_noise, x), y
