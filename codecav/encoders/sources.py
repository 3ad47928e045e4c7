"""The source registry: `--source` specs such as `wav:speech.wav`, `mic:USB`, `clip:0`, `expressions:face.npz`,
or `webcam:/dev/video0` -> ExpressionSources, each with the kind fusion trusts it as. Layers above plug in their own
(the command line adds `hmc-studio`, a simulated headset camera, from codecav.cli.sources)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from codecav.encoders.base import ExpressionSource
from codecav.encoders.errors import SourceSpecError

SourceFactory = Callable[[str], ExpressionSource]
"""Builds a source from the part of the spec after 'name:' ('' when absent)."""


@dataclass(frozen=True)
class SourceEntry:
    """A registered kind of source."""

    factory: SourceFactory
    """Builds the source from the spec's argument."""
    kind: str
    """Fusion kind ('audio', 'hmc', 'gaze', 'webcam', 'face_tracking', 'clip')."""
    usage: str
    """Spec syntax for help texts, e.g. 'wav:PATH'."""


_REGISTRY: dict[str, SourceEntry] = {}


def register_source(name: str, factory: SourceFactory, kind: str, usage: str) -> None:
    """Add (or replace) the source `name`; plugins call this to plug their own ExpressionSource in."""
    _REGISTRY[name] = SourceEntry(factory, kind, usage)


def get_source(name: str) -> SourceEntry:
    """The registered entry `name`; ValueError naming the missing key and the known ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"no source {name!r}; registered: {', '.join(sorted(_REGISTRY))}") from None


def source_names() -> list[str]:
    """Registered source names, sorted."""
    return sorted(_REGISTRY)


def open_source(spec: str) -> tuple[str, ExpressionSource]:
    """(fusion kind, opened source) for a spec 'name[:argument]'; SourceSpecError (one line) for unknown names."""
    name, _, argument = spec.partition(":")
    try:
        entry = get_source(name)
    except ValueError:
        usages = ", ".join(_REGISTRY[n].usage for n in sorted(_REGISTRY))
        raise SourceSpecError(f"unknown source {spec!r}; use one of: {usages}") from None
    return entry.kind, entry.factory(argument)


def _wav(arg: str) -> ExpressionSource:
    from codecav.encoders.audio.driver import WavSource

    if not arg:
        raise SourceSpecError("source 'wav' needs a file; write wav:PATH.wav")
    return WavSource(arg)


def _mic(arg: str) -> ExpressionSource:
    from codecav.encoders.audio.microphone import MicrophoneSource

    return MicrophoneSource(arg or None)


def _expressions(arg: str) -> ExpressionSource:
    from codecav.encoders.track import open_expression_file

    return open_expression_file(arg)


def _clip(arg: str) -> ExpressionSource:
    from codecav.encoders.clip import ClipSource, shipped_clip

    return ClipSource(shipped_clip(int(arg)) if arg.isdigit() else Path(arg or shipped_clip(0)))


def _webcam(arg: str) -> ExpressionSource:
    try:
        from codecav.encoders.webcam.source import open_webcam_source
    except ImportError as exc:
        raise SourceSpecError(f"the webcam source is unavailable ({exc}); pip install 'codecav[webcam]'") from None
    source: ExpressionSource = open_webcam_source(f"webcam:{arg}" if arg else "webcam")
    return source


register_source("wav", _wav, "audio", "wav:PATH")
register_source("mic", _mic, "audio", "mic[:DEVICE]")
register_source("expressions", _expressions, "face_tracking", "expressions:PATH.npz")
register_source("clip", _clip, "clip", "clip[:IDENTITY|DIR]")
register_source("webcam", _webcam, "webcam", "webcam[:DEVICE|FILE]")
