"""codecav.net: calls over WebRTC.

Wire formats: `wire` (latent frames), `quant`, `control`, `receiver` (non-raising decoding with counters).
Calls: `call_session.CallSession` (full mesh through `signaling`) and `sfu_session.SfuCallSession` (Janus
VideoRoom), both on `call_base.CallBase`; per remote participant `remote_peer.RemotePeer` (clock sync, avatar
exchange, `jitter_buffer`, voice) over a `peer.PeerLink`. Voice: `voice`, `voice_player`. Tools:
`impairment` (user-space loss/jitter), `janus_server`, `vp8_baseline`, `synthetic_source`. See docs/calls.md.
"""
