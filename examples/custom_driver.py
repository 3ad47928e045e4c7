"""Plug your own face tracker into codecav: a custom ExpressionSource, fused with the audio driver, drives an
avatar's latent codes.

    .venv/bin/python examples/custom_driver.py

The tracker here is a stand-in (a sinusoidal smile and blinks); replace `read()` with your device's API. It
reports ARKit-52 weights with a per-weight confidence; it knows nothing about the mouth, so fusion lets the audio
driver (a WAV file of espeak-ng speech) move it. The avatar is a synthetic plumbing avatar with an expression
encoder (use a sample avatar or your own package in practice). Output: latent codes in $CODECAV_EXAMPLE_OUT.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from codecav.arkit import ARKIT_52, ARKIT_INDEX
from codecav.assets.synthetic.avatar import build_synthetic_avatar
from codecav.encoders.audio.driver import WavSource, write_wav
from codecav.encoders.audio.features import resample
from codecav.encoders.base import ExpressionSample, ExpressionSource
from codecav.encoders.expression import ExpressionEncoder
from codecav.encoders.latent_source import ExpressionLatentSource, LatentSourceConfig
from codecav.encoders.sources import open_source, register_source
from codecav.latent import FrameFlags
from codecav.training.studio.speech import synthesize


class SmileTracker(ExpressionSource):
    """A pretend upper-face tracker at 60 Hz: smiles and blinks; it does not see the mouth."""

    name = "smile"

    def __init__(self, seconds: float) -> None:
        self._frames = int(seconds * 60)
        self._i = 0
        self._confidence = np.array([0.0 if n.startswith(("jaw", "mouthClose", "mouthFunnel", "mouthPucker",
                                                          "tongue")) else 0.9 for n in ARKIT_52], np.float32)

    def read(self, timeout: float | None = None) -> ExpressionSample | None:
        if self._i >= self._frames:
            return None
        t = self._i / 60.0
        weights = np.zeros(len(ARKIT_52), np.float32)
        weights[ARKIT_INDEX["mouthSmileLeft"]] = weights[ARKIT_INDEX["mouthSmileRight"]] = 0.5 + 0.4 * np.sin(t)
        weights[ARKIT_INDEX["eyeBlinkLeft"]] = weights[ARKIT_INDEX["eyeBlinkRight"]] = float((t % 2.0) < 0.15)
        self._i += 1
        return ExpressionSample(int(t * 1e6), weights, self._confidence)

    def close(self) -> None:
        self._i = self._frames


def main() -> None:
    out = Path(os.environ.get("CODECAV_EXAMPLE_OUT", "out/custom_driver"))
    out.mkdir(parents=True, exist_ok=True)
    utterance = synthesize("Thank you for joining this meeting.")
    wav = write_wav(out / "speech.wav", resample(utterance.audio / 32768.0, utterance.sample_rate))
    seconds = utterance.duration

    register_source("smile", lambda arg: SmileTracker(float(arg or seconds)), "face_tracking", "smile[:SECONDS]")
    kind, tracker = open_source(f"smile:{seconds}")  # the registry makes it a --source spec too
    avatar = build_synthetic_avatar(0, expression_encoder=True)
    sources: dict[str, ExpressionSource] = {kind: tracker, "audio": WavSource(wav)}
    frames = []
    with ExpressionLatentSource(sources, ExpressionEncoder.from_package(avatar), LatentSourceConfig(fps=30)) as src:
        while (frame := src.read()) is not None:
            frames.append(frame)
    codes = np.stack([f.code for f in frames])
    np.save(out / "codes.npy", codes)
    speaking = sum(bool(f.flags & FrameFlags.SPEAKING) for f in frames)
    mouth = avatar.manifest.latent.slice_of("mouth")
    print(f"{len(frames)} latent frames at 30 fps ({speaking} speaking); mouth code range "
          f"{np.ptp(codes[:, mouth]):.2f}; wrote {out / 'codes.npy'}")


if __name__ == "__main__":
    main()
