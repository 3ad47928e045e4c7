"""VoiceMix: remote voices pulled 10 ms at a time on one playout clock, whatever the output's timing."""

from __future__ import annotations

import numpy as np
import pytest

from codecav.net.voice_mix import VoiceMix


class Ramp:
    """A voice whose every sample tells which chunk it came from; records the play times it was pulled at."""

    def __init__(self, level: float = 0.001) -> None:
        self.level = level
        self.play_ns: list[int] = []

    def __call__(self, play_ns: int) -> np.ndarray:
        self.play_ns.append(play_ns)
        return np.full(480, self.level * len(self.play_ns), np.float32)


def test_jittery_requests_get_a_seamless_stream_pulled_10_ms_apart() -> None:
    voice = Ramp()
    mix = VoiceMix(lambda: [voice])
    rng = np.random.default_rng(0)
    out = [mix.samples(1_000_000 + k * 20_000 + rng.uniform(-3_000, 3_000), 960) for k in range(100)]
    pcm = np.concatenate(out)
    assert np.allclose(pcm, np.repeat(np.arange(1, 201) * 0.001, 480), atol=1e-6)  # every chunk once, in order
    steps = np.diff(voice.play_ns) / 1e6
    assert steps.min() > 9.4 and steps.max() < 10.6 and mix.restarts == 0  # the clock follows, never jumps


def test_any_block_size_and_a_mixed_sum_clipped() -> None:
    voices = [Ramp(0.4), Ramp(0.4)]
    mix = VoiceMix(lambda: voices)
    first = mix.samples(0.0, 700)  # not a multiple of 480: the rest of the chunk waits for the next request
    second = mix.samples(700 * 1e6 / 48_000, 260)
    assert first.size == 700 and second.size == 260 and len(voices[0].play_ns) == 2
    assert np.allclose(first[:480], 0.8) and np.allclose(first[480:], 1.0) and np.allclose(second, 1.0)  # 1.6 clipped


def test_an_output_that_stalled_restarts_the_clock_and_a_reader_behind_reads_history() -> None:
    voice = Ramp()
    mix = VoiceMix(lambda: [voice])
    for k in range(10):
        mix.samples(k * 20_000.0, 960)
    mix.samples(10 * 20_000.0 + 100_000, 960)  # 100 ms late
    assert mix.restarts == 1 and voice.play_ns[-2] - voice.play_ns[-3] == pytest.approx(110_000_000, abs=1000)
    pulled = len(voice.play_ns)
    behind = mix.samples(40_000.0, 960)  # a recorder 160 ms behind: what was played then, nothing pulled anew
    assert len(voice.play_ns) == pulled and mix.history_reads == 1
    assert np.allclose(behind[:480], 0.005) and np.allclose(behind[480:], 0.006)
    with pytest.raises(ValueError, match="follow"):
        VoiceMix(lambda: [], follow=0.0)
