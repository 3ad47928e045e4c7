"""The browser participant: static ES modules under `static/` served by the signaling server (`site`).

The page speaks the signaling protocol, opens the call's data channels and Opus voice, and reads and writes wire
format v1 like `codecav.net`; see docs/web.md.
"""
