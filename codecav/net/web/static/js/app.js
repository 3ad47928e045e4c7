/**
 * The page: join form, own avatar and latent source, the call, the remote view, and `window.codecav` for tests
 * and tools (`await codecav.state()` -> JSON of everything the page knows).
 *
 * Query parameters (all optional; the form holds the same): room, peer, token, avatar (a shipped sample name,
 * default lee.cavatar) or avatarUrl, signal (default ws(s)://this host/ws), size (WxH of the view, default
 * 256x256), fps (30), source (auto | camera | synthetic; auto: the camera when there is one, else the synthetic
 * source, with the reason on the page's `source` line), join=1 (join at once).
 *
 * When the browser offers an immersive-vr WebXR session (navigator.xr.isSessionSupported), an "Enter VR" button
 * shows; in the session the remotes are drawn per view (xr.js) and the viewer's head pose, relative to where the
 * session began, is the head pose of every frame this page sends (as `codecav call --render xr`).
 */

import { unzipSync } from "../vendor/fflate/browser.js";
import { BrowserCall } from "./call.js";
import { CameraSource } from "./camera.js";
import { nowUs } from "./clock.js";
import { defaultSignalUrl } from "./signaling.js";
import { SyntheticSource } from "./source.js";
import { RemoteView } from "./view.js";
import { layoutOf } from "./wire.js";
import { XrPresenter, xrSupported } from "./xr.js";

const params = new URLSearchParams(window.location.search);
const $ = (id) => document.getElementById(id);
const logLines = [];
const page = { phase: "idle", error: "", avatarModule: "loading", avatarModuleError: "", own: null, call: null, view: null, source: null, sourceNote: "", camera: null,
  xrSupported: false, xr: null, xrError: "" };

function log(line) {
  logLines.push(line);
  if (logLines.length > 200) logLines.shift();
  $("log").textContent = logLines.slice(-20).join("\n");
}

/** Lower-case hex sha256 (SubtleCrypto). */
async function sha256Hex(bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** avatar.json of a .cavatar (only that member is inflated, at most 1 MiB); Error with one line otherwise. */
function readManifest(bytes, source) {
  let files;
  try {
    files = unzipSync(bytes, { filter: (f) => f.name === "avatar.json" && f.originalSize <= 1024 * 1024 });
  } catch (e) {
    throw Object.assign(new Error(`${source}: not a zip archive (${e.message})`), { reason: "corrupt_archive" });
  }
  if (!files["avatar.json"]) throw Object.assign(new Error(`${source}: has no avatar.json (at most 1 MiB)`), { reason: "manifest_invalid" });
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(files["avatar.json"]));
  } catch (e) {
    throw Object.assign(new Error(`${source}: avatar.json is not UTF-8 JSON`), { reason: "manifest_invalid" });
  }
}

let avatarModule = null;
const avatarReady = import("../avatar/avatar.js").then(
  (mod) => { avatarModule = mod; page.avatarModule = "loaded"; },
  (e) => { page.avatarModule = "missing"; page.avatarModuleError = String(e.message).split("\n")[0]; },
);

/** Verify a remote's package: the avatar module's full checks and trial decode; without that module, the
 * sha256 and the manifest only (nothing is rendered then). */
async function verify(bytes, sha256, source) {
  await avatarReady;
  if (avatarModule) return avatarModule.openAvatar(bytes, sha256, { source });
  if ((await sha256Hex(bytes)) !== sha256) {
    throw Object.assign(new Error(`${source}: the bytes do not match the announced sha256`), { reason: "hash_mismatch" });
  }
  return { manifest: readManifest(bytes, source), sha256 };
}

async function loadOwnAvatar(form) {
  const url = form.avatarUrl || `/samples/${encodeURIComponent(form.avatar)}`;
  const response = await fetch(url);
  if (!response.ok) throw new Error(`cannot load own avatar ${url} (HTTP ${response.status})`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  const manifest = readManifest(bytes, url);
  return { bytes, sha256: await sha256Hex(bytes), avatarId: manifest.avatar_id, manifest, layout: layoutOf(manifest) };
}

async function openMicrophone() {
  if (!navigator.mediaDevices?.getUserMedia) return null;
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true }, video: false });
    return stream.getAudioTracks()[0] ?? null;
  } catch (e) {
    log(`no microphone (${e.name}); joining without voice`);
    return null;
  }
}

function formValues() {
  return {
    room: $("room").value.trim(), peer: $("peer").value.trim(), token: $("token").value.trim(),
    avatar: $("avatar").value, avatarUrl: params.get("avatarUrl") ?? "", signal: params.get("signal") ?? defaultSignalUrl(),
    fps: Number(params.get("fps") ?? 30), source: params.get("source") ?? "auto",
  };
}

function renderStatus() {
  $("phase").textContent = page.error ? `error: ${page.error}` : page.phase;
  renderXr();
  $("source").textContent = page.source ? `own frames: ${page.source}${page.sourceNote ? ` (${page.sourceNote})` : ""}` : "";
  const call = page.call;
  if (!call) return;
  $("sent").textContent = `frames sent: ${call.framesSent}`;
  const rows = [...call.remotes.values()].map((r) => {
    const s = r.snapshot();
    const avatar = s.avatar === "ready" ? `avatar ready (${s.avatarId})` : s.avatar === "refused" ? s.refusal : `avatar ${s.avatar}`;
    return `${s.peer}: ${s.connected ? "connected" : "connecting"}; ${avatar}; frames received ${s.framesDecoded}`;
  });
  $("remotes").textContent = rows.join("\n") || "no one else in the room yet";
  const refusals = [...call.remotes.values()].map((r) => r.refusal).filter(Boolean);
  $("refusals").textContent = refusals.join("\n");
}

async function join() {
  const form = formValues();
  $("join").disabled = true;
  try {
    page.phase = "loading avatar";
    renderStatus();
    const own = await loadOwnAvatar(form);
    page.own = own;
    const micTrack = await openMicrophone();
    page.phase = "joining";
    renderStatus();
    const call = new BrowserCall({
      signalUrl: form.signal, room: form.room, peer: form.peer, token: form.token, own, micTrack, verify, log,
      onAvatar: (remote) => { renderStatus(); if (remote.refusal) log(remote.refusal); },
    });
    await call.start();
    page.call = call;
    page.phase = "in call";
    page.voice = micTrack !== null;
    startSource(call, own, form.fps, form.source);
    startView();
  } catch (e) {
    page.error = String(e.message).split("\n")[0];
    $("join").disabled = false;
  }
  renderStatus();
}

/** Send one of our frames; in an immersive session it carries the viewer's head pose. */
function sendOwn(call, frame) {
  call.send(page.xr && page.xr.active ? page.xr.stamp(frame) : frame);
}

/** The synthetic source at once; with source auto or camera, the camera replaces it when its tracking is ready
 * (one line on the page says which source runs and, for the synthetic one, why). */
function startSource(call, own, fps, which) {
  const source = new SyntheticSource(own.layout);
  page.source = "synthetic";
  page.sourceNote = which === "synthetic" ? "asked for" : "starting the camera";
  let sequence = 0;
  let synthetic = true;
  const nextSequence = () => sequence++;
  const start = performance.now();
  const tick = () => {
    if (page.call !== call || !synthetic) return;
    const n = nextSequence();
    sendOwn(call, source.frameAt(n, nowUs(), fps));
    setTimeout(tick, Math.max(0, start + ((n + 1) * 1000) / fps - performance.now()));
  };
  tick();
  if (which === "synthetic") return;
  CameraSource.open({ own, fps, log }).then((camera) => {
    if (page.call !== call) { camera.stop(); return; }
    synthetic = false;
    page.camera = camera;
    page.source = "camera";
    page.sourceNote = `FaceLandmarker ${camera.stats.width}x${camera.stats.height} -> ${own.avatarId} expression encoder`;
    camera.start((frame) => { if (page.call === call) sendOwn(call, frame); }, nextSequence);
  }, (e) => {
    page.sourceNote = String(e.message).split("\n")[0];
    log(`own frames stay synthetic: ${page.sourceNote}`);
  }).finally(renderStatus);
}

async function startView() {
  await avatarReady;
  if (!avatarModule) return;
  const [w, h] = (params.get("size") ?? "256x256").split("x").map(Number);
  const canvas = $("view");
  canvas.width = w;
  canvas.height = h;
  page.view = new RemoteView(canvas, avatarModule);
  const loop = () => {
    if (!page.call) return;
    page.view.tick([...page.call.remotes.values()]).finally(() => requestAnimationFrame(loop));
  };
  requestAnimationFrame(loop);
}

/** Show the Enter VR button when the browser offers immersive-vr (again whenever its XR devices change). */
async function checkXr() {
  page.xrSupported = await xrSupported();
  renderStatus();
  return page.xrSupported;
}

function renderXr() {
  const button = $("xr");
  const active = Boolean(page.xr && page.xr.active);
  button.hidden = !page.xrSupported && !active;
  button.disabled = !active && !page.view?.renderer;
  button.textContent = active ? "Exit VR" : "Enter VR";
  const s = page.xr?.stats;
  $("xrline").textContent = page.xrError ? `VR: ${page.xrError}` : active && s
    ? `in VR: ${s.frames} frames, ${s.views} views; sending the headset's head pose` : "";
}

/** Enter the immersive-vr session (from the button: browsers want a user gesture), or leave it. */
async function toggleXr() {
  if (page.xr && page.xr.active) {
    await page.xr.end();
    return;
  }
  if (!page.view) {
    page.xrError = "join a call first";
    renderStatus();
    return;
  }
  page.xrError = "";
  try {
    const view = page.view;
    view.paused = true;
    page.xr = await XrPresenter.start(view, () => (page.call ? [...page.call.remotes.values()] : []), {
      log,
      onEnd: () => { view.paused = false; log("left VR"); renderStatus(); },
    });
    log("in VR: the remotes are drawn per view; the headset's head pose is sent");
  } catch (e) {
    page.view.paused = false;
    page.xrError = `cannot enter VR (${String(e.message).split("\n")[0]})`;
    log(page.xrError);
  }
  renderStatus();
}

async function leave() {
  if (page.xr && page.xr.active) await page.xr.end();
  if (page.camera) page.camera.stop();
  page.camera = null;
  if (page.call) await page.call.stop();
  page.call = null;
  page.phase = "left";
  $("join").disabled = false;
  renderStatus();
}

/** Everything the page knows, JSON-able (tests read it with page.evaluate). */
async function state() {
  const call = page.call;
  return {
    phase: page.phase,
    error: page.error,
    avatarModule: page.avatarModule,
    avatarModuleError: page.avatarModuleError,
    source: page.source,
    sourceNote: page.sourceNote,
    camera: page.camera ? { ...page.camera.stats } : null,
    voice: page.voice ?? false,
    own: page.own ? { avatarId: page.own.avatarId, sha256: page.own.sha256, bytes: page.own.bytes.length, dim: page.own.layout.dim } : null,
    call: call ? call.snapshot() : null,
    voiceStats: call ? await call.voiceStats() : {},
    render: page.view ? page.view.stats : null,
    xr: { supported: page.xrSupported, active: Boolean(page.xr && page.xr.active), error: page.xrError, stats: page.xr ? page.xr.stats : null },
    refusals: call ? [...call.remotes.values()].map((r) => r.refusal).filter(Boolean) : [],
    log: logLines.slice(),
  };
}

function init() {
  for (const key of ["room", "peer", "token"]) $(key).value = params.get(key) ?? $(key).value;
  fetch("/samples/index.json").then((r) => r.json()).then(({ samples }) => {
    const select = $("avatar");
    for (const name of samples) select.add(new Option(name, name));
    select.value = params.get("avatar") ?? (samples.includes("lee.cavatar") ? "lee.cavatar" : samples[0]);
  }).catch(() => log("no sample avatars on this server")).finally(() => {
    if (params.get("join") === "1") join();
  });
  $("join").onclick = () => join();
  $("leave").onclick = () => leave();
  $("xr").onclick = () => toggleXr();
  checkXr();
  navigator.xr?.addEventListener?.("devicechange", () => checkXr());
  setInterval(renderStatus, 250);
}

/** The camera source's last `n` sent frames (raw and fused weights, code, tag), [] without a camera. */
function cameraHistory(n) {
  return page.camera ? page.camera.history(n) : [];
}

window.codecav = { state, join, leave, page, cameraHistory, checkXr, toggleXr };
init();
