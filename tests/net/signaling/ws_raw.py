"""A bare-bones WebSocket peer on a raw TCP stream, to disconnect without a close frame (simulated crash)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct


class RawWebSocket:
    """Client side of RFC 6455 for small text frames; `abort()` drops the TCP connection abruptly."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @staticmethod
    async def connect(host: str, port: int, path: str = "/ws") -> RawWebSocket:
        """Open the TCP connection and complete the upgrade handshake."""
        reader, writer = await asyncio.open_connection(host, port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        return RawWebSocket(reader, writer)

    async def send_json(self, obj: object) -> None:
        """Send one masked text frame."""
        await self.send_frame(0x1, json.dumps(obj).encode())

    async def send_ping(self, payload: bytes = b"") -> None:
        """Send a ping; the server answers with a pong (opcode 10) carrying the same payload."""
        await self.send_frame(0x9, payload)

    async def send_frame(self, opcode: int, payload: bytes) -> None:
        """Send one masked, final frame with `opcode`."""
        mask = os.urandom(4)
        header = bytes([0x80 | opcode])
        n = len(payload)
        header += bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n)
        self.writer.write(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
        await self.writer.drain()

    async def recv_frame(self) -> tuple[int, bytes]:
        """(opcode, payload) of the next server frame."""
        b0, b1 = await self.reader.readexactly(2)
        n = b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack(">H", await self.reader.readexactly(2))
        elif n == 127:
            (n,) = struct.unpack(">Q", await self.reader.readexactly(8))
        return b0 & 0x0F, await self.reader.readexactly(n)

    def abort(self) -> None:
        """Drop the connection without a close frame."""
        self.writer.transport.abort()
