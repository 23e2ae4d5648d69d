/**
 * The bookkeeping of a cluster adapter's requests: `fetchSockets()` and
 * `serverSideEmit()` with an ack wait for the other nodes' answers with a
 * deadline, and a broadcast with ack keeps its callbacks until its own
 * deadline. A node that died makes a request time out instead of hang.
 * Timers run on the server's scheduler.
 */
import type { Scheduler, TimerEntry, TimerTarget } from "../engine/scheduler.ts";

export type RequestKind = "fetchSockets" | "serverSideEmit";

/** Who is expected to answer a request: a count, or (with heartbeats) the uids of the live nodes. */
export interface Responders {
  count: number;
  uids?: Set<string>;
}

/** Settles a request: every answer, or an error at the deadline with the answers that came in. */
export type SettleRequest = (err: Error | null, responses: unknown[]) => void;

/** The error a request settles with at its deadline (the reference's wording). */
export type TimeoutError = (kind: RequestKind, received: number, expected: number, missing: number | undefined) => Error;

/**
 * A request waiting for the other nodes. Complete when every expected
 * node answered; at the deadline it settles with an error and what came in.
 */
class PendingRequest implements TimerTarget {
  current = 0;
  entry: TimerEntry | undefined;
  readonly #answered = new Set<string>();

  constructor(
    readonly book: RequestBook,
    readonly id: string,
    readonly kind: RequestKind,
    readonly expected: number,
    readonly missing: Set<string> | undefined,
    readonly responses: unknown[],
    readonly settle: SettleRequest,
  ) {}

  add(uid: string | undefined, items: unknown[]): void {
    if (uid !== undefined) {
      // A node answers once; a duplicate must not complete the request early.
      if (this.#answered.has(uid)) return;
      this.#answered.add(uid);
      this.missing?.delete(uid);
    }
    this.current++;
    for (const item of items) this.responses.push(item);
    this.checkComplete();
  }

  /** A node left the cluster: stop waiting for it. */
  forget(uid: string): void {
    if (this.missing?.delete(uid)) this.checkComplete();
  }

  checkComplete(): void {
    const done = this.missing ? this.missing.size === 0 : this.current >= this.expected;
    if (!done) return;
    this.entry?.cancel();
    this.book.requests.delete(this.id);
    this.settle(null, this.responses);
  }

  onTimer(): void {
    this.book.requests.delete(this.id);
    this.settle(this.book.timeoutError(this.kind, this.current, this.expected, this.missing?.size), this.responses);
  }

  fail(err: Error): void {
    this.entry?.cancel();
    this.settle(err, this.responses);
  }
}

/** The callbacks of a broadcast with ack, forgotten at its deadline. */
class AckRequest implements TimerTarget {
  cleanup: TimerEntry | undefined;

  constructor(
    readonly book: RequestBook,
    readonly id: string,
    readonly clientCount: (clientCount: number) => void,
    readonly ack: (...args: unknown[]) => void,
  ) {}

  onTimer(): void {
    this.book.ackRequests.delete(this.id);
  }
}

/**
 * A cluster adapter's requests in flight, by request id.
 *
 * @example
 * const id = book.start("fetchSockets", { count: 2 }, 5000, localSockets, (err, all) => ...);
 * // then, as answers arrive:
 * book.answer("fetchSockets", id, responderUid, remoteSockets);
 */
export class RequestBook {
  /** @internal */
  readonly requests = new Map<string, PendingRequest>();
  /** @internal */
  readonly ackRequests = new Map<string, AckRequest>();
  #closed = false;

  constructor(
    readonly scheduler: () => Scheduler,
    readonly newId: () => string,
    readonly timeoutError: TimeoutError,
  ) {}

  /**
   * Registers a request with its deadline; returns its id, or undefined
   * when the book is closed (the request then settles at once with an error).
   */
  start(
    kind: RequestKind,
    responders: Responders,
    timeout: number,
    initial: unknown[],
    settle: SettleRequest,
  ): string | undefined {
    const id = this.newId();
    const missing = responders.uids ? new Set(responders.uids) : undefined;
    const request = new PendingRequest(this, id, kind, responders.count, missing, initial, settle);
    if (this.#closed) {
      request.fail(new Error("the adapter is closed"));
      return undefined;
    }
    this.requests.set(id, request);
    request.entry = this.scheduler().schedule(request, 0, timeout);
    return id;
  }

  /** An answer from node `uid` (undefined on legacy wires) to request `id`; unknown ids and kinds are ignored. */
  answer(kind: RequestKind, id: string, uid: string | undefined, items: unknown[]): void {
    const request = this.requests.get(id);
    if (request?.kind === kind) request.add(uid, items);
  }

  /**
   * Registers the callbacks of a broadcast with ack. There is no way to know
   * when every remote client answered: they are forgotten after `timeout`.
   */
  startAck(clientCount: (clientCount: number) => void, ack: (...args: unknown[]) => void, timeout: number): string {
    const id = this.newId();
    const request = new AckRequest(this, id, clientCount, ack);
    this.ackRequests.set(id, request);
    request.cleanup = this.scheduler().schedule(request, 0, timeout);
    return id;
  }

  /** How many clients a node reached with broadcast `id`. */
  clientCount(id: string, count: number): void {
    this.ackRequests.get(id)?.clientCount(count);
  }

  /** One client's answer to broadcast `id`. */
  ack(id: string, arg: unknown): void {
    this.ackRequests.get(id)?.ack(arg);
  }

  /** Stops waiting for `uid` in every pending request (the node left). */
  forget(uid: string): void {
    for (const request of [...this.requests.values()]) request.forget(uid);
  }

  /** Number of requests waiting for answers. */
  get size(): number {
    return this.requests.size + this.ackRequests.size;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Settles pending requests at once: nothing will answer them once closed. */
  close(): void {
    this.#closed = true;
    const requests = [...this.requests.values()];
    this.requests.clear();
    for (const request of requests) request.fail(new Error("the adapter is closed"));
    for (const ackRequest of this.ackRequests.values()) ackRequest.cleanup?.cancel();
    this.ackRequests.clear();
  }
}

/** Rejects when `promise` (a broker round trip) takes longer than `ms`. */
export function withDeadline<T>(scheduler: Scheduler, promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const entry = scheduler.schedule({ onTimer: () => reject(new Error("timeout reached: the broker did not answer")) }, 0, ms);
    promise.then(
      (v) => {
        entry.cancel();
        resolve(v);
      },
      (err) => {
        entry.cancel();
        reject(err);
      },
    );
  });
}
