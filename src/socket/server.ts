/**
 * Server: the Socket.IO server. It owns an Engine (the Engine.IO server),
 * turns each engine connection into a Client, and holds the namespaces.
 * It is also a `RequestTarget`, so runtime shims serve it directly:
 * `serve(io, { port })`. This core class takes options only: socket.io's
 * `new Server(httpServer)`, `new Server(port)`, `attach()` and `listen()`
 * are added by the runtime's `Server` (`unio/node`, `unio/bun`, `unio/deno`),
 * which extends this one.
 *
 * Its parts: the options (server-options.ts), the forwarding of requests to
 * the engine (server-request-target.ts) and the shortcuts to the main
 * namespace (server-broadcast.ts), both base classes of `Server`; the
 * namespaces themselves are kept by namespace-registry.ts.
 */
import { Engine } from "../engine/engine.ts";
import type { RequestTarget } from "../engine/facade.ts";
import type { EngineSocket } from "../engine/types.ts";
import { defaultParser } from "../protocol/socket-io.ts";
import type { Parser, ParserDecoder, ParserEncoder } from "../protocol/socket-io-packet.ts";
import { Adapter, type AdapterConstructor } from "./adapter.ts";
import { Client } from "./client.ts";
import type { Namespace } from "./namespace.ts";
import { Drain, type DrainOptions } from "./drain.ts";
import { collectMetrics, type MetricsSnapshot, SocketCounters, toPrometheus } from "./metrics.ts";
import { AckHandlers, type LostAckHandler, type NamedAckHandler } from "./named-acks.ts";
import { NamespaceRegistry } from "./namespace-registry.ts";
import { type ResolvedEventRateLimit, resolveEventRateLimit } from "./rate-limit.ts";
import { type ParentNspNameMatchFn, type ServerOptions, stripUndefined, validAckTimeout } from "./server-options.ts";
import { type ServerEngine, ServerRequestTarget } from "./server-request-target.ts";
import { SessionAwareAdapter } from "./session-aware-adapter.ts";
import type { Socket } from "./socket.ts";
import type { DefaultEventsMap, EventsMap } from "./typed-events.ts";
import type { RecoveryOptions } from "./types.ts";

export type { ParentNspNameMatchFn, ServerOptions } from "./server-options.ts";
export type { ServerEngine } from "./server-request-target.ts";

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
  extends ServerRequestTarget<ListenEvents, EmitEvents, ServerSideEvents, SocketData>
  implements RequestTarget
{
  /** The main namespace "/". */
  readonly sockets: Namespace<ListenEvents, EmitEvents, ServerSideEvents, SocketData>;
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
    this.serveClient(options.serveClient !== false);
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
    if (merged.serveClient !== undefined) this.serveClient(merged.serveClient !== false);
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
   * server from stored state (after evicting it), the handler then exists again, and
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
   * did not survive a rebuild of the server (a closure, after an eviction;
   * or a named ack with no handler by its name). Without it, a
   * line is logged with `console.warn`.
   */
  onLostAck(handler: LostAckHandler | undefined): this {
    this._acks.onLost(handler);
    return this;
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


