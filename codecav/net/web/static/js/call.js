/**
 * A call from the page (codecav/net/call_session.py): join a room through the signaling server, hold one
 * PeerLink + RemotePeer per other participant (the newcomer offers; the others answer), send this participant's
 * latent frames to every open link, play the remote voices.
 *
 *   const call = new BrowserCall({signalUrl, room, peer, token, own, micTrack, verify, onFrame, log});
 *   await call.start();  call.send(frame);  call.snapshot();  await call.stop();
 * own: {peerId, avatarId, sha256, bytes, layout}.
 */

import { PeerLink } from "./peer.js";
import { RemotePeer } from "./remote.js";
import { SignalingClient } from "./signaling.js";
import { encodeLatentFrame } from "./wire.js";

export const MAX_PEERS = 6;

export class BrowserCall {
  constructor({ signalUrl, room, peer, token, own, micTrack = null, iceServers = [], verify, onFrame, onAvatar, log = () => {} }) {
    this.config = { signalUrl, room, peer, token, iceServers };
    this.own = { ...own, peerId: peer };
    this.micTrack = micTrack;
    this.verify = verify;
    this.onFrame = onFrame;
    this.onAvatar = onAvatar;
    this.log = log;
    this.remotes = new Map();
    this.voices = new Map(); // peer -> <audio> element playing its voice
    this.signaling = null;
    this.framesSent = 0;
    this.bytesSent = 0;
    this.error = "";
  }

  async start() {
    const client = new SignalingClient(this.config.signalUrl, this.config.room, this.config.peer, this.config.token);
    const joined = await client.connect();
    this.signaling = client;
    if (joined.peers.length + 1 > MAX_PEERS) {
      client.leave();
      throw new Error(`room ${this.config.room} already has ${joined.peers.length} peers; a mesh holds at most ${MAX_PEERS}`);
    }
    client.onmessage = (msg) => this._onSignal(msg).catch((e) => {
      this.log(`could not apply ${msg.type} from ${msg.from ?? msg.peer}: ${e.message}`);
      if (msg.from) this._remove(msg.from);
    });
    client.onclose = () => { this.signalingClosed = true; };
    for (const other of joined.peers) {
      const remote = this._add(other);
      client.send({ type: "offer", to: other, sdp: await remote.link.createOffer() });
    }
  }

  _add(peerId) {
    const holder = {};
    const link = new PeerLink(peerId, {
      iceServers: this.config.iceServers,
      micTrack: this.micTrack,
      onLatent: (data) => holder.remote.onLatent(data),
      onControl: (data) => holder.remote.onControl(data),
      onCandidate: (c) => this.signaling.send({ type: "candidate", to: peerId, candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex }),
      onVoice: (track, stream) => this._playVoice(peerId, stream),
    });
    const remote = new RemotePeer(peerId, link, {
      own: this.own, verify: this.verify, onFrame: this.onFrame, onAvatar: this.onAvatar, log: this.log,
    });
    holder.remote = remote;
    this.remotes.set(peerId, remote);
    link.opened.then(() => remote.start(), (e) => { this.log(e.message); this._remove(peerId); });
    return remote;
  }

  _playVoice(peerId, stream) {
    // Chrome pulls (and NetEQ plays out) a remote audio track only when something consumes it.
    const audio = new Audio();
    audio.autoplay = true;
    audio.srcObject = stream;
    audio.play().catch(() => {});
    this.voices.set(peerId, audio);
  }

  _remove(peerId) {
    const remote = this.remotes.get(peerId);
    if (!remote) return;
    remote.close();
    this.remotes.delete(peerId);
    const audio = this.voices.get(peerId);
    if (audio) { audio.srcObject = null; this.voices.delete(peerId); }
  }

  async _onSignal(msg) {
    if (msg.type === "offer") {
      if (this.remotes.has(msg.from)) this._remove(msg.from); // it restarted
      if (this.remotes.size + 2 > MAX_PEERS) return;
      const remote = this._add(msg.from);
      this.signaling.send({ type: "answer", to: msg.from, sdp: await remote.link.acceptOffer(msg.sdp) });
    } else if (msg.type === "answer" && this.remotes.has(msg.from)) {
      await this.remotes.get(msg.from).link.acceptAnswer(msg.sdp);
    } else if (msg.type === "candidate" && this.remotes.has(msg.from)) {
      await this.remotes.get(msg.from).link.addCandidate(msg.candidate, msg.sdpMid, msg.sdpMLineIndex);
    } else if (msg.type === "peer_left" || msg.type === "peer_dropped") {
      this._remove(msg.peer);
    } else if (msg.type === "error") {
      this.log(`signaling server: ${msg.message} (${msg.code})`);
    }
  }

  /** Encode `frame` once (int8) and send it to every open link; how many it went to. */
  send(frame) {
    const data = encodeLatentFrame(frame, this.own.layout, "int8");
    this.framesSent++;
    let sent = 0;
    for (const remote of this.remotes.values()) {
      if (remote.link.sendLatent(data)) { sent++; this.bytesSent += data.length; }
    }
    return sent;
  }

  /** Inbound voice per peer from getStats: packets, and NetEQ's mean jitter-buffer delay in ms. */
  async voiceStats() {
    const out = {};
    for (const [peerId, remote] of this.remotes) {
      const s = await remote.link.voiceStats();
      if (!s) continue;
      out[peerId] = {
        packetsReceived: s.packetsReceived ?? 0,
        packetsLost: s.packetsLost ?? 0,
        jitterMs: s.jitter != null ? s.jitter * 1000 : null,
        jitterBufferMs: s.jitterBufferEmittedCount ? (1000 * s.jitterBufferDelay) / s.jitterBufferEmittedCount : null,
        samplesReceived: s.totalSamplesReceived ?? 0,
        concealedSamples: s.concealedSamples ?? 0,
        audioLevel: s.audioLevel ?? null,
        totalAudioEnergy: s.totalAudioEnergy ?? null,
      };
    }
    return out;
  }

  snapshot() {
    return {
      peer: this.config.peer,
      room: this.config.room,
      framesSent: this.framesSent,
      bytesSent: this.bytesSent,
      remotes: Object.fromEntries([...this.remotes].map(([id, r]) => [id, r.snapshot()])),
    };
  }

  async stop() {
    for (const peerId of [...this.remotes.keys()]) this._remove(peerId);
    if (this.signaling) this.signaling.leave();
    this.signaling = null;
  }
}
