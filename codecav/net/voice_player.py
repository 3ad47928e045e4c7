"""Plays a call's remote voices through PortAudio (sounddevice), each aligned with its face.

The output callback asks the session for the samples that reach the speaker at `now + output latency`
(PortAudio's outputBufferDacTime), so the voice heard and the face shown were captured together.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from codecav.clock import MONOTONIC, Clock
from codecav.net.voice import SAMPLE_RATE, VoiceError

VoiceSamples = Callable[[float, int], np.ndarray]
"""(play time µs on the call's clock, n) -> n float32 mono samples, e.g. CallSession.voice_samples."""


class VoicePlayer:
    """A PortAudio output stream at 48 kHz mono fed by `samples`; VoiceError if the device fails."""

    def __init__(self, samples: VoiceSamples, device: int | str | None = None, block: int = 480, *,
                 clock: Clock = MONOTONIC) -> None:
        """`clock` must be the call's clock: play times handed to `samples` are its microseconds."""
        try:
            import sounddevice as sd
        except OSError as exc:
            raise VoiceError(f"PortAudio is not available ({exc}); apt-get install libportaudio2") from None
        self._samples = samples
        self._clock = clock
        self.blocks = 0
        """Output blocks played."""
        self.errors = 0
        """Callbacks that failed (silence was played instead)."""
        try:
            self._stream = sd.OutputStream(device=device, channels=1, samplerate=SAMPLE_RATE, dtype="float32",
                                           blocksize=block, callback=self._callback)
            self._stream.start()
        except Exception as exc:  # PortAudioError and friends
            raise VoiceError(f"cannot open audio output {device!r} at 48 kHz ({exc}); list devices with "
                             "`python -m sounddevice`") from None

    def _callback(self, outdata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        # PortAudio hands us its stream times (its own clock): only their difference, the output latency, is
        # used; "now" is the call's clock.
        latency_s = max(0.0, float(time_info.outputBufferDacTime - time_info.currentTime)) \
            if time_info.outputBufferDacTime else 0.0
        play_us = self._clock.now_us() + latency_s * 1e6
        try:
            outdata[:, 0] = self._samples(play_us, frames)
        except Exception:  # never raise into PortAudio's thread: play silence and count it
            outdata.fill(0)
            self.errors += 1
        self.blocks += 1

    def close(self) -> None:
        """Stop and close the stream."""
        self._stream.stop()
        self._stream.close()
