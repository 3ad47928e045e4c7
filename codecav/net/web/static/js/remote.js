/**
 * One remote participant (codecav/net/remote_peer.py): Hello, clock-sync pings, avatar exchange both ways, and
 * decoding its latent frames. Its avatar is fetched in chunks with codecav's limits and refusals
 * (codecav/net/avatar_exchange.py), then handed to the avatar module (static/avatar/avatar.js: sha256, package
 * checks, trial decode); a refusal is kept as one line `avatar from peer P refused (REASON): DETAIL`.
 */

import { ClockSync, nowUs } from "./clock.js";
import { decodeControlMessage, decodeLatentFrame, encodeControlMessage, layoutOf, AVATAR_CHUNK_BYTES } from "./wire.js";

export const CAPABILITIES = ["int8", "fp16", "gaze", "voice-opus"]; // no latent-v2: the page reads v1 only
export const MAX_AVATAR_BYTES = 64 * 1024 * 1024; // codecav.net.avatar_exchange.DEFAULT_MAX_AVATAR_BYTES
export const AVATAR_SEND_BUFFER_BYTES = 256 * 1024;
const PING_INTERVAL_MS = 500;
const FAST_PINGS = 8;
const STRAY = new Set(["unexpected", "mid_transfer"]);

export class RemotePeer {
  /** `own`: {peerId, avatarId, sha256, bytes}; `verify(bytes, sha256, source)` -> Promise<avatar> (throws
   * {reason, message}); `onFrame(remote, frame, receiveUs)` sees every decoded frame. */
  constructor(peerId, link, { own, verify, onFrame = () => {}, onAvatar = () => {}, log = () => {} }) {
    this.peerId = peerId;
    this.link = link;
    this.own = own;
    this.verify = verify;
    this.onFrame = onFrame;
    this.onAvatar = onAvatar;
    this.log = log;
    this.sync = new ClockSync();
    this.hello = null;
    this.bye = false;
    this.avatar = null; // the verified avatar (avatar.js Avatar, or {manifest} when verified without it)
    this.layout = null;
    this.avatarState = "unknown"; // unknown | fetching | ready | refused
    this.refusal = "";
    this.refused = {};
    this.drops = {};
    this.lastError = "";
    this.counts = { latentReceived: 0, framesDecoded: 0, controlReceived: 0, avatarBytesReceived: 0, avatarsSent: 0 };
    this.lastFrame = null;
    this._wanted = null;
    this._parts = [];
    this._size = 0;
    this._sending = false;
    this._pingSeq = 0;
    this._timer = null;
    this.closed = false;
  }

  /** After the link opened: Hello, then pings (every 50 ms for the first 8, then every 0.5 s). */
  start() {
    let pings = 0;
    const tick = () => {
      if (this.closed || !this.link.isOpen) return;
      if (this.sync.estimate() === null) this._send({ m: "hello", peer: this.own.peerId, avatar: this.own.avatarId, sha: this.own.sha256, caps: CAPABILITIES });
      this._pingSeq = (this._pingSeq + 1) % 2 ** 32;
      this._send({ m: "ping", n: this._pingSeq, t0: nowUs() });
      pings++;
      this._timer = setTimeout(tick, pings < FAST_PINGS ? 50 : PING_INTERVAL_MS);
    };
    tick();
  }

  close() {
    this.closed = true;
    clearTimeout(this._timer);
    if (this.link.isOpen && !this.bye) {
      try { this._send({ m: "bye", why: "leaving" }); } catch { /* closing anyway */ }
    }
    this.link.close();
  }

  _send(msg) {
    this.link.sendControl(encodeControlMessage(msg));
  }

  _drop(reason, message = "") {
    this.drops[reason] = (this.drops[reason] ?? 0) + 1;
    if (message) this.lastError = message;
  }

  // -- control channel -------------------------------------------------------------------------------------

  onControl(data) {
    const t = nowUs();
    this.counts.controlReceived++;
    let msg;
    try {
      msg = decodeControlMessage(data);
    } catch (e) {
      if (e.reason) { this._drop(e.reason, e.message); return; }
      throw e;
    }
    switch (msg.m) {
      case "ping": this._send({ m: "pong", n: msg.n, t0: msg.t0, t1: t, t2: nowUs() }); break;
      case "pong": this.sync.addPong(msg, t); break;
      case "hello": this._onHello(msg); break;
      case "avreq":
        if (msg.sha !== this.own.sha256) this._drop("avatar_request_unknown");
        else this._sendAvatar();
        break;
      case "avchunk": this._onChunk(msg); break;
      case "avdone": this._onDone(msg); break;
      case "bye": this.bye = true; this.log(`peer ${this.peerId} said bye (${msg.why})`); break;
      case "avrefused":
        if (msg.sha === this.own.sha256) this.log(`peer ${this.peerId} refused our avatar (${msg.why}): it cannot see us`);
        break;
      default: break;
    }
  }

  _onHello(hello) {
    if (hello.peer !== this.peerId) { this._drop("hello_wrong_peer"); return; }
    if (this.hello !== null && this.hello.sha === hello.sha) return; // repeated until our first Pong arrives
    this.hello = hello;
    // No avatar cache in the page yet: every call fetches the package (codecav's cache is on disk).
    this._wanted = hello.sha;
    this._parts = [];
    this._size = 0;
    this.avatarState = "fetching";
    this._send({ m: "avreq", avatar: hello.avatar, sha: hello.sha });
  }

  _refuse(reason, detail) {
    this.refused[reason] = (this.refused[reason] ?? 0) + 1;
    const line = `avatar from peer ${this.peerId} refused (${reason}): ${detail}`;
    if (STRAY.has(reason)) return;
    this.refusal = line;
    this.avatarState = "refused";
    this._wanted = null;
    this._parts = [];
    this._size = 0;
    this.log(line);
    this.onAvatar(this);
  }

  _onChunk(chunk) {
    if (chunk.sha !== this._wanted) { this._refuse("unexpected", "a chunk of an avatar that was not requested"); return; }
    if (!this._parts.length && chunk.i > 0) { this._refuse("mid_transfer", `chunk ${chunk.i} of a round that began before we asked`); return; }
    if (chunk.i !== this._parts.length) { this._refuse("out_of_order", `chunk ${chunk.i} arrived where ${this._parts.length} was due`); return; }
    this._size += chunk.data.length;
    this.counts.avatarBytesReceived += chunk.data.length;
    if (this._size > MAX_AVATAR_BYTES) { this._refuse("too_large", `more than ${MAX_AVATAR_BYTES} bytes`); return; }
    this._parts.push(chunk.data);
  }

  async _onDone(done) {
    if (done.sha !== this._wanted) { this._refuse("unexpected", "the end of an avatar transfer that was not requested"); return; }
    if (!this._parts.length && done.chunks > 0) { this._refuse("mid_transfer", "the end of a round that began before we asked"); return; }
    if (done.size !== this._size) { this._refuse("size_mismatch", `${this._size} bytes received, ${done.size} announced`); return; }
    if (done.chunks !== this._parts.length) { this._refuse("count_mismatch", `${this._parts.length} chunks received, ${done.chunks} announced`); return; }
    const bytes = new Uint8Array(this._size);
    let at = 0;
    for (const part of this._parts) { bytes.set(part, at); at += part.length; }
    this._wanted = null;
    this._parts = [];
    this._size = 0;
    let avatar;
    try {
      avatar = await this.verify(bytes, done.sha, `${done.sha}.cavatar`);
    } catch (e) {
      if (e.reason === "hash_mismatch") this._refuse("hash_mismatch", "the bytes do not match the announced sha256");
      else this._refuse(`invalid_package:${e.reason ?? "error"}`, String(e.message).split("\n")[0]);
      return;
    }
    this.avatar = avatar;
    this.layout = layoutOf(avatar.manifest);
    this.avatarState = "ready";
    this.onAvatar(this);
  }

  async _sendAvatar() {
    if (this._sending) return; // a retried request while the transfer runs
    this._sending = true;
    try {
      const data = this.own.bytes;
      let count = 0;
      for (let start = 0; start < data.length; start += AVATAR_CHUNK_BYTES) {
        await this.link.drainControl(AVATAR_SEND_BUFFER_BYTES);
        if (!this.link.isOpen) return;
        this._send({ m: "avchunk", sha: this.own.sha256, i: count, data: data.subarray(start, start + AVATAR_CHUNK_BYTES) });
        count++;
      }
      this._send({ m: "avdone", sha: this.own.sha256, size: data.length, chunks: count });
      this.counts.avatarsSent++;
    } finally {
      this._sending = false;
    }
  }

  // -- latent channel --------------------------------------------------------------------------------------

  onLatent(data) {
    const receiveUs = nowUs();
    this.counts.latentReceived++;
    if (this.layout === null) { this._drop("no_avatar"); return; }
    const estimate = this.sync.estimate();
    if (estimate === null) { this._drop("no_clock"); return; }
    let frame;
    try {
      frame = decodeLatentFrame(data, this.layout);
    } catch (e) {
      if (e.reason) { this._drop(e.reason, e.message); return; }
      throw e;
    }
    this.counts.framesDecoded++;
    frame.captureLocalUs = frame.captureTimeUs - estimate.offsetUs;
    frame.receiveUs = receiveUs;
    if (this.lastFrame === null || frame.sequence > this.lastFrame.sequence) this.lastFrame = frame;
    this.onFrame(this, frame, receiveUs);
  }

  /** JSON-able state for the page and tests. */
  snapshot() {
    const est = this.sync.estimate();
    return {
      peer: this.peerId,
      connected: this.link.isOpen,
      avatar: this.avatarState,
      avatarId: this.avatar ? this.avatar.manifest.avatar_id : null,
      avatarSha256: this.hello ? this.hello.sha : null,
      refusal: this.refusal,
      refused: { ...this.refused },
      caps: this.hello ? this.hello.caps : null,
      clockOffsetUs: est ? est.offsetUs : null,
      rttUs: est ? est.delayUs : null,
      drops: { ...this.drops },
      lastError: this.lastError,
      ...this.counts,
      ...this.link.stats,
      lastSequence: this.lastFrame ? this.lastFrame.sequence : null,
    };
  }
}
