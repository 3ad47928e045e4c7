/**
 * The page's clock and clock sync with a peer (codecav/net/clock_sync.py): µs on a monotonic clock, and the
 * NTP-style offset of the sample with the smallest round trip among the last 32 ping/pong exchanges.
 */

/** Monotonic microseconds (performance.now() from the page's time origin; within wire format's 2^52). */
export function nowUs() {
  return Math.floor((performance.timeOrigin + performance.now()) * 1000);
}

export const WINDOW = 32;

export class ClockSync {
  constructor() {
    this.samples = [];
  }

  /** Note a Pong ({t0, t1, t2}) that arrived at local time t3. */
  addPong(pong, t3) {
    this.samples.push({ offset: ((pong.t1 - pong.t0) + (pong.t2 - t3)) / 2, delay: (t3 - pong.t0) - (pong.t2 - pong.t1) });
    if (this.samples.length > WINDOW) this.samples.shift();
  }

  /** {offsetUs (remote minus local), delayUs, errorBoundUs} of the best sample, or null before the first. */
  estimate() {
    if (!this.samples.length) return null;
    const best = this.samples.reduce((a, b) => (b.delay < a.delay ? b : a));
    return { offsetUs: best.offset, delayUs: best.delay, errorBoundUs: best.delay / 2, samples: this.samples.length };
  }
}
