"""The audio driver's training augmentation: each change does what it says to log-mel windows, the switched-off
ones change nothing, and noise alone comes with the mouth at rest."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from codecav.encoders.audio.features import LOG_FLOOR, N_MELS, log_mel  # noqa: E402
from codecav.training.audio_augment import DB, AudioAugment, augment, band_curve, warp_bands  # noqa: E402


def _tone_windows(hz: float, frames: int = 29) -> np.ndarray:
    """[1, frames, N_MELS] log-mel of a steady sine at `hz`."""
    t = np.arange(16000) / 16000
    return log_mel((0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32))[None, 10:10 + frames]


def test_warp_moves_a_formant_up_for_a_shorter_tract_and_one_is_identity() -> None:
    x = torch.from_numpy(_tone_windows(1000.0))
    peak = int(x[0, 0].argmax())
    assert torch.allclose(warp_bands(x, torch.tensor([1.0])), x, atol=1e-5)
    assert int(warp_bands(x, torch.tensor([1.2]))[0, 0].argmax()) > peak
    assert int(warp_bands(x, torch.tensor([0.8]))[0, 0].argmax()) < peak


def test_band_curve_is_the_slope_from_end_to_end_without_ripple() -> None:
    curve = band_curve(torch.tensor([6.0]), torch.zeros(1, 2), torch.zeros(1, 2))[0]
    assert float(curve[-1] - curve[0]) == pytest.approx(6.0 * DB, rel=1e-5)
    assert float(curve.mean()) == pytest.approx(0.0, abs=1e-6)


def test_gain_alone_shifts_every_feature_by_the_same_amount() -> None:
    x = torch.from_numpy(np.repeat(_tone_windows(500.0), 4, axis=0))
    y = torch.rand(4, 3)
    out, y_out = augment(x, y, AudioAugment(gain_db=(6.0, 6.0), noise_prob=0.0), np.random.default_rng(0))
    assert torch.allclose(out - x, torch.full_like(x, 6.0 * DB), atol=1e-5)
    assert torch.equal(y_out, y)


def test_switched_off_changes_draw_nothing_from_the_generator() -> None:
    x = torch.from_numpy(np.repeat(_tone_windows(500.0), 8, axis=0))
    y = torch.rand(8, 3)
    rng = np.random.default_rng(3)
    augment(x, y, AudioAugment(), rng)
    reference = np.random.default_rng(3)
    reference.uniform(size=8), reference.uniform(size=8), reference.random(8)  # gain, noise level, noise or not
    assert rng.random() == reference.random()


def test_noise_only_windows_hold_no_speech_and_target_the_mouth_at_rest() -> None:
    x = torch.from_numpy(np.repeat(_tone_windows(500.0), 64, axis=0))
    y = torch.ones(64, 3)
    aug = AudioAugment(gain_db=(0.0, 0.0), noise_prob=0.0, noise_dbfs=(-90.0, -90.0), noise_only=0.5,
                       noise_only_dbfs=(-40.0, -40.0))
    out, y_out = augment(x, y, aug, np.random.default_rng(1))
    quiet = (y_out == 0).all(dim=1)
    assert 10 < int(quiet.sum()) < 54
    assert torch.equal(y_out[~quiet], y[~quiet]) and torch.equal(out[~quiet], x[~quiet])
    # a quiet window is noise 40 dB below full scale: far below the tone, far above digital silence
    assert float(out[quiet].max()) < float(x.max()) - 5 and float(out[quiet].min()) > np.log(LOG_FLOOR) + 3
    assert out.shape == (64, 29, N_MELS)


def test_noise_frames_fluctuate_like_a_recordings_noise_around_the_mean_spectrum() -> None:
    from codecav.training.audio_augment import white_noise_bands, white_noise_frames

    frames = white_noise_frames()
    assert np.allclose(frames.mean(axis=0), white_noise_bands(), rtol=0.05)
    # a recording's band energies spread (fewest FFT bins in the lowest bands, so most there); the mean does not
    spread = np.log(frames).std(axis=0)
    assert spread.min() > 0.2 and spread[0] > spread[-1]
    x = torch.full((16, 29, N_MELS), float(np.log(LOG_FLOOR)))
    aug = AudioAugment(gain_db=(0.0, 0.0), noise_prob=1.0, noise_dbfs=(-40.0, -40.0))
    smooth, _ = augment(x, torch.zeros(16, 3), aug, np.random.default_rng(0))
    rough, _ = augment(x, torch.zeros(16, 3), AudioAugment(**{**aug.__dict__, "noise_frames": True}),
                       np.random.default_rng(0))
    assert float(smooth.std(dim=1).max()) < 1e-4 < 0.2 < float(rough.std(dim=1).mean())


def test_reverberation_carries_a_burst_on_after_it_ends_and_decays_at_the_rooms_rate() -> None:
    from codecav.training.audio_augment import reverberate

    x = torch.full((1, 29, N_MELS), float(np.log(LOG_FLOOR)))
    x[0, 5:10] = 0.0  # power 1 for 50 ms, then silence
    out = reverberate(x, torch.tensor([0.3]), torch.tensor([0.0]))
    assert float(out[0, :5].max()) < np.log(LOG_FLOOR) + 1, "no echo before the sound"
    assert torch.allclose(out[0, 5], x[0, 5], atol=1e-4), "its first frame is the direct sound alone"
    tail = out[0, 10:, 0]
    assert float(tail[0]) > np.log(LOG_FLOOR) + 5, "the echo goes on after the sound stops"
    per_hop_db = float(tail[0] - tail[1]) / DB
    assert per_hop_db == pytest.approx(60 * 0.01 / 0.3, rel=1e-3), "60 dB of decay over RT60"
    steady = reverberate(torch.zeros(1, 400, 1), torch.tensor([0.3]), torch.tensor([6.0]))
    assert float(steady[0, -1, 0]) == pytest.approx(np.log(1 + 10 ** -0.6), rel=1e-3), "tail 6 dB under direct"
