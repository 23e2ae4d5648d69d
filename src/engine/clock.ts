/**
 * Time, injected. Every timeout in unio (heartbeats, upgrade and connect
 * timeouts, ack timeouts, the scheduler) reads the clock through this
 * interface, so tests drive them with a fake clock instead of sleeping.
 *
 * Two scales: deadlines and durations use `now()`, which is monotonic, so a
 * wall clock stepped by NTP or by hand neither closes healthy sessions nor
 * pushes a dead client's ping timeout an hour away; timestamps that are
 * shown as dates or leave the process (`handshake.issued`, `handshake.time`,
 * what a Durable Object stores for its next instance) use `wallNow()`.
 */
export interface Clock {
  /** Milliseconds on a monotonic scale (`performance.now()`): only differences mean anything. */
  now(): number;
  /** Milliseconds since the epoch (`Date.now()`): the wall clock, which may step. */
  wallNow(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

/** The runtime's own clock: `performance.now`, `Date.now` and `setTimeout`. */
export const systemClock: Clock = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
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
 * Both scales start at `start` and advance together; `setWallTime()` steps
 * the wall clock alone, as NTP may.
 *
 * @example
 * const clock = new FakeClock();
 * const engine = new Engine({ clock, pingInterval: 100 });
 * clock.advance(100); // the first PING goes out
 * clock.setWallTime(0); // the system clock jumps back: no deadline moves
 */
export class FakeClock implements Clock {
  #now: number;
  /** `wallNow() - now()`: changed only by `setWallTime`. */
  #wallOffset = 0;
  #timers = new Map<number, { at: number; fn: () => void }>();
  #nextId = 1;

  constructor(start = 1_700_000_000_000) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  wallNow(): number {
    return this.#now + this.#wallOffset;
  }

  /** Steps the wall clock to `ms` since the epoch; the monotonic scale and every timer stay put. */
  setWallTime(ms: number): void {
    this.#wallOffset = ms - this.#now;
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
