"""benchmarks/vp8_baseline.py: the VP8 baseline's search picks the cheapest encode reaching the target, tries
libvpx's free settings only when aiortc's never get there, and reports VP8's closest approach as a lower bound
when nothing does. Real libvpx encodes of a small synthetic clip (no GL)."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest

from tests.benchmarks import load_benchmark


@pytest.fixture(scope="module")
def vp8() -> ModuleType:
    return load_benchmark("vp8_baseline")


@pytest.fixture(scope="module")
def clip() -> list[np.ndarray]:
    """Eight 96x64 frames: a smooth gradient drifting right, with fine noise VP8 cannot keep exactly."""
    rng = np.random.default_rng(0)
    x = np.arange(96)[None, :, None]
    y = np.arange(64)[:, None, None]
    frames = []
    for t in range(8):
        base = 80 + 60 * np.sin((x + 2 * t) / 9.0) + 40 * np.cos(y / 7.0) + np.array([0, 20, -20])
        frames.append(np.clip(base + rng.normal(0, 6, (64, 96, 3)), 0, 255).astype(np.uint8))
    return frames


def test_best_trial_is_cheapest_reaching_else_highest_psnr(vp8: ModuleType) -> None:
    t = vp8.Vp8Trial
    trials = [t("aiortc", 100, 90.0, 38.0, 40.0), t("aiortc", 50, 45.0, 35.5, 37.0), t("free", 900, 800.0, 39.0, 41.0),
              t("free", 3000, 1300.0, 39.001, 41.0)]
    assert vp8.best_trial(trials, 35.0).kbps == 45.0
    assert vp8.best_trial(trials, 38.5).kbps == 800.0
    # unreachable: the highest PSNR; equal to 0.01 dB, the cheaper one
    assert vp8.best_trial(trials, 50.0).kbps == 800.0


def test_reachable_target_bisects_aiortc_only(vp8: ModuleType, clip: list[np.ndarray]) -> None:
    search = vp8.search_bitrate(clip, 30.0, 20.0, steps=4)
    assert search.reached
    assert {t.settings for t in search.trials} == {"aiortc"}
    assert search.best.psnr_db >= 20.0
    assert search.best.kbps == min(t.kbps for t in search.trials if t.psnr_db >= 20.0)
    assert len(search.trials) == 5


def test_unreachable_target_gives_vp8s_closest_approach(vp8: ModuleType, clip: list[np.ndarray]) -> None:
    search = vp8.search_bitrate(clip, 30.0, 99.0, steps=4)
    assert not search.reached
    assert [t.settings for t in search.trials] == ["aiortc"] + ["free"] * len(vp8.FREE_TARGETS_BPS)
    assert search.best.psnr_db == max(t.psnr_db for t in search.trials)
    assert all(t.kbps > 0 and np.isfinite(t.luma_psnr_db) for t in search.trials)
