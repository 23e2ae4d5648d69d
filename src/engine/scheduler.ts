import type { Clock } from "./clock.ts";

/** Something a scheduled entry calls back: one method, no closure per timer. */
export interface TimerTarget {
  onTimer(kind: number): void;
}

/**
 * A scheduled call. `cancel()` is O(1): the entry is skipped when it falls
 * due, and lets go of its target at once, so a closed session is not kept
 * alive by its cancelled heartbeat until that deadline.
 */
export class TimerEntry {
  cancelled = false;
  constructor(
    readonly at: number,
    public target: TimerTarget | null,
    readonly kind: number,
  ) {}
  cancel(): void {
    this.cancelled = true;
    this.target = null;
  }
}

/**
 * FIFO of entries that all share one delay, so they arrive already sorted by
 * deadline. Slots before `head` are cleared as they are passed: an entry
 * holds its target (a session, an ack), which must not stay reachable from
 * the queue once its time has come.
 */
class DelayQueue {
  items: Array<TimerEntry | undefined> = [];
  head = 0;
  peek(): TimerEntry | undefined {
    while (this.head < this.items.length && this.items[this.head]!.cancelled) this.items[this.head++] = undefined;
    this.#compact();
    return this.items[this.head];
  }
  shift(): TimerEntry | undefined {
    const e = this.peek();
    if (e) this.items[this.head++] = undefined;
    return e;
  }
  #compact(): void {
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}

/**
 * One runtime timer for every deadline of an engine: heartbeats of 100k
 * sessions are entries in a few queues, not 200k `setTimeout`s.
 *
 * Entries with the same delay are appended in time order, so each delay gets
 * a plain FIFO (O(1) insert, O(1) cancel) and the runtime timer is armed for
 * the earliest head among the queues. The number of distinct delays is small
 * (pingInterval, pingTimeout, upgradeTimeout, connectTimeout, a few ack
 * timeouts), which keeps the scan over queues cheap.
 */
export class Scheduler {
  #queues = new Map<number, DelayQueue>();
  #timer: unknown = undefined;
  #armedAt = Infinity;
  #running = false;

  /**
   * @param granularity when set, the runtime timer only fires on multiples of
   *   this many ms, so deadlines that fall close together share one wake-up
   *   (a Durable Object pays per wake). Entries then run up to that late.
   */
  constructor(
    readonly clock: Clock,
    readonly granularity = 0,
  ) {}

  /** Calls `target.onTimer(kind)` once, `delay` ms from now, unless cancelled. */
  schedule(target: TimerTarget, kind: number, delay: number): TimerEntry {
    const d = Math.max(0, Math.floor(delay));
    const entry = new TimerEntry(this.clock.now() + d, target, kind);
    let q = this.#queues.get(d);
    if (!q) this.#queues.set(d, (q = new DelayQueue()));
    q.items.push(entry);
    if (!this.#running && entry.at < this.#armedAt) this.#arm(entry.at);
    return entry;
  }

  /**
   * Runs now every entry whose exact deadline has passed, before its timer
   * does. The engine calls it before it handles a request for a session, so
   * a request that arrives after a deadline finds that deadline applied: a
   * runtime timer can lose that race (I/O handled before timers in the same
   * turn of the event loop, a loaded loop, a Durable Object's alarm rounded
   * up to `granularity` and delivered late). O(number of distinct delays)
   * when nothing is due.
   */
  runDue(): void {
    if (this.#running) return;
    const next = this.#earliest();
    if (!next || next.e.at > this.clock.now()) return;
    // The pending timer is re-armed for whatever remains once these ran.
    this.#disarm();
    try {
      this.#run(-Infinity);
    } catch (err) {
      // A throwing callback (user code behind an ack timeout) is not this request's failure:
      // it surfaces as it would from the timer, outside the caller.
      queueMicrotask(() => {
        throw err;
      });
    }
  }

  /** Number of live (not cancelled) entries; for leak checks in tests. */
  get size(): number {
    let n = 0;
    for (const q of this.#queues.values()) {
      for (let i = q.head; i < q.items.length; i++) if (!q.items[i]!.cancelled) n++;
    }
    return n;
  }

  /** Drops every entry and the runtime timer. */
  clear(): void {
    this.#queues.clear();
    this.#disarm();
  }

  #disarm(): void {
    if (this.#timer !== undefined) this.clock.clearTimer(this.#timer);
    this.#timer = undefined;
    this.#armedAt = Infinity;
  }

  #arm(deadline: number): void {
    const g = this.granularity;
    // Only future deadlines are rounded, to share a wake; one already due (an ack deadline that
    // passed while a Durable Object was evicted, restored on the wake) runs at once.
    const at = g > 0 && deadline > this.clock.now() ? Math.ceil(deadline / g) * g : deadline;
    if (at === this.#armedAt) return;
    this.#disarm();
    this.#armedAt = at;
    this.#timer = this.clock.setTimer(this.#onTimer, Math.max(0, at - this.clock.now()));
  }

  #earliest(): { q: DelayQueue; e: TimerEntry } | undefined {
    let best: { q: DelayQueue; e: TimerEntry } | undefined;
    for (const [d, q] of this.#queues) {
      const e = q.peek();
      if (!e) {
        this.#queues.delete(d);
        continue;
      }
      if (!best || e.at < best.e.at) best = { q, e };
    }
    return best;
  }

  readonly #onTimer = (): void => this.#run(this.#armedAt);

  /** Runs the entries due by now, or by `firedFor` (the time the spent runtime timer was armed for). */
  #run(firedFor: number): void {
    // The runtime timer was armed for `firedFor`: everything due by then runs
    // now, even if the clock reads a little earlier. Runtime timers count
    // from the event loop's cached time, which lags the clock when the timer
    // was armed inside a long callback, so they fire a few ms "early" by
    // Date.now. Re-arming for the remainder would make every heartbeat
    // deadline late by a timer tick (socket.io's setTimeout fires then), and
    // the protocol suite polls exactly pingInterval + pingTimeout after the
    // handshake expecting the session closed.
    this.#timer = undefined;
    this.#armedAt = Infinity;
    this.#running = true;
    let failure: unknown;
    try {
      for (;;) {
        const next = this.#earliest();
        if (!next || next.e.at > Math.max(this.clock.now(), firedFor)) break;
        next.q.shift();
        try {
          next.e.target?.onTimer(next.e.kind);
        } catch (err) {
          // A throwing callback (user code behind an ack timeout) must not stop the others.
          failure ??= err;
        }
      }
    } finally {
      this.#running = false;
      const next = this.#earliest();
      if (next) this.#arm(next.e.at);
    }
    if (failure !== undefined) throw failure;
  }
}
