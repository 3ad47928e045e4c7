"""Helpers of the call tests: a signaling server, sessions with small synthetic avatars, paced sending."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from codecav.assets.synthetic.avatar import build_synthetic_avatar
from codecav.net.avatar_exchange import OwnAvatar
from codecav.net.call_base import CallBase
from codecav.net.call_session import CallSession
from codecav.net.call_types import CallConfig
from codecav.net.jitter_buffer import JitterConfig
from codecav.net.peer import PeerConfig
from codecav.net.signaling.server import SignalingServer, make_join_token
from codecav.net.synthetic_sender import send_synthetic_frames

SECRET = b"call-test-secret-0123456789abcdef"
ROOM = "call-room"


@lru_cache(maxsize=8)
def small_avatar(seed: int) -> OwnAvatar:
    """A small synthetic avatar (about 130 KB as .cavatar) so transfers stay quick."""
    return OwnAvatar.from_package(build_synthetic_avatar(seed=seed, feature_size=16, mesh_resolution=(8, 12)))


def session(server: SignalingServer, peer: str, cache: Path, seed: int, *, voice_path: str = "codecav",
            **kwargs: object) -> CallSession:
    """A session for `peer` in ROOM with its own avatar cache, on loopback ICE."""
    config = CallConfig(room=ROOM, peer_id=peer, signal_url=server.url,
                        token=make_join_token(SECRET, ROOM, peer, 60),
                        peer=PeerConfig(loopback_only=True), cache_dir=cache / peer,
                        jitter=JitterConfig(min_delay_ms=10), voice_path=voice_path)
    return CallSession(config, small_avatar(seed), **kwargs)  # type: ignore[arg-type]


send_frames = send_synthetic_frames
"""Send `count` synthetic frames at `fps`, paced and stamped by the call's clock (codecav.net.synthetic_sender)."""


def latent_received(call: CallBase[Any], peer: str) -> int:
    """Latent messages `call` has received from `peer` (valid or not), 0 before it is linked."""
    remote = call._remotes.get(peer)
    return remote.link.stats.latent_received if remote is not None else 0
