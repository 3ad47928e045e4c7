"""A call's face from synthetic codes: SyntheticLatentSource frames of its own avatar sent at a fixed rate, paced and
stamped on the call's clock (examples, benchmarks and tests that need a participant without a camera)."""

from __future__ import annotations

from typing import Any

from codecav.encoders.synthetic_source import SyntheticLatentSource
from codecav.net.call_base import CallBase


async def send_synthetic_frames(call: CallBase[Any], count: int, fps: float = 30.0, seed: int = 0) -> None:
    """Send `count` synthetic frames of `call`'s avatar at `fps` (frame i due i / fps after the first), each stamped
    with the call's clock as it goes out."""
    source = SyntheticLatentSource(call.own.package.manifest.latent, fps=fps, seed=seed)
    start = call.clock.now_us()
    for seq in range(count):
        delay_us = start + int(seq * 1e6 / fps) - call.clock.now_us()
        if delay_us > 0:
            await call.clock.sleep_ns_async(delay_us * 1000)
        call.send(source.frame_at(seq, call.clock.now_us()))
