"""MP4 output of rendered frames (H.264) with an optional voice track (AAC), through PyAV; `VideoRecorder` writes
presented frames in real time from a worker thread, off the render loop."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import numpy as np

from codecav.errors import CodecavError
from codecav.runtime.engine import LatestSlot
from codecav.runtime.thread_priority import RECORDING_NICE, lower_current_thread


class VideoWriteError(CodecavError):
    """The video file cannot be written."""


class Mp4Writer:
    """Write RGB frames at a fixed rate and, with `audio_rate`, mono voice (`add_audio`); `close()` finishes."""

    def __init__(self, path: Path, width: int, height: int, fps: int = 30, crf: int = 23,
                 audio_rate: int | None = None, preset: str = "veryfast", threads: int | None = None) -> None:
        """`crf` and `preset` are x264's quality and speed settings ('ultrafast' costs the least CPU); `threads`
        its encoder threads (None: x264's choice; 1 suits small frames written from a worker)."""
        if width % 2 or height % 2:
            raise ValueError(f"H.264 needs even frame sizes, got {width}x{height}")
        self.path = path
        self.width, self.height, self.fps = width, height, fps
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._container = av.open(str(path), mode="w")
        except OSError as exc:
            raise VideoWriteError(f"cannot write {path} ({exc}); check the folder exists and is writable") from None
        self._video = self._container.add_stream("libx264", rate=fps)
        self._video.width, self._video.height = width, height
        self._video.pix_fmt = "yuv420p"
        self._video.options = {"crf": str(crf), "preset": preset, **({"threads": str(threads)} if threads else {})}
        # Every stream must exist before the first packet is muxed (the header is written then).
        self._audio = self._container.add_stream("aac", rate=audio_rate, layout="mono") if audio_rate else None
        self._audio_samples = 0
        self.frames = 0
        self._last: av.VideoFrame | None = None
        self._closed = False

    def write(self, rgb: np.ndarray) -> None:
        """Append one uint8 [height, width, 3] frame."""
        if rgb.shape != (self.height, self.width, 3) or rgb.dtype != np.uint8:
            raise ValueError(f"frame must be uint8 [{self.height}, {self.width}, 3], got {rgb.dtype} {rgb.shape}")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24").reformat(format="yuv420p")
        self._last = frame
        self._encode(frame)

    def repeat(self) -> None:
        """Append the last frame again (converted once: a repeat costs a third of a new frame)."""
        if self._last is None:
            raise ValueError("nothing to repeat: write a frame first")
        self._encode(self._last)

    def _encode(self, frame: av.VideoFrame) -> None:
        frame.pts = self.frames
        frame.time_base = Fraction(1, self.fps)
        for packet in self._video.encode(frame):
            self._container.mux(packet)
        self.frames += 1

    def add_audio(self, samples: np.ndarray) -> None:
        """Append mono float32 samples in [-1, 1] (AAC at `audio_rate`), timed from the first video frame."""
        if self._audio is None:
            raise ValueError("this Mp4Writer was opened without audio_rate; it has no audio track")
        rate = int(self._audio.rate)
        pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16)
        block = 1024
        for start in range(0, len(pcm), block):
            chunk = pcm[start:start + block]
            frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
            frame.sample_rate = rate
            frame.pts = self._audio_samples
            frame.time_base = Fraction(1, rate)
            self._audio_samples += len(chunk)
            for packet in self._audio.encode(frame):
                self._container.mux(packet)

    def close(self) -> None:
        """Flush the encoder and finish the file."""
        if self._closed:
            return
        for packet in self._video.encode(None):
            self._container.mux(packet)
        if self._audio is not None:
            for packet in self._audio.encode(None):
                self._container.mux(packet)
        self._container.close()
        self._closed = True

    def __enter__(self) -> Mp4Writer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def probe_video(path: Path) -> tuple[int, int, int, bool]:
    """(frames decoded, width, height, has audio) of a video file: what the tests check a demo video by."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        width, height = stream.codec_context.width, stream.codec_context.height
        has_audio = len(container.streams.audio) > 0
    return frames, width, height, has_audio


@dataclass(frozen=True)
class _Grab:
    pixels: bytes
    """Bottom-up RGB rows as glReadPixels returns them."""
    present_ns: int
    """When the frame was presented."""


@dataclass(frozen=True)
class RecordingStats:
    """What a VideoRecorder did."""

    offered: int
    """Frames the render loop handed over."""
    written: int
    """Frames in the video (constant rate, so duplicates included)."""
    dropped: int
    """Frames replaced in the hand-over before the worker took them (the encoder fell behind)."""
    superseded: int
    """Frames replaced by a later one presented in the same video frame slot (rendering above the video rate)."""
    duplicated: int
    """Video frames repeating the previous picture, where nothing new was presented in time."""


class VideoRecorder:
    """Records presented frames into an Mp4Writer in real time without slowing the render loop: `offer` (render
    thread) hands over the raw pixels read back with their present time through a latest-wins slot; a worker
    flips, converts and encodes them, and puts each in the video frame slot of its present time, repeating the
    previous picture where nothing new came, so the video keeps the writer's constant rate and plays in real time
    (time 0: `begin`, or the first frame offered)."""

    def __init__(self, writer: Mp4Writer) -> None:
        """Record into `writer` (present times come from the caller's clock; the worker only waits for work)."""
        self.writer = writer
        self._slot: LatestSlot[_Grab] = LatestSlot()
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._origin_ns: int | None = None
        self._pending: tuple[int, np.ndarray] | None = None
        self._offered = self._superseded = self._duplicated = 0
        self._placed = 0
        self._idle = threading.Condition()
        self.error: BaseException | None = None
        """What stopped the worker, if anything (re-raised by `close`)."""
        self._thread = threading.Thread(target=self._run, name="codecav-video", daemon=True)
        self._thread.start()

    def begin(self, origin_ns: int) -> None:
        """Make `origin_ns` (on the present times' clock) time 0 of the video, e.g. when rendering began; call it
        before the first `offer` (default: the first frame's present time)."""
        self._origin_ns = origin_ns

    def offer(self, pixels: bytes, present_ns: int) -> None:
        """Hand over one presented frame: `pixels` bottom-up RGB rows (`Framebuffer.read(components=3,
        alignment=1)`), `present_ns` when it was presented. Any thread; never blocks on encoding."""
        self._offered += 1
        self._slot.put(_Grab(pixels, present_ns))
        self._ready.set()

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait until the worker has placed or dropped every frame offered so far; False on time-out."""
        with self._idle:
            return self._idle.wait_for(lambda: self._placed + self._slot.overwritten >= self._offered
                                       or self.error is not None, timeout_s)

    def grab(self, read: Callable[[], bytes], present_ns: int) -> None:
        """`offer(read(), present_ns)`: the read-back is the only part on the caller's (GL) thread."""
        self.offer(read(), present_ns)

    def _run(self) -> None:
        lower_current_thread(RECORDING_NICE)  # below the render loop too: a video frame may repeat, a viewer's not
        try:
            while True:
                if not self._stop.is_set():
                    self._ready.wait(0.5)  # woken by offer/close; the time-out only bounds a missed wake-up
                self._ready.clear()
                grab = self._slot.take()
                if grab is not None:
                    self._place(grab)
                    with self._idle:
                        self._placed += 1
                        self._idle.notify_all()
                elif self._stop.is_set():
                    return
        except BaseException as exc:  # surfaced by close(); the worker must not die silently
            self.error = exc
            with self._idle:
                self._idle.notify_all()

    def _place(self, grab: _Grab) -> None:
        """Put `grab` in its video frame slot; write what came before it, repeated up to that slot."""
        w = self.writer
        if self._origin_ns is None:
            self._origin_ns = grab.present_ns
        index = max(0, round((grab.present_ns - self._origin_ns) * w.fps / 1e9))
        image = np.frombuffer(grab.pixels, np.uint8).reshape(w.height, w.width, 3)[::-1]
        if self._pending is None:  # the first picture also fills the slots from time 0 up to it
            if w.frames < index:
                w.write(image)
                self._duplicated += 1
            while w.frames < index:
                w.repeat()
                self._duplicated += 1
            self._pending = (max(index, w.frames), image)
            return
        pending_index, pending = self._pending
        if index <= pending_index:  # the same slot (or a clock step back): the newer picture wins it
            self._superseded += 1
            self._pending = (pending_index, image)
            return
        self._write_through(pending, index)
        self._pending = (index, image)

    def _write_through(self, image: np.ndarray, until: int) -> None:
        """Write `image` into every slot from the next one up to (not including) `until`."""
        if self.writer.frames < until:
            self.writer.write(image)
        while self.writer.frames < until:
            self.writer.repeat()
            self._duplicated += 1

    def close(self, end_ns: int | None = None) -> RecordingStats:
        """Encode what is left, hold the last picture until `end_ns` (when the recording ended), finish the file;
        re-raise what stopped the worker."""
        self._stop.set()
        self._ready.set()
        self._thread.join(30.0)
        try:
            if self.error is None and self._pending is not None:
                pending_index, pending = self._pending
                last = pending_index + 1
                if end_ns is not None and self._origin_ns is not None:
                    last = max(last, round((end_ns - self._origin_ns) * self.writer.fps / 1e9))
                self._write_through(pending, last)
                self._pending = None
        finally:
            self.writer.close()
        if self.error is not None:
            raise self.error
        return RecordingStats(self._offered, self.writer.frames, self._slot.overwritten, self._superseded,
                              self._duplicated)
