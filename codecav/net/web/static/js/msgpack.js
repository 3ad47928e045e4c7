/**
 * Strict msgpack for codecav's wire messages, mirroring codecav/net/wire/common.py: one map, string keys, no ext
 * types, UTF-8 strings, at most 32 map keys / 64 array items / 1,024-character strings, no trailing bytes.
 * Integers decode as BigInt and floats as Number, so an int field never accepts 1.0 (as in Python).
 * Encoding uses @msgpack/msgpack (same smallest-form choices as Python's msgpack with use_bin_type=True).
 *
 *   unpackMap(bytes, what, maxBytes) -> Map            throws WireError (reason, one-line message)
 *   new FieldReader(map, what).getInt/getStr/getBin/getStrList/has
 *   pack(object) -> Uint8Array
 */

import { encode } from "../vendor/msgpack/index.mjs";

export const MAX_MAP_LEN = 32;
export const MAX_STR_LEN = 1024;
export const MAX_ARRAY_LEN = 64;
const MAX_DEPTH = 1024;

/** A refused wire message: `reason` is codecav's stable key (WireFormatError.reason), `message` one line. */
export class WireError extends Error {
  constructor(reason, message) {
    super(message);
    this.name = "WireError";
    this.reason = reason;
  }
}

const OUT_OF_DATA = Symbol("out of data");
const EXT = Symbol("ext");
const BAD_UTF8 = Symbol("bad utf-8");
const FORMAT = Symbol("format");
const utf8 = new TextDecoder("utf-8", { fatal: true });

class Reader {
  constructor(bytes) {
    this.b = bytes;
    this.v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = 0;
  }

  need(n) {
    if (this.pos + n > this.b.length) throw OUT_OF_DATA;
  }

  u8() { this.need(1); return this.b[this.pos++]; }
  u16() { this.need(2); const x = this.v.getUint16(this.pos); this.pos += 2; return x; }
  u32() { this.need(4); const x = this.v.getUint32(this.pos); this.pos += 4; return x; }

  bytes(n) {
    this.need(n);
    const out = this.b.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  int(size, signed) {
    this.need(size);
    const p = this.pos;
    this.pos += size;
    switch (size) {
      case 1: return BigInt(signed ? this.v.getInt8(p) : this.v.getUint8(p));
      case 2: return BigInt(signed ? this.v.getInt16(p) : this.v.getUint16(p));
      case 4: return BigInt(signed ? this.v.getInt32(p) : this.v.getUint32(p));
      default: return signed ? this.v.getBigInt64(p) : this.v.getBigUint64(p);
    }
  }

  str(n) {
    const raw = this.bytes(n);
    let s;
    try {
      s = utf8.decode(raw);
    } catch {
      throw BAD_UTF8;
    }
    if (codePoints(s) > MAX_STR_LEN) throw FORMAT;
    return s;
  }

  value(depth) {
    if (depth > MAX_DEPTH) throw FORMAT;
    const t = this.u8();
    if (t <= 0x7f) return BigInt(t);
    if (t >= 0xe0) return BigInt(t - 0x100);
    if (t >= 0xa0 && t <= 0xbf) return this.str(t & 0x1f);
    if (t >= 0x90 && t <= 0x9f) return this.array(t & 0x0f, depth);
    if (t >= 0x80 && t <= 0x8f) return this.map(t & 0x0f, depth);
    switch (t) {
      case 0xc0: return null;
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xc4: return this.bytes(this.u8());
      case 0xc5: return this.bytes(this.u16());
      case 0xc6: return this.bytes(this.u32());
      case 0xc7: return this.ext(this.u8());
      case 0xc8: return this.ext(this.u16());
      case 0xc9: return this.ext(this.u32());
      case 0xd4: return this.ext(1);
      case 0xd5: return this.ext(2);
      case 0xd6: return this.ext(4);
      case 0xd7: return this.ext(8);
      case 0xd8: return this.ext(16);
      case 0xca: { this.need(4); const x = this.v.getFloat32(this.pos); this.pos += 4; return x; }
      case 0xcb: { this.need(8); const x = this.v.getFloat64(this.pos); this.pos += 8; return x; }
      case 0xcc: return this.int(1, false);
      case 0xcd: return this.int(2, false);
      case 0xce: return this.int(4, false);
      case 0xcf: return this.int(8, false);
      case 0xd0: return this.int(1, true);
      case 0xd1: return this.int(2, true);
      case 0xd2: return this.int(4, true);
      case 0xd3: return this.int(8, true);
      case 0xd9: return this.str(this.u8());
      case 0xda: return this.str(this.u16());
      case 0xdb: return this.str(this.u32());
      case 0xdc: return this.array(this.u16(), depth);
      case 0xdd: return this.array(this.u32(), depth);
      case 0xde: return this.map(this.u16(), depth);
      case 0xdf: return this.map(this.u32(), depth);
      default: throw FORMAT; // 0xc1 is never used
    }
  }

  ext(n) {
    // As Python's msgpack with max_ext_len=0: the whole ext must be there; one with data breaks the limit,
    // an empty one reaches the ext hook.
    this.bytes(1 + n);
    throw n > 0 ? FORMAT : EXT;
  }

  array(n, depth) {
    if (n > MAX_ARRAY_LEN) throw FORMAT;
    const out = [];
    for (let i = 0; i < n; i++) out.push(this.value(depth + 1));
    return out;
  }

  map(n, depth) {
    if (n > MAX_MAP_LEN) throw FORMAT;
    const out = new Map();
    for (let i = 0; i < n; i++) {
      const key = this.value(depth + 1);
      const value = this.value(depth + 1);
      // Python's strict_map_key takes str and bytes keys only (checked once the pair is read); a bytes key can
      // never name a field.
      if (typeof key !== "string" && !(key instanceof Uint8Array)) throw FORMAT;
      if (typeof key === "string") out.set(key, value);
    }
    return out;
  }
}

/** Python's len() of a string: code points, not UTF-16 units. */
export function codePoints(s) {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** Python's type name of a decoded value, as codecav's messages print it. */
export function typeName(value) {
  if (value === null || value === undefined) return "nil";
  if (typeof value === "boolean") return "bool";
  if (typeof value === "bigint") return "int";
  if (typeof value === "number") return "float";
  if (typeof value === "string") return "str";
  if (value instanceof Uint8Array) return "bin";
  if (Array.isArray(value)) return "array";
  if (value instanceof Map) return "map";
  return typeof value;
}

/** Unpack exactly one msgpack map from `data` under the wire limits; WireError otherwise. */
export function unpackMap(data, what, maxBytes) {
  if (data instanceof ArrayBuffer) data = new Uint8Array(data);
  if (!(data instanceof Uint8Array)) {
    const got = typeof data === "string" ? "str" : typeName(data);
    throw new WireError("malformed", `${what} must be binary msgpack, got ${got}`);
  }
  if (data.length > maxBytes) throw new WireError("too_large", `${what} is ${data.length} bytes; the limit is ${maxBytes}`);
  if (data.length === 0) throw new WireError("truncated", `${what} is empty`);
  const reader = new Reader(data);
  let obj;
  try {
    obj = reader.value(0);
  } catch (e) {
    if (e === OUT_OF_DATA) throw new WireError("truncated", `${what} is truncated: the msgpack data ends early`);
    if (e === EXT) throw new WireError("malformed", `${what} contains a msgpack ext type; none are allowed`);
    if (e === BAD_UTF8) throw new WireError("malformed", `${what} contains a string that is not UTF-8`);
    if (e === FORMAT) throw new WireError("malformed", `${what} is not msgpack within the limits of the format`);
    throw e;
  }
  const trailing = data.length - reader.pos;
  if (trailing) throw new WireError("malformed", `${what} has ${trailing} trailing bytes after the msgpack map`);
  if (!(obj instanceof Map)) throw new WireError("malformed", `${what} must be a msgpack map, got ${typeName(obj)}`);
  return obj;
}

/** Python's repr() of a short identifier-like string (quotes chosen as Python does). */
export function pyRepr(s) {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = "";
  for (const ch of s) {
    const c = ch.codePointAt(0);
    if (ch === "\\") out += "\\\\";
    else if (ch === quote) out += "\\" + quote;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (c < 0x20 || c === 0x7f) out += "\\x" + c.toString(16).padStart(2, "0");
    else out += ch;
  }
  return quote + out + quote;
}

/** Typed access to one unpacked message's fields; every error names the message and the field. */
export class FieldReader {
  constructor(fields, what) {
    this.fields = fields;
    this.what = what;
  }

  _get(key, name) {
    if (!this.fields.has(key)) throw new WireError("missing_field", `${this.what} is missing field '${key}' (${name})`);
    return this.fields.get(key);
  }

  _bad(key, name, detail) {
    return new WireError("invalid_field", `${this.what} field '${key}' (${name}) ${detail}`);
  }

  /** Whether `key` is present and not nil. */
  has(key) {
    return this.fields.has(key) && this.fields.get(key) !== null;
  }

  /** An integer in [lo, hi] (BigInt bounds), returned as a BigInt. */
  getInt(key, name, lo, hi) {
    const value = this._get(key, name);
    if (typeof value !== "bigint") throw this._bad(key, name, `must be an int, got ${typeName(value)}`);
    if (value < lo || value > hi) throw this._bad(key, name, `is ${value}; it must be in [${lo}, ${hi}]`);
    return value;
  }

  /** A string of minLen..maxLen characters. */
  getStr(key, name, maxLen, minLen = 0) {
    const value = this._get(key, name);
    if (typeof value !== "string") throw this._bad(key, name, `must be a str, got ${typeName(value)}`);
    const n = codePoints(value);
    if (n < minLen || n > maxLen) {
      const allowed = minLen === maxLen ? `exactly ${maxLen}` : `${minLen} to ${maxLen}`;
      throw this._bad(key, name, `has ${n} characters; it must have ${allowed}`);
    }
    return value;
  }

  /** A bin of at most maxLen bytes (exactly `exact` if given). */
  getBin(key, name, maxLen, exact = null) {
    const value = this._get(key, name);
    if (!(value instanceof Uint8Array)) throw this._bad(key, name, `must be bin, got ${typeName(value)}`);
    if (exact !== null && value.length !== exact) throw this._bad(key, name, `has ${value.length} bytes; it must have ${exact}`);
    if (value.length > maxLen) throw this._bad(key, name, `has ${value.length} bytes; the limit is ${maxLen}`);
    return value;
  }

  /** An array of at most maxItems strings of 1..maxLen characters. */
  getStrList(key, name, maxItems, maxLen) {
    const value = this._get(key, name);
    if (!Array.isArray(value)) throw this._bad(key, name, `must be an array, got ${typeName(value)}`);
    if (value.length > maxItems) throw this._bad(key, name, `has ${value.length} items; the limit is ${maxItems}`);
    for (const item of value) {
      if (typeof item !== "string" || codePoints(item) < 1 || codePoints(item) > maxLen) {
        throw this._bad(key, name, `must hold strings of 1 to ${maxLen} characters`);
      }
    }
    return value.slice();
  }
}

/** Pack a plain object (keys in insertion order) of safe-integer Numbers, strings, Uint8Arrays and string
 * arrays: ints take their smallest form, as Python's msgpack writes them. */
export function pack(fields) {
  for (const value of Object.values(fields)) {
    if (typeof value === "number" && !Number.isSafeInteger(value)) throw new Error(`cannot pack ${value} as an int`);
  }
  return encode(fields, { sortKeys: false });
}
