/**
 * Wire format v1 (docs/wire-format.md), the same rules and one-line messages as codecav/net/wire/frames.py,
 * quant.py and control.py. Latent frame v2 is not read here: the page does not announce `latent-v2`, so codecav
 * peers send it v1.
 *
 *   decodeLatentFrame(bytes, layout) -> LatentFrame     layout: {dim, segments: [sizes]} (see layoutOf)
 *   encodeLatentFrame(frame, layout, quant = "int8") -> Uint8Array
 *   decodeControlMessage(bytes) -> {m: "hello" | "ping" | ..., ...fields}
 *   encodeControlMessage(msg) -> Uint8Array
 * LatentFrame: {sequence, captureTimeUs (Numbers), code: Float32Array(D), position: Float32Array(3),
 *               orientation: Float32Array(4) (x, y, z, w), gaze: {left, right: Float32Array(3)} | null, flags}
 * Decoders throw WireError (msgpack.js) with codecav's reason key and message.
 */

import { FieldReader, WireError, pack, pyRepr, unpackMap } from "./msgpack.js";

export { WireError };

export const WIRE_VERSION = 1;
export const MAX_MESSAGE_BYTES = 16384;
export const MAX_CODE_LENGTH = 4096;
export const MAX_SEGMENTS = 64;
export const MAX_CONTROL_MESSAGE_BYTES = 32768;
export const AVATAR_CHUNK_BYTES = 16384;
export const MAX_AVATAR_BYTES = 512 * 1024 * 1024;
export const MAX_CHUNKS = MAX_AVATAR_BYTES / AVATAR_CHUNK_BYTES;
export const FLAGS = { TRACKING_LOST: 1, SPEAKING: 2, NO_GAZE: 4 };
const KNOWN_FLAGS = 7;
const MAX_SEQUENCE = 2n ** 63n - 1n;
const MAX_TIME_US = 2n ** 52n;
const MAX_FLAGS = 2n ** 32n - 1n;
const MAX_POSITION_M = 1000.0;
const UNIT_NORM_TOLERANCE = 1e-3;
const MAX_CODE_ABS = 65504.0;
const MAX_SCALE = Math.fround(65504 / 127); // 515.779541015625, Python's float(np.float32(65504 / 127))
const ZERO_SEGMENT_ABS = 1e-30;
const LATENT = "latent frame";
const CONTROL = "control message";
const KINDS = ["hello", "ping", "pong", "avreq", "avchunk", "avdone", "bye", "avrefused"];
const ID = /^[A-Za-z0-9._-]+$/;
const SHA256 = /^[0-9a-f]{64}$/;
const REASON_KEY = /^[a-z0-9_:.-]+$/;

/** The latent layout of an avatar manifest: {dim, segments: [sizes], names}. */
export function layoutOf(manifest) {
  const segments = manifest.latent.segments.map((s) => s.size);
  return { dim: segments.reduce((a, b) => a + b, 0), segments, names: manifest.latent.segments.map((s) => s.name) };
}

function checkLayout(layout) {
  if (layout.dim > MAX_CODE_LENGTH || layout.segments.length > MAX_SEGMENTS) {
    throw new Error(`latent layout has ${layout.dim} entries in ${layout.segments.length} segments; the wire format `
      + `carries at most ${MAX_CODE_LENGTH} entries in ${MAX_SEGMENTS} segments`);
  }
}

/** Python's format(x, ".6g"). */
export function formatG6(x) {
  if (Number.isNaN(x)) return "nan";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  if (x === 0) return Object.is(x, -0) ? "-0" : "0";
  const [mantissa, expText] = x.toExponential(5).split("e");
  const exp = Number(expText);
  const strip = (s) => (s.includes(".") ? s.replace(/0+$/, "").replace(/\.$/, "") : s);
  if (exp < -4 || exp >= 6) return `${strip(mantissa)}e${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
  return strip(x.toFixed(5 - exp));
}

function checkUnit(vec, name, reason) {
  const norm = Math.sqrt(vec.reduce((acc, x) => acc + x * x, 0));
  if (Math.abs(norm - 1.0) > UNIT_NORM_TOLERANCE) {
    throw new WireError(reason, `${name} has norm ${formatG6(norm)}; it must be 1 within ${UNIT_NORM_TOLERANCE}`);
  }
}

function float32s(bytes) {
  const out = new Float32Array(bytes.length / 4);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(4 * i, true);
  return out;
}

function floats(reader, key, name, count) {
  const values = float32s(reader.getBin(key, name, 4 * count, 4 * count));
  if (!values.every(Number.isFinite)) throw new WireError("invalid_field", `${LATENT} field '${key}' (${name}) holds NaN or inf`);
  return values;
}

/** IEEE half (bits) -> Number. */
function halfToFloat(h) {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** Number (a float32 value) -> IEEE half bits, round to nearest even (numpy's astype("<f2")). */
function floatToHalf(x) {
  const f32 = new Float32Array([x]);
  const bits = new Uint32Array(f32.buffer)[0];
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rest > mid || (rest === mid && (half & 1))) half += 1;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (half & 1))) half += 1; // may carry into the exponent: still right
  return sign | half;
}

function roundHalfEven(x) {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function dequantizeInt8(payload, scalesBytes, layout) {
  const { dim, segments } = layout;
  if (payload.length !== dim) {
    throw new WireError("layout", `latent frame code has ${payload.length} int8 entries; the avatar's layout has ${dim}`);
  }
  if (scalesBytes.length !== 4 * segments.length) {
    throw new WireError("layout", `latent frame has ${Math.floor(scalesBytes.length / 4)} scales (${scalesBytes.length} `
      + `bytes); the avatar's layout has ${segments.length} segments`);
  }
  const scales = float32s(scalesBytes);
  if (!scales.every(Number.isFinite)) throw new WireError("invalid_field", "latent frame field 'k' (scales) holds NaN or inf");
  if (scales.some((s) => s < 0 || s > MAX_SCALE)) {
    throw new WireError("invalid_field", `latent frame field 'k' (scales) must be in [0, ${MAX_SCALE}]`);
  }
  const q = new Int8Array(payload.buffer, payload.byteOffset, payload.length);
  if (q.includes(-128)) throw new WireError("invalid_field", "latent frame field 'z' (code) holds -128; int8 entries must be in [-127, 127]");
  const code = new Float32Array(dim);
  let start = 0;
  segments.forEach((size, i) => {
    for (let j = start; j < start + size; j++) code[j] = q[j] * scales[i]; // exact product, rounded to float32
    start += size;
  });
  return code;
}

function dequantizeFp16(payload, scalesBytes, layout) {
  if (payload.length !== 2 * layout.dim) {
    throw new WireError("layout", `latent frame code has ${payload.length} bytes of fp16; the avatar's layout needs ${2 * layout.dim}`);
  }
  if (scalesBytes.length) throw new WireError("invalid_field", "latent frame field 'k' (scales) must be absent in fp16 mode");
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const code = new Float32Array(layout.dim);
  for (let i = 0; i < layout.dim; i++) code[i] = halfToFloat(view.getUint16(2 * i, true));
  if (!code.every(Number.isFinite)) throw new WireError("invalid_field", "latent frame field 'z' (code) holds NaN or inf");
  return code;
}

/** Parse a wire v1 latent frame for an avatar with `layout`; WireError with codecav's message otherwise. */
export function decodeLatentFrame(data, layout) {
  checkLayout(layout);
  const reader = new FieldReader(unpackMap(data, LATENT, MAX_MESSAGE_BYTES), LATENT);
  const version = reader.getInt("v", "version", 0n, 2n ** 32n);
  if (version !== 1n) throw new WireError("version", `${LATENT} has format version ${version}; this codecav reads ${WIRE_VERSION}`);
  const sequence = reader.getInt("s", "sequence", 0n, MAX_SEQUENCE);
  const captureTimeUs = reader.getInt("t", "capture time", 0n, MAX_TIME_US);
  const wireId = reader.getInt("q", "quantization", 0n, 255n);
  if (wireId > 1n) {
    throw new WireError("invalid_field", `${LATENT} field 'q' (quantization) is ${wireId}; version 1 knows 0 (int8), 1 (fp16)`);
  }
  const payload = reader.getBin("z", "code", 2 * MAX_CODE_LENGTH);
  const scales = wireId === 0n || reader.has("k") ? reader.getBin("k", "scales", 4 * MAX_SEGMENTS) : new Uint8Array(0);
  const code = wireId === 0n ? dequantizeInt8(payload, scales, layout) : dequantizeFp16(payload, scales, layout);
  const pose = floats(reader, "p", "head pose", 7);
  if (Math.max(...pose.slice(0, 3).map(Math.abs)) > MAX_POSITION_M) {
    throw new WireError("invalid_field", `${LATENT} field 'p' (head pose) has a position beyond +-${MAX_POSITION_M.toFixed(1)} m`);
  }
  checkUnit(pose.slice(3), `${LATENT} field 'p' (head pose) orientation`, "invalid_field");
  let gaze = null;
  if (reader.has("g")) {
    const both = floats(reader, "g", "gaze", 6);
    checkUnit(both.slice(0, 3), `${LATENT} field 'g' (gaze) left vector`, "invalid_field");
    checkUnit(both.slice(3), `${LATENT} field 'g' (gaze) right vector`, "invalid_field");
    gaze = { left: both.slice(0, 3), right: both.slice(3) };
  }
  const flags = reader.getInt("f", "flags", 0n, MAX_FLAGS);
  return {
    sequence: Number(sequence), captureTimeUs: Number(captureTimeUs), code,
    position: pose.slice(0, 3), orientation: pose.slice(3), gaze, flags: Number(flags & BigInt(KNOWN_FLAGS)),
  };
}

function le32(values) {
  const out = new Uint8Array(4 * values.length);
  const view = new DataView(out.buffer);
  values.forEach((x, i) => view.setFloat32(4 * i, x, true));
  return out;
}

/** Serialize `frame` as wire v1 (int8 with per-segment scales, or fp16); Error if a value is out of range. */
export function encodeLatentFrame(frame, layout, quant = "int8") {
  checkLayout(layout);
  const code = Float32Array.from(frame.code);
  if (code.length !== layout.dim) throw new Error(`frame code has ${code.length} entries; the layout has ${layout.dim}`);
  if (!code.every(Number.isFinite)) throw new Error("frame code holds NaN or inf");
  if (code.some((x) => Math.abs(x) > MAX_CODE_ABS)) throw new Error(`frame code has an entry beyond +-${MAX_CODE_ABS}`);
  if (!Number.isSafeInteger(frame.sequence) || frame.sequence < 0) throw new Error(`frame sequence ${frame.sequence} is out of range`);
  if (!Number.isSafeInteger(frame.captureTimeUs) || frame.captureTimeUs < 0 || frame.captureTimeUs > 2 ** 52) {
    throw new Error(`frame capture time ${frame.captureTimeUs} is out of range`);
  }
  const position = Float32Array.from(frame.position);
  const orientation = Float32Array.from(frame.orientation);
  if (![...position, ...orientation].every(Number.isFinite) || position.some((x) => Math.abs(x) > MAX_POSITION_M)) {
    throw new Error("head pose is not finite or beyond 1000 m");
  }
  checkUnit(orientation, "head orientation", "encode");
  const fields = { v: WIRE_VERSION, s: frame.sequence, t: frame.captureTimeUs };
  if (quant === "int8") {
    const q = new Int8Array(layout.dim);
    const scales = [];
    let start = 0;
    for (const size of layout.segments) {
      let peak = 0;
      for (let j = start; j < start + size; j++) peak = Math.max(peak, Math.abs(code[j]));
      let scale = 0;
      if (peak >= ZERO_SEGMENT_ABS) {
        scale = Math.fround(peak / 127);
        for (let j = start; j < start + size; j++) q[j] = Math.max(-127, Math.min(127, roundHalfEven(code[j] / scale)));
      }
      scales.push(scale);
      start += size;
    }
    Object.assign(fields, { q: 0, z: new Uint8Array(q.buffer), k: le32(scales) });
  } else if (quant === "fp16") {
    const z = new Uint8Array(2 * layout.dim);
    const view = new DataView(z.buffer);
    code.forEach((x, i) => view.setUint16(2 * i, floatToHalf(x), true));
    Object.assign(fields, { q: 1, z });
  } else {
    throw new Error(`unknown code quantization '${quant}'; use one of ['fp16', 'int8']`);
  }
  fields.p = le32([...position, ...orientation]);
  if (frame.gaze) {
    const left = Float32Array.from(frame.gaze.left);
    const right = Float32Array.from(frame.gaze.right);
    checkUnit(left, "left gaze", "encode");
    checkUnit(right, "right gaze", "encode");
    fields.g = le32([...left, ...right]);
  }
  fields.f = frame.flags >>> 0;
  const data = pack(fields);
  if (data.length > MAX_MESSAGE_BYTES) throw new Error(`latent frame is ${data.length} bytes; the limit is ${MAX_MESSAGE_BYTES}`);
  return data;
}

function ident(reader, key, name) {
  const value = reader.getStr(key, name, 64, 1);
  if (!ID.test(value)) {
    throw new WireError("invalid_field", `${reader.what} field '${key}' (${name}) may only hold letters, digits, '.', '_', '-'`);
  }
  return value;
}

function sha(reader) {
  const value = reader.getStr("sha", "avatar sha256", 64, 64);
  if (!SHA256.test(value)) throw new WireError("invalid_field", `${reader.what} field 'sha' (avatar sha256) must be 64 lowercase hex digits`);
  return value;
}

const time = (reader, key) => Number(reader.getInt(key, `${key} timestamp`, 0n, MAX_TIME_US));

/** Parse one control message; WireError with codecav's message otherwise. */
export function decodeControlMessage(data) {
  const fields = unpackMap(data, CONTROL, MAX_CONTROL_MESSAGE_BYTES);
  const reader = new FieldReader(fields, CONTROL);
  const version = reader.getInt("v", "version", 0n, 2n ** 32n);
  if (version !== 1n) throw new WireError("version", `${CONTROL} has version ${version}; this codecav reads 1`);
  const kind = reader.getStr("m", "message type", 16, 1);
  reader.what = KINDS.includes(kind) ? `${kind} message` : CONTROL;
  switch (kind) {
    case "hello": {
      const caps = reader.getStrList("caps", "capabilities", 32, 32);
      const peer = ident(reader, "peer", "peer id");
      const avatar = ident(reader, "avatar", "avatar id");
      return { m: kind, peer, avatar, sha: sha(reader), caps };
    }
    case "ping":
      return { m: kind, n: Number(reader.getInt("n", "sequence", 0n, 2n ** 32n - 1n)), t0: time(reader, "t0") };
    case "pong": {
      const n = Number(reader.getInt("n", "sequence", 0n, 2n ** 32n - 1n));
      return { m: kind, n, t0: time(reader, "t0"), t1: time(reader, "t1"), t2: time(reader, "t2") };
    }
    case "avreq": {
      const avatar = ident(reader, "avatar", "avatar id");
      return { m: kind, avatar, sha: sha(reader) };
    }
    case "avchunk": {
      const i = Number(reader.getInt("i", "chunk index", 0n, BigInt(MAX_CHUNKS - 1)));
      const digest = sha(reader);
      return { m: kind, sha: digest, i, data: reader.getBin("data", "chunk data", AVATAR_CHUNK_BYTES) };
    }
    case "avdone": {
      const size = Number(reader.getInt("size", "total bytes", 0n, BigInt(MAX_AVATAR_BYTES)));
      const digest = sha(reader);
      return { m: kind, sha: digest, size, chunks: Number(reader.getInt("chunks", "chunk count", 0n, BigInt(MAX_CHUNKS))) };
    }
    case "bye":
      return { m: kind, why: fields.has("why") ? reader.getStr("why", "reason", 200) : "" };
    case "avrefused": {
      const digest = sha(reader);
      const why = reader.getStr("why", "reason key", 64, 1);
      if (!REASON_KEY.test(why)) throw new WireError("invalid_field", `${reader.what} field 'why' (reason key) may only hold a-z, 0-9, '_', ':', '.', '-'`);
      return { m: kind, sha: digest, why };
    }
    default:
      throw new WireError("unknown_type", `${CONTROL} has unknown type ${pyRepr(kind)}; version 1 knows ${KINDS.join(", ")}`);
  }
}

const CONTROL_FIELDS = {
  hello: ["peer", "avatar", "sha", "caps"],
  ping: ["n", "t0"],
  pong: ["n", "t0", "t1", "t2"],
  avreq: ["avatar", "sha"],
  avchunk: ["sha", "i", "data"],
  avdone: ["sha", "size", "chunks"],
  bye: ["why"],
  avrefused: ["sha", "why"],
};

/** Serialize a control message ({m, ...fields} as decodeControlMessage returns); checked by the decoder, as
 * codecav does, so the page never sends what it would refuse. */
export function encodeControlMessage(msg) {
  const keys = CONTROL_FIELDS[msg.m];
  if (!keys) throw new Error(`cannot encode control message type ${msg.m}`);
  const fields = { v: 1, m: msg.m };
  for (const key of keys) fields[key] = key === "why" ? (msg.why ?? "") : msg[key];
  const data = pack(fields);
  decodeControlMessage(data);
  return data;
}
