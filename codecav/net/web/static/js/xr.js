/**
 * The remotes in an `immersive-vr` WebXR session, and the viewer's head as the head pose this page sends.
 *
 *   if (await xrSupported()) { const xr = await XrPresenter.start(view, () => remotes, { log }); ... xr.end(); }
 *   xr.stamp(frame)   the frame with the headset's head pose (as codecav's HeadTrackedSource does), or unchanged
 *                     before the first viewer pose
 *   xr.stats          {frames, views, viewsDrawn, decodes, decodeMs (last), errors, lastError, viewer, head, seat}
 *   xr.probeNext = true   the next XR frame reads each view back: stats.probe = [{viewport, covered, meanX}]
 *
 * The viewer pose comes in the `local` reference space (seated, looking down -z, as OpenXR's LOCAL space); it is
 * made relative to where the viewer sat when the session began (the first pose's position and heading: pitch and
 * roll stay relative to gravity) and turned into codecav's head space (+z out of the face), as codecav.xr.seated
 * does for `codecav call --render xr`. The remotes sit where codecav.runtime.scene.room_layout puts them (one across a
 * small table 1.1 m away, several around it), each turned by its frames' head orientation about its head centre
 * (codecav.runtime.engine). Each XR frame draws every view with the avatar module's xrCameras/draw; decoding is
 * asynchronous (onnxruntime-web), so a remote's newest frame is decoded between XR frames from the views' mean eye
 * and the XR frame draws the newest decoded one (latest wins, as the page canvas does).
 */

import { matMul } from "../avatar/pica.js";
import { poseMatrix } from "./view.js";

const SEATED_DISTANCE_M = 1.1;
const MIN_SEAT_SPACING_M = 0.7;
const SAMPLES = 300;
const COMPATIBLE_WAIT_MS = 3000;

/** Whether this browser offers an immersive-vr session (false without WebXR or on any error). */
export async function xrSupported() {
  try {
    return Boolean(navigator.xr) && (await navigator.xr.isSessionSupported("immersive-vr"));
  } catch {
    return false;
  }
}

/** Hamilton product a * b of quaternions (x, y, z, w): rotate by b, then by a. */
export function quatMultiply(a, b) {
  const [ax, ay, az, aw] = a;
  const [bx, by, bz, bw] = b;
  return [aw * bx + ax * bw + ay * bz - az * by, aw * by - ax * bz + ay * bw + az * bx,
    aw * bz + ax * by - ay * bx + az * bw, aw * bw - ax * bx - ay * by - az * bz];
}

/** Vector `v` rotated by the unit quaternion `q`. */
export function quatRotate(q, v) {
  const r = quatMultiply(quatMultiply(q, [v[0], v[1], v[2], 0]), [-q[0], -q[1], -q[2], q[3]]);
  return r.slice(0, 3);
}

/** Rotation by `yaw` radians about +y. */
export function yawQuat(yaw) {
  return [0, Math.sin(yaw / 2), 0, Math.cos(yaw / 2)];
}

/** Yaw of a WebXR/OpenXR orientation: the angle about +y that turns -z to where it looks (codecav.xr.seated). */
export function heading(q) {
  const f = quatRotate(q, [0, 0, -1]);
  return Math.atan2(-f[0], -f[2]);
}

/** A pose looking down -z as codecav's head pose (looking down +z): a half turn about +y (openxr_to_head). */
export function xrToHead(position, orientation) {
  const n = Math.hypot(...orientation);
  let q = orientation.map((x) => x / n);
  if (q[3] < 0) q = q.map((x) => -x);
  return { position: [-position[0], position[1], -position[2]], orientation: [-q[0], q[1], -q[2], q[3]] };
}

/** codecav.xr.seated.SeatedOrigin: calibrates on the first pose (and after recentre()) and gives head poses
 * relative to it. */
export class SeatedOrigin {
  constructor() {
    this.origin = null;
    this.calibrations = 0;
  }

  recentre() {
    this.origin = null;
  }

  /** {position, orientation} of the runtime pose relative to the origin, in codecav head space. */
  headPose(position, orientation) {
    if (this.origin === null) {
      this.origin = { position: position.map(Math.fround), yaw: heading(orientation) };
      this.calibrations++;
    }
    const undo = yawQuat(-this.origin.yaw);
    const offset = quatRotate(undo, position.map((x, i) => x - this.origin.position[i]));
    return xrToHead(offset, quatMultiply(undo, orientation));
  }
}

/** Column-major head -> world transforms of `count` remotes around the viewer (codecav.runtime.scene.room_layout). */
export function roomLayout(count, distance = SEATED_DISTANCE_M, eyeHeight = 0) {
  if (count <= 0) return [];
  const seats = count + 1;
  const radius = Math.max(distance / 2, MIN_SEAT_SPACING_M / (2 * Math.sin(Math.PI / seats)));
  const out = [];
  for (let k = 1; k < seats; k++) {
    const angle = (2 * Math.PI * k) / seats;
    const x = radius * Math.sin(-angle);
    const z = -radius + radius * Math.cos(angle);
    out.push(poseMatrix([x, eyeHeight, z], yawQuat(Math.atan2(-x, -z))));
  }
  return out;
}


/** The context made XR compatible, unless it was created so; a browser with WebXR but no device may never
 * settle the promise, so after COMPATIBLE_WAIT_MS the layer is tried anyway. */
async function makeCompatible(gl, log) {
  if (gl.getContextAttributes()?.xrCompatible || !gl.makeXRCompatible) return;
  let timer;
  const outcome = await Promise.race([
    gl.makeXRCompatible().then(() => "", (e) => `makeXRCompatible failed (${e.name})`),
    new Promise((resolve) => { timer = setTimeout(() => resolve(`makeXRCompatible did not settle in ${COMPATIBLE_WAIT_MS} ms`), COMPATIBLE_WAIT_MS); }),
  ]);
  clearTimeout(timer);
  if (outcome) log(`${outcome}; trying the XR layer anyway`);
}

const xyz = (p) => [p.x, p.y, p.z];
const xyzw = (q) => [q.x, q.y, q.z, q.w];

export class XrPresenter {
  /** Request the immersive-vr session (call from a user gesture) and draw `remotes()` into it with the page
   * view's renderer (`view`: RemoteView, whose WebGL2 context becomes XR compatible). */
  static async start(view, remotes, { log = () => {}, onEnd = () => {} } = {}) {
    if (!view.renderer) throw new Error("no WebGL2 renderer for the XR session");
    const session = await navigator.xr.requestSession("immersive-vr", { requiredFeatures: ["local"] });
    try {
      await makeCompatible(view.gl, log);
      const layer = new XRWebGLLayer(session, view.gl, { antialias: false });
      session.updateRenderState({ baseLayer: layer });
      const space = await session.requestReferenceSpace("local");
      return new XrPresenter({ session, space, view, remotes, log, onEnd });
    } catch (e) {
      await session.end().catch(() => {});
      throw e;
    }
  }

  constructor({ session, space, view, remotes, log, onEnd }) {
    Object.assign(this, { session, space, view, remotes, log });
    this.seat = new SeatedOrigin();
    this.head = null;
    this.active = true;
    this.probeNext = false;
    this.decoding = false;
    this.shown = new Map(); // peer -> {handle, frame}: the frame decoded and uploaded last
    this.eye = [0, 0, 0];
    this.stats = { frames: 0, views: 0, viewsDrawn: 0, decodes: 0, decodeMs: 0, decodeMsList: [], errors: 0, lastError: "",
      viewer: null, head: null, seat: null, probe: null };
    session.addEventListener("end", () => {
      this.active = false;
      onEnd(this);
    });
    session.requestAnimationFrame((t, frame) => this.onFrame(frame));
  }

  /** `frame` carrying the viewer's head pose (the sent head pose while in XR), or `frame` unchanged. */
  stamp(frame) {
    if (!this.active || this.head === null) return frame;
    return { ...frame, position: this.head.position.slice(), orientation: this.head.orientation.slice() };
  }

  onFrame(frame) {
    if (!this.active) return;
    this.session.requestAnimationFrame((t, next) => this.onFrame(next));
    try {
      const viewer = frame.getViewerPose(this.space);
      if (!viewer) return;
      const position = xyz(viewer.transform.position);
      const orientation = xyzw(viewer.transform.orientation);
      this.head = this.seat.headPose(position, orientation);
      this.stats.viewer = { position, orientation };
      this.stats.head = this.head;
      this.stats.seat = this.seat.origin;
      const layer = this.session.renderState.baseLayer;
      const cams = this.view.avatarModule.xrCameras(viewer, layer);
      this.eye = this.view.avatarModule.meanEye(cams);
      const draws = this.draws();
      const gl = this.view.gl;
      cams.forEach((cam, i) => this.view.renderer.draw(draws, cam, { clear: i === 0 }));
      this.stats.frames++;
      this.stats.views = cams.length;
      this.stats.viewsDrawn += cams.length;
      if (this.probeNext) {
        this.probeNext = false;
        this.stats.probe = cams.map((cam) => {
          const [x, y, w, h] = cam.viewport;
          const px = new Uint8Array(w * h * 4);
          gl.bindFramebuffer(gl.FRAMEBUFFER, cam.framebuffer);
          gl.readPixels(x, y, w, h, gl.RGBA, gl.UNSIGNED_BYTE, px);
          let n = 0;
          let sx = 0;
          for (let i = 0; i < w * h; i++) if (px[4 * i] || px[4 * i + 1] || px[4 * i + 2]) { n++; sx += i % w; }
          return { viewport: cam.viewport, covered: n, meanX: n ? sx / n / w : null };
        });
      }
      if (!this.decoding) this.decodeFresh();
    } catch (e) {
      this.stats.errors++;
      this.stats.lastError = String(e.message).split("\n")[0];
    }
  }

  /** The remotes with an avatar and a frame, in order; each has its seat around the viewer. */
  ready() {
    return this.remotes().filter((r) => r.avatar && r.avatar.decode && r.lastFrame);
  }

  /** Every seated remote decoded at least once, turned by its shown frame's head orientation: [{handle, pose}]. */
  draws() {
    const ready = this.ready();
    const places = roomLayout(ready.length);
    const out = [];
    ready.forEach((r, i) => {
      const shown = this.shown.get(r.peerId);
      if (shown) out.push({ handle: shown.handle, pose: matMul(places[i], poseMatrix([0, 0, 0], shown.frame.orientation)) });
    });
    return out;
  }

  /** Decode every remote's newest frame not decoded yet (between XR frames) and upload it. */
  async decodeFresh() {
    this.decoding = true;
    try {
      const ready = this.ready();
      const places = roomLayout(ready.length);
      for (const [i, remote] of ready.entries()) {
        const frame = remote.lastFrame;
        if (this.shown.get(remote.peerId)?.frame === frame) continue;
        if (!this.view.handles.has(remote.peerId)) this.view.handles.set(remote.peerId, this.view.renderer.addAvatar(remote.avatar));
        const handle = await this.view.handles.get(remote.peerId);
        const pose = matMul(places[i], poseMatrix([0, 0, 0], frame.orientation));
        const decoded = await remote.avatar.decode(frame.code, this.view.avatarModule.headSpaceViewDir(pose, this.eye));
        if (!this.active) return;
        this.view.renderer.update(handle, decoded);
        this.view.drawn.delete(remote.peerId); // the page canvas decodes again after the session
        this.shown.set(remote.peerId, { handle, frame });
        this.stats.decodes++;
        this.stats.decodeMs = decoded.ms ?? 0;
        this.stats.decodeMsList.push(this.stats.decodeMs);
        if (this.stats.decodeMsList.length > SAMPLES) this.stats.decodeMsList.shift();
      }
    } catch (e) {
      this.stats.errors++;
      this.stats.lastError = String(e.message).split("\n")[0];
    } finally {
      this.decoding = false;
    }
  }

  /** Leave the session (the page canvas draws again). */
  async end() {
    if (this.active) await this.session.end();
  }
}
