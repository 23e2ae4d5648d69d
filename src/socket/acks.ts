/**
 * The acknowledgements a socket awaits from its client, by ack id. Created
 * on a socket's first emit with an ack, so sockets that never ask for one
 * carry no map. Deadlines are scheduler entries, never per-ack timers.
 */
import type { Clock } from "../engine/clock.ts";
import type { Scheduler, TimerEntry, TimerTarget } from "../engine/scheduler.ts";
import { type AckSnapshot, describeAck } from "./named-acks.ts";

export type AckCallback = (...args: any[]) => void;

/**
 * The per-recipient callback of a broadcast with ack. `gone` tells the
 * broadcast that this recipient will never answer (it disconnected first),
 * so a broadcast without `timeout()` still ends.
 */
export type ResponseCallback = AckCallback & { gone?: () => void };

/** An ack awaited with a deadline; the scheduler calls `onTimer` when it expires. */
class PendingAck implements TimerTarget {
  entry: TimerEntry | undefined;
  constructor(
    readonly registry: AckRegistry,
    readonly id: number,
    readonly fn: AckCallback,
  ) {}
  onTimer(): void {
    const registry = this.registry;
    registry.map.delete(this.id);
    registry.changed?.();
    const counters = registry.counters;
    if (counters) counters.acksTimedOut++;
    this.fn.call(registry.thisArg, new Error("operation has timed out"));
  }
  settle(args: unknown[]): void {
    this.entry?.cancel();
    this.fn.call(this.registry.thisArg, null, ...args);
  }
}

/**
 * Turns an error-first multi-response ack (`(err, responses)`) into a
 * Promise: resolved with the responses, or rejected with the error carrying
 * the partial `responses` (as socket.io's `emitWithAck` on broadcasts does).
 */
export function collectResponses<T>(send: (cb: (err: (Error & { responses?: unknown }) | null, responses: any) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    send((err, responses) => {
      if (err) {
        err.responses = responses;
        reject(err);
      } else {
        resolve(responses);
      }
    });
  });
}

/**
 * Ack callbacks of one socket.
 *
 * @example
 * const acks = new AckRegistry(socket);
 * acks.add(0, (answer) => console.log(answer));
 * acks.settle(0, ["42"]); // logs "42"; a second settle(0) does nothing
 */
export class AckRegistry {
  readonly map = new Map<number, AckCallback | PendingAck>();

  /**
   * @param counters where an expired deadline is counted (`metrics: true`).
   */
  /**
   * @param changed called when an ack is added, answered, timed out or forgotten
   *   (a runtime that stores pending acks with the socket's state listens).
   */
  constructor(
    readonly thisArg: unknown,
    readonly counters: { acksTimedOut: number } | null = null,
    readonly changed?: () => void,
  ) {}

  /** Waits for `id` with no deadline (socket.io's default) or, with `timeout`, up to `timeout` ms. */
  add(id: number, fn: AckCallback, timeout?: number, scheduler?: Scheduler): void {
    if (timeout === undefined || !scheduler) {
      this.map.set(id, fn);
    } else {
      const pending = new PendingAck(this, id, fn);
      pending.entry = scheduler.schedule(pending, 0, timeout);
      this.map.set(id, pending);
    }
    this.changed?.();
  }

  /** Delivers the client's answer; unknown or already answered ids are ignored. */
  settle(id: number, args: unknown[]): void {
    const handler = this.map.get(id);
    if (handler === undefined) return;
    this.map.delete(id);
    this.changed?.();
    if (typeof handler === "function") handler.apply(this.thisArg, args);
    else handler.settle(args);
  }

  delete(id: number): void {
    if (this.map.delete(id)) this.changed?.();
  }

  /**
   * The pending acks as JSON (named ones with their name and context,
   * closures by id only), deadlines on the wall clock; undefined when none.
   */
  snapshot(clock: Clock): AckSnapshot[] | undefined {
    if (this.map.size === 0) return undefined;
    const out: AckSnapshot[] = [];
    for (const [id, handler] of this.map) {
      const fn = typeof handler === "function" ? handler : handler.fn;
      const state: AckSnapshot = { i: id };
      const { name, context } = describeAck(fn);
      if (name !== undefined) state.n = name;
      if (context !== undefined) state.c = context;
      const entry = typeof handler === "function" ? undefined : handler.entry;
      if (entry && !entry.cancelled) state.d = Math.round(clock.wallNow() + (entry.at - clock.now()));
      out.push(state);
    }
    return out;
  }

  /** The socket disconnected: the broadcasts still waiting for it learn it will not answer. */
  abandon(): void {
    for (const [id, handler] of this.map) {
      if (typeof handler !== "function" || !(handler as ResponseCallback).gone) continue;
      this.map.delete(id);
      (handler as ResponseCallback).gone!();
    }
  }
}

/**
 * The delay that puts a restored deadline (`wall`, wall-clock ms) in the
 * timer step it had before: the scheduler rounds deadlines up to its
 * granularity, and restored acks whose deadlines share a step then share
 * one queue. Never early, never later than the original would have fired;
 * 0 for a deadline already past.
 */
export function restoredDelay(wall: number, clock: Clock, granularity: number): number {
  const now = clock.now();
  const at = now + (wall - clock.wallNow());
  const due = granularity > 0 ? Math.ceil(at / granularity) * granularity : at;
  return Math.max(0, due - now);
}
