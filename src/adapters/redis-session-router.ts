/**
 * Several unio nodes behind a load balancer without sticky sessions, over
 * Redis Pub/Sub. Each node names the sessions it opens (an 8-character node
 * id in front of the usual random sid), so any node can tell a sid's owner
 * without a lookup. A request for a sid held elsewhere is forwarded to the
 * owner's channel and answered from there:
 *
 * - polling GET/POST: request/reply. The POST's body is read here first,
 *   capped at `maxHttpBufferSize`; the GET's reply comes when the owner
 *   writes to it (data, ping, noop), as it would locally.
 * - WebSocket upgrade: the socket is accepted here (it cannot be anywhere
 *   else) and its frames are relayed to the session on the owner for the
 *   life of the connection. A Socket.IO socket carries user state (closures
 *   of the connection handler, `socket.data`, rooms, pending acks) that cannot
 *   move between processes, so the session stays where it was opened.
 *
 * Bounded: at most `maxForwards` forwarded requests wait at once on a node
 * (more are shed with 503); a request the owner does not answer within its
 * deadline gets 400 "Session ID unknown" (a dead owner is noticed at once:
 * nobody hears the PUBLISH), and the client reconnects.
 */
import type { IncomingRequest, OutgoingResponse, UpgradeResult, WsConnection, WsHandler } from "../engine/facade.ts";
import type { RoutedEngine, SessionRouter } from "../engine/session-router.ts";
import { ErrorCode, errorResponse, requestError, statusResponse } from "../engine/errors.ts";
import { assertSupportedClient, guardErrors, publish, type RedisClient, subscribe, unsubscribe } from "./redis-clients.ts";
import { SessionOwner } from "./session-router-owner.ts";
import {
  ABORT,
  CLOSED_AT_EDGE,
  CLOSED_AT_OWNER,
  decodeMessage,
  encodeMessage,
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

export interface SessionRouterOptions {
  /** Channel prefix (`<key>-route#<node id>`); the same on every node. Default "socket.io". */
  key?: string;
  /**
   * ms the owner has to answer a forwarded POST or upgrade; a forwarded GET
   * gets `pingInterval` more (the owner holds it until it has something to
   * write, a ping at the latest). Default 5000.
   */
  requestTimeout?: number;
  /** Forwarded requests that may wait at once on this node; more get 503. Default 10000. */
  maxForwards?: number;
}

const NODE_ID_LENGTH = 8;
const NODE_ID = /^[A-Za-z0-9_-]{8}/;
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

function randomNodeId(): string {
  const bytes = new Uint8Array(NODE_ID_LENGTH);
  crypto.getRandomValues(bytes);
  let out = "";
  for (const b of bytes) out += ALPHABET[b & 63];
  return out;
}

function isCluster(client: RedisClient): boolean {
  return client?.isCluster === true || Array.isArray(client?.masters);
}

interface Waiting {
  owner: string;
  deadline: number;
  settle(reply: RouterMessage | null): void;
}

/** The edge's end of a relayed WebSocket: the client's real socket, on this node. */
interface EdgeRelay {
  owner: string;
  conn: WsConnection;
  closed: boolean;
}

/**
 * A `SessionRouter` over Redis Pub/Sub; pass it to `new Server()` (or
 * `new Engine()`) on every node. It may share the adapter's clients.
 *
 * @example
 * import { createClient } from "redis";
 * import { Server } from "unio";
 * import { createAdapter, createSessionRouter } from "unio/redis";
 *
 * const pub = createClient({ url: "redis://localhost:6379" });
 * const sub = pub.duplicate();
 * await Promise.all([pub.connect(), sub.connect()]);
 * const sessionRouter = createSessionRouter(pub, sub);
 * await sessionRouter.ready; // subscribed: sessions opened from now on are reachable
 * const io = new Server({ adapter: createAdapter(pub, sub), sessionRouter });
 */
export function createSessionRouter(pubClient: RedisClient, subClient: RedisClient, opts: SessionRouterOptions = {}): RedisSessionRouter {
  return new RedisSessionRouter(pubClient, subClient, opts);
}

export class RedisSessionRouter implements SessionRouter {
  /** This node's id: the first 8 characters of every sid it hands out. */
  readonly nodeId = randomNodeId();
  /** Resolves once this node hears its channel. */
  readonly ready: Promise<void>;
  readonly #pub: RedisClient;
  readonly #sub: RedisClient;
  readonly #key: string;
  readonly #requestTimeout: number;
  readonly #maxForwards: number;
  readonly #trustReceivers: boolean;
  readonly #owner: SessionOwner;
  #engine: RoutedEngine | null = null;
  #seq = 0;
  /** Forwards under way, from the first byte read to the reply: what `maxForwards` caps. */
  #inflight = 0;
  readonly #waiting = new Map<number, Waiting>();
  readonly #relays = new Map<number, EdgeRelay>();
  #sweeper: ReturnType<typeof setInterval> | null = null;
  #closed = false;
  readonly #onMessage = (_channel: string, bytes: Uint8Array) => this.#receive(bytes);

  constructor(pubClient: RedisClient, subClient: RedisClient, opts: SessionRouterOptions = {}) {
    assertSupportedClient(pubClient, "publisher");
    assertSupportedClient(subClient, "subscriber");
    guardErrors(pubClient);
    guardErrors(subClient);
    this.#pub = pubClient;
    this.#sub = subClient;
    this.#key = opts.key ?? "socket.io";
    this.#requestTimeout = opts.requestTimeout ?? 5000;
    this.#maxForwards = opts.maxForwards ?? 10_000;
    // PUBLISH's count is per shard in a Redis Cluster: 0 there does not mean the owner is gone.
    this.#trustReceivers = !isCluster(pubClient);
    this.#owner = new SessionOwner((node, m) => this.#send(node, m), this.#requestTimeout, () => performance.now());
    this.ready = subscribe(subClient, "channel", this.#channel(this.nodeId), this.#onMessage);
    this.ready.catch(() => {});
  }

  /** Requests and upgrades forwarded from here so far. */
  #forwarded = 0;

  /**
   * What the router is doing: forwards under way and done from this node,
   * requests served here for other nodes, and relayed WebSockets at either end.
   */
  get stats(): { inflight: number; forwarded: number; served: number; edgeRelays: number; ownerRelays: number } {
    return {
      inflight: this.#inflight,
      forwarded: this.#forwarded,
      served: this.#owner.servedCount,
      edgeRelays: this.#relays.size,
      ownerRelays: this.#owner.relayCount,
    };
  }

  bind(engine: RoutedEngine): void {
    this.#engine = engine;
    this.#owner.engine = engine;
  }

  localId(id: string): string {
    return this.nodeId + id;
  }

  /** The node a sid names, if another node. */
  #ownerOf(sid: string): string | undefined {
    const m = NODE_ID.exec(sid);
    if (!m || sid.length === NODE_ID_LENGTH || this.#closed) return undefined;
    return m[0] === this.nodeId ? undefined : m[0];
  }

  forward(req: IncomingRequest, sid: string, headers: Record<string, string>): Promise<OutgoingResponse> | undefined {
    const owner = this.#ownerOf(sid);
    if (!owner) return undefined;
    if (this.#inflight >= this.#maxForwards) return Promise.resolve(overloaded(headers));
    this.#inflight++;
    this.#forwarded++;
    return this.#forward(req, sid, owner, headers).finally(() => this.#inflight--);
  }

  async #forward(req: IncomingRequest, sid: string, owner: string, headers: Record<string, string>): Promise<OutgoingResponse> {
    let body: Uint8Array | null = null;
    if (req.method === "POST") {
      // The cap holds here, before a byte is published: the owner would refuse more anyway.
      const read = await req.readBody(this.#engine?.maxPayload ?? 1e6);
      if (!read.ok) return statusResponse(read.reason === "too-large" ? 413 : 400, headers);
      body = read.bytes;
    }
    const id = ++this.#seq;
    const get = req.method === "GET";
    const timeout = this.#requestTimeout + (get ? (this.#engine?.opts.pingInterval ?? 25_000) : 0);
    const reply = this.#await(id, owner, timeout);
    let gone = false;
    req.onAbort(() => {
      gone = true;
      const w = this.#waiting.get(id);
      if (w) w.settle(null);
      this.#post(owner, { type: ABORT, from: this.nodeId, id });
    });
    const m = { type: REQUEST, from: this.nodeId, id, method: req.method, url: req.url, headers: req.headers } as const;
    await this.ready;
    const sent = this.#send(owner, { ...m, addr: req.remoteAddress, secure: req.secure, body });
    this.#settleIfUnheard(id, sent);
    const r = await reply;
    if (r?.type === RESPONSE) return { status: r.status, headers: r.headers, body: r.body };
    // No answer in time (or nobody heard): the session is as good as unknown here.
    if (!gone && r === null) this.#post(owner, { type: ABORT, from: this.nodeId, id });
    return unknownSid(sid, headers);
  }

  forwardUpgrade(req: IncomingRequest, sid: string, headers: Record<string, string>): Promise<UpgradeResult> | undefined {
    const owner = this.#ownerOf(sid);
    if (!owner) return undefined;
    if (this.#inflight >= this.#maxForwards) return Promise.resolve({ kind: "reject", response: overloaded(headers) });
    this.#inflight++;
    this.#forwarded++;
    return this.#forwardUpgrade(req, sid, owner, headers).finally(() => this.#inflight--);
  }

  async #forwardUpgrade(req: IncomingRequest, sid: string, owner: string, headers: Record<string, string>): Promise<UpgradeResult> {
    const id = ++this.#seq;
    const reply = this.#await(id, owner, this.#requestTimeout);
    await this.ready;
    const sent = this.#send(owner, {
      type: UPGRADE,
      from: this.nodeId,
      id,
      url: req.url,
      headers: req.headers,
      addr: req.remoteAddress,
      secure: req.secure,
    });
    this.#settleIfUnheard(id, sent);
    const r = await reply;
    if (r?.type === REFUSED) return { kind: "reject", response: { status: r.status, headers: r.headers, body: r.body } };
    if (r?.type !== UPGRADED) return { kind: "reject", response: unknownSid(sid, headers) };
    return {
      kind: "accept",
      headers: r.headers,
      open: (conn) => this.#relay(id, owner, conn),
    };
  }

  /** The client's socket is open here: from now on its frames go to the owner and back. */
  #relay(id: number, owner: string, conn: WsConnection): WsHandler {
    const relay: EdgeRelay = { owner, conn, closed: false };
    this.#relays.set(id, relay);
    const toOwner = (m: RouterMessage) => {
      this.#send(owner, m).then(
        (heard) => {
          // The owner is gone: nothing on this socket can be served any more.
          if (heard === 0 && this.#trustReceivers && !relay.closed) conn.close(1011, "");
        },
        () => {},
      );
    };
    toOwner({ type: OPENED, from: this.nodeId, id });
    return {
      onMessage: (frame) => {
        if (!relay.closed) toOwner({ type: TO_OWNER, from: this.nodeId, id, frame });
      },
      onClose: (code, reason) => {
        if (relay.closed) return;
        relay.closed = true;
        this.#relays.delete(id);
        this.#post(owner, { type: CLOSED_AT_EDGE, from: this.nodeId, id, code: code >= 0 && code <= 4999 ? code : 1005, reason: String(reason ?? "") });
      },
    };
  }

  #onRelayed(m: Extract<RouterMessage, typeof TO_EDGE | typeof CLOSED_AT_OWNER>): void {
    const relay = this.#relays.get(m.id);
    if (!relay || relay.closed) return;
    if (m.type === TO_EDGE) {
      relay.conn.send(m.frame, m.compress);
      // A client that stops reading is cut off here, where its socket's buffer is visible.
      if (relay.conn.bufferedAmount > (this.#engine?.maxBufferedBytes ?? Infinity)) relay.conn.close(1008, "");
      return;
    }
    relay.closed = true;
    this.#relays.delete(m.id);
    relay.conn.close(m.code === 1005 || m.code === 1006 ? 1000 : m.code, m.reason);
  }

  #await(id: number, owner: string, timeout: number): Promise<RouterMessage | null> {
    return new Promise((resolve) => {
      this.#waiting.set(id, {
        owner,
        deadline: performance.now() + timeout, // monotonic: a wall-clock step must not expire or prolong a forward
        settle: (reply) => {
          this.#waiting.delete(id);
          resolve(reply);
        },
      });
      this.#sweep();
    });
  }

  /** Nobody subscribed to the owner's channel: it is gone, no need to wait for the deadline. */
  #settleIfUnheard(id: number, sent: Promise<number>): void {
    sent.then(
      (heard) => {
        if (heard === 0 && this.#trustReceivers) this.#waiting.get(id)?.settle(null);
      },
      () => this.#waiting.get(id)?.settle(null),
    );
  }

  #receive(bytes: Uint8Array): void {
    const m = decodeMessage(bytes);
    if (!m) return;
    switch (m.type) {
      case RESPONSE:
      case UPGRADED:
      case REFUSED:
        return this.#waiting.get(m.id)?.settle(m);
      case TO_EDGE:
      case CLOSED_AT_OWNER:
        return this.#onRelayed(m);
      default:
        return this.#owner.handle(m);
    }
  }

  #channel(node: string): string {
    return `${this.#key}-route#${node}`;
  }

  async #send(node: string, m: RouterMessage): Promise<number> {
    return Number(await publish(this.#pub, this.#channel(node), encodeMessage(m))) || 0;
  }

  #post(node: string, m: RouterMessage): void {
    this.#send(node, m).catch(() => {});
  }

  /** One shared timer, running only while something waits: deadlines of forwards and accepts. */
  #sweep(): void {
    if (this.#sweeper || this.#closed) return;
    const tick = Math.max(50, Math.min(1000, this.#requestTimeout / 4));
    this.#sweeper = setInterval(() => {
      const now = performance.now();
      for (const w of [...this.#waiting.values()]) if (w.deadline <= now) w.settle(null);
      this.#owner.sweep(now);
      if (this.#waiting.size === 0 && this.#owner.pendingCount === 0 && this.#sweeper) {
        clearInterval(this.#sweeper);
        this.#sweeper = null;
      }
    }, tick);
    (this.#sweeper as { unref?: () => void }).unref?.();
  }

  /** Stops routing: waiting forwards get 400, relayed sockets close, the channel is left. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#sweeper) clearInterval(this.#sweeper);
    this.#sweeper = null;
    for (const w of [...this.#waiting.values()]) w.settle(null);
    for (const relay of [...this.#relays.values()]) relay.conn.close(1001, "");
    this.#relays.clear();
    this.#owner.close();
    await unsubscribe(this.#sub, "channel", this.#channel(this.nodeId), this.#onMessage).catch(() => {});
  }
}

type Extract<T, K> = T extends { type: K } ? T : never;

function unknownSid(sid: string, headers: Record<string, string>): OutgoingResponse {
  return errorResponse(requestError(ErrorCode.UNKNOWN_SID, { sid }), headers);
}

/** Shed load: the Engine.IO error body, with 503 so a proxy or client may retry elsewhere. */
function overloaded(headers: Record<string, string>): OutgoingResponse {
  const res = errorResponse(requestError(ErrorCode.BAD_REQUEST, {}, "Too many forwarded requests"), headers);
  return { ...res, status: 503, headers: { ...res.headers, "retry-after": "1" } };
}
