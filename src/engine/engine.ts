import { Emitter } from "./emitter.ts";
import {
  type ConnectionErrorEvent,
  ERROR_MESSAGES,
  ErrorCode,
  errorResponse,
  type RequestError,
  requestError,
  statusResponse,
} from "./errors.ts";
import type {
  Fanout,
  IncomingRequest,
  OutgoingResponse,
  RequestTarget,
  SharedFrame,
  UpgradeResult,
  WsConnection,
  WsHandler,
} from "./facade.ts";
import { EngineCounters } from "./counters.ts";
import { generateId as defaultGenerateId } from "./id.ts";
import { drainingError, HandshakeLimits } from "./limits.ts";
import {
  type EngineOptions,
  type ResolvedEngineOptions,
  type ResolvedPerMessageDeflate,
  resolveEngineOptions,
  serializeCookie,
} from "./options.ts";
import { PollingTransport } from "./polling.ts";
import { checkRequest, type RequestRules } from "./request-check.ts";
import { Scheduler } from "./scheduler.ts";
import { EngineSession } from "./session.ts";
import { requestFacts, type SessionSnapshot } from "./session-snapshot.ts";
import type { EngineSocket, TransportName } from "./types.ts";
import { WebSocketTransport } from "./websocket.ts";

export interface EngineEvents {
  [event: string]: (...args: any[]) => void;
  /** A new session opened. */
  connection: (socket: EngineSocket) => void;
  /** A request was refused; `code`/`message` as in the error body. */
  connection_error: (err: ConnectionErrorEvent) => void;
  /** Headers of a session's first response; mutate them to add your own. */
  initial_headers: (headers: Record<string, string>, req: IncomingRequest) => void;
  /** Headers of every polling response and every 101; mutable. */
  headers: (headers: Record<string, string>, req: IncomingRequest) => void;
}

/**
 * The Engine.IO v4 server, on Web-standard request/response shapes. A
 * runtime shim feeds it through the `RequestTarget` methods; sessions come
 * out as `connection` events.
 *
 * @example
 * import { Engine } from "unio";
 * import { serve } from "unio/node";
 * const engine = new Engine({ pingInterval: 10_000 });
 * engine.on("connection", (socket) => {
 *   socket.on("message", (data) => socket.send(data)); // echo
 * });
 * serve(engine, { port: 3000 });
 */
export class Engine extends Emitter<EngineEvents> implements RequestTarget {
  readonly opts: ResolvedEngineOptions;
  readonly clients = new Map<string, EngineSocket>();
  readonly scheduler: Scheduler;
  /**
   * Turns bytes the engine decoded itself (base64 over polling) into the
   * runtime's preferred binary type; the Node shim sets it so users (and
   * parsers such as socket.io-msgpack-parser) get `Buffer`s on every transport.
   */
  binaryType: ((bytes: Uint8Array) => Uint8Array) | null = null;
  /**
   * Set by the Node shim: the WebSocket frame a broadcast's text message is
   * written as, shown to `packetCreate` listeners as `options.wsPreEncodedFrame`
   * (socket.io's pre-encoded frame). Nothing calls it while nobody listens.
   */
  preEncodeFrame: ((frame: SharedFrame) => Uint8Array[]) | null = null;
  /**
   * The runtime's native fan-out, set by a shim whose runtime has topics; `null` elsewhere.
   * The Socket.IO layer publishes a broadcast through it when the
   * recipients are exactly one topic's subscribers (see room-topics.ts and session-fanout.ts).
   */
  fanout: Fanout | null = null;
  /** Counters for `metrics()`, with the `metrics` option; `null` (nothing counted) without. */
  readonly counters: EngineCounters | null;
  /** `maxConnections` / `handshakeRateLimit`, when either is set. */
  readonly #limits: HandshakeLimits | null;
  /** What `checkRequest` applies: the options, plus the load limits and the drain check. */
  readonly #rules: RequestRules;
  /** While draining (`drain()`): when new handshakes are told to retry (clock ms); null otherwise. */
  #drainUntil: number | null = null;

  constructor(options: EngineOptions = {}, defaultPath = "/engine.io") {
    super();
    this.opts = resolveEngineOptions(options, defaultPath);
    this.scheduler = new Scheduler(this.opts.clock, this.opts.timerGranularity);
    this.counters = this.opts.metrics ? new EngineCounters() : null;
    const { maxConnections, handshakeRateLimit } = this.opts;
    this.#limits = HandshakeLimits.wanted(maxConnections, handshakeRateLimit)
      ? new HandshakeLimits(maxConnections, handshakeRateLimit)
      : null;
    this.#rules = { ...this.opts, admit: (req) => this.#admit(req) };
    this.opts.sessionRouter?.bind(this);
  }

  get clock() {
    return this.opts.clock;
  }

  get path(): string {
    return this.opts.path;
  }

  get maxPayload(): number {
    return this.opts.maxHttpBufferSize;
  }

  get maxBufferedBytes(): number {
    return this.opts.maxBufferedBytes;
  }

  get perMessageDeflate(): ResolvedPerMessageDeflate {
    return this.opts.perMessageDeflate;
  }

  get clientsCount(): number {
    return this.clients.size;
  }

  /** Whether `drain()` was called: new handshakes are refused (503), existing sessions still served. */
  get draining(): boolean {
    return this.#drainUntil !== null;
  }

  /**
   * Stops admitting new sessions: from now on every handshake (polling or
   * WebSocket) is refused with 503, the Engine.IO error JSON (context name
   * `SERVER_DRAINING`, message "Server is draining") and `Retry-After`,
   * counted from `retryAfterMs` (the time left until the server is gone).
   * Requests of open sessions, upgrades included, keep working. Closing
   * the sessions is the caller's (the Socket.IO server's `drain()` spreads it).
   */
  drain(retryAfterMs = 0): void {
    this.#drainUntil ??= this.opts.clock.now() + Math.max(0, retryAfterMs);
  }

  matches(pathname: string): boolean {
    return pathname.startsWith(this.opts.path);
  }

  /** Handles a plain HTTP request: handshake, poll, post or preflight. */
  async handleRequest(req: IncomingRequest): Promise<OutgoingResponse> {
    const checked = await checkRequest(req, false, this.#rules);
    if (checked.kind === "preflight") return checked.response;
    if (checked.kind === "refused") return this.#refuse(req, checked.error, checked.headers);
    if (checked.kind === "session") {
      // A session another node holds: its requests go there (session-router.ts).
      const forwarded = this.#isRemote(checked.sid) && this.opts.sessionRouter!.forward(req, checked.sid, checked.headers);
      if (forwarded) return forwarded;
      // A deadline that passed before this request came (its timer not run yet) applies first.
      this.scheduler.runDue();
      const refused = this.#checkSession(checked, false);
      if (refused) return this.#refuse(req, refused, checked.headers);
    }

    const headers = checked.headers;
    headers["cache-control"] = "no-store";
    const ua = req.headers["user-agent"];
    if (ua && (ua.includes(";MSIE") || ua.includes("Trident/"))) headers["x-xss-protection"] = "0";

    if (checked.kind === "session") {
      const session = this.clients.get(checked.sid) as EngineSession;
      const transport = session.transport as PollingTransport;
      this.emitReserved("headers", headers, req);
      if (req.method === "GET") return transport.poll(req, headers);
      if (req.method === "POST") return transport.data(req, headers);
      return statusResponse(500, headers);
    }

    const id = await this.#newId(req);
    if (typeof id !== "string") return this.#refuse(req, id, headers);
    if (this.opts.cookie) headers["set-cookie"] = serializeCookie(id, this.opts.cookie);
    this.emitReserved("initial_headers", headers, req);
    this.emitReserved("headers", headers, req);
    const { protocol } = checked;
    const transport = new PollingTransport(
      this.opts.maxHttpBufferSize,
      this.opts.httpCompression,
      protocol,
      checked.supportsBinary,
      checked.jsonp,
    );
    const session = new EngineSession(this, id, req, transport);
    this.clients.set(id, session);
    const response = transport.poll(req, headers);
    if (this.counters) this.counters.handshakesPolling++;
    session.open();
    this.emitReserved("connection", session);
    return response;
  }

  /**
   * Handles a WebSocket upgrade request: a new session (no sid) or the
   * upgrade of a polling session (see the sequence drawn in session.ts).
   */
  async handleUpgrade(req: IncomingRequest): Promise<UpgradeResult> {
    const checked = await checkRequest(req, true, this.#rules);
    // A preflight is never an upgrade; answered all the same if a client sends one.
    if (checked.kind === "preflight") return { kind: "reject", response: checked.response };
    if (checked.kind === "refused") return { kind: "reject", response: this.#refuse(req, checked.error, checked.headers) };
    if (checked.kind === "session") {
      const forwarded = this.#isRemote(checked.sid) && this.opts.sessionRouter!.forwardUpgrade(req, checked.sid, checked.headers);
      if (forwarded) return forwarded;
      this.scheduler.runDue();
      const refused = this.#checkSession(checked, true);
      if (refused) return { kind: "reject", response: this.#refuse(req, refused, checked.headers) };
    }
    const { headers, supportsBinary } = checked;
    const { maxHttpBufferSize } = this.opts;

    if (checked.kind === "session") {
      const sid = checked.sid;
      this.emitReserved("headers", headers, req);
      return {
        kind: "accept",
        headers,
        open: (conn: WsConnection) => {
          const session = this.clients.get(sid) as EngineSession | undefined;
          // The probe speaks the session's revision, whatever this request's EIO says.
          const ws = new WebSocketTransport(conn, supportsBinary, maxHttpBufferSize, session?.protocol ?? 4);
          // Not upgradable (already on a WebSocket, or upgrading), or it closed or started
          // another upgrade while the runtime upgraded: the socket is closed unused.
          if (!session || session.readyState !== "open" || session.transport.name !== "polling" || session.upgrading) {
            ws.close();
          } else {
            session.beginUpgrade(ws);
          }
          return ws;
        },
      };
    }

    const id = await this.#newId(req);
    if (typeof id !== "string") return { kind: "reject", response: this.#refuse(req, id, headers) };
    this.emitReserved("initial_headers", headers, req);
    this.emitReserved("headers", headers, req);
    const { protocol } = checked;
    return {
      kind: "accept",
      headers,
      open: (conn: WsConnection) => {
        const ws = new WebSocketTransport(conn, supportsBinary, maxHttpBufferSize, protocol);
        // Many WebSocket handshakes can pass the check before the runtime opens any of them:
        // one that would now exceed maxConnections is closed at once (1013, "try again later").
        // Likewise for a handshake checked just before a drain started.
        if (this.#drainUntil !== null) {
          if (this.counters) this.counters.refusedDraining++;
          conn.close(1013, "Server is draining");
          ws.onClose();
          return ws;
        }
        if (this.#limits?.full(this.clients.size)) {
          if (this.counters) this.counters.refusedMaxConnections++;
          conn.close(1013, "Too many connections");
          ws.onClose();
          return ws;
        }
        const session = new EngineSession(this, id, req, ws);
        this.clients.set(id, session);
        if (this.counters) this.counters.handshakesWebsocket++;
        session.open();
        this.emitReserved("connection", session);
        return ws;
      },
    };
  }

  /**
   * Rebuilds a WebSocket session from its snapshot, for a runtime that woke
   * up holding the socket but none of the objects (Workers hibernation).
   * No `connection` event is emitted: the caller decides what the session
   * means to the layer above. `awaiting`: a ping is still unanswered, its
   * PONG deadline `delay` ms away (see `EngineSession.resume`).
   */
  restore(
    snapshot: SessionSnapshot,
    conn: WsConnection,
    pingDelay = 0,
    awaiting?: { sentAt: number; delay: number },
  ): { socket: EngineSocket; handler: WsHandler } {
    const ws = new WebSocketTransport(conn, snapshot.supportsBinary, this.opts.maxHttpBufferSize, snapshot.protocol ?? 4);
    const session = new EngineSession(this, snapshot.sid, requestFacts({ ...snapshot, method: "GET" }), ws);
    this.clients.set(snapshot.sid, session);
    session.resume(pingDelay, awaiting);
    return { socket: session, handler: ws };
  }

  /** Closes every session at once (buffers dropped), as the reference's `close()`. */
  close(): void {
    for (const s of [...this.clients.values()]) s.close(true);
    this.scheduler.clear();
  }

  onSessionClose(session: EngineSession): void {
    if (this.clients.get(session.id) === session) this.clients.delete(session.id);
  }

  /**
   * The checks a request for an existing session passes beyond `checkRequest`:
   * the session exists, and the request suits its transport.
   */
  #checkSession(checked: { sid: string; transport: TransportName }, upgrade: boolean): RequestError | undefined {
    const { sid, transport } = checked;
    const session = this.clients.get(sid);
    if (!session) return requestError(ErrorCode.UNKNOWN_SID, { sid });
    const previousTransport = session.transport.name;
    // A plain HTTP request can only be polling: `transport=websocket` on a WebSocket
    // session without an Upgrade would otherwise reach a transport with no poll().
    if (!upgrade && (transport !== previousTransport || previousTransport !== "polling")) {
      return requestError(ErrorCode.BAD_REQUEST, { name: "TRANSPORT_MISMATCH", transport, previousTransport });
    }
    // A WebSocket for a session that is upgrading or already on a WebSocket is not refused
    // here: as the reference, the handshake completes and the socket is closed at once (see
    // handleUpgrade), so clients such as Node's ws see a close rather than an HTTP error.
    if (upgrade && transport !== "websocket") {
      return requestError(ErrorCode.BAD_REQUEST, { name: "UPGRADE_REFUSED", transport, previousTransport });
    }
    return undefined;
  }

  /** The load limits, run by `checkRequest` before the user's allowRequest: a refused client costs no user code. */
  #admit(req: IncomingRequest): RequestError | undefined {
    if (this.#drainUntil !== null) return drainingError((this.#drainUntil - this.opts.clock.now()) / 1000);
    const limits = this.#limits;
    if (!limits) return undefined;
    return limits.check(this.#addressOf(req), this.clients.size, this.opts.clock.now());
  }

  /** The address the rate limit counts: `addressOf`'s (a throwing one falls back to the peer's), or the peer's. */
  #addressOf(req: IncomingRequest): string {
    const addressOf = this.opts.handshakeRateLimit?.addressOf;
    if (!addressOf) return req.remoteAddress;
    try {
      return String(addressOf(req) ?? "");
    } catch {
      return req.remoteAddress;
    }
  }

  /** Whether `sid` is not this node's while a session router may know its owner (session-router.ts). */
  #isRemote(sid: string): boolean {
    return this.opts.sessionRouter !== undefined && !this.clients.has(sid);
  }

  async #newId(req: IncomingRequest): Promise<string | RequestError> {
    try {
      let id = this.opts.generateId ? await this.opts.generateId(req) : defaultGenerateId();
      // With a router the id names this node, so other nodes can route the session's requests here.
      if (typeof id === "string" && id !== "" && this.opts.sessionRouter) id = this.opts.sessionRouter.localId(id);
      if (typeof id !== "string" || id === "" || this.clients.has(id)) throw new Error("invalid id");
      return id;
    } catch (error) {
      return requestError(ErrorCode.BAD_REQUEST, { name: "ID_GENERATION_ERROR", error });
    }
  }

  #refuse(req: IncomingRequest, err: RequestError, headers: Record<string, string>): OutgoingResponse {
    const c = this.counters;
    if (c) {
      if (err.context.name === "SERVER_DRAINING") c.refusedDraining++;
      else if (err.status === 503) c.refusedMaxConnections++;
      else if (err.status === 429) c.refusedRateLimit++;
      else c.refusedOther++;
    }
    this.emitReserved("connection_error", {
      req,
      code: err.code,
      message: ERROR_MESSAGES[err.code],
      context: err.context,
    });
    return errorResponse(err, headers);
  }
}
