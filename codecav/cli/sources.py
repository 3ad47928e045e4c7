"""Sources that live above the encoder layer, plugged into its registry when the command line starts.

`hmc-studio` renders a studio head as a headset's cameras would see it (codecav.training.studio): a simulated
sensor for calls and encoding without a headset. The encoder layer cannot import training, so the command
line registers it.
"""

from __future__ import annotations

from codecav.encoders.base import ExpressionSource
from codecav.encoders.sources import register_source


def open_hmc_studio(arg: str) -> ExpressionSource:
    """Studio HMC renders of identity `arg` (default 0) through that identity's shipped HMC encoder."""
    from codecav.encoders.hmc import HmcEncoder, HmcSource, shipped_hmc_model
    from codecav.training.studio.hmc import studio_hmc_frames

    identity = int(arg) if arg.isdigit() else 0
    return HmcSource(studio_hmc_frames(identity), HmcEncoder(shipped_hmc_model(identity)))


def register_cli_sources() -> None:
    """Add the sources above to codecav.encoders.sources (idempotent)."""
    register_source("hmc-studio", open_hmc_studio, "hmc", "hmc-studio[:IDENTITY]")
