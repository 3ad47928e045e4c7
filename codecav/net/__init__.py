"""codecav.net: calls over WebRTC.

Wire formats in `wire/` (latent frames, their quantizers, control messages; pure parse/serialize) and
`receiver` (non-raising decoding with counters). Calls: `call_session.CallSession` (full mesh through
`signaling/`) and `sfu.session.SfuCallSession` (Janus VideoRoom, `sfu/`), both on `call_base.CallBase`; per
remote participant `remote_peer.RemotePeer` (clock sync, avatar exchange, `jitter_buffer`, voice) over a
`peer.PeerLink`. Voice: `voice`, `voice_player`. Tools: `impairment` (user-space loss/jitter). Every time
measured here comes from an injected `codecav.clock.Clock` (default MONOTONIC). See docs/calls.md.
"""
