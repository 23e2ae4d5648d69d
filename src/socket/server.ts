/**
 * Server: the Socket.IO server. It owns an Engine (the Engine.IO server),
 * turns each engine connection into a Client, and holds the namespaces.
 * It is also a `RequestTarget`, so runtime shims serve it directly:
 * `serve(io, { port })`. This core class takes options only: socket.io's
 * `new Server(httpServer)`, `new Server(port)`, `attach()` and `listen()`
 * are added by the runtime's `Server` (`unio/node`, `unio/bun`, `unio/deno`),
 * which extends this one.
 */
import type { Clock } from "../engine/clock.ts";
import { Engine } from "../engine/engine.ts";
import type { Fanout, IncomingRequest, OutgoingResponse, RequestTarget, SharedFrame, UpgradeResult } from "../engine/facade.ts";
import type { EngineOptions, ResolvedPerMessageDeflate } from "../engine/options.ts";
import type { Scheduler } from "../engine/scheduler.ts";
import type { EngineSocket } from "../engine/types.ts";
import { defaultParser } from "../protocol/socket-io.ts";
import type { Parser, ParserDecoder, ParserEncoder } from "../protocol/socket-io-packet.ts";
import { Adapter, type AdapterConstructor } from "./adapter.ts";
import type { BroadcastOperator, RemoteSocket } from "./broadcast-operator.ts";
import { Client } from "./client.ts";
import { serveClientFile } from "./client-files.ts";
import {
  Namespace,
  type NamespaceMiddleware,
  type ServerReservedEventsMap,
} from "./namespace.ts";
import { Drain, type DrainOptions } from "./drain.ts";
import { collectMetrics, type MetricsSnapshot, SocketCounters, toPrometheus } from "./metrics.ts";
import { AckHandlers, type LostAckHandler, type NamedAckHandler } from "./named-acks.ts";
import { NamespaceRegistry } from "./namespace-registry.ts";
import { type EventRateLimit, type ResolvedEventRateLimit, resolveEventRateLimit } from "./rate-limit.ts";
import { SessionAwareAdapter } from "./session-aware-adapter.ts";
import type { Socket } from "./socket.ts";
import type {
  AllButLast,
  DecorateAcknowledgements,
  DecorateAcknowledgementsWithMultipleResponses,
  DecorateAcknowledgementsWithTimeoutAndMultipleResponses,
  DefaultEventsMap,
  EventNames,
  EventNamesWithAck,
  EventNamesWithoutAck,
  EventParams,
  EventsMap,
  FirstNonErrorArg,
  Last,
  RemoveAcknowledgements,
} from "./typed-events.ts";
import { StrictEventEmitter } from "./typed-events.ts";
import type { RecoveryOptions, Room, SocketId } from "./types.ts";

/** `of(fn)`: decides whether a dynamic namespace `name` may be created. */
export type ParentNspNameMatchFn = (
  name: string,
  auth: { [key: string]: any },
  fn: (err: Error | null, success: boolean) => void,
) => void;

/** Options of `new Server()`: socket.io's, plus every Engine option. */
export interface ServerOptions extends EngineOptions {
  /** Path of the endpoint; default "/socket.io" (requests go to "/socket.io/..."). */
  path: string;
  /** Serve the client bundle under the path (default true; needs a registered bundle loader, see client-files.ts). */
  serveClient: boolean;
  /** Adapter class or factory, created once per namespace. */
  adapter: AdapterConstructor;
  /** A module with `Encoder` and `Decoder` classes (e.g. socket.io-msgpack-parser). */
  parser: any;
  /** ms before closing a connection that joined no namespace; default 45000. */
  connectTimeout: number;
  /** Turns connection state recovery on (merged over its defaults). */
  connectionStateRecovery: { maxDisconnectionDuration?: number; skipMiddlewares?: boolean };
  /** Remove a dynamic child namespace once its last socket left. */
  cleanupEmptyChildNamespaces: boolean;
  /**
   * Default deadline, in ms, for every ack the server waits for (unio
   * addition, as socket.io-client's option of the same name): a
   * `socket.emit(..., ack)` or broadcast emit with an ack that sets no
   * `timeout()` behaves as `timeout(ackTimeout)`. Its callback is then
   * error-first: `(err, ...answer)`, with `Error("operation has timed out")`
   * when the client did not answer in time; `socket.emitWithAck()` rejects
   * then. Default: unset, acks without `timeout()` wait for ever (socket.io).
   *
   * @example
   * const io = new Server({ ackTimeout: 10_000 });
   * socket.emit("job", spec, (err, result) => { if (err) retry(spec); });
   * const results = await io.to("workers").emitWithAck("status"); // rejects after 10 s
   */
  ackTimeout: number;
  /** Per-socket incoming event rate: see `EventRateLimit` (unio addition). Default: unlimited. */
  eventRateLimit: EventRateLimit;
}

/** The engine the server drives: unio's Engine, or anything with the same connection surface. */
export type ServerEngine = Engine;

/**
 * A Socket.IO server.
 *
 * @example
 * import { Server } from "unio";
 * import { serve } from "unio/node";
 * const io = new Server({ cors: { origin: "*" } });
 * io.on("connection", (socket) => {
 *   socket.on("chat", (msg) => io.emit("chat", msg));
 * });
 * serve(io, { port: 3000 });
 */
export class Server<
    ListenEvents extends EventsMap = DefaultEventsMap,
    EmitEvents extends EventsMap = ListenEvents,
    ServerSideEvents extends EventsMap = DefaultEventsMap,
    SocketData = any,
  >
  extends StrictEventEmitter<
    ServerSideEvents,
    RemoveAcknowledgements<EmitEvents>,
    ServerReservedEventsMap<ListenEvents, EmitEvents, ServerSideEvents, SocketData>
  >
  implements RequestTarget
{
  /** The main namespace "/". */
  readonly sockets: Namespace<ListenEvents, EmitEvents, ServerSideEvents, SocketData>;
  /** The Engine.IO server. */
  engine!: ServerEngine;

  /** The Engine.IO server under socket.io's internal name (`io.eio`), which some code reads. */
  get eio(): ServerEngine {
    return this.engine;
  }
  /** @internal The parser module (`parser` option). */
  readonly _parser: Parser;
  /** One encoder for the whole server: encoding is stateless. */
  readonly encoder: ParserEncoder;
  /** unio's decoder, shared by every connection while it is idle (see Client); null with a third-party parser. */
  #idleDecoder: ParserDecoder | null | undefined;
  readonly #namespaces = new NamespaceRegistry<ListenEvents, EmitEvents, ServerSideEvents, SocketData>(this);
  /** Namespaces by name (socket.io's `_nsps`), children of parent namespaces included. */
  readonly _nsps: Map<string, Namespace<ListenEvents, EmitEvents, ServerSideEvents, SocketData>> = this.#namespaces.byName;
  /** @internal Connection state recovery settings, when on. */
  readonly _recovery: RecoveryOptions | undefined;
  /** @internal */
  _connectTimeout: number;
  /** @internal `ackTimeout`, or undefined when acks without `timeout()` wait for ever. */
  _ackTimeout: number | undefined;
  /** @internal `eventRateLimit` after defaults, when set. */
  _eventRate: ResolvedEventRateLimit | undefined;
  /** @internal The Socket.IO layer's counters with `metrics: true`; null without. */
  _counters: SocketCounters | null;
  /** @internal The handlers of named acks (`onAck`) and the lost-ack report (`onLostAck`). */
  readonly _acks = new AckHandlers();
  readonly #opts: Partial<ServerOptions>;
  #adapter: AdapterConstructor | undefined;
  #drain: Drain | undefined;
  #serveClient: boolean;
  #path: string;

  constructor(opts: Partial<ServerOptions> = {}) {
    super();
    if (typeof opts !== "object" || opts === null || typeof (opts as { listen?: unknown }).listen === "function") {
      // socket.io's `new Server(httpServer)` / `new Server(3000)`: only a runtime's Server can listen.
      throw new TypeError(
        'new Server() from "unio" takes options only; import { Server } from "unio/node" (or "unio/bun", "unio/deno") for new Server(httpServer | port, options)',
      );
    }
    const options: Partial<ServerOptions> = { ...opts };
    this.#path = (options.path || "/socket.io").replace(/\/$/, "");
    this._connectTimeout = options.connectTimeout || 45000;
    this.#serveClient = options.serveClient !== false;
    this._parser = (options.parser as Parser | undefined) ?? defaultParser;
    this.encoder = new this._parser.Encoder();
    if (options.connectionStateRecovery) {
      this._recovery = {
        maxDisconnectionDuration: 2 * 60 * 1000,
        skipMiddlewares: true,
        ...stripUndefined(options.connectionStateRecovery),
      };
      options.connectionStateRecovery = this._recovery;
      this.#adapter = options.adapter ?? SessionAwareAdapter;
    } else {
      this.#adapter = options.adapter ?? Adapter;
    }
    options.cleanupEmptyChildNamespaces = !!options.cleanupEmptyChildNamespaces;
    this._ackTimeout = validAckTimeout(options.ackTimeout);
    this._eventRate = resolveEventRateLimit(options.eventRateLimit);
    this._counters = options.metrics ? new SocketCounters() : null;
    this.#opts = options;
    this.bind(new Engine({ ...options, path: this.#path }, "/socket.io"));
    this.sockets = this.of("/");
  }

  /**
   * @internal The decoder idle connections share: unio's own parser keeps no
   * state between packets except a binary packet waiting for attachments, and
   * a connection takes the decoder over for that (`_replaceIdleDecoder`). Null
   * with a third-party parser: each connection then has its own.
   */
  _idleDecoder(): ParserDecoder | null {
    if (this.#idleDecoder === undefined) this.#idleDecoder = this._parser === defaultParser ? new this._parser.Decoder() : null;
    return this.#idleDecoder;
  }

  /** @internal A connection took the shared decoder over mid-packet: idle ones get a new one. */
  _replaceIdleDecoder(): void {
    this.#idleDecoder = new this._parser.Decoder();
  }

  /**
   * Merges `extra` under the options given to the constructor (those win, as
   * in socket.io's `attach(srv, opts)`) and, when that changes an engine
   * option, replaces the engine with one built from the merged options. Only
   * while no client is connected: a runtime's `attach()`/`listen()` calls it
   * before serving.
   * @internal
   */
  protected _reconfigure(extra: Partial<ServerOptions>): void {
    const merged = { ...stripUndefined(extra), ...this.#opts } as Partial<ServerOptions>;
    const changed = Object.keys(merged).some((k) => (merged as Record<string, unknown>)[k] !== (this.#opts as Record<string, unknown>)[k]);
    if (!changed) return;
    Object.assign(this.#opts, merged);
    if (merged.path !== undefined) this.#path = merged.path.replace(/\/$/, "");
    if (merged.connectTimeout !== undefined) this._connectTimeout = merged.connectTimeout;
    if (merged.serveClient !== undefined) this.#serveClient = merged.serveClient !== false;
    this._ackTimeout = validAckTimeout(merged.ackTimeout);
    this._eventRate = resolveEventRateLimit(merged.eventRateLimit);
    if (merged.metrics && !this._counters) this._counters = new SocketCounters();
    this.#rebuildEngine();
  }

  /** A new engine from the current options, keeping what shims set on the old one. */
  #rebuildEngine(): void {
    const old = this.engine;
    if (old.clientsCount > 0) throw new Error("the engine cannot be reconfigured once clients are connected");
    const engine = new Engine({ ...this.#opts, path: this.#path }, "/socket.io");
    engine.binaryType = old.binaryType;
    engine.preEncodeFrame = old.preEncodeFrame;
    engine.fanout = old.fanout;
    this.bind(engine);
    old.close();
  }

  /** The options, with CSR defaults merged (socket.io's `server.opts`: socket.io-adapter reads `connectionStateRecovery` here). */
  get opts(): Partial<ServerOptions> {
    return this.#opts;
  }

  /** @internal The options as given (with CSR defaults merged). */
  get _opts(): Partial<ServerOptions> {
    return this.#opts;
  }

  /** @internal The engine's clock: every socket-layer deadline reads it. */
  get _clock(): Clock {
    return this.engine.clock;
  }

  /** @internal The engine's scheduler: connect and ack timeouts are entries in it, not timers. */
  get _scheduler(): Scheduler {
    return this.engine.scheduler;
  }

  /**
   * Uses `engine` for connections (socket.io's `bind`). The constructor
   * already binds a new Engine; call this only to substitute another.
   */
  bind(engine: ServerEngine): this {
    this.engine?.off("connection", this.#onConnection);
    this.engine = engine;
    engine.on("connection", this.#onConnection);
    return this;
  }

  readonly #onConnection = (conn: EngineSocket): void => {
    const client = new Client(this, conn);
    // A socket.io-client 2.x never asks for "/": it is connected there as soon as its session opens.
    if (conn.protocol === 3) client._connectRoot();
  };

  // ── RequestTarget: delegated to the engine ────────────────────────────

  get maxPayload(): number {
    return this.engine.maxPayload;
  }

  get maxBufferedBytes(): number {
    return this.engine.maxBufferedBytes;
  }

  get perMessageDeflate(): ResolvedPerMessageDeflate {
    return this.engine.perMessageDeflate;
  }

  /** Forwarded to the engine: the runtime's native fan-out, if any. */
  get fanout(): Fanout | null {
    return this.engine.fanout;
  }
  set fanout(fanout: Fanout | null) {
    this.engine.fanout = fanout;
  }

  /** Forwarded to the engine: the runtime's binary type for decoded bytes. */
  get binaryType(): ((bytes: Uint8Array) => Uint8Array) | null {
    return this.engine.binaryType;
  }
  set binaryType(wrap: ((bytes: Uint8Array) => Uint8Array) | null) {
    this.engine.binaryType = wrap;
  }

  /** Forwarded to the engine: the shim's framing of broadcasts, for `packetCreate` listeners. */
  get preEncodeFrame(): ((frame: SharedFrame) => Uint8Array[]) | null {
    return this.engine.preEncodeFrame;
  }
  set preEncodeFrame(frame: ((frame: SharedFrame) => Uint8Array[]) | null) {
    this.engine.preEncodeFrame = frame;
  }

  matches(pathname: string): boolean {
    return this.engine.matches(pathname);
  }

  handleRequest(req: IncomingRequest): Promise<OutgoingResponse> {
    // Engine.IO requests are for the path itself ("/socket.io/?EIO=4..."); only a
    // longer pathname can name a client bundle, so the common case skips the lookup.
    if (this.#serveClient && pathnameOf(req.url).length > this.engine.path.length) return this.#serveFile(req);
    return this.engine.handleRequest(req);
  }

  async #serveFile(req: IncomingRequest): Promise<OutgoingResponse> {
    const file = await serveClientFile(req, this.engine.path, { cors: this.engine.opts.cors });
    return file ?? this.engine.handleRequest(req);
  }

  handleUpgrade(req: IncomingRequest): Promise<UpgradeResult> {
    return this.engine.handleUpgrade(req);
  }

  // ── settings ──────────────────────────────────────────────────────────

  /**
   * Gets or sets the path under which the server answers (default
   * "/socket.io", without trailing slash, as in socket.io). Setting it
   * rebuilds the engine, so do it before clients connect.
   * @example io.path("/ws"); io.path(); // "/ws"
   */
  path(v: string): this;
  path(): string;
  path(v?: string): this | string {
    if (v === undefined) return this.#path;
    this.#path = v.replace(/\/$/, "");
    this.#opts.path = this.#path;
    this.#rebuildEngine();
    return this;
  }

  /** Gets or sets whether the client bundle is served. */
  serveClient(v: boolean): this;
  serveClient(): boolean;
  serveClient(v?: boolean): this | boolean {
    if (v === undefined) return this.#serveClient;
    this.#serveClient = v;
    return this;
  }

  /** Gets or sets connectTimeout (ms) for connections created from now on. */
  connectTimeout(v: number): this;
  connectTimeout(): number;
  connectTimeout(v?: number): this | number {
    if (v === undefined) return this._connectTimeout;
    this._connectTimeout = v;
    return this;
  }

  /** Gets or sets the adapter; setting it re-creates the adapters of existing namespaces. */
  adapter(): AdapterConstructor | undefined;
  adapter(v: AdapterConstructor): this;
  adapter(v?: AdapterConstructor): this | AdapterConstructor | undefined {
    if (v === undefined) return this.#adapter;
    this.#adapter = v;
    for (const nsp of this._nsps.values()) nsp._initAdapter();
    return this;
  }

  // ── namespaces ────────────────────────────────────────────────────────

  /**
   * Gets or creates a namespace. A RegExp or a function creates a parent
   * namespace whose children are created when clients connect to them.
   * @example
   * io.of("/chat").on("connection", (socket) => {});
   * io.of(/^\/room-\d+$/).on("connection", (socket) => console.log(socket.nsp.name));
   */
  of(
    name: string | RegExp | ParentNspNameMatchFn,
    fn?: (socket: Socket<ListenEvents, EmitEvents, ServerSideEvents, SocketData>) => void,
  ): Namespace<ListenEvents, EmitEvents, ServerSideEvents, SocketData> {
    return this.#namespaces.of(name, fn);
  }

  /**
   * Asks the parent namespaces, in registration order, whether `name` may
   * be created; calls `fn` with the (possibly already existing) child, or
   * false (see namespace-registry.ts).
   * @internal
   */
  _checkNamespace(
    name: string,
    auth: { [key: string]: any },
    fn: (nsp: Namespace<ListenEvents, EmitEvents, ServerSideEvents, SocketData> | false) => void,
  ): void {
    this.#namespaces.check(name, auth, fn);
  }

  // ── named acks (unio addition) ────────────────────────────────────────

  /**
   * Registers the handler of the acks sent as `ackNamed(name, context)`, in
   * every namespace. Register at setup: where the runtime rebuilds the
   * server from stored state (Workers), the handler then exists again, and
   * a reply, or a deadline, that comes after the rebuild still reaches it.
   * @example
   * io.onAck("job-done", ({ socket, context }, err, result) => console.log(context.job, err ?? result));
   * socket.timeout(5000).emit("job", data, ackNamed("job-done", { job: 7 }));
   */
  onAck<Context = any>(name: string, handler: NamedAckHandler<Context>): this {
    this._acks.register(name, handler);
    return this;
  }

  /**
   * Called when a reply, or the deadline, comes for an ack whose callback
   * did not survive a rebuild of the server (a closure, after a Workers
   * eviction; or a named ack with no handler by its name). Without it, a
   * line is logged with `console.warn`.
   */
  onLostAck(handler: LostAckHandler | undefined): this {
    this._acks.onLost(handler);
    return this;
  }

  // ── proxies to the main namespace ─────────────────────────────────────

  /** Connection middleware of the main namespace. */
  use(fn: NamespaceMiddleware<ListenEvents, EmitEvents, ServerSideEvents, SocketData>): this {
    this.sockets.use(fn);
    return this;
  }

  to(room: Room | Room[]): BroadcastOperator<DecorateAcknowledgementsWithMultipleResponses<EmitEvents>, SocketData> {
    return this.sockets.to(room);
  }

  in(room: Room | Room[]): BroadcastOperator<DecorateAcknowledgementsWithMultipleResponses<EmitEvents>, SocketData> {
    return this.sockets.in(room);
  }

  except(room: Room | Room[]): BroadcastOperator<DecorateAcknowledgementsWithMultipleResponses<EmitEvents>, SocketData> {
    return this.sockets.except(room);
  }

  /** Broadcasts to every socket of the main namespace. */
  emit<Ev extends EventNamesWithoutAck<EmitEvents>>(ev: Ev, ...args: EventParams<EmitEvents, Ev>): boolean {
    return this.sockets.emit(ev, ...args);
  }

  /** Broadcasts to the main namespace and resolves with every answer; see `Namespace.emitWithAck` (needs `ackTimeout`). */
  emitWithAck<Ev extends EventNamesWithAck<EmitEvents>>(
    ev: Ev,
    ...args: AllButLast<EventParams<EmitEvents, Ev>>
  ): Promise<FirstNonErrorArg<Last<EventParams<EmitEvents, Ev>>>[]> {
    return this.sockets.emitWithAck(ev, ...args);
  }

  send(...args: EventParams<EmitEvents, "message">): this {
    this.sockets.send(...args);
    return this;
  }

  write(...args: EventParams<EmitEvents, "message">): this {
    this.sockets.send(...args);
    return this;
  }

  serverSideEmit<Ev extends EventNames<ServerSideEvents>>(
    ev: Ev,
    ...args: EventParams<DecorateAcknowledgementsWithTimeoutAndMultipleResponses<ServerSideEvents>, Ev>
  ): boolean {
    return this.sockets.serverSideEmit(ev, ...args);
  }

  serverSideEmitWithAck<Ev extends EventNamesWithAck<ServerSideEvents>>(
    ev: Ev,
    ...args: AllButLast<EventParams<ServerSideEvents, Ev>>
  ): Promise<FirstNonErrorArg<Last<EventParams<ServerSideEvents, Ev>>>[]> {
    return this.sockets.serverSideEmitWithAck(ev, ...args);
  }

  /** @deprecated use `fetchSockets()`. */
  allSockets(): Promise<Set<SocketId>> {
    return this.sockets.allSockets();
  }

  compress(compress: boolean): BroadcastOperator<DecorateAcknowledgementsWithMultipleResponses<EmitEvents>, SocketData> {
    return this.sockets.compress(compress);
  }

  get volatile(): BroadcastOperator<DecorateAcknowledgementsWithMultipleResponses<EmitEvents>, SocketData> {
    return this.sockets.volatile;
  }

  get local(): BroadcastOperator<DecorateAcknowledgementsWithMultipleResponses<EmitEvents>, SocketData> {
    return this.sockets.local;
  }

  timeout(
    timeout: number,
  ): BroadcastOperator<DecorateAcknowledgements<DecorateAcknowledgementsWithMultipleResponses<EmitEvents>>, SocketData> {
    return this.sockets.timeout(timeout);
  }

  fetchSockets(): Promise<RemoteSocket<EmitEvents, SocketData>[]> {
    return this.sockets.fetchSockets();
  }

  socketsJoin(room: Room | Room[]): void {
    this.sockets.socketsJoin(room);
  }

  socketsLeave(room: Room | Room[]): void {
    this.sockets.socketsLeave(room);
  }

  disconnectSockets(close = false): void {
    this.sockets.disconnectSockets(close);
  }

  /**
   * A snapshot of connections, traffic and timeouts (see `MetricsSnapshot`);
   * counters need the `metrics: true` option, gauges do not. With
   * `{ format: "prometheus" }`, the same in the Prometheus text format.
   *
   * @example
   * const io = new Server({ metrics: true });
   * io.metrics().connections.websocket;
   * app.get("/metrics", (_req, res) => res.type("text/plain").send(io.metrics({ format: "prometheus" })));
   */
  metrics(): MetricsSnapshot;
  metrics(opts: { format: "prometheus" }): string;
  metrics(opts?: { format?: "prometheus" }): MetricsSnapshot | string {
    const snapshot = collectMetrics(this);
    return opts?.format === "prometheus" ? toPrometheus(snapshot) : snapshot;
  }

  /** @internal Listener methods act on the main namespace ("connection", "new_namespace", server-side events). */
  protected override _listenerHost(): object {
    return this.sockets;
  }

  /** Whether `drain()` was called: new clients are refused, connected ones are being moved away. */
  get draining(): boolean {
    return this.#drain !== undefined;
  }

  /**
   * Takes this server out of service without a reconnect storm (unio
   * addition), then closes it:
   *
   * 1. New handshakes are refused at once: HTTP 503, the Engine.IO error
   *    JSON (message "Server is draining") and `Retry-After`, so a load
   *    balancer (or the client's reconnection) sends them to another node.
   *    Requests of connected clients keep working.
   * 2. Connected clients are closed one by one, spread evenly over
   *    `timeout` (100 clients over 10 s: one every 100 ms), without a
   *    DISCONNECT packet: socket.io-client sees "transport close" and
   *    reconnects, through your balancer, to another node. Their sockets
   *    get "disconnect" with "server shutting down"; with connection state
   *    recovery each session is persisted, and a node sharing the adapter
   *    (e.g. the Redis Streams adapter) restores it: the client keeps its
   *    id, rooms and missed packets.
   * 3. A client the server awaits acks from is closed once they settle or
   *    time out, never later than `timeout`; then the server closes as
   *    `close()` does (adapters, engine, a server `listen()` started), and
   *    the Promise resolves.
   *
   * `io.draining` is true from the first call; calling again returns the
   * same Promise. With `metrics: true`, `io.metrics().drain` counts the
   * connections drained. The spreading runs on the engine's scheduler (one
   * timer), so a FakeClock drives it in tests.
   *
   * @example
   * process.on("SIGTERM", async () => {
   *   await io.drain({ timeout: 20_000 }); // clients move to the other nodes over 20 s
   *   process.exit(0);
   * });
   * // A health check the load balancer polls: out of rotation while draining.
   * app.get("/healthz", (_req, res) => res.sendStatus(io.draining ? 503 : 200));
   */
  drain(opts: DrainOptions = {}): Promise<void> {
    if (this.#drain) return this.#drain.done;
    const drain = (this.#drain = new Drain(this, opts));
    drain.start();
    return drain.done;
  }

  /**
   * Closes every socket with "server shutting down" (no DISCONNECT packet,
   * so clients reconnect), closes the adapters, then the engine.
   * @example process.on("SIGTERM", () => io.close());
   */
  async close(fn?: (err?: Error) => void): Promise<void> {
    await Promise.allSettled(
      [...this._nsps.values()].map(async (nsp) => {
        for (const socket of [...nsp.sockets.values()]) socket._onclose("server shutting down");
        await nsp.adapter.close();
      }),
    );
    this.engine.close();
    this.#drain?.closed();
    fn?.();
  }
}

/** A usable `ackTimeout` (a finite number of ms, at least 0), or undefined. */
function validAckTimeout(v: unknown): number | undefined {
  return typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : undefined;
}

function pathnameOf(url: string): string {
  const q = url.indexOf("?");
  return q === -1 ? url : url.slice(0, q);
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
