/**
 * The checks of codecav.assets.loader._check on a package's raw members, in the same order and with the same
 * messages: manifest, missing and undeclared members, member sha256 (SubtleCrypto), mesh.npz, pixel_mlp.npz,
 * quant_table.npz, then the ONNX members' static checks (onnx.js).
 */

import { DECODER_MEMBER, MANIFEST_MEMBER, MESH_MEMBER, MLP_MEMBER, QUANT_TABLE_MEMBER, parseManifest, pyCompare }
  from "./manifest.js";
import { readNpz } from "./npz.js";
import { checkPackageModels } from "./onnx.js";
import { pyG, pyRepr, refuse } from "./refusal.js";
import { PACKAGE_LIMITS } from "./archive.js";

const FIX_EXPORT = "re-export the avatar";
const MIN_QUANT_STEP = 2 ** -20;
const MAX_QUANT_ABS = 65504;

async function sha256Hex(bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

const pyList = (names) => `[${names.map(pyRepr).join(", ")}]`;

function shapeError(source, member, problem) {
  refuse(source, member, problem, `${FIX_EXPORT} so its arrays match avatar.json`, "tensor_shape");
}

function expectNames(arrays, names, source, member) {
  const have = Array.from(arrays.keys()).sort(pyCompare);
  const missing = names.filter((n) => !arrays.has(n));
  const extra = have.filter((n) => !names.includes(n));
  if (missing.length || extra.length) {
    shapeError(source, member, `has arrays ${pyList(have)}, expected ${pyList(names)}`
      + (missing.length ? ` (missing ${pyList(missing)})` : "") + (extra.length ? ` (unexpected ${pyList(extra)})` : ""));
  }
}

function expect(arrays, name, dtype, shape, source, member) {
  const a = arrays.get(name);
  if (a.dtype !== dtype || a.shape.length !== shape.length || a.shape.some((d, i) => d !== shape[i])) {
    shapeError(source, member, `array ${name} is ${a.dtype} [${a.shape.join(", ")}], expected ${dtype} [${shape.join(", ")}]`);
  }
  return a.data;
}

function expectFinite(data, name, source, member) {
  let bad = 0;
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) bad++;
  if (bad) {
    refuse(source, member, `array ${name} holds ${bad} NaN/inf value(s)`, `${FIX_EXPORT} from a checkpoint without NaN/inf`,
      "non_finite");
  }
}

function range(data) {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < data.length; i++) { if (data[i] < lo) lo = data[i]; if (data[i] > hi) hi = data[i]; }
  return [lo, hi];
}

/** codecav.assets.tensors.check_mesh. */
function checkMesh(arrays, manifest, source) {
  const info = manifest.mesh;
  const member = MESH_MEMBER;
  expectNames(arrays, ["faces", "uv", "vertex_index"], source, member);
  const faces = expect(arrays, "faces", "int32", [info.num_triangles, 3], source, member);
  const uv = expect(arrays, "uv", "float32", [info.num_render_vertices, 2], source, member);
  const vertexIndex = expect(arrays, "vertex_index", "int32", [info.num_render_vertices], source, member);
  expectFinite(uv, "uv", source, member);
  const [f0, f1] = range(faces);
  if (f0 < 0 || f1 >= info.num_render_vertices) {
    shapeError(source, member, `array faces has indices ${f0}..${f1}, outside 0..${info.num_render_vertices - 1} (render vertices)`);
  }
  const [v0, v1] = range(vertexIndex);
  if (v0 < 0 || v1 >= info.num_vertices) {
    shapeError(source, member, `array vertex_index has indices ${v0}..${v1}, outside 0..${info.num_vertices - 1}`);
  }
  return { faces: new Uint32Array(faces.buffer, faces.byteOffset, faces.length), uv, vertexIndex };
}

/** codecav.assets.tensors.check_pixel_mlp. */
function checkPixelMlp(arrays, manifest, source) {
  const info = manifest.pixel_mlp;
  const member = MLP_MEMBER;
  const sizes = [manifest.feature_map.channels + 3 + 4 * info.uv_frequencies, ...info.hidden, 3];
  const layers = sizes.length - 1;
  const names = [];
  for (let i = 0; i < layers; i++) names.push(`w${i}`, `b${i}`);
  expectNames(arrays, names, source, member);
  const weights = [];
  const biases = [];
  for (let i = 0; i < layers; i++) {
    const w = expect(arrays, `w${i}`, "float32", [sizes[i + 1], sizes[i]], source, member);
    const b = expect(arrays, `b${i}`, "float32", [sizes[i + 1]], source, member);
    expectFinite(w, `w${i}`, source, member);
    expectFinite(b, `b${i}`, source, member);
    weights.push({ rows: sizes[i + 1], cols: sizes[i], data: w });
    biases.push(b);
  }
  return { weights, biases, activation: info.activation, uvFrequencies: info.uv_frequencies };
}

/** codecav.assets.tensors.check_quant_table. */
function checkQuantTable(arrays, manifest, source) {
  const member = QUANT_TABLE_MEMBER;
  const dim = manifest.latent.dim;
  expectNames(arrays, ["center", "step"], source, member);
  const step = expect(arrays, "step", "float32", [dim], source, member);
  const center = expect(arrays, "center", "float32", [dim], source, member);
  expectFinite(step, "step", source, member);
  expectFinite(center, "center", source, member);
  const [s0, s1] = range(step);
  if (s0 < MIN_QUANT_STEP || s1 > MAX_QUANT_ABS) {
    shapeError(source, member, `array step has entries outside [${pyG(MIN_QUANT_STEP)}, ${pyG(MAX_QUANT_ABS)}] (min ${pyG(s0)}, max ${pyG(s1)})`);
  }
  if (center.some((c) => Math.abs(c) > MAX_QUANT_ABS)) shapeError(source, member, `array center has entries beyond +-${MAX_QUANT_ABS}`);
  return { step, center };
}

/** Check raw members (Map name -> bytes) as codecav's loader does; the package, or AvatarRefused. */
export async function checkPackage(raw, source, limits = PACKAGE_LIMITS) {
  if (!raw.has(MANIFEST_MEMBER)) {
    refuse(source, null, `has no ${MANIFEST_MEMBER}`, "point at an avatar package (a directory or .cavatar holding avatar.json)",
      "not_a_package");
  }
  const manifest = parseManifest(raw.get(MANIFEST_MEMBER), source);
  const present = new Set(Array.from(raw.keys()).filter((n) => n !== MANIFEST_MEMBER));
  const declared = Object.keys(manifest.members);
  const missing = declared.filter((n) => !present.has(n)).sort(pyCompare);
  if (missing.length) {
    const more = missing.length > 1 ? ` (and ${missing.length - 1} more)` : "";
    refuse(source, missing[0], `is declared in avatar.json but absent${more}`, "restore the file or re-export the avatar",
      "missing_member");
  }
  const undeclared = Array.from(present).filter((n) => !(n in manifest.members)).sort(pyCompare);
  if (undeclared.length) {
    refuse(source, undeclared[0], "is in the package but not declared in avatar.json", "remove the file or re-export the avatar",
      "undeclared_member");
  }
  for (const name of declared.slice().sort(pyCompare)) {
    const actual = await sha256Hex(raw.get(name));
    const want = manifest.members[name];
    if (actual !== want) {
      refuse(source, name, `sha256 mismatch (manifest ${want.slice(0, 12)}..., file ${actual.slice(0, 12)}...)`,
        "re-export the avatar or restore the file", "hash_mismatch");
    }
  }
  const maxBytes = limits.maxMemberBytes;
  const mesh = checkMesh(await readNpz(raw.get(MESH_MEMBER), source, MESH_MEMBER, maxBytes), manifest, source);
  const pixelMlp = checkPixelMlp(await readNpz(raw.get(MLP_MEMBER), source, MLP_MEMBER, maxBytes), manifest, source);
  let quantTable = null;
  if (QUANT_TABLE_MEMBER in manifest.members) {
    quantTable = checkQuantTable(await readNpz(raw.get(QUANT_TABLE_MEMBER), source, QUANT_TABLE_MEMBER, maxBytes), manifest, source);
  }
  const encodersOnnx = {};
  for (const name of declared.slice().sort(pyCompare)) if (name.startsWith("encoders/")) encodersOnnx[name] = raw.get(name);
  checkPackageModels(raw.get(DECODER_MEMBER), encodersOnnx, manifest, source);
  return { manifest, mesh, pixelMlp, quantTable, decoderOnnx: raw.get(DECODER_MEMBER), encodersOnnx, source };
}
