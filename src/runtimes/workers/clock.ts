import type { Clock } from "../../engine/clock.ts";
import type { DurableObjectStorage } from "./platform.ts";

/**
 * The engine's clock inside a Durable Object: its one timer is the object's
 * alarm. The engine's scheduler already arms at most one timer at a time, so
 * every heartbeat, connect, upgrade and ack deadline of the object rides on
 * that single alarm, and an idle object can hibernate (a pending `setTimeout`
 * would keep it in memory).
 *
 * `setAlarm` is a billed row write, so the alarm is only written when the
 * wanted time differs from the stored one, once per turn of the event loop.
 * A cleared timer leaves the stored alarm in place: the wake it causes finds
 * nothing to do, which costs less than a `deleteAlarm` write would.
 *
 * The engine's deadlines run on `now()`, `performance.now()` as on every
 * runtime; an alarm is a wall-clock time, and so are the runtime's
 * auto-response timestamps and what the object stores for its next
 * instance: `wallNow()`, converted at this boundary (`setTimer`,
 * `toMonotonic`). Workers give `performance` a time origin of 0 and move
 * both clocks together, at I/O, so today the two scales coincide; the
 * conversion keeps each value on its own scale should that change.
 */
export class AlarmClock implements Clock {
  #fn: (() => void) | null = null;
  #at = Infinity;
  /** A wake the host wants besides the scheduler's timer (see `wakeAt`). */
  #wake = Infinity;
  /** The alarm time in storage; `undefined` until read. */
  #stored: number | null | undefined = undefined;
  /** The wall time `now()` and `wallNow()` read inside `at()`; null outside. */
  #pinned: number | null = null;
  #syncQueued = false;
  /** setAlarm calls made (each a billed row write); for measurements. */
  writes = 0;
  /** How late the runtime delivered alarms, ms (worst and sum, with `fired`); for measurements. */
  lateMax = 0;
  lateSum = 0;
  fired = 0;

  constructor(readonly storage: DurableObjectStorage) {}

  /** Reads the stored alarm so the first arm after a wake does not rewrite it. */
  async load(): Promise<void> {
    this.#stored = await this.storage.getAlarm();
  }

  now(): number {
    return this.#pinned === null ? performance.now() : this.toMonotonic(this.#pinned);
  }

  wallNow(): number {
    return this.#pinned ?? Date.now();
  }

  /** A wall-clock time (an auto-response timestamp, a stored ping) on the scale of `now()`. */
  toMonotonic(wall: number): number {
    return wall - Date.now() + performance.now();
  }

  /**
   * Runs `fn` with the clock reading wall time `at`: a pong the runtime
   * answered at `at` is handed to the session as if it arrived then, so the
   * next ping is due `pingInterval` after the pong and not after the wake
   * that noticed it.
   */
  at<T>(at: number, fn: () => T): T {
    this.#pinned = at;
    try {
      return fn();
    } finally {
      this.#pinned = null;
    }
  }

  setTimer(fn: () => void, ms: number): unknown {
    this.#fn = fn;
    // The alarm is a wall time: `ms` from now on either scale.
    this.#at = this.wallNow() + Math.max(0, ms);
    this.#queueSync();
    return this;
  }

  clearTimer(): void {
    this.#fn = null;
    this.#at = Infinity;
  }

  /**
   * Also wake the object at `at` (Infinity: no such wake). The host uses it
   * to look for pongs the runtime answered before a session's next ping is
   * due; the alarm is set for the earlier of this and the scheduler's timer.
   */
  get wake(): number {
    return this.#wake;
  }

  wakeAt(at: number): void {
    if (at === this.#wake) return;
    this.#wake = at;
    this.#queueSync();
  }

  /**
   * The `alarm()` handler: the stored alarm is spent; run the timer if it is
   * due. The next alarm is stored at the end of the turn.
   */
  fire(): void {
    const now = Date.now();
    if (typeof this.#stored === "number") {
      const late = Math.max(0, now - this.#stored);
      this.lateMax = Math.max(this.lateMax, late);
      this.lateSum += late;
      this.fired++;
    }
    this.#stored = null;
    if (this.#wake <= now) this.#wake = Infinity;
    const fn = this.#fn;
    if (fn && this.#at <= now) {
      this.#fn = null;
      this.#at = Infinity;
      fn();
    }
    this.#queueSync();
  }

  #queueSync(): void {
    if (this.#syncQueued) return;
    this.#syncQueued = true;
    queueMicrotask(() => {
      this.#syncQueued = false;
      this.#sync();
    });
  }

  #sync(): void {
    const at = Math.min(this.#fn === null ? Infinity : this.#at, this.#wake);
    if (at === Infinity || this.#stored === at) return;
    this.#stored = at;
    this.writes++;
    this.storage.setAlarm(at).catch(() => {
      // The write failed: forget what we thought was stored so the next arm retries.
      this.#stored = undefined;
    });
  }
}
