"""codecav.net: wire formats (latent frames, control messages), clock sync and WebRTC signaling.

Modules: `wire` (latent frames), `quant` (code quantizers), `control` (reliable-channel messages),
`receiver` (non-raising decoding with counters), `clock_sync`, `signaling` (server), `signaling_client`.
"""
