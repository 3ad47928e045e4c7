/**
 * The webcam driver's per-frame work after the landmarker, as codecav does it in Python, and the avatar's
 * expression encoder on onnxruntime-web.
 *
 * Mirrors (same constants, same order of operations):
 *   codecav/arkit.py                        ARKIT_52 (served from it: /generated/constants.js)
 *   codecav/encoders/webcam/mapping.py      arkitFromBlendshapes, headPoseFromTransform, headAngles, ConfidenceModel
 *   codecav/encoders/webcam/filter.py       OneEuroFilter
 *   codecav/encoders/webcam/calibration.py  NeutralCalibrator (median of the first 30 tracked frames, capped at 0.9)
 *   codecav/encoders/webcam/tracker.py      FaceTracker.update (calibrate, smooth eyes/face/pose apart, score)
 *   codecav/encoders/gaze.py                weightsToGaze
 *   codecav/encoders/fusion.py              fuseWebcam (one 'webcam' source: weights whose confidence < 0.05 drop to 0)
 *   codecav/encoders/latent_source.py       latentFrame (TRACKING_LOST below mean confidence 0.1, identity pose
 *                                           without a face, NO_GAZE without gaze)
 *   codecav/encoders/expression.py          ExpressionEncoder: encoders/expression.onnx, "arkit" [N, 52] -> "code" [N, D]
 *
 * Matrices: MediaPipe's facial transformation matrix as a row-major 4x4 (m[r][c] = data[4 r + c]), centimetres,
 * canonical face -> camera (OpenGL camera axes); codecav's head space is the canonical face's up to units.
 */

import { ARKIT_52 } from "/generated/constants.js";
import { FLAGS } from "./wire.js";

export { ARKIT_52 };
export const ARKIT_INDEX = Object.fromEntries(ARKIT_52.map((n, i) => [n, i]));
const N = ARKIT_52.length;

export const CM_PER_M = 100.0;
export const MAX_NEUTRAL = 0.9;
const LEFT_IRIS = 473;
const RIGHT_IRIS = 468;
const SIDE = ARKIT_52.map((n) => (n.endsWith("Left") ? 1 : n.endsWith("Right") ? -1 : 0));
const KNOWN = ARKIT_52.map((n) => (n === "tongueOut" ? 0 : 1));
const EYE_CHANNEL = ARKIT_52.map((n) => n.startsWith("eye"));
const EYE_LOOK = Object.fromEntries(["Left", "Right"].map((s) => [s, ["In", "Out", "Up", "Down"].map((d) => ARKIT_INDEX[`eyeLook${d}${s}`])]));
const clip01 = (x) => Math.min(Math.max(x, 0), 1);

/** Float32Array(52) in ARKIT_52 order from MediaPipe's categories [{categoryName, score}] (`_neutral` dropped). */
export function arkitFromBlendshapes(categories) {
  const w = new Float32Array(N);
  for (const c of categories) {
    const i = ARKIT_INDEX[c.categoryName];
    if (i !== undefined) w[i] = c.score;
  }
  return w.map(clip01);
}

/** Unit quaternion [x, y, z, w] with w >= 0 of the 3x3 rotation in row-major m (Shepperd's method). */
export function rotationToQuaternion(m) {
  const r = (i, j) => m[4 * i + j];
  const trace = r(0, 0) + r(1, 1) + r(2, 2);
  let q;
  if (trace > 0) {
    const s = 2 * Math.sqrt(trace + 1);
    q = [(r(2, 1) - r(1, 2)) / s, (r(0, 2) - r(2, 0)) / s, (r(1, 0) - r(0, 1)) / s, 0.25 * s];
  } else if (r(0, 0) > r(1, 1) && r(0, 0) > r(2, 2)) {
    const s = 2 * Math.sqrt(1 + r(0, 0) - r(1, 1) - r(2, 2));
    q = [0.25 * s, (r(0, 1) + r(1, 0)) / s, (r(0, 2) + r(2, 0)) / s, (r(2, 1) - r(1, 2)) / s];
  } else if (r(1, 1) > r(2, 2)) {
    const s = 2 * Math.sqrt(1 + r(1, 1) - r(0, 0) - r(2, 2));
    q = [(r(0, 1) + r(1, 0)) / s, 0.25 * s, (r(1, 2) + r(2, 1)) / s, (r(0, 2) - r(2, 0)) / s];
  } else {
    const s = 2 * Math.sqrt(1 + r(2, 2) - r(0, 0) - r(1, 1));
    q = [(r(0, 2) + r(2, 0)) / s, (r(1, 2) + r(2, 1)) / s, 0.25 * s, (r(1, 0) - r(0, 1)) / s];
  }
  const n = Math.hypot(...q);
  const sign = q[3] >= 0 ? 1 : -1;
  return q.map((x) => (sign * x) / n);
}

/** {position (m, camera space), orientation [x, y, z, w]} of the row-major transform (cm). */
export function headPoseFromTransform(m) {
  return { position: [m[3] / CM_PER_M, m[7] / CM_PER_M, m[11] / CM_PER_M], orientation: rotationToQuaternion(m) };
}

/** [yaw, pitch] in degrees of the face's +z axis in camera space (mapping.head_angles). */
export function headAngles(m) {
  const f = [m[2], m[6], m[10]];
  const deg = 180 / Math.PI;
  return [Math.atan2(f[0], f[2]) * deg, Math.atan2(f[1], Math.hypot(f[0], f[2])) * deg];
}

function falloff(value, start, end) {
  const t = Math.min(Math.max((value - start) / (end - start), 0), 1);
  return 1 - t * t * (3 - 2 * t);
}

/** Per-weight confidence of a detected face (mapping.ConfidenceModel with its defaults). */
export function faceConfidence(transform, landmarks, [width, height], weights) {
  const dx = (landmarks[LEFT_IRIS].x - landmarks[RIGHT_IRIS].x) * width;
  const dy = (landmarks[LEFT_IRIS].y - landmarks[RIGHT_IRIS].y) * height;
  const size = 1 - falloff(Math.hypot(dx, dy), 8, 30);
  const [yaw, pitch] = headAngles(transform);
  const bySide = [falloff(-yaw, 25, 60), falloff(Math.abs(yaw), 40, 75), falloff(yaw, 25, 60)];
  const all = size * falloff(Math.abs(pitch), 30, 60);
  const conf = new Float32Array(N);
  for (let i = 0; i < N; i++) conf[i] = bySide[SIDE[i] + 1] * all * KNOWN[i];
  for (const [side, idx] of Object.entries(EYE_LOOK)) {
    for (const i of idx) conf[i] *= 1 - weights[ARKIT_INDEX[`eyeBlink${side}`]];
  }
  return conf.map(clip01);
}

/** One-Euro filters over `params.length` channels (filter.OneEuroFilter; d_cutoff 1 Hz). */
export class OneEuroFilter {
  constructor(params) {
    this.minCutoff = params.map((p) => p.minCutoff);
    this.beta = params.map((p) => p.beta);
    this.reset();
  }

  reset() {
    this.x = null;
    this.dx = new Float64Array(this.beta.length);
    this.t = 0;
  }

  filter(value, t) {
    if (this.x === null) {
      this.x = Float64Array.from(value);
      this.t = t;
      return Float64Array.from(this.x);
    }
    const dt = t - this.t;
    if (dt <= 0) return Float64Array.from(this.x);
    const alpha = (cutoff) => 1 / (1 + 1 / (2 * Math.PI * cutoff) / dt);
    const aD = alpha(1.0);
    for (let i = 0; i < this.x.length; i++) {
      this.dx[i] = aD * ((value[i] - this.x[i]) / dt) + (1 - aD) * this.dx[i];
      const a = alpha(this.minCutoff[i] + this.beta[i] * Math.abs(this.dx[i]));
      this.x[i] = a * value[i] + (1 - a) * this.x[i];
    }
    this.t = t;
    return Float64Array.from(this.x);
  }
}

const median = (values) => {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Gaze per eye (unit vectors, head space) from the eyeLook weights (gaze.weights_to_gaze). */
export function weightsToGaze(w) {
  const eyes = {};
  for (const side of ["Left", "Right"]) {
    const out = w[ARKIT_INDEX[`eyeLookOut${side}`]];
    const inward = w[ARKIT_INDEX[`eyeLookIn${side}`]];
    const h = side === "Left" ? out - inward : inward - out;
    const v = w[ARKIT_INDEX[`eyeLookUp${side}`]] - w[ARKIT_INDEX[`eyeLookDown${side}`]];
    const yaw = (h * 30 * Math.PI) / 180;
    const pitch = (v * 25 * Math.PI) / 180;
    eyes[side] = [Math.cos(pitch) * Math.sin(yaw), Math.sin(pitch), Math.cos(pitch) * Math.cos(yaw)].map(Math.fround);
  }
  return { left: eyes.Left, right: eyes.Right };
}

/**
 * tracker.WebcamTracker.update with TrackerConfig's defaults: observation {blendshapes: Float32Array(52) raw,
 * transform: row-major 16, landmarks: [{x, y, z}] (478), imageSize: [w, h]} or null (no face) ->
 * {weights, confidence, headPose | null, gaze | null, raw}.
 */
export class FaceTracker {
  constructor({ calibrationFrames = 30 } = {}) {
    const face = { minCutoff: 1.5, beta: 3.0 };
    const eye = { minCutoff: 4.0, beta: 10.0 };
    this.weightFilter = new OneEuroFilter(EYE_CHANNEL.map((e) => (e ? eye : face)));
    this.poseFilter = new OneEuroFilter(Array(7).fill({ minCutoff: 1.0, beta: 2.0 }));
    this.calibrationFrames = calibrationFrames;
    this.collected = calibrationFrames > 0 ? [] : null;
    this.neutral = null;
    this.held = new Float32Array(N);
    this.lastQuat = null;
  }

  update(obs, timeS) {
    if (!obs) {
      this.weightFilter.reset();
      this.poseFilter.reset();
      this.lastQuat = null;
      return { weights: Float32Array.from(this.held), confidence: new Float32Array(N), headPose: null, gaze: null, raw: null };
    }
    const raw = obs.blendshapes;
    const t = obs.transform;
    if (this.collected) {
      this.collected.push({ raw, position: [t[3] / CM_PER_M, t[7] / CM_PER_M, t[11] / CM_PER_M] });
      if (this.collected.length >= this.calibrationFrames) {
        const weights = new Float32Array(N).map((_, i) => Math.min(Math.max(median(this.collected.map((c) => c.raw[i])), 0), MAX_NEUTRAL));
        weights[ARKIT_INDEX.tongueOut] = 0;
        const headPosition = [0, 1, 2].map((k) => Math.fround(median(this.collected.map((c) => Math.fround(c.position[k])))));
        this.neutral = { weights, headPosition, frames: this.collected.length };
        this.collected = null;
      }
    }
    const calibrated = this.neutral ? raw.map((x, i) => clip01((x - this.neutral.weights[i]) / (1 - this.neutral.weights[i]))) : raw;
    const weights = Float32Array.from(this.weightFilter.filter(calibrated, timeS), clip01);
    this.held = weights;
    const pose = headPoseFromTransform(t);
    let quat = pose.orientation;
    if (this.lastQuat && quat.reduce((s, x, i) => s + x * this.lastQuat[i], 0) < 0) quat = quat.map((x) => -x);
    const smoothed = this.poseFilter.filter([...pose.position, ...quat], timeS);
    const qn = Math.max(Math.hypot(smoothed[3], smoothed[4], smoothed[5], smoothed[6]), 1e-9);
    quat = [3, 4, 5, 6].map((k) => smoothed[k] / qn);
    this.lastQuat = quat;
    const origin = this.neutral ? this.neutral.headPosition : [0, 0, 0];
    const headPose = { position: [0, 1, 2].map((k) => Math.fround(smoothed[k] - origin[k])), orientation: quat.map(Math.fround) };
    const confidence = faceConfidence(t, obs.landmarks, obs.imageSize, weights);
    return { weights, confidence, headPose, gaze: weightsToGaze(weights), raw, transform: t };
  }
}

/** fusion.fuse of one 'webcam' sample: {weights fed to the encoder, confidence} (confidence < 0.05 -> 0). */
export function fuseWebcam(sample) {
  const confidence = sample.confidence.map((c) => (c >= 0.05 ? c : 0));
  const weights = sample.weights.map((w, i) => (confidence[i] > 0 ? clip01(w) : 0));
  return { weights, confidence };
}

/** The flags latent_source gives a fused sample: TRACKING_LOST below mean confidence 0.1, NO_GAZE without gaze. */
export function frameFlags(confidence, gaze) {
  const mean = confidence.reduce((s, c) => s + c, 0) / confidence.length;
  return (mean < 0.1 ? FLAGS.TRACKING_LOST : 0) | (gaze ? 0 : FLAGS.NO_GAZE);
}

/** An avatar's encoders/expression.onnx on onnxruntime-web (wasm, one thread): ARKit-52 -> latent code. */
export class ExpressionEncoder {
  static async create(modelBytes, dim, ortUrl = new URL("../vendor/onnxruntime-web/ort.wasm.bundle.min.mjs", import.meta.url)) {
    const ort = await import(String(ortUrl));
    ort.env.logLevel = "fatal";
    ort.env.wasm.numThreads = 1;
    ort.env.wasm.wasmPaths = { wasm: String(new URL("ort-wasm-simd-threaded.wasm", ortUrl)) };
    const session = await ort.InferenceSession.create(modelBytes, { executionProviders: ["wasm"], logSeverityLevel: 4 });
    if (!session.inputNames.includes("arkit") || !session.outputNames.includes("code")) {
      throw new Error(`encoders/expression.onnx has inputs ${session.inputNames} and outputs ${session.outputNames}; codecav needs "arkit" -> "code"`);
    }
    return new ExpressionEncoder(ort, session, dim);
  }

  constructor(ort, session, dim) {
    this.ort = ort;
    this.session = session;
    this.dim = dim;
  }

  /** Float32Array(dim) for weights Float32Array(52); Error if the model's output is not [1, dim]. */
  async encode(weights) {
    const out = await this.session.run({ arkit: new this.ort.Tensor("float32", Float32Array.from(weights), [1, N]) }, ["code"]);
    const code = out.code;
    if (code.data.length !== this.dim) throw new Error(`the expression encoder gives ${code.data.length} values; the avatar's code has ${this.dim}`);
    return Float32Array.from(code.data);
  }

  release() {
    this.session.release?.();
  }
}
