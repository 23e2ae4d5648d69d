/**
 * `io.drain()`: takes a server out of service without a reconnect storm.
 *
 *   drain({ timeout: T }) at t0
 *     ├─ the engine refuses every new handshake: 503 "Server is draining" + Retry-After
 *     ├─ connection i of N is due at t0 + i·T/N (a spread, not all at once):
 *     │     no acks awaited ─────────▶ closed now (the client sees "transport close",
 *     │                                  reconnects, and the balancer sends it elsewhere)
 *     │     acks awaited ────────────▶ waits until they settle or time out, then closed
 *     ├─ t0 + T: whatever is still open is closed anyway
 *     └─ io.close() (adapters, engine, listening server), and the Promise resolves
 *
 * One entry in the engine's scheduler drives it all, re-armed every `step`
 * ms (T/N, within 10..100 ms): each tick closes the connections that fell
 * due by then and re-checks those waiting for acks, so a late timer never
 * skips one and FakeClock tests run it instantly. Closing is graceful
 * (queued packets are flushed) and sends no DISCONNECT: the sockets get
 * "server shutting down", a recoverable reason, so with connection state
 * recovery each session is persisted by the adapter for another node to
 * restore.
 */
import type { TimerEntry, TimerTarget } from "../engine/scheduler.ts";
import type { EngineSocket } from "../engine/types.ts";
import type { Client } from "./client.ts";
import type { SocketCounters } from "./metrics.ts";

/** The fewest ms between two ticks: many connections due close together share one. */
const MIN_STEP = 10;
/** The most: acks settled and graceful closes completed are noticed within this, however few the connections. */
const MAX_STEP = 100;
/** `timeout` when none is given: 30 s (a common grace period, e.g. Kubernetes' default). */
export const DEFAULT_DRAIN_TIMEOUT = 30_000;

/** Options of `io.drain()`. */
export interface DrainOptions {
  /**
   * Milliseconds over which the connections are closed, and after which the
   * server is closed whatever is still pending; default 30000. Keep it under
   * your orchestrator's grace period (Kubernetes: terminationGracePeriodSeconds).
   */
  timeout?: number;
}

/** What the drain needs of the Server. */
export interface DrainHost {
  readonly engine: {
    readonly clients: ReadonlyMap<string, EngineSocket>;
    readonly scheduler: { schedule(target: TimerTarget, kind: number, delay: number): TimerEntry };
    readonly clock: { now(): number };
    drain(retryAfterMs: number): void;
  };
  readonly _nsps: ReadonlyMap<string, { readonly sockets: ReadonlyMap<string, { readonly client: Client }> }>;
  readonly _counters: SocketCounters | null;
  close(): Promise<void>;
}

/** One drain of one server, from `io.drain()` to its `close()`. */
export class Drain implements TimerTarget {
  readonly done: Promise<void>;
  #resolve!: () => void;
  readonly #host: DrainHost;
  readonly #timeout: number;
  #t0 = 0;
  #step = MIN_STEP;
  /** Connections open when the drain started, in the order they are closed. */
  #order: EngineSocket[] = [];
  /** Index in `#order` of the next connection to fall due. */
  #next = 0;
  /** Due connections waiting for their acks. */
  #waiting: Array<{ conn: EngineSocket; client: Client }> = [];
  #clientOf = new Map<EngineSocket, Client>();
  #timer: TimerEntry | undefined;
  #finished = false;

  constructor(host: DrainHost, opts: DrainOptions = {}) {
    this.#host = host;
    const t = opts.timeout;
    this.#timeout = typeof t === "number" && Number.isFinite(t) && t >= 0 ? t : DEFAULT_DRAIN_TIMEOUT;
    this.done = new Promise((resolve) => (this.#resolve = resolve));
  }

  start(): void {
    const engine = this.#host.engine;
    engine.drain(this.#timeout);
    this.#t0 = engine.clock.now();
    this.#order = [...engine.clients.values()];
    this.#clientOf = clientsByConn(this.#host);
    const n = this.#order.length;
    this.#step = Math.min(MAX_STEP, Math.max(MIN_STEP, n > 0 ? this.#timeout / n : MIN_STEP));
    this.onTimer();
  }

  onTimer(): void {
    this.#timer = undefined;
    if (this.#finished) return;
    const now = this.#host.engine.clock.now();
    const elapsed = now - this.#t0;
    const order = this.#order;
    const n = order.length;
    if (elapsed >= this.#timeout) return void this.#finish();
    // Connection i is due at i·T/N: the first at once, the last T/N before the deadline.
    const due = Math.min(n, Math.floor((elapsed * n) / this.#timeout) + 1);
    while (this.#next < due) {
      const conn = order[this.#next]!;
      order[this.#next++] = undefined as unknown as EngineSocket; // let it go once handled
      if (conn.readyState !== "open") continue;
      const client = this.#clientOf.get(conn);
      if (client && client._pendingAcks > 0) this.#waiting.push({ conn, client });
      else this.#close(conn, client);
    }
    if (this.#waiting.length > 0) {
      this.#waiting = this.#waiting.filter(({ conn, client }) => {
        if (conn.readyState !== "open") return false;
        if (client._pendingAcks > 0) return true;
        this.#close(conn, client);
        return false;
      });
    }
    if (this.#next >= n && this.#waiting.length === 0) {
      const engine = this.#host.engine;
      // A handshake that passed just before the drain began may have opened a session since: its turn is now.
      let late: EngineSocket[] | undefined;
      for (const conn of engine.clients.values()) if (conn.readyState === "open") (late ??= []).push(conn);
      if (late) {
        const clientOf = clientsByConn(this.#host);
        for (const conn of late) this.#close(conn, clientOf.get(conn));
      }
      // Done once every graceful close completed: a polling session closes on its client's next GET,
      // which the close packet rides on; closing the engine before would cut it off (400 on that GET).
      if (engine.clients.size === 0) return void this.#finish();
    }
    this.#timer = this.#host.engine.scheduler.schedule(this, 0, this.#step);
  }

  #close(conn: EngineSocket, client: Client | undefined): void {
    const counters = this.#host._counters;
    if (counters) counters.drained++;
    this.#clientOf.delete(conn);
    // A connection that joined no namespace has no sockets to tell: the engine closes it.
    if (client) client._drain();
    else conn.close();
  }

  /** The server closed (by this drain, or by `io.close()` during it): the drain is over. */
  closed(): void {
    this.#finished = true;
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#resolve();
  }

  async #finish(): Promise<void> {
    if (this.#finished) return;
    this.#finished = true;
    this.#timer?.cancel();
    this.#timer = undefined;
    const counters = this.#host._counters;
    // The deadline came first: what is still open (awaiting acks, or opened during the drain) is closed now.
    const open = [...this.#host.engine.clients.values()].filter((conn) => conn.readyState === "open");
    if (open.length > 0) {
      const clientOf = clientsByConn(this.#host);
      for (const conn of open) {
        if (counters) counters.drainedAtDeadline++;
        this.#close(conn, clientOf.get(conn));
      }
    }
    this.#waiting = [];
    this.#order = [];
    this.#clientOf.clear();
    try {
      await this.#host.close();
    } finally {
      this.closed();
    }
  }
}

/** The Client of every connection with a socket, found through the namespaces. */
function clientsByConn(host: DrainHost): Map<EngineSocket, Client> {
  const out = new Map<EngineSocket, Client>();
  for (const nsp of host._nsps.values()) {
    for (const socket of nsp.sockets.values()) out.set(socket.client.conn, socket.client);
  }
  return out;
}
