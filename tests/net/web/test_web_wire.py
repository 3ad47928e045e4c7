"""The page's wire format v1 (static/js/wire.js) against codecav's, in real headless Chromium: every golden file of
tests/net/wire/golden decodes to the same values or fails with the same reason and message, valid ones re-encode
to the same bytes, and so do a few hundred mutated messages."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np

from codecav.net.errors import WireFormatError
from codecav.net.wire.control import AvatarChunk, decode_control_message
from codecav.net.wire.frames import decode_latent_frame
from tests.net.frames import LAYOUT_256
from tests.net.web.browser import chromium_page, served_site

GOLDEN = Path(__file__).parent.parent / "wire" / "golden"

JS_DECODE_ALL = """async ({cases, segments}) => {
  const w = await import("/js/wire.js");
  const layout = {dim: segments.reduce((a, b) => a + b, 0), segments};
  const plain = (o) => Object.fromEntries(Object.entries(o).map(
    ([k, v]) => [k, v instanceof Uint8Array ? Array.from(v) : v]));
  const attempt = (f) => { try { return f(); } catch (e) {
    if (e instanceof w.WireError) return {ok: false, reason: e.reason, message: e.message};
    return {ok: false, reason: "js_error", message: String(e)}; } };
  const out = {};
  for (const [name, list] of Object.entries(cases)) {
    const bytes = new Uint8Array(list);
    out[name] = {
      latent: attempt(() => { const f = w.decodeLatentFrame(bytes, layout); return {ok: true, sequence: f.sequence,
        captureTimeUs: f.captureTimeUs, code: Array.from(f.code), pose: [...f.position, ...f.orientation],
        gaze: f.gaze ? [...f.gaze.left, ...f.gaze.right] : null, flags: f.flags}; }),
      control: attempt(() => ({ok: true, ...plain(w.decodeControlMessage(bytes))})),
    };
  }
  return out;
}"""

JS_REENCODE = """async ({cases, segments}) => {
  const w = await import("/js/wire.js");
  const layout = {dim: segments.reduce((a, b) => a + b, 0), segments};
  const out = {};
  for (const [name, [list, kind, quant]] of Object.entries(cases)) {
    const bytes = new Uint8Array(list);
    const data = kind === "latent" ? w.encodeLatentFrame(w.decodeLatentFrame(bytes, layout), layout, quant)
                                   : w.encodeControlMessage(w.decodeControlMessage(bytes));
    out[name] = Array.from(data);
  }
  return out;
}"""


def _floats(values: np.ndarray) -> list[float]:
    return [float(x) for x in values]


def python_latent(data: bytes) -> dict[str, Any]:
    """What codecav decodes from `data` as a latent frame of LAYOUT_256, shaped like the page's answer."""
    try:
        f = decode_latent_frame(data, LAYOUT_256)
    except WireFormatError as exc:
        return {"ok": False, "reason": exc.reason, "message": str(exc)}
    gaze = None if f.gaze is None else _floats(np.concatenate([f.gaze.left, f.gaze.right]))
    return {"ok": True, "sequence": f.sequence, "captureTimeUs": f.capture_time_us, "code": _floats(f.code),
            "pose": _floats(np.concatenate([f.head_pose.position, f.head_pose.orientation])), "gaze": gaze,
            "flags": int(f.flags)}


_CONTROL_KEYS = {"Hello": ("hello", {"peer": "peer_id", "avatar": "avatar_id", "sha": "avatar_sha256",
                                     "caps": "capabilities"}),
                 "Ping": ("ping", {"n": "sequence", "t0": "t0_us"}),
                 "Pong": ("pong", {"n": "sequence", "t0": "t0_us", "t1": "t1_us", "t2": "t2_us"}),
                 "AvatarRequest": ("avreq", {"avatar": "avatar_id", "sha": "avatar_sha256"}),
                 "AvatarChunk": ("avchunk", {"sha": "avatar_sha256", "i": "index", "data": "data"}),
                 "AvatarDone": ("avdone", {"sha": "avatar_sha256", "size": "total_bytes", "chunks": "chunk_count"}),
                 "Bye": ("bye", {"why": "reason"}),
                 "AvatarRefused": ("avrefused", {"sha": "avatar_sha256", "why": "reason"})}


def python_control(data: bytes) -> dict[str, Any]:
    """What codecav decodes from `data` as a control message, shaped like the page's answer."""
    try:
        msg = decode_control_message(data)
    except WireFormatError as exc:
        return {"ok": False, "reason": exc.reason, "message": str(exc)}
    kind, fields = _CONTROL_KEYS[type(msg).__name__]
    out: dict[str, Any] = {"ok": True, "m": kind}
    for key, attr in fields.items():
        value = getattr(msg, attr)
        out[key] = list(value) if isinstance(value, bytes | tuple) else value
    return out


def mutations(seed: int, count: int) -> dict[str, bytes]:
    """Deterministic corruptions of the golden files: flipped, dropped, inserted and truncated bytes."""
    rng = random.Random(seed)
    goldens = [p.read_bytes() for p in sorted(GOLDEN.glob("*.bin"))]
    out: dict[str, bytes] = {}
    for i in range(count):
        data = bytearray(rng.choice(goldens))
        for _ in range(rng.randint(1, 3)):
            op = rng.randrange(4)
            at = rng.randrange(len(data)) if data else 0
            if op == 0 and data:
                data[at] = rng.randrange(256)
            elif op == 1 and data:
                del data[at]
            elif op == 2:
                tags = [0xC0, 0xC1, 0xC3, 0xCA, 0xCB, 0xD4, 0xD9, 0x7F, 0x80, 0xFF, rng.randrange(256)]
                data.insert(at, rng.choice(tags))
            else:
                data = data[:at]
        out[f"mutant_{i:03d}"] = bytes(data)
    return out


def _segments() -> list[int]:
    return [s.size for s in LAYOUT_256.segments]


def test_golden_files_decode_in_the_browser_exactly_as_in_python() -> None:
    files = {p.stem: p.read_bytes() for p in sorted(GOLDEN.glob("*.bin"))}
    assert len(files) >= 20
    with served_site() as server, chromium_page() as page:
        page.goto(server.http_url)
        got = page.evaluate(JS_DECODE_ALL, {"cases": {k: list(v) for k, v in files.items()}, "segments": _segments()})
    for name, data in files.items():
        assert got[name]["latent"] == python_latent(data), f"{name} as a latent frame"
        assert got[name]["control"] == python_control(data), f"{name} as a control message"
    assert got["latent_int8_gaze"]["latent"]["ok"] and got["control_hello"]["control"]["ok"]


def test_valid_messages_reencode_to_the_same_bytes_in_the_browser() -> None:
    from codecav.net.wire.control import encode_control_message

    cases: dict[str, tuple[list[int], str, str]] = {}
    for name in ("latent_int8_gaze", "latent_int8_no_gaze", "latent_fp16_gaze", "latent_unknown_key"):
        cases[name] = (list((GOLDEN / f"{name}.bin").read_bytes()), "latent", "fp16" if "fp16" in name else "int8")
    for name in ("control_hello", "control_pong", "control_avatar_chunk"):
        cases[name] = (list((GOLDEN / f"{name}.bin").read_bytes()), "control", "")
    chunk = encode_control_message(AvatarChunk("ef" * 32, 9, bytes(range(256)) * 64))  # a full 16 KiB chunk
    cases["full_chunk"] = (list(chunk), "control", "")
    with served_site() as server, chromium_page() as page:
        page.goto(server.http_url)
        got = page.evaluate(JS_REENCODE, {"cases": cases, "segments": _segments()})
    for name, (data, _, _) in cases.items():
        expected = (GOLDEN / "latent_int8_no_gaze.bin").read_bytes() if name == "latent_unknown_key" else bytes(data)
        assert bytes(got[name]) == expected, name


def test_mutated_messages_get_the_same_verdict_in_the_browser() -> None:
    cases = mutations(seed=16, count=400)
    with served_site() as server, chromium_page() as page:
        page.goto(server.http_url)
        got = page.evaluate(JS_DECODE_ALL, {"cases": {k: list(v) for k, v in cases.items()}, "segments": _segments()})
    for name, data in cases.items():
        assert got[name]["latent"] == python_latent(data), f"{name} {data.hex()} as a latent frame"
        assert got[name]["control"] == python_control(data), f"{name} {data.hex()} as a control message"
