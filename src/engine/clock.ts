/**
 * Time, injected. Every timeout in unio (heartbeats, upgrade and connect
 * timeouts, ack timeouts) reads the clock through this interface, so tests
 * drive them with a fake clock instead of sleeping.
 */
export interface Clock {
  /** Milliseconds, monotonic enough for deadlines. */
  now(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

/** The runtime's own clock: `Date.now` and `setTimeout`. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer: (fn, ms) => {
    const t = setTimeout(fn, ms);
    // A pending heartbeat must not keep a Node process alive after everything else closed.
    (t as { unref?: () => void }).unref?.();
    return t;
  },
  clearTimer: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/**
 * A clock that only moves when told to. `advance(ms)` fires every timer that
 * falls due, in deadline order, each seeing `now()` equal to its deadline.
 *
 * @example
 * const clock = new FakeClock();
 * const engine = new Engine({ clock, pingInterval: 100 });
 * clock.advance(100); // the first PING goes out
 */
export class FakeClock implements Clock {
  #now: number;
  #timers = new Map<number, { at: number; fn: () => void }>();
  #nextId = 1;

  constructor(start = 1_700_000_000_000) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimer(fn: () => void, ms: number): unknown {
    const id = this.#nextId++;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), fn });
    return id;
  }

  clearTimer(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  /** Number of timers armed on this clock (the shared scheduler keeps it at one or zero). */
  get pendingTimers(): number {
    return this.#timers.size;
  }

  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      let nextId = -1;
      let nextAt = Infinity;
      for (const [id, t] of this.#timers) {
        if (t.at <= target && t.at < nextAt) {
          nextAt = t.at;
          nextId = id;
        }
      }
      if (nextId === -1) break;
      const t = this.#timers.get(nextId)!;
      this.#timers.delete(nextId);
      this.#now = t.at;
      t.fn();
    }
    this.#now = target;
  }
}
