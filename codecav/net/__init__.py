"""codecav.net: calls over WebRTC.

Wire formats in `wire/` (latent frames, their quantizers, control messages; pure parse/serialize) and
`receiver` (non-raising decoding with counters). Calls: `call_session.CallSession` (full mesh through
`signaling/`) and `sfu.session.SfuCallSession` (Janus VideoRoom, `sfu/`), both on `call_base.CallBase`; per
remote participant `remote_peer.RemotePeer` (clock sync, avatar exchange, `jitter_buffer`, voice) over a
`peer.PeerLink`. Voice: `voice` (the Opus track sent), `rtp_tap` (packets taken from aiortc's receiver),
`voice_receiver` over `voice_playout` and `opus_codec` (codecav's adaptive playout), `lip_sync` (face and voice
within the BT.1359 window), `voice_mix` (the playout clock of `voice_samples`), `voice_baseline` (aiortc's decoded
frames, for comparison), `voice_player` (PortAudio). Tools: `impairment` (user-space loss/jitter). Every time
measured here comes from an injected `codecav.clock.Clock` (default MONOTONIC). See docs/calls.md.
"""
