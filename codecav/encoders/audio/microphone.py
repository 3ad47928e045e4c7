"""Microphone source: PortAudio (sounddevice) input at the device's rate, resampled to 16 kHz mono, through
the AudioDriver. Devices are picked by index or by (part of) their name."""

from __future__ import annotations

import queue
import threading
from typing import Any

import numpy as np

from codecav.clock import MONOTONIC, Clock
from codecav.encoders.audio.driver import AudioDriver
from codecav.encoders.audio.features import Resampler
from codecav.encoders.base import ExpressionSample, ExpressionSource
from codecav.encoders.errors import AudioDeviceError, one_line

LIST_HINT = "list input devices with `codecav devices` or `python -m sounddevice`"
"""How a user sees the devices, quoted in errors."""


def _sounddevice() -> Any:
    try:
        import sounddevice
    except OSError as exc:  # sounddevice raises OSError when libportaudio is missing
        raise AudioDeviceError(f"PortAudio is not available ({one_line(exc)}); apt-get install libportaudio2") \
            from None
    return sounddevice


def rescan_devices() -> None:
    """Make PortAudio enumerate the devices again (e.g. after a JACK server started)."""
    sd = _sounddevice()
    sd._terminate()
    sd._initialize()


def input_devices() -> list[tuple[int, str, str, int, float]]:
    """(index, name, host API, input channels, default sample rate) of every device with inputs."""
    sd = _sounddevice()
    apis = sd.query_hostapis()
    return [(i, d["name"], apis[d["hostapi"]]["name"], int(d["max_input_channels"]), float(d["default_samplerate"]))
            for i, d in enumerate(sd.query_devices()) if d["max_input_channels"] > 0]


def find_input_device(spec: int | str | None) -> tuple[int, str, float]:
    """(index, name, default rate) of the input device `spec` (an index, a digit string, part of a name, or
    None for the default); AudioDeviceError naming the spec and how to list devices."""
    devices = input_devices()
    if not devices:
        raise AudioDeviceError(f"no audio input devices found; connect a microphone or start a sound server "
                               f"(PulseAudio, PipeWire, JACK); {LIST_HINT}")
    if spec is None or spec == "":
        default = _sounddevice().default.device[0]
        chosen = [d for d in devices if d[0] == default] or devices[:1]
        return chosen[0][0], chosen[0][1], chosen[0][4]
    if isinstance(spec, int) or str(spec).isdigit():
        matches = [d for d in devices if d[0] == int(spec)]
    else:
        matches = [d for d in devices if str(spec).lower() in d[1].lower()]
    if not matches:
        raise AudioDeviceError(f"no audio input device '{spec}'; {LIST_HINT}")
    return matches[0][0], matches[0][1], matches[0][4]


class MicrophoneSource(ExpressionSource):
    """Live mouth weights from a microphone. Capture times come from PortAudio's input timestamps mapped
    onto `clock` (the monotonic clock by default)."""

    name = "mic"

    def __init__(self, device: int | str | None = None, model: bytes | str | None = None, threads: int = 1,
                 block_ms: float = 10.0, *, clock: Clock = MONOTONIC) -> None:
        """Open and start the input stream; AudioDeviceError (one line) if the device is missing or fails.
        `clock` stamps the first block's capture time and times `read`'s time-out."""
        sd = _sounddevice()
        self.device_index, self.device_name, rate = find_input_device(device)
        self.rate = int(rate)
        """The device's sample rate (resampled to 16 kHz)."""
        self._resampler = Resampler(self.rate)
        self._blocks: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=500)
        self._samples: list[ExpressionSample] = []
        self._lock = threading.Lock()
        self._closed = False
        self._clock = clock
        self.overflows = 0
        """Input blocks PortAudio reported as overflowed (dropped audio)."""
        self._t0_us: int | None = None
        self.driver: AudioDriver | None = None
        """The streaming driver (created with the first block, timed from its capture time)."""
        self._model, self._threads = model, threads
        AudioDriver(model, threads=threads)  # fail now, not in the callback, if the model is unusable
        try:
            self._stream = sd.InputStream(device=self.device_index, channels=1, samplerate=self.rate,
                                          dtype="float32", blocksize=max(1, int(self.rate * block_ms / 1000)),
                                          callback=self._callback)
            self._stream.start()
        except Exception as exc:  # PortAudioError and friends
            raise AudioDeviceError(f"cannot open audio input {self.device_name!r} at {self.rate} Hz "
                                   f"({one_line(exc)}); {LIST_HINT}") from None

    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        if status.input_overflow:
            self.overflows += 1
        if self._t0_us is None:
            # capture time of this block's first sample: now minus the block length and the input latency.
            # PortAudio's timestamps are on its own stream clock, so only their difference (the latency) is
            # kept, and it is carried onto ours.
            latency = max(0.0, float(time_info.currentTime - time_info.inputBufferAdcTime)) \
                if time_info.inputBufferAdcTime else frames / self.rate
            self._t0_us = self._clock.now_us() - int(latency * 1e6)
        try:
            self._blocks.put_nowait(indata[:, 0].copy())
        except queue.Full:
            self.overflows += 1

    def read(self, timeout: float | None = None) -> ExpressionSample | None:
        """The next 10 ms sample; None after `timeout` seconds without one or once closed."""
        deadline_ns = None if timeout is None else self._clock.now_ns() + int(timeout * 1e9)
        with self._lock:
            while not self._samples:
                if self._closed:
                    return None
                wait = None if deadline_ns is None else max(0.0, (deadline_ns - self._clock.now_ns()) / 1e9)
                try:
                    block = self._blocks.get(timeout=wait) if wait != 0.0 else self._blocks.get_nowait()
                except queue.Empty:
                    return None
                if block is None:
                    return None
                if self.driver is None:
                    self.driver = AudioDriver(self._model, threads=self._threads, start_time_us=self._t0_us or 0)
                self._samples.extend(self.driver.push(self._resampler.push(block)))
            return self._samples.pop(0)

    def close(self) -> None:
        """Stop and close the stream."""
        if self._closed:
            return
        self._closed = True
        try:
            self._stream.stop()
            self._stream.close()
        finally:
            self._blocks.put(None)
