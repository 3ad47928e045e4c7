/**
 * .npz members as codecav.assets.tensors reads them: a zip of .npy files, at most 64 arrays and max_bytes declared,
 * each header checked (plain numeric dtype, no more data declared than the entry holds) before it is loaded.
 * Arrays come back as { dtype: "float32" | "int32" | ..., shape: [..], data: TypedArray in C order }.
 */

import { BadZip, centralDirectory, readMember } from "./archive.js";
import { pyRepr, refuse } from "./refusal.js";

const FIX_EXPORT = "re-export the avatar";
const MAX_NPZ_ARRAYS = 64;

const TYPES = {
  f4: ["float32", Float32Array], f8: ["float64", Float64Array], f2: ["float16", null],
  i1: ["int8", Int8Array], i2: ["int16", Int16Array], i4: ["int32", Int32Array], i8: ["int64", BigInt64Array],
  u1: ["uint8", Uint8Array], u2: ["uint16", Uint16Array], u4: ["uint32", Uint32Array], u8: ["uint64", BigUint64Array],
  b1: ["bool", Uint8Array],
};

class NpyError extends Error {}

/** Parse an .npy header: { descr, fortran, shape, dataStart }. */
function npyHeader(bytes) {
  const magic = String.fromCharCode(...bytes.subarray(0, 6));
  if (magic !== "\x93NUMPY") throw new NpyError("the magic string is not correct; expected b'\\x93NUMPY'");
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const long = major >= 2;
  const length = long ? view.getUint32(8, true) : view.getUint16(8, true);
  const start = long ? 12 : 10;
  const text = new TextDecoder("latin1").decode(bytes.subarray(start, start + length));
  const descr = /'descr':\s*'([^']*)'/.exec(text);
  const fortran = /'fortran_order':\s*(True|False)/.exec(text);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(text);
  if (!descr || !fortran || !shape) throw new NpyError(`Cannot parse header: ${pyRepr(text.trim())}`);
  const dims = shape[1].split(",").map((s) => s.trim()).filter(Boolean).map(Number);
  if (dims.some((d) => !Number.isInteger(d) || d < 0)) throw new NpyError(`Cannot parse header: ${pyRepr(text.trim())}`);
  return { descr: descr[1], fortran: fortran[1] === "True", shape: dims, dataStart: start + length };
}

function dtypeOf(descr) {
  const m = /^([<>|=])([a-zA-Z])(\d+)$/.exec(descr);
  if (!m) return { ok: false, str: descr };
  const key = `${m[2]}${m[3]}`;
  const known = TYPES[key];
  const kind = m[2];
  const ok = "biuf".includes(kind) && known !== undefined;
  const big = m[1] === ">" && m[3] !== "1";
  const name = !known ? descr : big ? `>${key}` : known[0];
  return { ok, kind, size: Number(m[3]), name, big, ctor: known?.[1] ?? null, str: descr };
}

/** C-order copy of a Fortran-order array of `shape`. */
function toCOrder(data, shape) {
  const out = new data.constructor(data.length);
  const n = shape.length;
  const idx = new Array(n).fill(0);
  for (let c = 0; c < data.length; c++) {
    let f = 0;
    let stride = 1;
    for (let k = 0; k < n; k++) { f += idx[k] * stride; stride *= shape[k]; }
    out[c] = data[f];
    for (let k = n - 1; k >= 0; k--) { if (++idx[k] < shape[k]) break; idx[k] = 0; }
  }
  return out;
}

function loadNpy(bytes, header, dtype) {
  const count = header.shape.reduce((a, b) => a * b, 1);
  const nbytes = count * dtype.size;
  if (header.dataStart + nbytes > bytes.length) {
    throw new NpyError(`cannot reshape array of size ${Math.floor((bytes.length - header.dataStart) / dtype.size)} into shape (${header.shape.join(", ")}${header.shape.length === 1 ? "," : ""})`);
  }
  let data;
  if (dtype.ctor === null || dtype.big) {
    data = bytes.slice(header.dataStart, header.dataStart + nbytes);  // kept raw: only used for a shape/dtype refusal
  } else {
    const copy = bytes.slice(header.dataStart, header.dataStart + nbytes);
    data = new dtype.ctor(copy.buffer, 0, count);
    if (header.fortran && header.shape.length > 1) data = toCOrder(data, header.shape);
  }
  return { dtype: dtype.name, shape: header.shape, data };
}

/** Arrays of an .npz member by name (codecav.assets.tensors.read_npz); AvatarRefused "invalid_member". */
export async function readNpz(data, source, member, maxBytes) {
  const invalid = (problem, fix = FIX_EXPORT) => refuse(source, member, problem, fix, "invalid_member");
  try {
    const { infos, view } = centralDirectory(data);
    const declared = infos.reduce((a, i) => a + i.fileSize, 0);
    if (declared > maxBytes) invalid(`unpacks to ${declared} bytes, over the limit of ${maxBytes}`, "use smaller arrays or raise max_member_bytes");
    if (infos.length > MAX_NPZ_ARRAYS) invalid(`holds ${infos.length} arrays, over the limit of ${MAX_NPZ_ARRAYS}`);
    const entries = [];
    for (const info of infos) {
      const bytes = await readMember(data, view, info, info.fileSize + 1);
      if (bytes.length !== info.fileSize) throw new NpyError(`Bad file size for ${pyRepr(info.filename)}`);
      const header = npyHeader(bytes);
      const dtype = dtypeOf(header.descr);
      const name = info.filename.endsWith(".npy") ? info.filename.slice(0, -4) : info.filename;
      if (!dtype.ok) invalid(`array ${name} has dtype ${pyRepr(dtype.str)}`, `${FIX_EXPORT} with plain numeric arrays, without pickles`);
      const nbytes = header.shape.reduce((a, b) => a * b, 1) * dtype.size;
      if (nbytes > info.fileSize) invalid(`array ${name} declares shape [${header.shape.join(", ")}] (${nbytes} bytes) but holds ${info.fileSize} bytes`);
      entries.push([name, bytes, header, dtype]);
    }
    const arrays = new Map();
    for (const [name, bytes, header, dtype] of entries) arrays.set(name, loadNpy(bytes, header, dtype));
    return arrays;
  } catch (err) {
    if (!(err instanceof BadZip || err instanceof NpyError)) throw err;
    invalid(`is not a readable .npz without pickles (${err.message})`);
  }
}
