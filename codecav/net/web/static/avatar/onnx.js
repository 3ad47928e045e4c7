/**
 * Static checks of a package's ONNX members that need no shape inference, as codecav.assets.onnx_checks and
 * codecav.assets.graph_bounds make them, with the same messages: protobuf parse, standard operator domains, no
 * external data, finite initializers, the decoder's input/output names, types and shapes against the manifest,
 * node count, no local functions, the operator allowlist and no subgraphs. Not done here (codecav does them with
 * the onnx package): onnx.checker and the shape pass bounding tensor sizes and multiply-adds; the trial run in
 * decoder.js (one decode, timed, outputs checked) stands in for them.
 */

import { ALLOWED_OPS as ALLOWED_OP_NAMES } from "/generated/constants.js";
import { pyRepr, refuse } from "./refusal.js";

const FIX = "re-export the avatar";
const MAX_NODES = 5000;
const STANDARD_DOMAINS = ["", "ai.onnx"];
export const DECODER_INPUT_NAMES = ["latent", "view_dir"];
export const DECODER_OUTPUT_NAMES = ["geometry", "features"];

/** codecav.assets.graph_bounds.ALLOWED_OPS, served from it (codecav.net.web.constants). */
export const ALLOWED_OPS = new Set(ALLOWED_OP_NAMES);

const DATA_TYPES = ["UNDEFINED", "FLOAT", "UINT8", "INT8", "UINT16", "INT16", "INT32", "INT64", "STRING", "BOOL",
  "FLOAT16", "DOUBLE", "UINT32", "UINT64", "COMPLEX64", "COMPLEX128", "BFLOAT16", "FLOAT8E4M3FN", "FLOAT8E4M3FNUZ",
  "FLOAT8E5M2", "FLOAT8E5M2FNUZ", "UINT4", "INT4", "FLOAT4E2M1", "FLOAT8E8M0", "UINT2", "INT2"];

class DecodeError extends Error {}

/** One protobuf message: field number -> list of values (numbers for varints, subarrays for bytes). */
function parseMessage(bytes) {
  const fields = new Map();
  let i = 0;
  const varint = () => {
    let result = 0;
    let scale = 1;
    for (let k = 0; k < 10; k++) {
      if (i >= bytes.length) throw new DecodeError("truncated varint");
      const b = bytes[i++];
      result += (b & 0x7f) * scale;
      if (!(b & 0x80)) return result;
      scale *= 128;
    }
    throw new DecodeError("varint too long");
  };
  while (i < bytes.length) {
    const key = varint();
    const field = Math.floor(key / 8);
    const wire = key % 8;
    let value;
    if (field === 0) throw new DecodeError("field number 0");
    if (wire === 0) value = varint();
    else if (wire === 1) { if (i + 8 > bytes.length) throw new DecodeError("truncated"); value = bytes.subarray(i, i + 8); i += 8; }
    else if (wire === 5) { if (i + 4 > bytes.length) throw new DecodeError("truncated"); value = bytes.subarray(i, i + 4); i += 4; }
    else if (wire === 2) {
      const n = varint();
      if (i + n > bytes.length) throw new DecodeError("truncated");
      value = bytes.subarray(i, i + n);
      i += n;
    } else throw new DecodeError(`wire type ${wire}`);
    if (!fields.has(field)) fields.set(field, []);
    fields.get(field).push({ wire, value });
  }
  return fields;
}

const text = (v) => new TextDecoder().decode(v);
const all = (m, f) => (m.get(f) ?? []).map((x) => x.value);
const last = (m, f) => { const v = m.get(f); return v ? v[v.length - 1].value : undefined; };
const str = (m, f) => { const v = last(m, f); return v === undefined ? "" : text(v); };
const int = (m, f) => last(m, f) ?? 0;
const sub = (m, f) => all(m, f).map(parseMessage);

function parseTensor(bytes) {
  const m = parseMessage(bytes);
  return { name: str(m, 8), dataType: int(m, 2), dims: all(m, 1), raw: last(m, 9), fields: m,
    external: int(m, 14) === 1 || (m.get(13) ?? []).length > 0 };
}

function parseGraph(bytes) {
  const m = parseMessage(bytes);
  const nodes = sub(m, 1).map((n) => ({
    name: str(n, 3), opType: str(n, 4), domain: str(n, 7),
    attributes: sub(n, 5).map((a) => ({ name: str(a, 1), t: a.has(5) ? parseTensor(last(a, 5)) : null,
      tensors: all(a, 10).map(parseTensor), g: a.has(6) ? parseGraph(last(a, 6)) : null, graphs: all(a, 11).map(parseGraph) })),
  }));
  const valueInfo = (v) => {
    const type = v.has(2) ? parseMessage(last(v, 2)) : new Map();
    const tensor = type.has(1) ? parseMessage(last(type, 1)) : new Map();
    const shape = tensor.has(2) ? parseMessage(last(tensor, 2)) : new Map();
    const dims = sub(shape, 1).map((d) => (d.has(1) ? int(d, 1) : d.has(2) ? str(d, 2) : null));
    return { name: str(v, 1), elemType: int(tensor, 1), dims };
  };
  return {
    nodes,
    initializers: all(m, 5).map(parseTensor),
    sparse: sub(m, 15).map((s) => (s.has(1) ? parseTensor(last(s, 1)) : { name: "", dataType: 0, dims: [], fields: new Map() })),
    inputs: sub(m, 11).map(valueInfo),
    outputs: sub(m, 12).map(valueInfo),
  };
}

function* tensorsOf(graph) {
  for (const init of graph.initializers) yield [init.name || "<unnamed>", init];
  for (const values of graph.sparse) yield [values.name || "<sparse>", values];
  for (const node of graph.nodes) {
    for (const attr of node.attributes) {
      const label = `${node.name || node.opType}.${attr.name}`;
      if (attr.t) yield [label, attr.t];
      for (const t of attr.tensors) yield [label, t];
      if (attr.g) yield* tensorsOf(attr.g);
      for (const g of attr.graphs) yield* tensorsOf(g);
    }
  }
}

/** Number of NaN/inf values of a floating-point tensor (0 for other types). */
function nonFinite(t) {
  let bad = 0;
  const count = (arr) => { for (let i = 0; i < arr.length; i++) if (!Number.isFinite(arr[i])) bad++; };
  const halves = (u16, mask) => { for (let i = 0; i < u16.length; i++) if ((u16[i] & mask) === mask) bad++; };
  const aligned = (bytes, Ctor) => { const c = bytes.slice(); return new Ctor(c.buffer, 0, Math.floor(c.length / Ctor.BYTES_PER_ELEMENT)); };
  const packed = (field, Ctor, size) => {
    for (const { wire, value } of t.fields.get(field) ?? []) {
      if (wire === 2 || wire === (size === 8 ? 1 : 5)) count(aligned(value, Ctor));
    }
  };
  if (t.dataType === 1 || t.dataType === 14) { if (t.raw) count(aligned(t.raw, Float32Array)); packed(4, Float32Array, 4); }
  else if (t.dataType === 11 || t.dataType === 15) { if (t.raw) count(aligned(t.raw, Float64Array)); packed(10, Float64Array, 8); }
  else if (t.dataType === 10 || t.dataType === 16) {
    const mask = t.dataType === 10 ? 0x7c00 : 0x7f80;
    if (t.raw) halves(aligned(t.raw, Uint16Array), mask);
  }
  return bad;
}

/** codecav.assets.onnx_checks.parse_model without onnx.checker. */
function parseModel(data, source, member) {
  let model;
  try {
    const m = parseMessage(data);
    model = { opsets: sub(m, 8).map((o) => ({ domain: str(o, 1), version: int(o, 2) })),
      graph: m.has(7) ? parseGraph(last(m, 7)) : parseGraph(new Uint8Array(0)), functions: all(m, 25).length };
  } catch (err) {
    if (!(err instanceof DecodeError)) throw err;
    refuse(source, member, "is not an ONNX model (DecodeError)", FIX, "invalid_member");
  }
  for (const opset of model.opsets) {
    if (!STANDARD_DOMAINS.includes(opset.domain)) {
      refuse(source, member, `imports the custom operator domain ${pyRepr(opset.domain)}`, `${FIX} with standard ONNX operators only`,
        "invalid_member");
    }
  }
  const tensors = Array.from(tensorsOf(model.graph));
  for (const [name, t] of tensors) {
    if (t.external) refuse(source, member, `tensor ${name} refers to external data`, `${FIX} with weights embedded in the .onnx file`, "invalid_member");
  }
  for (const [name, t] of tensors) {
    const bad = nonFinite(t);
    if (bad) refuse(source, member, `initializer ${name} holds ${bad} NaN/inf value(s)`, `${FIX} from a checkpoint without NaN/inf`, "non_finite");
  }
  return model;
}

const pyShown = (dims) => `[${dims.map((d) => (d === null ? "'?'" : typeof d === "string" ? pyRepr(d) : String(d))).join(", ")}]`;

/** codecav.assets.onnx_checks.check_decoder_io. */
function checkDecoderIo(model, manifest, source, member) {
  const fm = manifest.feature_map;
  const expected = { latent: [1, manifest.latent.dim], view_dir: [1, 3], geometry: [1, manifest.mesh.num_vertices, 3],
    features: [1, fm.channels, fm.height, fm.width] };
  const initializers = new Set(model.graph.initializers.map((i) => i.name));
  const inputs = new Map(model.graph.inputs.filter((v) => !initializers.has(v.name)).map((v) => [v.name, v]));
  const outputs = new Map(model.graph.outputs.map((v) => [v.name, v]));
  for (const [kind, names, have] of [["inputs", DECODER_INPUT_NAMES, inputs], ["outputs", DECODER_OUTPUT_NAMES, outputs]]) {
    const keys = Array.from(have.keys());
    if (keys.length !== names.length || !names.every((n) => have.has(n))) {
      const sorted = keys.slice().sort();
      refuse(source, member, `has ${kind} [${sorted.map(pyRepr).join(", ")}], expected [${names.map(pyRepr).join(", ")}]`,
        `${FIX} with the decoder interface (docs/avatar-format.md)`, "tensor_shape");
    }
  }
  for (const [name, value] of [...inputs, ...outputs]) {
    const want = expected[name];
    if (value.elemType !== 1) {
      const typeName = DATA_TYPES[value.elemType] ?? String(value.elemType);
      refuse(source, member, `${name} is ${typeName}, expected FLOAT (float32)`, FIX, "tensor_shape");
    }
    const shown = pyShown(value.dims);
    if (value.dims.length !== want.length) {
      refuse(source, member, `${name} has shape ${shown}, expected [${want.join(", ")}] (rank ${want.length})`,
        `${FIX} so its I/O matches avatar.json`, "tensor_shape");
    }
    const batchOk = value.dims[0] === 1 || value.dims[0] === null || typeof value.dims[0] === "string";
    const restOk = value.dims.slice(1).every((d, k) => typeof d !== "number" || d === want[k + 1]);
    if (!(batchOk && restOk)) {
      refuse(source, member, `${name} has shape ${shown}, avatar.json says [${want.join(", ")}]`, `${FIX} so its I/O matches avatar.json`,
        "tensor_shape");
    }
  }
}

/** The checks of codecav.assets.graph_bounds that come before its shape pass. */
function checkBounds(model, source, member) {
  const refuseModel = (problem, fix, reason) => refuse(source, member, problem, fix, reason);
  const nodes = model.graph.nodes;
  if (nodes.length > MAX_NODES) refuseModel(`has ${nodes.length} nodes, over the limit of ${MAX_NODES}`, `${FIX} with a smaller graph`, "model_too_many_nodes");
  if (model.functions) {
    refuseModel(`defines ${model.functions} local function(s)`, `${FIX} with standard operators only (inline the functions)`, "model_op_not_allowed");
  }
  for (const node of nodes) {
    if (!STANDARD_DOMAINS.includes(node.domain) || !ALLOWED_OPS.has(node.opType)) {
      const what = node.domain ? `${node.domain}::${node.opType}` : node.opType;
      const kind = ["Loop", "Scan", "If"].includes(node.opType) ? " (control flow: its work is not bounded by the input shapes)" : "";
      refuseModel(`uses operator ${what}${kind}, which package models may not use`, `${FIX} with the operators listed in docs/avatar-format.md`,
        "model_op_not_allowed");
    }
    for (const attr of node.attributes) {
      if (attr.g || attr.graphs.length) refuseModel(`node ${node.name || node.opType} holds a subgraph`, `${FIX} without subgraphs`, "model_op_not_allowed");
    }
  }
}

/** codecav.assets.onnx_checks.check_package_models, less the onnx checker and the shape pass. */
export function checkPackageModels(decoder, encoders, manifest, source) {
  const model = parseModel(decoder, source, "decoder.onnx");
  checkDecoderIo(model, manifest, source, "decoder.onnx");
  checkBounds(model, source, "decoder.onnx");
  for (const name of Object.keys(encoders).sort()) checkBounds(parseModel(encoders[name], source, name), source, name);
}
