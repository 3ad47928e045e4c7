/**
 * Drawing the remote participants in a page canvas with the avatar module's PicaRenderer (static/avatar/):
 * each remote's latest frame is decoded (onnxruntime-web) and drawn, side by side, from a camera 0.6 m in front
 * of its head. Latest wins: no jitter buffer yet (codecav's JitterBuffer plays ~30 ms behind for smoothness).
 * Timing per drawn frame: decode ms, frame ms (decode + upload + draw + finish) and capture-to-photon ms (the
 * frame's capture time mapped to this clock by clock sync, to the moment the draw finished).
 */

import { nowUs } from "./clock.js";

const SAMPLES = 300;

/** Column-major 4x4 of a rigid transform from position and unit quaternion (x, y, z, w). */
export function poseMatrix(position, q) {
  const [x, y, z, w] = q;
  return new Float32Array([
    1 - 2 * (y * y + z * z), 2 * (x * y + z * w), 2 * (x * z - y * w), 0,
    2 * (x * y - z * w), 1 - 2 * (x * x + z * z), 2 * (y * z + x * w), 0,
    2 * (x * z + y * w), 2 * (y * z - x * w), 1 - 2 * (x * x + y * y), 0,
    position[0], position[1], position[2], 1,
  ]);
}

/** Perspective projection (GL clip space), vertical field of view in degrees. */
export function perspective(fovYDeg, aspect, near, far) {
  const f = 1 / Math.tan((fovYDeg * Math.PI) / 360);
  return new Float32Array([f / aspect, 0, 0, 0, 0, f, 0, 0, 0, 0, (far + near) / (near - far), -1, 0, 0, (2 * far * near) / (near - far), 0]);
}

/** View matrix of a camera at `eye` looking along -z (world -> eye). */
export function translationView(eye) {
  return new Float32Array([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, -eye[0], -eye[1], -eye[2], 1]);
}

function push(list, value) {
  list.push(value);
  if (list.length > SAMPLES) list.shift();
}

export class RemoteView {
  /** `avatarModule`: the imported static/avatar/avatar.js; `canvas`: where the remotes are drawn. */
  constructor(canvas, avatarModule) {
    this.canvas = canvas;
    // xrCompatible when the browser has WebXR, so an immersive session (xr.js) can draw with the same context
    this.gl = canvas.getContext("webgl2", { antialias: false, preserveDrawingBuffer: true, xrCompatible: Boolean(navigator.xr) });
    this.renderer = this.gl ? avatarModule.createRenderer(this.gl) : null;
    this.avatarModule = avatarModule;
    this.handles = new Map(); // peer -> Promise<handle>
    this.drawn = new Map(); // peer -> sequence drawn last
    this.stats = { frames: 0, decodeMs: [], frameMs: [], captureToPhotonMs: [], errors: 0, lastError: "" };
    this.busy = false;
    this.paused = false; // true while an immersive session (xr.js) draws with this renderer
  }

  /** Draw every remote whose newest frame was not drawn yet (call once per animation frame). */
  async tick(remotes) {
    if (this.busy || this.paused || this.renderer === null) return;
    const ready = remotes.filter((r) => r.avatar && r.avatar.decode && r.lastFrame);
    const fresh = ready.filter((r) => this.drawn.get(r.peerId) !== r.lastFrame.sequence);
    if (!fresh.length) return;
    this.busy = true;
    const start = performance.now();
    try {
      const items = [];
      let decodeMs = 0;
      for (const [i, remote] of ready.entries()) {
        if (!this.handles.has(remote.peerId)) this.handles.set(remote.peerId, this.renderer.addAvatar(remote.avatar));
        const handle = await this.handles.get(remote.peerId);
        const frame = remote.lastFrame;
        // each remote stands 0.5 m to the right of the previous one; the camera looks at them from +z
        const pose = poseMatrix([frame.position[0] + 0.5 * i, frame.position[1], frame.position[2]], frame.orientation);
        if (this.drawn.get(remote.peerId) !== frame.sequence) {
          const eye = [0.25 * (ready.length - 1), 0, 0.6];
          const decoded = await remote.avatar.decode(frame.code, this.avatarModule.headSpaceViewDir(pose, eye));
          decodeMs += decoded.ms ?? 0;
          this.renderer.update(handle, decoded);
          this.drawn.set(remote.peerId, frame.sequence);
        }
        items.push({ handle, pose, frame });
      }
      const { width, height } = this.canvas;
      const camera = {
        view: translationView([0.25 * (ready.length - 1), 0, 0.6]),
        projection: perspective(30 * Math.max(1, ready.length), width / height, 0.05, 10),
        viewport: [0, 0, width, height],
        framebuffer: null,
      };
      this.renderer.draw(items.map(({ handle, pose }) => ({ handle, pose })), camera, { clear: true });
      this.gl.readPixels(0, 0, 1, 1, this.gl.RGBA, this.gl.UNSIGNED_BYTE, new Uint8Array(4)); // finish the frame
      const doneUs = nowUs();
      this.stats.frames++;
      push(this.stats.decodeMs, decodeMs);
      push(this.stats.frameMs, performance.now() - start);
      for (const { frame } of items) {
        if (fresh.some((r) => r.lastFrame === frame)) push(this.stats.captureToPhotonMs, (doneUs - frame.captureLocalUs) / 1000);
      }
    } catch (e) {
      this.stats.errors++;
      this.stats.lastError = String(e.message).split("\n")[0];
    } finally {
      this.busy = false;
    }
  }
}
