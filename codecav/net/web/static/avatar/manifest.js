/**
 * avatar.json checks as codecav.assets.manifest and codecav.bounded_json do them: size and nesting bounds before
 * parsing, a strict JSON parser (duplicate keys, NaN/Infinity refused, integers told from floats as Python's json
 * does), then the v1/v2 schema with the JSON path of the offending field. Messages equal codecav's for schema
 * errors; for JSON syntax errors the reason key matches and the text is the browser's own.
 */

import { pyRepr, refuse } from "./refusal.js";

export const MANIFEST_MEMBER = "avatar.json";
export const DECODER_MEMBER = "decoder.onnx";
export const MESH_MEMBER = "mesh.npz";
export const MLP_MEMBER = "pixel_mlp.npz";
export const QUANT_TABLE_MEMBER = "quant_table.npz";
export const REQUIRED_MEMBERS = [DECODER_MEMBER, MESH_MEMBER, MLP_MEMBER];
export const ACTIVATIONS = ["relu", "sine"];
const READABLE_VERSIONS = [1, 2];
const FORMAT_VERSION = 2;
const ENCODER_MEMBER_RE = /^encoders\/[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\.onnx$/;
const AVATAR_ID_RE = { re: /^[a-z0-9][a-z0-9._-]{0,63}$/, text: "[a-z0-9][a-z0-9._-]{0,63}" };
const SEGMENT_NAME_RE = { re: /^[a-z][a-z0-9_]{0,31}$/, text: "[a-z][a-z0-9_]{0,31}" };
const SHA256_RE = /^[0-9a-f]{64}$/;
const MAX_NAME_CHARS = 200;
const MAX_LATENT_DIM = 4096;
const MAX_VERTICES = 1000000;
const MAX_FEATURE_SIZE = 4096;
const MAX_FEATURE_CHANNELS = 16;
const MAX_HIDDEN_LAYERS = 8;
const MAX_HIDDEN_WIDTH = 256;
const MAX_UV_FREQUENCIES = 10;
const MAX_MANIFEST_BYTES = 1024 * 1024;
const MAX_MANIFEST_DEPTH = 16;
const TOP_KEYS = ["format_version", "avatar_id", "name", "latent", "mesh", "feature_map", "pixel_mlp", "members",
  "provenance"];
const SCHEMA_FIX = "re-export the avatar or fix avatar.json (see docs/avatar-format.md)";

/** A JSON number written with a fraction or exponent: a Python float (an int field refuses it). */
class PyFloat {
  constructor(value) { this.value = value; }
}

class JsonError extends Error {}

/** Deepest nesting of arrays and objects, string contents ignored (codecav.bounded_json.json_depth). */
export function jsonDepth(text) {
  const tokens = /"(?:[^"\\]|\\.)*"?|([[\]{}])/gs;
  let depth = 0;
  let deepest = 0;
  for (const match of text.matchAll(tokens)) {
    const c = match[1];
    if (!c) continue;
    depth += c === "[" || c === "{" ? 1 : -1;
    deepest = Math.max(deepest, depth);
  }
  return deepest;
}

/** A strict JSON parser (the depth is bounded before it runs): duplicate keys and NaN/Infinity are errors. */
function parseJson(text) {
  let i = 0;
  const ws = () => { while (i < text.length && " \t\n\r".includes(text[i])) i++; };
  const fail = (what) => { throw new JsonError(`${what}: char ${i}`); };
  const value = () => {
    ws();
    const c = text[i];
    if (c === "{") {
      i++;
      const out = new Map();
      ws();
      if (text[i] === "}") { i++; return out; }
      for (;;) {
        ws();
        if (text[i] !== '"') fail("Expecting property name enclosed in double quotes");
        const key = string();
        ws();
        if (text[i] !== ":") fail("Expecting ':' delimiter");
        i++;
        const v = value();
        if (out.has(key)) throw new JsonError(`duplicate key ${pyRepr(key)}`);
        out.set(key, v);
        ws();
        if (text[i] === ",") { i++; continue; }
        if (text[i] === "}") { i++; return out; }
        fail("Expecting ',' delimiter");
      }
    }
    if (c === "[") {
      i++;
      const out = [];
      ws();
      if (text[i] === "]") { i++; return out; }
      for (;;) {
        out.push(value());
        ws();
        if (text[i] === ",") { i++; continue; }
        if (text[i] === "]") { i++; return out; }
        fail("Expecting ',' delimiter");
      }
    }
    if (c === '"') return string();
    for (const [word, v] of [["true", true], ["false", false], ["null", null]]) {
      if (text.startsWith(word, i)) { i += word.length; return v; }
    }
    for (const word of ["NaN", "Infinity", "-Infinity"]) {
      if (text.startsWith(word, i)) throw new JsonError(`${word} is not allowed`);
    }
    const m = /^-?(?:0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?/.exec(text.slice(i, i + 400));
    if (!m) fail("Expecting value");
    i += m[0].length;
    const number = Number(m[0]);
    return m[1] || m[2] ? new PyFloat(number) : number;
  };
  const string = () => {
    const m = /^"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/.exec(text.slice(i));
    if (!m) fail("Unterminated string or invalid escape");
    i += m[0].length;
    return JSON.parse(m[0]);
  };
  const result = value();
  ws();
  if (i !== text.length) fail("Extra data");
  return result;
}

function kind(value) {
  if (value === null) return "null";
  if (typeof value === "boolean") return "a boolean";
  if (typeof value === "number") return "an integer";
  if (value instanceof PyFloat) return "a number";
  if (typeof value === "string") return "a string";
  if (Array.isArray(value)) return "a list";
  return "an object";
}

function pyFloatRepr(x) {
  if (Number.isInteger(x) && Math.abs(x) < 1e16) return x.toFixed(1);
  return String(x).replace(/e\+?/, "e+").replace("e+-", "e-");
}

/** Python's repr() of a parsed JSON value, for messages. */
export function reprValue(v) {
  if (v === null) return "None";
  if (v === true) return "True";
  if (v === false) return "False";
  if (typeof v === "number") return String(v);
  if (v instanceof PyFloat) return pyFloatRepr(v.value);
  if (typeof v === "string") return pyRepr(v);
  if (Array.isArray(v)) return `[${v.map(reprValue).join(", ")}]`;
  return `{${Array.from(v, ([k, x]) => `${pyRepr(k)}: ${reprValue(x)}`).join(", ")}}`;
}

/** A Map of parsed JSON objects into plain objects (floats as numbers), for callers. */
function plain(v) {
  if (v instanceof PyFloat) return v.value;
  if (Array.isArray(v)) return v.map(plain);
  if (v instanceof Map) return Object.fromEntries(Array.from(v, ([k, x]) => [k, plain(x)]));
  return v;
}

const codePoints = (s) => Array.from(s);

class Checker {
  constructor(source) {
    this.source = source;
    this.version = FORMAT_VERSION;
  }

  fail(path, problem) {
    refuse(this.source, MANIFEST_MEMBER, `field ${path} ${problem}`, SCHEMA_FIX, "manifest_invalid");
  }

  obj(value, path, keys, optional = []) {
    if (!(value instanceof Map)) this.fail(path, `must be an object, got ${kind(value)}`);
    for (const key of keys) {
      if (!value.has(key) && !optional.includes(key)) this.fail(`${path}.${key}`, "is missing");
    }
    const extra = Array.from(value.keys()).filter((k) => !keys.includes(k)).sort(pyCompare);
    if (extra.length) this.fail(`${path}.${extra[0]}`, `is not a v${this.version} field (allowed: ${keys.join(", ")})`);
    return value;
  }

  int(value, path, lo, hi) {
    if (typeof value !== "number") this.fail(path, `must be an integer, got ${kind(value)}`);
    if (!(lo <= value && value <= hi)) this.fail(path, `is ${value}, outside ${lo}..${hi}`);
    return value;
  }

  str(value, path, pattern = null, maxLen = 200) {
    if (typeof value !== "string") this.fail(path, `must be a string, got ${kind(value)}`);
    const chars = codePoints(value);
    const head = pyRepr(chars.slice(0, 40).join(""));
    if (!value.trim() || chars.length > maxLen || chars.some((ch) => ch.codePointAt(0) < 32)) {
      this.fail(path, `must be 1..${maxLen} printable characters, got ${head}`);
    }
    if (pattern !== null && !pattern.re.test(value)) this.fail(path, `is ${head}, which does not match ${pattern.text}`);
    return value;
  }

  list(value, path, lo, hi) {
    if (!Array.isArray(value)) this.fail(path, `must be a list, got ${kind(value)}`);
    if (!(lo <= value.length && value.length <= hi)) this.fail(path, `has ${value.length} entries, expected ${lo}..${hi}`);
    return value;
  }

  manifest(obj) {
    if (!(obj instanceof Map)) this.fail("$", `must be an object, got ${kind(obj)}`);
    if (!obj.has("format_version")) this.fail("$.format_version", "is missing");
    const version = obj.get("format_version");
    if (typeof version !== "number") this.fail("$.format_version", `must be an integer, got ${kind(version)}`);
    if (!READABLE_VERSIONS.includes(version)) {
      refuse(this.source, MANIFEST_MEMBER,
        `has format_version ${version}, this codecav reads versions ${READABLE_VERSIONS.join(", ")}`,
        version > FORMAT_VERSION ? "upgrade codecav" : "re-export the avatar with this codecav", "unsupported_version");
    }
    this.version = version;
    const top = this.obj(obj, "$", TOP_KEYS, ["provenance"]);
    const provenance = top.has("provenance") ? top.get("provenance") : new Map();
    if (!(provenance instanceof Map)) this.fail("$.provenance", `must be an object, got ${kind(provenance)}`);
    return {
      format_version: version,
      avatar_id: this.str(top.get("avatar_id"), "$.avatar_id", AVATAR_ID_RE, 64),
      name: this.str(top.get("name"), "$.name", null, MAX_NAME_CHARS),
      latent: this.latent(top.get("latent"), "$.latent"),
      mesh: this.mesh(top.get("mesh"), "$.mesh"),
      feature_map: this.featureMap(top.get("feature_map"), "$.feature_map"),
      pixel_mlp: this.pixelMlp(top.get("pixel_mlp"), "$.pixel_mlp"),
      members: this.members(top.get("members"), "$.members", version),
      provenance: plain(provenance),
    };
  }

  latent(value, path) {
    const obj = this.obj(value, path, ["segments"]);
    const items = this.list(obj.get("segments"), `${path}.segments`, 1, 64);
    const segments = [];
    items.forEach((item, i) => {
      const p = `${path}.segments[${i}]`;
      const seg = this.obj(item, p, ["name", "size"]);
      const name = this.str(seg.get("name"), `${p}.name`, SEGMENT_NAME_RE, 32);
      if (segments.some((s) => s.name === name)) this.fail(`${p}.name`, `repeats segment name ${pyRepr(name)}; names must be unique`);
      segments.push({ name, size: this.int(seg.get("size"), `${p}.size`, 1, MAX_LATENT_DIM) });
    });
    const dim = segments.reduce((a, s) => a + s.size, 0);
    if (dim > MAX_LATENT_DIM) this.fail(`${path}.segments`, `total ${dim} entries, over the limit ${MAX_LATENT_DIM}`);
    return { segments, dim };
  }

  mesh(value, path) {
    const obj = this.obj(value, path, ["num_vertices", "num_render_vertices", "num_triangles"]);
    const v = this.int(obj.get("num_vertices"), `${path}.num_vertices`, 3, MAX_VERTICES);
    const r = this.int(obj.get("num_render_vertices"), `${path}.num_render_vertices`, 3, MAX_VERTICES);
    if (r < v) this.fail(`${path}.num_render_vertices`, `is ${r}, fewer than num_vertices ${v}`);
    const f = this.int(obj.get("num_triangles"), `${path}.num_triangles`, 1, MAX_VERTICES);
    return { num_vertices: v, num_render_vertices: r, num_triangles: f };
  }

  featureMap(value, path) {
    const obj = this.obj(value, path, ["channels", "height", "width"]);
    const c = this.int(obj.get("channels"), `${path}.channels`, 4, MAX_FEATURE_CHANNELS);
    if (c % 4) this.fail(`${path}.channels`, `is ${c}, not a multiple of 4`);
    const h = this.int(obj.get("height"), `${path}.height`, 1, MAX_FEATURE_SIZE);
    const w = this.int(obj.get("width"), `${path}.width`, 1, MAX_FEATURE_SIZE);
    return { channels: c, height: h, width: w };
  }

  pixelMlp(value, path) {
    const obj = this.obj(value, path, ["hidden", "activation", "uv_frequencies"]);
    const hidden = this.list(obj.get("hidden"), `${path}.hidden`, 0, MAX_HIDDEN_LAYERS);
    const widths = hidden.map((h, i) => this.int(h, `${path}.hidden[${i}]`, 1, MAX_HIDDEN_WIDTH));
    const activation = obj.get("activation");
    if (!ACTIVATIONS.includes(activation)) {
      this.fail(`${path}.activation`, `is ${reprValue(activation)}, not one of ${ACTIVATIONS.join(", ")}`);
    }
    const freqs = this.int(obj.get("uv_frequencies"), `${path}.uv_frequencies`, 0, MAX_UV_FREQUENCIES);
    return { hidden: widths, activation, uv_frequencies: freqs };
  }

  members(value, path, version) {
    if (!(value instanceof Map)) this.fail(path, `must be an object, got ${kind(value)}`);
    const out = {};
    for (const [name, digest] of value) {
      const p = `${path}[${pyRepr(codePoints(name).slice(0, 80).join(""))}]`;
      if (!isKnownMemberName(name, version)) {
        const extra = version >= 2 ? `, ${QUANT_TABLE_MEMBER}` : `; ${QUANT_TABLE_MEMBER} needs format v2`;
        this.fail(p, `is not a v${version} member path (decoder.onnx, mesh.npz, pixel_mlp.npz, encoders/NAME.onnx${extra})`);
      }
      if (typeof digest !== "string" || !SHA256_RE.test(digest)) this.fail(p, "must be a lower-case hex sha256 (64 characters)");
      out[name] = digest;
    }
    for (const name of REQUIRED_MEMBERS) {
      if (!(name in out)) this.fail(`${path}[${pyRepr(name)}]`, "is missing; every package declares its decoder, mesh and MLP");
    }
    return out;
  }
}

/** Python's default string order (by code point). */
function pyCompare(a, b) {
  const x = codePoints(a).map((c) => c.codePointAt(0));
  const y = codePoints(b).map((c) => c.codePointAt(0));
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}
export { pyCompare };

/** True for the member paths format `version` allows besides avatar.json. */
export function isKnownMemberName(name, version) {
  if (name === QUANT_TABLE_MEMBER) return version >= 2;
  return REQUIRED_MEMBERS.includes(name) || ENCODER_MEMBER_RE.test(name);
}

/** Parse and check avatar.json bytes (codecav.assets.manifest.parse_manifest); AvatarRefused otherwise. */
export function parseManifest(data, source) {
  const tooBig = (problem, reason) => refuse(source, MANIFEST_MEMBER, problem,
    `re-export the avatar (provenance is meant to be small and shallow: at most ${MAX_MANIFEST_DEPTH} levels, ${MAX_MANIFEST_BYTES} bytes)`,
    reason);
  const invalid = (detail) => refuse(source, MANIFEST_MEMBER, `is not valid UTF-8 JSON: it ${detail}`,
    "re-export the avatar or fix the JSON syntax", "manifest_invalid");
  if (data.length > MAX_MANIFEST_BYTES) tooBig(`is ${data.length} bytes, over the limit of ${MAX_MANIFEST_BYTES}`, "manifest_too_large");
  let text;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(data);
  } catch {
    invalid("is not UTF-8");
  }
  const depth = jsonDepth(text);
  if (depth > MAX_MANIFEST_DEPTH) tooBig(`nests ${depth} levels deep, over the limit of ${MAX_MANIFEST_DEPTH}`, "manifest_too_deep");
  let obj;
  try {
    obj = parseJson(text);
  } catch (err) {
    if (!(err instanceof JsonError)) throw err;
    invalid(`is not valid JSON (${err.message})`);
  }
  return new Checker(source).manifest(obj);
}
