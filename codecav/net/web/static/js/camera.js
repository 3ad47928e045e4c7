/**
 * This participant's latent frames from the browser's camera: getUserMedia -> MediaPipe FaceLandmarker
 * (@mediapipe/tasks-vision, wasm and model served by codecav: /vendor/tasks-vision/, /models/face_landmarker.task)
 * -> the webcam driver's per-frame work (face.js, as codecav's Python driver) -> the avatar's expression encoder
 * (encoders/expression.onnx of our own package, onnxruntime-web) -> one latent frame per tracked camera frame,
 * stamped with the frame's capture time.
 *
 *   const camera = await CameraSource.open({ own, fps, log });   // Error with a one-line reason when it cannot
 *   camera.start((frame) => call.send(frame));  ...  camera.stop();
 *   camera.stats   {frames, tracked, noFace, trackMs, encodeMs: last ms, width, height, calibrated}
 *   camera.history(n)   the last n sent frames' records {sequence, tag, captureTimeUs, flags, raw (MediaPipe's
 *                       ARKit-52 scores), transform (row-major 4x4, cm), weights (fed to the encoder), code, pose}
 *   camera.onCanvas = (ctx, width, height) => value   optional; its value is kept as the record's `tag`
 *                                                      (tests read a frame index drawn into the picture)
 *
 * Without a face the frame carries the held code of zero weights as codecav does (TRACKING_LOST, NO_GAZE,
 * identity pose); after 250 ms without camera frames the same goes out at `fps` (the camera stalled).
 */

import { unzipSync } from "../vendor/fflate/browser.js";
import { nowUs } from "./clock.js";
import { ExpressionEncoder, FaceTracker, arkitFromBlendshapes, frameFlags, fuseWebcam } from "./face.js";

const VISION = new URL("../vendor/tasks-vision/vision_bundle.mjs", import.meta.url);
const WASM_BASE = new URL("../vendor/tasks-vision/wasm", import.meta.url);
const MODEL_URL = "/models/face_landmarker.task";
const EXPRESSION_MEMBER = "encoders/expression.onnx";
const MAX_AGE_MS = 250;
const HISTORY = 600;
const IDENTITY = { position: [0, 0, 0], orientation: [0, 0, 0, 1] };

const oneLine = (e) => String(e?.message ?? e).split(/\s+/).filter(Boolean).join(" ").slice(0, 200);

/** The expression encoder's bytes from our own .cavatar; Error naming what is missing. */
function expressionModel(own) {
  const files = unzipSync(own.bytes, { filter: (f) => f.name === EXPRESSION_MEMBER });
  if (!files[EXPRESSION_MEMBER]) throw new Error(`avatar ${own.avatarId} has no ${EXPRESSION_MEMBER}, so the camera cannot drive it`);
  return files[EXPRESSION_MEMBER];
}

async function openVideo() {
  if (!navigator.mediaDevices?.getUserMedia) throw new Error("this browser gives pages no camera (getUserMedia; HTTPS needed off localhost)");
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
  } catch (e) {
    throw new Error(`no camera (${e.name}: ${oneLine(e)})`);
  }
  const video = document.createElement("video");
  video.muted = true;
  video.playsInline = true;
  video.srcObject = stream;
  await video.play();
  if (!video.videoWidth) await new Promise((resolve) => video.addEventListener("loadedmetadata", resolve, { once: true }));
  return { stream, video };
}

async function openLandmarker() {
  const vision = await import(String(VISION));
  const fileset = await vision.FilesetResolver.forVisionTasks(String(WASM_BASE));
  const response = await fetch(MODEL_URL);
  if (!response.ok) throw new Error(`the face model is not served (${MODEL_URL}: HTTP ${response.status}; pip install codecav[webcam] on the server)`);
  const model = new Uint8Array(await response.arrayBuffer());
  return vision.FaceLandmarker.createFromOptions(fileset, {
    baseOptions: { modelAssetBuffer: model, delegate: "CPU" },
    runningMode: "VIDEO", numFaces: 1,
    minFaceDetectionConfidence: 0.5, minFacePresenceConfidence: 0.5, minTrackingConfidence: 0.5,
    outputFaceBlendshapes: true, outputFacialTransformationMatrixes: true,
  });
}

/** MediaPipe's column-major 4x4 as row-major (face.js reads m[r][c] = m[4 r + c]). */
function rowMajor(data) {
  const m = new Array(16);
  for (let r = 0; r < 4; r++) for (let c = 0; c < 4; c++) m[4 * r + c] = data[4 * c + r];
  return m;
}

export class CameraSource {
  /** Camera, landmarker and encoder ready; Error with a one-line reason otherwise (nothing left open). */
  static async open({ own, fps = 30, log = () => {} }) {
    const model = expressionModel(own);
    const { stream, video } = await openVideo();
    try {
      const [landmarker, encoder] = await Promise.all([openLandmarker(), ExpressionEncoder.create(model, own.layout.dim)]);
      return new CameraSource({ stream, video, landmarker, encoder, fps, log });
    } catch (e) {
      stream.getTracks().forEach((t) => t.stop());
      throw new Error(`camera tracking cannot start (${oneLine(e)})`);
    }
  }

  constructor({ stream, video, landmarker, encoder, fps, log }) {
    Object.assign(this, { stream, video, landmarker, encoder, fps, log });
    this.tracker = new FaceTracker();
    this.canvas = document.createElement("canvas");
    this.canvas.width = video.videoWidth;
    this.canvas.height = video.videoHeight;
    this.ctx = this.canvas.getContext("2d", { willReadFrequently: true });
    this.onCanvas = null;
    this.lastMs = -1;
    this.lastFrameAt = performance.now();
    this.busy = false;
    this.running = false;
    this.records = [];
    this.heldCode = null;
    this.stats = { frames: 0, tracked: 0, noFace: 0, stalled: 0, trackMs: 0, encodeMs: 0, width: video.videoWidth, height: video.videoHeight, calibrated: false };
  }

  /** Start sending: `send(frame)` per tracked camera frame (and at `fps` while the camera stalls), numbered by
   * `nextSequence()` (shared with the source this one replaces). */
  start(send, nextSequence) {
    this.running = true;
    this.send = send;
    this.nextSequence = nextSequence;
    const onFrame = (now, meta) => {
      if (!this.running) return;
      this.video.requestVideoFrameCallback(onFrame);
      if (!this.busy) this.process(meta).catch((e) => this.log(`camera frame failed: ${oneLine(e)}`));
    };
    this.video.requestVideoFrameCallback(onFrame);
    this.watchdog = setInterval(() => this.checkStalled(), 1000 / this.fps);
  }

  async process(meta) {
    this.busy = true;
    try {
      const w = this.video.videoWidth;
      const h = this.video.videoHeight;
      if (this.canvas.width !== w || this.canvas.height !== h) Object.assign(this.canvas, { width: w, height: h });
      this.ctx.drawImage(this.video, 0, 0, w, h);
      const captureMs = meta?.captureTime ?? meta?.presentationTime ?? performance.now();
      const captureTimeUs = Math.floor((performance.timeOrigin + captureMs) * 1000);
      const tag = this.onCanvas ? this.onCanvas(this.ctx, w, h) : null;
      const stamp = Math.max(Math.round(performance.now()), this.lastMs + 1);
      this.lastMs = stamp;
      const t0 = performance.now();
      const result = this.landmarker.detectForVideo(this.canvas, stamp);
      this.stats.trackMs = performance.now() - t0;
      let obs = null;
      if (result.faceLandmarks?.length && result.faceBlendshapes?.length) {
        obs = {
          blendshapes: arkitFromBlendshapes(result.faceBlendshapes[0].categories),
          transform: rowMajor(result.facialTransformationMatrixes[0].data),
          landmarks: result.faceLandmarks[0],
          imageSize: [w, h],
        };
      }
      const sample = this.tracker.update(obs, stamp / 1000);
      this.stats.frames++;
      if (obs) this.stats.tracked++; else this.stats.noFace++;
      this.stats.calibrated = this.tracker.neutral !== null;
      await this.emit(sample, captureTimeUs, tag);
      this.lastFrameAt = performance.now();
    } finally {
      this.busy = false;
    }
  }

  async emit(sample, captureTimeUs, tag) {
    const fused = fuseWebcam(sample);
    const t0 = performance.now();
    const code = await this.encoder.encode(fused.weights);
    this.stats.encodeMs = performance.now() - t0;
    this.heldCode = code;
    const pose = sample.headPose ?? IDENTITY;
    const flags = frameFlags(fused.confidence, sample.gaze);
    const frame = { sequence: this.nextSequence(), captureTimeUs, code, position: pose.position, orientation: pose.orientation, gaze: sample.gaze ?? undefined, flags };
    if (!this.running) return;
    this.send(frame);
    this.records.push({ sequence: frame.sequence, tag, captureTimeUs, flags, raw: sample.raw ? Array.from(sample.raw) : null, transform: sample.transform ?? null,
      weights: Array.from(fused.weights), code: Array.from(code), position: pose.position, orientation: pose.orientation });
    if (this.records.length > HISTORY) this.records.shift();
  }

  /** The camera stalled (no frame for MAX_AGE_MS): frames of zero weights at `fps`, as codecav's live source. */
  checkStalled() {
    if (!this.running || this.busy || performance.now() - this.lastFrameAt < MAX_AGE_MS) return;
    this.stats.stalled++;
    this.busy = true;
    const empty = { weights: new Float32Array(52), confidence: new Float32Array(52), headPose: null, gaze: null, raw: null };
    this.emit(empty, nowUs(), null).finally(() => { this.busy = false; });
  }

  /** The last `n` sent frames' records (JSON-able). */
  history(n = HISTORY) {
    return this.records.slice(-n);
  }

  stop() {
    this.running = false;
    clearInterval(this.watchdog);
    this.stream.getTracks().forEach((t) => t.stop());
    this.landmarker.close();
    this.encoder.release();
  }
}
