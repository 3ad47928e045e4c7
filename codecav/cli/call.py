"""Network subcommands: `codecav signal` (the signaling server) and `codecav call` (join a call)."""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import ssl
from pathlib import Path
from typing import Any

from codecav.errors import CodecavError


class SignalCommandError(CodecavError):
    """`codecav signal` cannot start as asked."""


def load_or_create_secret(path: Path) -> tuple[bytes, bool]:
    """The secret in `path` (stripped), or a new random one written there (mode 0600); (secret, created)."""
    if path.exists():
        try:
            secret = path.read_bytes().strip()
        except OSError as exc:
            raise SignalCommandError(f"cannot read --secret-file {path} ({exc.strerror})") from None
        return secret, False
    secret = secrets.token_hex(32).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(secret + b"\n")
    return secret, True


def tls_context(cert: str | None, key: str | None) -> ssl.SSLContext | None:
    """A server TLS context from PEM files (both or neither); SignalCommandError naming the file otherwise."""
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise SignalCommandError("give both --tls-cert and --tls-key (PEM files), or neither")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except FileNotFoundError as exc:
        raise SignalCommandError(f"cannot read {exc.filename or cert} ({exc.strerror})") from None
    except (ssl.SSLError, OSError) as exc:
        raise SignalCommandError(f"--tls-cert {cert} / --tls-key {key} are not a PEM certificate and its key "
                                 f"({exc.__class__.__name__}: {exc})".splitlines()[0]) from None
    return context


def web_site() -> Any:
    """The browser participant's site, serving the webcam extra's verified face model to its FaceLandmarker."""
    from codecav.encoders.webcam.model import load_landmarker_model
    from codecav.net.web.site import WebSite, WebSiteConfig

    return WebSite(WebSiteConfig(extra_files={"/models/face_landmarker.task": load_landmarker_model}))


INVITE_TTL_S = 24 * 3600
"""How long the join tokens of --invite links stay valid."""


def parse_invite(text: str) -> tuple[str, str]:
    """ROOM/PEER of an --invite; SignalCommandError naming the rule otherwise."""
    import re

    room, _, peer = text.partition("/")
    if not (re.fullmatch(r"[A-Za-z0-9._-]{1,64}", room) and re.fullmatch(r"[A-Za-z0-9._-]{1,64}", peer)):
        raise SignalCommandError(f"--invite {text!r} must be ROOM/PEER, each 1-64 of letters, digits, '.', '_', '-'")
    return room, peer


def invite_url(http_url: str, secret: bytes, room: str, peer: str, ttl_s: int = INVITE_TTL_S) -> str:
    """The page's URL that joins `room` as `peer` with a fresh token."""
    from urllib.parse import urlencode

    from codecav.net.signaling.join_token import make_join_token

    return f"{http_url}?{urlencode({'room': room, 'peer': peer, 'token': make_join_token(secret, room, peer, ttl_s)})}"


async def _serve(host: str, port: int, secret: bytes, seconds: float | None,
                 context: ssl.SSLContext | None = None, invites: tuple[tuple[str, str], ...] = ()) -> None:
    from codecav.net.signaling.server import SignalingServer

    server = SignalingServer(host, port, secret, site=web_site(), ssl_context=context)
    await server.start()
    print(f"codecav signal: serving {server.url} (peers join with tokens made from the secret); "
          f"browsers join at {server.http_url}", flush=True)
    for room, peer in invites:
        print(f"codecav signal: browser link for {peer} in {room} (valid {INVITE_TTL_S // 3600} h): "
              f"{invite_url(server.http_url, secret, room, peer)}", flush=True)
    try:
        if seconds is None:
            await asyncio.Event().wait()
        else:
            await asyncio.sleep(seconds)
    finally:
        await server.stop()


def _cmd_signal(args: argparse.Namespace) -> int:
    from codecav.net.signaling.join_token import secret_key

    secret, created = load_or_create_secret(Path(args.secret_file))
    try:
        secret_key(secret)
    except ValueError as exc:
        raise SignalCommandError(f"--secret-file {args.secret_file}: {exc}") from None
    if created:
        print(f"codecav signal: wrote a new secret to {args.secret_file}; share it with the participants", flush=True)
    context = tls_context(args.tls_cert, args.tls_key)
    invites = tuple(parse_invite(text) for text in args.invite)
    asyncio.run(_serve(args.host, args.port, secret, args.seconds, context, invites))
    return 0


def _cmd_call(args: argparse.Namespace) -> int:
    from codecav.cli.args import parse_size
    from codecav.runtime.call_app import CallRequest, run_call

    request = CallRequest(
        room=args.room, signal_url=args.signal, avatar=Path(args.avatar), source=args.source, token=args.token,
        secret_file=Path(args.secret_file) if args.secret_file else None, peer_id=args.peer, render=args.render,
        out=Path(args.out) if args.out else None, seconds=args.seconds, fps=args.fps, loopback=args.loopback,
        ice_servers=tuple(args.ice_server), size=parse_size(args.size), voice=args.voice,
        play_voice=args.play_voice, sfu=args.sfu, host_addresses=tuple(args.host_address))
    def say(line: str) -> None:
        print(line, flush=True)

    for line in run_call(request, notify=say):
        say(line)
    return 0


def register(sub: Any) -> None:
    """Add `codecav signal` and `codecav call`."""
    signal = sub.add_parser("signal", help="run the WebRTC signaling server (rooms, join tokens)",
                            description="Serve ws://HOST:PORT/ws for `codecav call` and the browser participant at "
                                        "http://HOST:PORT/ (docs/web.md). Binds 127.0.0.1 unless told "
                                        "otherwise. Tokens are HMACs of the secret (see docs/signaling.md).")
    signal.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    signal.add_argument("--port", type=int, default=8765)
    signal.add_argument("--secret-file", required=True,
                        help="file holding the shared secret; created with a random secret if absent")
    signal.add_argument("--seconds", type=float, default=None, help="stop after this long (default: run until ^C)")
    signal.add_argument("--tls-cert", metavar="PEM", default=None,
                        help="serve HTTPS/WSS with this certificate (a headset's browser needs it for WebXR and the "
                             "microphone off localhost); with --tls-key")
    signal.add_argument("--tls-key", metavar="PEM", default=None, help="the certificate's private key")
    signal.add_argument("--invite", metavar="ROOM/PEER", action="append", default=[],
                        help="print a browser link that joins ROOM as PEER (a 24 h token); repeatable")
    signal.set_defaults(handler=_cmd_signal)

    call = sub.add_parser("call", help="join a call: send this avatar's frames, render the others",
                          description="Join ROOM through the signaling server, exchange avatars (verified before "
                                      "use), send LatentFrames from --source and render the other participants.")
    call.add_argument("--room", required=True)
    call.add_argument("--signal", required=True, metavar="URL", help="e.g. ws://127.0.0.1:8765/ws")
    call.add_argument("--avatar", required=True, metavar="PATH", help="this peer's avatar package")
    call.add_argument("--source", default="synthetic", metavar="SPEC",
                      help="what drives your avatar: webcam[:DEVICE|FILE], mic[:DEVICE], clip[:IDENTITY|DIR], "
                           "wav:PATH, expressions:PATH.npz, hmc-studio[:IDENTITY], joined with '+' to fuse "
                           "(e.g. mic+webcam); or synthetic[:SEED] (no sensors)")
    call.add_argument("--token", default=None, help="join token for this room and peer")
    call.add_argument("--secret-file", default=None, help="the server's secret, to make a token")
    call.add_argument("--peer", default=None, help="peer id (default: random)")
    call.add_argument("--render", default="headless", choices=["headless", "window", "xr"],
                      help="where the others appear: headless (EGL, no display), window (desktop), or xr (an "
                           "OpenXR headset: the others sit around you life size and your head drives your "
                           "avatar; without a runtime it says why in one line and falls back)")
    call.add_argument("--out", default=None, metavar="DIR", help="write call_stats.json and last_frame.png here")
    call.add_argument("--seconds", type=float, default=None, help="leave after this long")
    call.add_argument("--fps", type=float, default=30.0, help="source frame rate")
    call.add_argument("--size", default="640x480", metavar="WxH")
    call.add_argument("--loopback", action="store_true",
                      help="offer only 127.0.0.1 as ICE candidate (all participants on this machine)")
    call.add_argument("--voice", default=None, metavar="SPEC",
                      help="voice to send: a .wav file (looped), 'mic' or 'mic:DEVICE' (default: none)")
    call.add_argument("--play-voice", action="store_true", help="play the others' voices (PortAudio output)")
    call.add_argument("--sfu", action="store_true",
                      help="--signal is a Janus HTTP API URL (http://HOST:8088/janus): join its VideoRoom ROOM "
                           "(with --secret-file, locked by a PIN derived from the secret)")
    call.add_argument("--host-address", action="append", default=[], metavar="IP",
                      help="offer only these ICE host candidates (repeatable)")
    call.add_argument("--ice-server", action="append", default=[], metavar="URL", help="STUN/TURN URL (repeatable)")
    call.set_defaults(handler=_cmd_call)
