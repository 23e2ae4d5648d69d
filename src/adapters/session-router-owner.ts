/**
 * The owner's half of the Redis session router: it serves requests other
 * nodes forward for sessions it holds, through its own engine, and holds the
 * owner's end of relayed WebSockets. The edge's half is in
 * redis-session-router.ts; the messages in session-router-wire.ts.
 *
 * A forwarded request becomes an `IncomingRequest` like any other: the
 * engine's checks, CORS, headers hooks and transports run unchanged, so the
 * client cannot tell the request took a detour.
 */
import type { BodyResult, IncomingRequest, OutgoingResponse, WsConnection, WsHandler } from "../engine/facade.ts";
import type { RoutedEngine } from "../engine/session-router.ts";
import {
  ABORT,
  CLOSED_AT_EDGE,
  CLOSED_AT_OWNER,
  OPENED,
  REFUSED,
  REQUEST,
  RESPONSE,
  type RouterMessage,
  TO_EDGE,
  TO_OWNER,
  UPGRADE,
  UPGRADED,
} from "./session-router-wire.ts";

/** How the owner reaches a node's channel. Resolves with the number of nodes that heard it. */
export type Send = (node: string, message: RouterMessage) => Promise<number>;

type Extract<T, K> = T extends { type: K } ? T : never;

const EMPTY = new Uint8Array(0);

/** A request that a forwarded message describes; its body was read (and capped) on the edge. */
function forwardedRequest(
  m: { method: string; url: string; headers: Record<string, string>; addr: string; secure: boolean; body: Uint8Array | null },
  aborts: Array<() => void>,
): IncomingRequest {
  const body = m.body ?? EMPTY;
  return {
    method: m.method,
    url: m.url,
    headers: m.headers,
    remoteAddress: m.addr,
    secure: m.secure,
    readBody: (limit: number): Promise<BodyResult> =>
      Promise.resolve(body.byteLength > limit ? { ok: false, reason: "too-large" } : { ok: true, bytes: body }),
    onAbort: (listener) => void aborts.push(listener),
  };
}

/**
 * The owner's end of a relayed WebSocket: what the session writes goes to
 * the edge node, which writes it to the client's socket. `bufferedAmount` is
 * 0 here; the edge watches its own socket's buffer instead (it closes a
 * client that stops reading, which closes this end).
 */
class RelayedConnection implements WsConnection {
  #closed = false;
  handler: WsHandler | null = null;
  constructor(
    readonly owner: SessionOwner,
    readonly edge: string,
    readonly id: number,
  ) {}
  readonly bufferedAmount = 0;
  send(data: string | Uint8Array, compress?: boolean): void {
    if (this.#closed) return;
    this.owner.post(this.edge, { type: TO_EDGE, id: this.id, frame: data, compress: compress !== false });
  }
  close(code = 1000, reason = ""): void {
    if (this.#closed) return;
    this.#closed = true;
    this.owner.dropRelay(this);
    this.owner.post(this.edge, { type: CLOSED_AT_OWNER, id: this.id, code, reason });
    // As a runtime does after close(): the transport hears its socket end.
    queueMicrotask(() => this.handler?.onClose(code, reason));
  }
  /** The edge's socket closed: the session hears it as its transport closing. */
  closedAtEdge(code: number, reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.handler?.onClose(code, reason);
  }
}

interface PendingAccept {
  open(conn: WsConnection): WsHandler;
  deadline: number;
}

export class SessionOwner {
  engine: RoutedEngine | null = null;
  /** Forwarded requests being served, by `edge:id`: their abort listeners. */
  readonly #served = new Map<string, Array<() => void>>();
  /** Upgrades the engine accepted, waiting for the edge's socket to open. */
  readonly #accepts = new Map<string, PendingAccept>();
  readonly #relays = new Map<string, RelayedConnection>();

  constructor(
    readonly send: Send,
    readonly requestTimeout: number,
    readonly now: () => number,
  ) {}

  /** Fire and forget: a node that is gone cannot be answered anyway. */
  post(node: string, message: RouterMessage): void {
    this.send(node, message).catch(() => {});
  }

  /** Requests and upgrades served for other nodes so far. */
  servedCount = 0;

  get relayCount(): number {
    return this.#relays.size;
  }

  get pendingCount(): number {
    return this.#accepts.size;
  }

  handle(m: RouterMessage): void {
    switch (m.type) {
      case REQUEST:
        this.servedCount++;
        return void this.#serve(m);
      case ABORT: {
        const key = `${m.from}:${m.id}`;
        const aborts = this.#served.get(key);
        this.#served.delete(key);
        if (aborts) for (const a of aborts) a();
        return;
      }
      case UPGRADE:
        this.servedCount++;
        return void this.#upgrade(m);
      case OPENED:
        return this.#opened(m);
      case TO_OWNER:
        return this.#relays.get(`${m.from}:${m.id}`)?.handler?.onMessage(m.frame);
      case CLOSED_AT_EDGE: {
        const relay = this.#relays.get(`${m.from}:${m.id}`);
        if (relay) {
          this.#relays.delete(`${m.from}:${m.id}`);
          relay.closedAtEdge(m.code, m.reason);
        }
        return;
      }
      default:
        // Replies belong to the edge's half.
        return;
    }
  }

  async #serve(m: Extract<RouterMessage, typeof REQUEST>): Promise<void> {
    const key = `${m.from}:${m.id}`;
    const aborts: Array<() => void> = [];
    this.#served.set(key, aborts);
    let res: OutgoingResponse;
    try {
      res = this.engine
        ? await this.engine.handleRequest(forwardedRequest(m, aborts))
        : { status: 400, headers: { "content-type": "application/json" }, body: '{"code":1,"message":"Session ID unknown"}' };
    } catch {
      res = { status: 500, headers: {}, body: "" };
    }
    // Aborted meanwhile: the edge no longer waits for it.
    if (this.#served.get(key) !== aborts) return;
    this.#served.delete(key);
    this.post(m.from, { type: RESPONSE, id: m.id, status: res.status, headers: res.headers, body: res.body });
  }

  async #upgrade(m: Extract<RouterMessage, typeof UPGRADE>): Promise<void> {
    const engine = this.engine;
    const req = forwardedRequest({ ...m, method: "GET", body: null }, []);
    const result = engine
      ? await engine.handleUpgrade(req).catch(() => null)
      : null;
    if (!result || result.kind === "reject") {
      const r = result?.response ?? { status: 500, headers: {}, body: "" };
      return this.post(m.from, { type: REFUSED, id: m.id, status: r.status, headers: r.headers, body: r.body });
    }
    this.#accepts.set(`${m.from}:${m.id}`, { open: result.open, deadline: this.now() + this.requestTimeout });
    this.post(m.from, { type: UPGRADED, id: m.id, headers: result.headers });
  }

  #opened(m: Extract<RouterMessage, typeof OPENED>): void {
    const key = `${m.from}:${m.id}`;
    const accept = this.#accepts.get(key);
    if (!accept) {
      // Too late (or never accepted): the edge's socket is closed, the client carries on polling.
      return this.post(m.from, { type: CLOSED_AT_OWNER, id: m.id, code: 1011, reason: "" });
    }
    this.#accepts.delete(key);
    const conn = new RelayedConnection(this, m.from, m.id);
    this.#relays.set(key, conn);
    conn.handler = accept.open(conn);
  }

  dropRelay(conn: RelayedConnection): void {
    const key = `${conn.edge}:${conn.id}`;
    if (this.#relays.get(key) === conn) this.#relays.delete(key);
  }

  /** Accepted upgrades whose socket never opened are forgotten (the client went away). */
  sweep(now: number): void {
    for (const [key, a] of this.#accepts) if (a.deadline <= now) this.#accepts.delete(key);
  }

  close(): void {
    for (const relay of [...this.#relays.values()]) relay.closedAtEdge(1001, "");
    this.#relays.clear();
    this.#accepts.clear();
    this.#served.clear();
  }
}
