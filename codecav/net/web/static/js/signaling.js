/**
 * Signaling client: the protocol of docs/signaling.md (codecav/net/signaling/client.py) over a browser WebSocket.
 *
 *   const client = new SignalingClient(url, room, peer, token);
 *   const joined = await client.connect();   // {room, peer, peers}; SignalingRefused(code, message) if refused
 *   client.onmessage = (msg) => ...;          // offer/answer/candidate (with `from`), peer_joined/left/dropped, error
 *   client.send({type: "offer", to, sdp}); client.leave();
 */

export const MAX_SDP_LENGTH = 60000;
export const MAX_CANDIDATE_LENGTH = 1024;
const ID = /^[A-Za-z0-9._-]{1,64}$/;
const CONNECT_TIMEOUT_MS = 10000;

/** The server refused the join or went away; `code` is its error code (e.g. bad_token), `message` one line. */
export class SignalingRefused extends Error {
  constructor(code, message) {
    super(message);
    this.name = "SignalingRefused";
    this.code = code;
  }
}

/** ws(s)://host/ws of the page's own server. */
export function defaultSignalUrl(location = window.location) {
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
}

/** A server message as an object, or null if it is not one the protocol defines (dropped). */
export function parseServerMessage(text) {
  let obj;
  try {
    obj = JSON.parse(text);
  } catch {
    return null;
  }
  if (obj === null || typeof obj !== "object" || Array.isArray(obj)) return null;
  const id = (key) => typeof obj[key] === "string" && ID.test(obj[key]);
  switch (obj.type) {
    case "joined":
      return id("room") && id("peer") && Array.isArray(obj.peers) && obj.peers.every((p) => typeof p === "string" && ID.test(p)) ? obj : null;
    case "peer_joined": case "peer_left": case "peer_dropped":
      return id("peer") ? obj : null;
    case "error":
      return typeof obj.code === "string" && typeof obj.message === "string" ? obj : null;
    case "offer": case "answer":
      return id("from") && typeof obj.sdp === "string" && obj.sdp.length <= MAX_SDP_LENGTH ? obj : null;
    case "candidate":
      return id("from") && typeof obj.candidate === "string" && obj.candidate.length <= MAX_CANDIDATE_LENGTH ? obj : null;
    default:
      return null;
  }
}

export class SignalingClient {
  constructor(url, room, peer, token) {
    this.url = url;
    this.room = room;
    this.peer = peer;
    this.token = token;
    this.ws = null;
    this.onmessage = () => {};
    this.onclose = () => {};
    this.dropped = 0; // server messages that were not protocol messages
  }

  /** Open the socket and join; resolves with the `joined` message, rejects with SignalingRefused. */
  connect() {
    return new Promise((resolve, reject) => {
      let joined = false;
      const fail = (code, message) => {
        if (!joined) reject(new SignalingRefused(code, message));
        joined = true;
      };
      const timer = setTimeout(() => { fail("timeout", `no answer from ${this.url} within ${CONNECT_TIMEOUT_MS / 1000} s`); this.close(); }, CONNECT_TIMEOUT_MS);
      let ws;
      try {
        ws = new WebSocket(this.url);
      } catch (e) {
        clearTimeout(timer);
        reject(new SignalingRefused("bad_url", `cannot open ${this.url}: ${e.message}`));
        return;
      }
      this.ws = ws;
      ws.onopen = () => ws.send(JSON.stringify({ type: "join", room: this.room, peer: this.peer, token: this.token }));
      ws.onmessage = (event) => {
        const msg = typeof event.data === "string" ? parseServerMessage(event.data) : null;
        if (msg === null) { this.dropped++; return; }
        if (!joined) {
          clearTimeout(timer);
          if (msg.type === "joined") { joined = true; resolve(msg); } else if (msg.type === "error") fail(msg.code, msg.message);
          return;
        }
        this.onmessage(msg);
      };
      ws.onerror = () => {};
      ws.onclose = (event) => {
        clearTimeout(timer);
        fail("closed", `the signaling server at ${this.url} closed the connection (${event.code}${event.reason ? " " + event.reason : ""})`);
        this.onclose(event);
      };
    });
  }

  /** Send one client message (offer/answer/candidate with `to`); false if the socket is not open. */
  send(msg) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  /** Say leave and close (a clean close: the room hears peer_left). */
  leave() {
    this.send({ type: "leave" });
    this.close();
  }

  close() {
    if (this.ws) this.ws.close(1000);
  }
}
