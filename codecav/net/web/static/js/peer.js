/**
 * PeerLink in the browser: one RTCPeerConnection to one remote peer with the call's channels, as
 * codecav/net/peer.py opens them: `latent` (negotiated id 0, unordered, maxRetransmits 0), `control` (negotiated
 * id 1, reliable, ordered) and Opus voice.
 *
 * Voice pitfall (verified with aiortc): when answering an aiortc offer, `addTrack` after setRemoteDescription
 * (which reuses the offered transceiver, sendrecv); `replaceTrack` on it would leave aiortc's answer recvonly.
 */

const GATHER_WAIT_MS = 2000;
export const LATENT_MAX_BUFFERED_BYTES = 2048;

export class PeerLink {
  /** `micTrack`: the local voice (MediaStreamTrack) or null; `onCandidate(c)` trickles what gathering finds late. */
  constructor(remoteId, { iceServers = [], micTrack = null, onLatent, onControl, onCandidate, onVoice }) {
    this.remoteId = remoteId;
    this.micTrack = micTrack;
    this.pc = new RTCPeerConnection({ iceServers: iceServers.map((urls) => ({ urls })) });
    this.latent = this.pc.createDataChannel("latent", { ordered: false, maxRetransmits: 0, negotiated: true, id: 0 });
    this.control = this.pc.createDataChannel("control", { negotiated: true, id: 1 });
    for (const ch of [this.latent, this.control]) ch.binaryType = "arraybuffer";
    this.latent.onmessage = (e) => onLatent(e.data);
    this.control.onmessage = (e) => onControl(e.data);
    this.stats = { latentSent: 0, latentSentBytes: 0, latentDroppedCongested: 0, controlSent: 0 };
    this.sentDescription = false;
    this.pc.onicecandidate = (e) => {
      // Candidates found after the description went out are trickled; earlier ones are in the SDP.
      if (this.sentDescription && e.candidate) onCandidate(e.candidate);
    };
    this.pc.ontrack = (e) => { if (e.track.kind === "audio") onVoice(e.track, e.streams[0] ?? new MediaStream([e.track])); };
    this.opened = new Promise((resolve, reject) => {
      let open = 0;
      const one = () => { if (++open === 2) resolve(); };
      this.latent.onopen = one;
      this.control.onopen = one;
      this.pc.onconnectionstatechange = () => {
        if (this.pc.connectionState === "failed") reject(new Error(`connection to peer ${remoteId} failed; check ICE servers and firewall`));
      };
    });
    this.opened.catch(() => {});
  }

  async _gathered() {
    if (this.pc.iceGatheringState === "complete") return;
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, GATHER_WAIT_MS);
      this.pc.addEventListener("icegatheringstatechange", () => {
        if (this.pc.iceGatheringState === "complete") { clearTimeout(timer); resolve(); }
      });
    });
  }

  /** The offer SDP with the candidates gathered so far (all of them on a LAN; aiortc reads them from the SDP). */
  async createOffer() {
    if (this.micTrack) this.pc.addTransceiver(this.micTrack, { direction: "sendrecv" });
    else this.pc.addTransceiver("audio", { direction: "recvonly" });
    await this.pc.setLocalDescription(await this.pc.createOffer());
    await this._gathered();
    this.sentDescription = true;
    return this.pc.localDescription.sdp;
  }

  /** Apply a remote offer and return the answer SDP. */
  async acceptOffer(sdp) {
    await this.pc.setRemoteDescription({ type: "offer", sdp });
    if (this.micTrack) this.pc.addTrack(this.micTrack, new MediaStream([this.micTrack]));
    await this.pc.setLocalDescription(await this.pc.createAnswer());
    await this._gathered();
    this.sentDescription = true;
    return this.pc.localDescription.sdp;
  }

  async acceptAnswer(sdp) {
    await this.pc.setRemoteDescription({ type: "answer", sdp });
  }

  async addCandidate(candidate, sdpMid, sdpMLineIndex) {
    if (!candidate) return;
    await this.pc.addIceCandidate({ candidate, sdpMid: sdpMid ?? undefined, sdpMLineIndex: sdpMLineIndex ?? undefined });
  }

  get isOpen() {
    return this.latent.readyState === "open" && this.control.readyState === "open";
  }

  /** One latent frame unless older ones still queue (latest wins); false when dropped or closed. */
  sendLatent(data) {
    if (this.latent.readyState !== "open") return false;
    if (this.latent.bufferedAmount > LATENT_MAX_BUFFERED_BYTES) {
      this.stats.latentDroppedCongested++;
      return false;
    }
    this.latent.send(data);
    this.stats.latentSent++;
    this.stats.latentSentBytes += data.length;
    return true;
  }

  sendControl(data) {
    if (this.control.readyState !== "open") throw new Error(`control channel to peer ${this.remoteId} is ${this.control.readyState}`);
    this.control.send(data);
    this.stats.controlSent++;
  }

  /** Until the control channel's queue is at most `bytes`. */
  async drainControl(bytes) {
    while (this.control.bufferedAmount > bytes && this.control.readyState === "open") {
      this.control.bufferedAmountLowThreshold = bytes;
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, 100);
        this.control.onbufferedamountlow = () => { clearTimeout(timer); resolve(); };
      });
    }
  }

  /** Inbound voice statistics of this connection (getStats 'inbound-rtp' audio), or null. */
  async voiceStats() {
    const report = await this.pc.getStats();
    for (const s of report.values()) {
      if (s.type === "inbound-rtp" && s.kind === "audio") return s;
    }
    return null;
  }

  close() {
    this.pc.close();
  }
}
