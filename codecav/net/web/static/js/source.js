/**
 * Sources of this participant's latent frames.
 *
 * SyntheticSource: smooth codes (sums of slow sines per entry), head sway and gaze, like codecav's
 * `--source synthetic`; it needs nothing but the avatar's layout. The camera path (MediaPipe FaceLandmarker ->
 * the webcam driver's per-frame work -> the avatar's expression encoder) is in camera.js and face.js; the page
 * falls back to this source when the camera path cannot start.
 */

import { FLAGS } from "./wire.js";

/** Head pose and gaze of the synthetic sway at time t (s): {position, orientation (x, y, z, w), gaze}. */
export function swayPose(t) {
  const yaw = 0.25 * Math.sin(2 * Math.PI * 0.2 * t);
  const pitch = 0.1 * Math.sin(2 * Math.PI * 0.13 * t);
  const hy = yaw / 2;
  const hp = pitch / 2;
  const orientation = [Math.cos(hy) * Math.sin(hp), Math.sin(hy) * Math.cos(hp), -Math.sin(hy) * Math.sin(hp), Math.cos(hy) * Math.cos(hp)];
  const look = [0.2 * Math.sin(2 * Math.PI * 0.5 * t), 0.05, 1.0];
  const n = Math.hypot(...look);
  const dir = look.map((x) => x / n);
  return { position: [0.02 * Math.sin(2 * Math.PI * 0.3 * t), 0, 0], orientation, gaze: { left: dir, right: dir } };
}

export class SyntheticSource {
  constructor(layout, { seed = 1 } = {}) {
    this.layout = layout;
    this.phase = Float32Array.from({ length: layout.dim }, (_, i) => ((i * 2654435761 + seed * 97) % 1000) / 1000 * 2 * Math.PI);
    this.rate = Float32Array.from({ length: layout.dim }, (_, i) => 0.2 + ((i * 7919 + seed) % 13) / 13);
  }

  /** The frame with this sequence captured at `captureUs` (t = sequence / fps). */
  frameAt(sequence, captureUs, fps = 30) {
    const t = sequence / fps;
    const code = new Float32Array(this.layout.dim);
    for (let i = 0; i < code.length; i++) code[i] = 0.5 * Math.sin(2 * Math.PI * this.rate[i] * t + this.phase[i]);
    return { sequence, captureTimeUs: captureUs, code, ...swayPose(t), flags: FLAGS.SPEAKING };
  }
}
