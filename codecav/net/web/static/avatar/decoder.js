/**
 * An avatar's neural decoder on onnxruntime-web (wasm backend, one thread unless told otherwise): loaded and run
 * once on a zero code seen from the front, its outputs checked as codecav.assets.verify.run_decoder_once does,
 * then decode(code, viewDir) per frame. The trial run cannot be held to CPU or memory limits here; its time is
 * reported (`trialMs`) and a session that fails to load or run is refused with codecav's reasons.
 */

import { refuse } from "./refusal.js";

const DEFAULT_ORT = new URL("../vendor/onnxruntime-web/ort.wasm.bundle.min.mjs", import.meta.url);
const ortModules = new Map();

/** The onnxruntime-web module at `url`, imported and configured once. */
async function loadOrt(url, wasmUrl, threads) {
  const key = String(url);
  if (!ortModules.has(key)) {
    ortModules.set(key, import(key).then((ort) => {
      ort.env.logLevel = "fatal";
      ort.env.wasm.numThreads = threads;
      ort.env.wasm.wasmPaths = { wasm: String(wasmUrl) };
      return ort;
    }));
  }
  return ortModules.get(key);
}

const oneLine = (err) => String(err?.message ?? err).split(/\s+/).filter(Boolean).join(" ").slice(0, 200);

/** Load and trial-run the decoder of a checked package; AvatarDecoder, or AvatarRefused. */
export async function createDecoder(pkg, source, options = {}) {
  const ortUrl = options.ortUrl ?? DEFAULT_ORT;
  const wasmUrl = options.wasmUrl ?? new URL("ort-wasm-simd-threaded.wasm", ortUrl);
  const ort = await loadOrt(ortUrl, wasmUrl, options.threads ?? 1);
  const m = pkg.manifest;
  const start = performance.now();
  let session;
  try {
    session = await ort.InferenceSession.create(pkg.decoderOnnx, { executionProviders: ["wasm"], logSeverityLevel: 4 });
  } catch (err) {
    refuse(source, "decoder.onnx", `fails to run on onnxruntime (${oneLine(err)})`, "re-export the avatar with standard opset operators",
      "trial_run_error");
  }
  const decoder = new AvatarDecoder(ort, session, m, source);
  const frame = await decoder.decode(new Float32Array(m.latent.dim), [0, 0, 1], true);
  decoder.trialMs = performance.now() - start;
  const fm = m.feature_map;
  const want = { geometry: m.mesh.num_vertices * 3, features: fm.channels * fm.height * fm.width };
  for (const name of ["geometry", "features"]) {
    const data = frame[name];
    for (let i = 0; i < data.length; i++) {
      if (!Number.isFinite(data[i])) {
        refuse(source, "decoder.onnx", `output ${name} holds NaN/inf for a zero code`,
          "re-export the avatar from a checkpoint that decodes finite values", "non_finite");
      }
    }
    if (data.length !== want[name]) throw new Error("unreachable: decode() checks shapes");
  }
  return decoder;
}

/** One onnxruntime-web session, reused every frame. */
export class AvatarDecoder {
  constructor(ort, session, manifest, source) {
    this._ort = ort;
    this._session = session;
    this._manifest = manifest;
    this._source = source;
    this.trialMs = 0;
  }

  /** { geometry: Float32Array V*3, features: Float32Array C*H*W, ms }; AvatarRefused "decode_failed". */
  async decode(code, viewDir, trial = false) {
    const m = this._manifest;
    const fm = m.feature_map;
    if (code.length !== m.latent.dim) {
      throw new RangeError(`latent code has ${code.length} entries, the avatar takes ${m.latent.dim}; send its full code`);
    }
    const feeds = {
      latent: new this._ort.Tensor("float32", Float32Array.from(code), [1, m.latent.dim]),
      view_dir: new this._ort.Tensor("float32", Float32Array.from(viewDir), [1, 3]),
    };
    const start = performance.now();
    let out;
    try {
      out = await this._session.run(feeds, ["geometry", "features"]);
    } catch (err) {
      if (trial) {
        refuse(this._source, "decoder.onnx", `fails to run on onnxruntime (${oneLine(err)})`,
          "re-export the avatar with standard opset operators", "trial_run_error");
      }
      refuse(this._source, "decoder.onnx", `failed on this frame (${oneLine(err)})`, "re-export it", "decode_failed");
    }
    const ms = performance.now() - start;
    const want = { geometry: [1, m.mesh.num_vertices, 3], features: [1, fm.channels, fm.height, fm.width] };
    for (const name of ["geometry", "features"]) {
      const t = out[name];
      if (t.type !== "float32" || t.dims.length !== want[name].length || t.dims.some((d, i) => d !== want[name][i])) {
        const type = t.type === "float32" ? "float32" : t.type;
        refuse(this._source, "decoder.onnx", `output ${name} came out ${type} [${t.dims.join(", ")}], expected float32 [${want[name].join(", ")}]`,
          "re-export the avatar", "tensor_shape");
      }
    }
    const frame = { geometry: out.geometry.data, features: out.features.data, ms };
    for (const t of Object.values(out)) t.dispose?.();
    return frame;
  }

  /** Free the session. */
  async release() {
    await this._session?.release();
    this._session = null;
  }
}
