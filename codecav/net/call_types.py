"""Typed configuration, results and statistics of a CallSession."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from codecav.assets.package import AvatarPackage
from codecav.net.avatar_exchange import DEFAULT_CACHE_BYTES
from codecav.net.impairment import Impairment
from codecav.net.jitter_buffer import JitterConfig, PlayoutSample
from codecav.net.lip_sync import LipSyncConfig
from codecav.net.peer import PeerConfig
from codecav.net.voice_playout import VoicePlayoutConfig

MAX_MESH_PEERS = 6
"""Largest full-mesh call (each peer holds one connection per other peer)."""
VOICE_PATHS = ("codecav", "aiortc")
"""Receive paths of a call's voice (CallConfig.voice_path)."""


@dataclass(frozen=True)
class CallConfig:
    """How a CallSession joins and runs a call."""

    room: str
    """Room id on the signaling server."""
    peer_id: str
    """This peer's id in the room."""
    signal_url: str
    """WebSocket URL of the signaling server, e.g. ws://127.0.0.1:8765/ws."""
    token: str
    """Join token for (room, peer_id) (make_join_token, or `codecav call --secret-file`)."""
    peer: PeerConfig = field(default_factory=PeerConfig)
    """WebRTC settings of every link."""
    quant: str = "int8"
    """Code quantization on the wire: 'int8' or 'fp16'."""
    jitter: JitterConfig = field(default_factory=JitterConfig)
    """Receiver jitter buffer tuning."""
    cache_dir: Path | None = None
    """Avatar cache (default $CODECAV_CACHE/avatars or ~/.cache/codecav/avatars)."""
    max_avatar_bytes: int = 64 * 1024 * 1024
    """Largest avatar package accepted from a peer."""
    sfu_pin: str = ""
    """Through an SFU: the PIN (and secret) the Janus room is created with and every join gives; '' for an open
    room. `codecav call --sfu --secret-file F` derives it from the secret (codecav.net.sfu.room_pin), so only
    holders of the secret get in."""
    max_cache_bytes: int = DEFAULT_CACHE_BYTES
    """Most bytes of verified packages the avatar cache keeps (least recently used removed first)."""
    ping_interval_s: float = 2.0
    """Clock-sync ping period once synced (the first 8 pings go every 50 ms, and every check until a pong comes).
    Each ping costs a datagram each way plus the transport's acknowledgements, ~1 kbit/s per ping a second on
    the wire; two clocks drift apart by microseconds in 2 s. While only the peer's frames flow, pings go every
    `peer_silent_s` / 4 (the peer must hear from us within its silence limit); while no frames flow either way, on
    every 0.5 s check (RemotePeer._ping_interval_s)."""
    peer_silent_s: float = 5.0
    """A linked peer from which nothing (no frame, ping or pong) arrived for this long is dropped: its network went
    away or it hangs. Its pings come every `ping_interval_s`; a loaded participant (a headset session starting, an
    avatar being verified) was seen going 2 s without sending, so this is generous. A crashed (killed) peer is
    dropped sooner, as soon as the signaling server sees its connection close."""
    avatar_timeout_s: float = 15.0
    """A peer whose avatar transfer makes no progress (no chunk after the request) for this long is given up on."""
    max_peers: int = MAX_MESH_PEERS
    """Most participants including this one; offers beyond it are ignored (use an SFU room beyond 6)."""
    timings_kept: int = 4096
    """Per-frame timing records kept for the profiler (oldest dropped)."""
    impairment: Impairment | None = None
    """User-space loss and jitter applied to every datagram this peer sends on each full-mesh link once its
    channels are open (codecav.net.impairment; for tests and benchmarks where tc netem is missing). None: the
    network as is."""
    voice_path: str = "codecav"
    """How received voice is played: 'codecav' (RTP packets taken before aiortc's jitter buffer, played by
    codecav's adaptive buffer with concealment, FEC and time-stretching) or 'aiortc' (aiortc's decoded frames,
    ~80-300 ms behind their packets: the baseline benchmarks compare against)."""
    voice_playout: VoicePlayoutConfig = field(default_factory=VoicePlayoutConfig)
    """Tuning of each remote voice's playout buffer (voice_path 'codecav')."""
    lip_sync: LipSyncConfig = field(default_factory=LipSyncConfig)
    """The window face and voice are kept within (voice_path 'codecav')."""

    def __post_init__(self) -> None:
        """Reject an unknown voice path, naming the known ones."""
        if self.voice_path not in VOICE_PATHS:
            raise ValueError(f"unknown voice_path {self.voice_path!r}; choose one of {', '.join(VOICE_PATHS)}")


@dataclass(frozen=True)
class FrameTiming:
    """When one received frame passed each stage, for the profiler (µs on this peer's monotonic clock)."""

    peer: str
    """Sending peer."""
    sequence: int
    """Frame sequence."""
    capture_local_us: float
    """Sender's capture time mapped to this clock with the clock-sync estimate."""
    receive_us: int
    """Data-channel message handed to codecav."""
    wire_decoded_us: int
    """Wire message parsed and pushed into the jitter buffer."""
    wire_bytes: int
    """Size of the message."""
    clock_error_bound_us: float = 0.0
    """The clock-sync estimate's error bound when the frame arrived: the true capture time on this clock is within
    capture_local_us +- this."""


@dataclass(frozen=True)
class RemoteFrame:
    """A remote participant's avatar state at one render time."""

    peer: str
    """Peer id."""
    avatar_sha256: str
    """Digest of its verified avatar package (stable key for renderers)."""
    package: AvatarPackage
    """Its verified avatar package."""
    sample: PlayoutSample
    """Code, pose and gaze to render, with how they were made."""


@dataclass(frozen=True)
class JoinTimeline:
    """When each step of joining one remote participant happened, in µs on the call's clock (None: not yet).
    The steps run in this order; the runtime adds the last two (first decode, first photon) in its trace."""

    announced_us: int | None = None
    """Signaling first named this peer to us (the room's list as we joined, its offer, or an SFU publish event):
    joining it cannot begin earlier, so a participant that was in the room first counts from here."""
    signaling_us: int | None = None
    """The offer or answer for this peer was sent through the signaling server."""
    ice_connected_us: int | None = None
    """ICE found a working candidate pair."""
    dtls_connected_us: int | None = None
    """The DTLS handshake finished (the peer connection is 'connected')."""
    channels_open_us: int | None = None
    """Both data channels are open."""
    avatar_fetched_us: int | None = None
    """The peer's avatar package is here (from the cache, or its last chunk received)."""
    avatar_verified_us: int | None = None
    """The package passed verification and its decoder session is loaded."""
    avatar_cached: bool = False
    """The avatar came from the local cache (no transfer)."""


@dataclass(frozen=True)
class VoiceReceiveStats:
    """One remote voice as this peer plays it."""

    path: str
    """The receive path: 'codecav' or 'aiortc' (CallConfig.voice_path)."""
    packets_received: int
    """Voice packets (20 ms frames) received; on the 'aiortc' path, decoded frames."""
    delay_ms: float | None
    """Capture-to-ear delay of the voice played last (capture time on this clock); None before any played."""
    target_delay_ms: float | None
    """The playout buffer's current target (beyond the fastest transit); None on the 'aiortc' path."""
    played_ms: float
    """Voice played (pulled by the output), concealment included."""
    concealed_ms: float
    """Concealment played: lost and late packets and DTX pauses (comfort noise)."""
    loss_concealed_ms: float
    """The part of concealed_ms that stood in for lost packets."""
    lost: int
    """Frames missing when their turn came."""
    fec_recovered: int
    """Lost frames recovered from the next packet's in-band FEC."""
    late: int
    """Packets that arrived after their slot had been played (dropped)."""
    accelerated_ms: float
    """Audio removed to bring the delay down to the target."""
    slowed_ms: float
    """Audio repeated to bring the delay up to the target."""


@dataclass(frozen=True)
class PeerCallStats:
    """One remote participant, as this peer sees it."""

    peer: str
    """Peer id."""
    connected: bool
    """Both data channels open."""
    avatar: str
    """'ready', 'fetching', 'refused' or 'unknown'."""
    clock_offset_us: float | None
    """Remote clock minus local clock, when synced."""
    clock_error_bound_us: float | None
    """The true offset is within clock_offset_us +- this."""
    rtt_us: float | None
    """Round-trip time of the best clock-sync sample."""
    latent_sent: int
    """Latent frames sent to this peer."""
    latent_sent_bytes: int
    """Their wire payload bytes."""
    latent_dropped_congested: int
    """Frames not sent because older ones still queued (latest wins)."""
    latent_received: int
    """Latent messages received from this peer."""
    latent_received_bytes: int
    """Their bytes."""
    frames_accepted: int
    """Valid frames pushed into the jitter buffer."""
    frames_lost: int
    """Sequences never received in time (network loss, sender drops, late)."""
    frames_late: int
    """Frames that arrived after their time had been played."""
    wire_dropped: dict[str, int]
    """Invalid latent/control messages by reason (plus 'no_avatar', 'no_clock')."""
    playout_delay_ms: float
    """Current jitter-buffer delay."""
    longest_freeze_ms: float
    """Longest time the avatar was held unchanged."""
    datagrams_sent: int
    """UDP datagrams sent on this link."""
    datagram_bytes_sent: int
    """Their UDP payload bytes."""
    audio_frames_received: int
    """Voice frames received."""
    join: JoinTimeline = JoinTimeline()
    """When each step of joining this peer happened."""
    voice: VoiceReceiveStats | None = None
    """This peer's voice as played here, when the call receives voice."""
    departed_reason: str = ""
    """For a departed peer: why it went ("peer left", "leaving", or the one line of a drop)."""
    our_avatar_refused: str = ""
    """The reason key this peer gave for refusing our avatar (it cannot see us); '' if it did not."""
    av_offset_ms: tuple[float, ...] = ()
    """Measured lip-sync offsets (one per 100 ms of voice played while the face was shown, oldest first):
    face capture time shown minus voice capture time heard at the same instant. Positive: the face is ahead
    of the voice (sound late); negative: the voice is ahead. Kept within -30..+60 ms (codecav.net.lip_sync)."""


@dataclass(frozen=True)
class CallStats:
    """A snapshot of the whole call."""

    peer_id: str
    """This peer."""
    room: str
    """The room."""
    frames_sent: int
    """Frames passed to send()."""
    peers: tuple[PeerCallStats, ...]
    """One entry per remote participant."""
    departed: tuple[PeerCallStats, ...]
    """Final counters of participants who left or were dropped."""
    avatar_from_cache: int
    """Remote avatars found in the cache."""
    avatar_fetched: int
    """Remote avatars fetched and verified."""
    avatar_refused: dict[str, int]
    """Refused avatar transfers by reason."""
