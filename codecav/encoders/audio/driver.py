"""Audio driver: 16 kHz speech -> streaming log-mel -> small ONNX model -> ARKit mouth/jaw weights, one
ExpressionSample per 10 ms hop, with a bounded lookahead; plus the WAV-file source.

The model (`codecav/assets/drivers/audio.onnx`, trained by `codecav driver train-audio`) takes
"mel" [N, past + 1 + future, 40] raw log-mel frames and gives "mouth" [N, K] weights for the ARKit names in its
metadata; the prediction for frame k needs frames up to k + future, so its algorithmic delay is
future hops + half a window (`algorithmic_delay_ms`)."""

from __future__ import annotations

import threading
import wave
from importlib import resources
from pathlib import Path

import numpy as np

from codecav.arkit import ARKIT_52, ARKIT_INDEX
from codecav.clock import MONOTONIC, Clock
from codecav.encoders.audio.features import HOP, LOG_FLOOR, N_MELS, SAMPLE_RATE, WINDOW, LogMelStream, Resampler
from codecav.encoders.base import ExpressionSample, ExpressionSource
from codecav.encoders.errors import ClipError, EncoderModelError, one_line
from codecav.encoders.onnx_session import check_io, open_session

SILENCE_DBFS, SPEECH_DBFS = -55.0, -35.0
"""Window levels (dB full scale) mapped to voice activity 0 and 1."""
MOUTH_CONFIDENCE = (0.3, 0.9)
"""Confidence of the mouth weights in silence and in speech (fusion lets a mouth camera win in silence)."""


def default_audio_model() -> Path:
    """Path of the shipped audio driver model."""
    return Path(str(resources.files("codecav.assets") / "drivers" / "audio.onnx"))


class AudioDriver:
    """Streaming audio -> ExpressionSamples: `push` 16 kHz mono blocks of any size, get the samples whose
    lookahead is complete. Sample k is timed at the centre of log-mel window k."""

    def __init__(self, model: bytes | Path | str | None = None, threads: int = 1, start_time_us: int = 0) -> None:
        """`model`: ONNX bytes or path (default: the shipped model); `start_time_us`: capture time of the first
        sample pushed."""
        path = default_audio_model() if model is None else model
        what = f"audio driver {path if not isinstance(path, bytes) else '<bytes>'}"
        if not isinstance(path, bytes) and not Path(path).is_file():
            raise EncoderModelError(f"{what} is missing; train it with `codecav driver train-audio`")
        self._session = open_session(path if isinstance(path, bytes) else str(path), what, threads)
        meta = self._session.get_modelmeta().custom_metadata_map
        try:
            self.past, self.future = int(meta["past"]), int(meta["future"])
            names = meta["names"].split(",")
            self._index = np.array([ARKIT_INDEX[n] for n in names], dtype=np.int64)
        except (KeyError, ValueError) as exc:
            raise EncoderModelError(f"{what} lacks codecav metadata ({one_line(exc)}); re-export it with "
                                    "`codecav driver train-audio`") from None
        check_io(self._session, what, {"mel": N_MELS}, {"mouth": len(names)})
        self.names = tuple(names)
        """ARKit names the model drives."""
        self._features = LogMelStream()
        self._silence = np.full((1, N_MELS), np.log(LOG_FLOOR), np.float32)
        self._frames = np.repeat(self._silence, self.past, axis=0)  # kept log-mel frames, oldest first
        self._levels = np.full(self.past, -120.0, np.float32)  # their window levels in dBFS
        self._base = -self.past  # absolute frame index of _frames[0] (negative: leading silence)
        self._next = 0  # next output frame index
        self._raw = np.zeros(0, np.float32)  # samples not yet consumed by the level meter
        self._start = start_time_us
        self._mouth_conf = np.zeros(len(ARKIT_52), np.float32)
        self._mouth_conf[self._index] = 1.0

    @property
    def algorithmic_delay_ms(self) -> float:
        """Time from a mouth pose to the last audio sample its prediction needs: future hops + half a window."""
        return (self.future * HOP + WINDOW / 2) / SAMPLE_RATE * 1000.0

    def push(self, block: np.ndarray) -> list[ExpressionSample]:
        """The samples completed by `block` (float32 mono 16 kHz in -1..1)."""
        x = np.asarray(block, np.float32).reshape(-1)
        frames = self._features.push(x)
        self._raw = np.concatenate([self._raw, x])
        if len(frames):
            index = np.arange(WINDOW)[None, :] + HOP * np.arange(len(frames))[:, None]
            power = np.mean(self._raw[index].astype(np.float64) ** 2, axis=1)
            self._raw = self._raw[len(frames) * HOP:]
            self._frames = np.concatenate([self._frames, frames])
            self._levels = np.concatenate([self._levels, (10 * np.log10(power + 1e-12)).astype(np.float32)])
        return self._emit(final=False)

    def flush(self) -> list[ExpressionSample]:
        """At the end of the audio: the remaining samples, with silence as their lookahead."""
        return self._emit(final=True)

    def _emit(self, final: bool) -> list[ExpressionSample]:
        received = self._base + len(self._frames)  # absolute index of the next frame to arrive
        last = received - 1 if final else received - 1 - self.future  # last frame whose window is complete
        count = last - self._next + 1
        if count <= 0:
            return []
        frames = self._frames
        if final:
            frames = np.concatenate([frames, np.repeat(self._silence, self.future, axis=0)])
        first = self._next - self.past - self._base
        index = first + np.arange(count)[:, None] + np.arange(self.past + 1 + self.future)[None, :]
        mouth = np.asarray(self._session.run(["mouth"], {"mel": frames[index]})[0], np.float32)
        levels = self._levels[self._next - self._base + np.arange(count)]
        vad = np.clip((levels - SILENCE_DBFS) / (SPEECH_DBFS - SILENCE_DBFS), 0, 1)
        lo, hi = MOUTH_CONFIDENCE
        out = []
        for i in range(count):
            weights = np.zeros(len(ARKIT_52), np.float32)
            weights[self._index] = np.clip(mouth[i], 0, 1)
            time_us = self._start + int(round(((self._next + i) * HOP + WINDOW / 2) * 1e6 / SAMPLE_RATE))
            conf = (self._mouth_conf * (lo + (hi - lo) * float(vad[i]))).astype(np.float32)
            out.append(ExpressionSample(time_us, weights, conf))
        self._next += count
        drop = self._next - self.past - self._base  # frames no later window needs
        if drop > 0:
            self._frames, self._levels, self._base = self._frames[drop:], self._levels[drop:], self._base + drop
        return out


def read_wav(path: Path | str) -> tuple[np.ndarray, int]:
    """(float32 mono samples in -1..1, sample rate) of a PCM WAV file (8/16/24/32-bit, channels averaged);
    ClipError (one line, with the fix) if it is missing or not PCM WAV."""
    p = Path(path)
    if not p.is_file():
        raise ClipError(f"WAV file {p} does not exist; check the path")
    try:
        with wave.open(str(p), "rb") as f:
            channels, width, rate, count = f.getnchannels(), f.getsampwidth(), f.getframerate(), f.getnframes()
            raw = f.readframes(count)
    except (wave.Error, EOFError, OSError) as exc:
        raise ClipError(f"{p} is not a readable PCM WAV file ({one_line(exc)}); convert it, e.g. "
                        "`ffmpeg -i IN -ac 1 -ar 16000 OUT.wav`") from None
    if width == 1:
        data = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 3:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        data = ((b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)) << 8 >> 8).astype(np.float32) / 2**23
    else:
        data = np.frombuffer(raw, f"<i{width}").astype(np.float32) / float(2 ** (8 * width - 1))
    return data.reshape(-1, channels).mean(axis=1).astype(np.float32), rate


def write_wav(path: Path | str, audio: np.ndarray, rate: int = SAMPLE_RATE) -> Path:
    """Write float mono audio in -1..1 as 16-bit PCM WAV."""
    out = Path(path)
    with wave.open(str(out), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes(np.clip(np.asarray(audio) * 32768.0, -32768, 32767).astype("<i2").tobytes())
    return out


class WavSource(ExpressionSource):
    """Mouth weights from a WAV file through the AudioDriver (any rate, resampled to 16 kHz). Offline it returns
    samples as fast as asked; `realtime` paces them like playback."""

    name = "wav"

    def __init__(self, path: Path | str, model: bytes | Path | str | None = None, realtime: bool = False,
                 start_time_us: int | None = None, threads: int = 1, *, clock: Clock = MONOTONIC) -> None:
        """Read the whole file (ClipError if unusable) and load the driver model; `clock` paces realtime
        playback and, without `start_time_us`, times its start."""
        audio, rate = read_wav(path)
        self._audio = Resampler(rate).push(np.concatenate([audio, np.zeros(rate // 20, np.float32)]))
        self.duration_s = len(audio) / rate
        """Length of the file in seconds."""
        self._realtime = realtime
        self._clock = clock
        start = (clock.now_us() if realtime else 0) if start_time_us is None else start_time_us
        self.driver = AudioDriver(model, threads=threads, start_time_us=start)
        """The streaming driver."""
        self._pos = 0
        self._queue: list[ExpressionSample] = []
        self._done = False
        self._lock = threading.Lock()

    def read(self, timeout: float | None = None) -> ExpressionSample | None:
        """The next 10 ms sample; None at the end of the file (or, in realtime, after `timeout` without one)."""
        with self._lock:
            while not self._queue and not self._done:
                block = self._audio[self._pos:self._pos + 1600]
                self._pos += len(block)
                self._queue.extend(self.driver.push(block) if len(block) else self.driver.flush())
                self._done = not len(block)
            if not self._queue:
                return None
            sample = self._queue[0]
            if self._realtime:
                wait_us = sample.capture_time_us - self._clock.now_us()
                wait_us += round(self.driver.algorithmic_delay_ms * 1000)  # the lookahead must have been "heard"
                if timeout is not None and wait_us > timeout * 1e6:
                    self._clock.sleep_ns(int(timeout * 1e9))
                    return None
                if wait_us > 0:
                    self._clock.sleep_ns(wait_us * 1000)
            return self._queue.pop(0)

    def close(self) -> None:
        """Stop the stream."""
        with self._lock:
            self._queue.clear()
            self._done = True
