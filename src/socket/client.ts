/**
 * Client: the Socket.IO side of one Engine.IO connection. It owns the
 * decoder, routes decoded packets to the connection's sockets (one per
 * namespace), handles CONNECT (namespace lookup, dynamic namespaces),
 * closes connections that break the protocol, and closes connections that
 * join no namespace within `connectTimeout`.
 *
 * A connection over Engine.IO v3 is a socket.io-client 2.x speaking Socket.IO
 * protocol v4: it is connected to "/" without a CONNECT (`_connectRoot`),
 * its CONNECT names the namespace with an optional `?query` that becomes the
 * auth, and the sockets' ids and replies follow (socket.ts, namespace.ts).
 *
 * Decoded packets are queued and routed on a microtask, in arrival order,
 * by one bound function: no closure or Promise per packet, and user
 * handlers never run inside the engine's message callback.
 */
import type { IncomingRequest } from "../engine/facade.ts";
import type { TimerEntry, TimerTarget } from "../engine/scheduler.ts";
import { microtask } from "../engine/tick.ts";
import type { EngineCloseReason, EngineSocket, SessionHandler } from "../engine/types.ts";
import type { OutboundMessage } from "../engine/outbound.ts";
import { type Packet, PacketType, type ParserDecoder } from "../protocol/socket-io-packet.ts";
import type { Server } from "./server.ts";
import type { Adapter } from "./adapter.ts";
import { isEncodedPackets, sharedMessages, type WriteOptions } from "./adapter-contract.ts";
import type { Socket } from "./socket.ts";
import type { DefaultEventsMap, EventsMap } from "./typed-events.ts";
import type { DisconnectReason, Handshake } from "./types.ts";
import { NO_AUTH, rethrowAsync } from "./util.ts";
import { dropsVolatile } from "./volatile.ts";

const COMPRESS = { compress: true } as const;
const NONE: readonly never[] = [];
const NO_COMPRESS = { compress: false } as const;

/**
 * One Engine.IO connection's Socket.IO state.
 *
 * @example
 * io.on("connection", (socket) => console.log(socket.client.conn.transport.name));
 */
export class Client<
  ListenEvents extends EventsMap = DefaultEventsMap,
  EmitEvents extends EventsMap = ListenEvents,
  ServerSideEvents extends EventsMap = DefaultEventsMap,
  SocketData = any,
> implements TimerTarget, SessionHandler
{
  readonly #server: Server<ListenEvents, EmitEvents, ServerSideEvents, SocketData>;
  /**
   * This connection's own decoder: with a third-party parser always; with
   * unio's, only while a binary packet waits for its attachments (the one
   * state that decoder keeps). Otherwise the server's shared idle decoder
   * serves, so an idle connection keeps no decoder (measured: 64 bytes).
   */
  #decoder: ParserDecoder | undefined;
  /**
   * Connected sockets, one per namespace, in connection order. An array, not
   * a Map by name: a connection joins one namespace or a few, it is kept for
   * the connection's life, and a Map with one entry was measured at about
   * ten times a one-element array (some 260 bytes more).
   */
  #nsps: Array<Socket<ListenEvents, EmitEvents, ServerSideEvents, SocketData>> | undefined;
  /** Sockets still in connection middlewares; cleaned up if the connection closes first. Dropped when empty. */
  #pending: Set<Socket<ListenEvents, EmitEvents, ServerSideEvents, SocketData>> | undefined;
  /** Namespaces with a CONNECT being processed: a second CONNECT for one of them is ignored. Dropped when empty. */
  #connecting: Set<string> | undefined;
  #connectTimer: TimerEntry | undefined;
  /**
   * Decoded packets (or decode errors) waiting to be routed, only while some
   * are: one item as it is (the usual case: no array per message), more in
   * an array.
   */
  #queue: Packet | Error | Array<Packet | Error> | undefined;
  #drainScheduled = false;
  #query: Record<string, string> | undefined;
  #state: "open" | "failed" | "closed" = "open";

  constructor(
    server: Server<ListenEvents, EmitEvents, ServerSideEvents, SocketData>,
    readonly conn: EngineSocket,
  ) {
    this.#server = server;
    if (server._idleDecoder() === null) {
      // Third-party parsers (msgpack...) report packets through an event and throw on bad input.
      this.#decoder = new server._parser.Decoder();
      this.#decoder.on("decoded", (packet: Packet) => this.#enqueue(packet));
    }
    conn.setHandler(this);
    this.#connectTimer = server._scheduler.schedule(this, 0, server._connectTimeout);
  }

  /** The request that opened the Engine.IO session. */
  get request(): IncomingRequest {
    return this.conn.request;
  }

  /** The Engine.IO session id, as socket.io's `client.id` (a secret: never send it to other clients). */
  get id(): string {
    return this.conn.id;
  }

  /** connectTimeout expired. */
  onTimer(): void {
    this.#connectTimer = undefined;
    if (this.#nsps === undefined) this.close();
  }

  /** The session moved to a WebSocket: subscribe it to its sockets' fan-out topics. */
  onUpgrade(): void {
    for (const socket of this.#nsps ?? NONE) (socket.nsp.adapter as Partial<Adapter>)._topics?.subscribeAll(socket.id);
  }

  // ── incoming ──────────────────────────────────────────────────────────

  /** A message from the engine session (the `SessionHandler` side of this class). */
  onMessage(data: string | Uint8Array): void {
    if (this.#state !== "open") return;
    const own = this.#decoder;
    const decoder = own ?? this.#server._idleDecoder()!;
    if (decoder.push) {
      const step = decoder.push(data);
      if (step.kind === "pending") {
        // The decoder now holds this connection's half-received packet: it becomes this connection's own.
        if (own === undefined) {
          this.#decoder = decoder;
          this.#server._replaceIdleDecoder();
        }
      } else {
        // Idle again: back to the shared one (a connection whose parser is not shared keeps its own).
        if (own !== undefined && this.#server._idleDecoder() !== null) this.#decoder = undefined;
        if (step.kind === "packet") this.#enqueue(step.packet);
        else this.#enqueue(new Error(step.message));
      }
      return;
    }
    try {
      decoder.add(data);
    } catch (err) {
      this.#enqueue(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /**
   * socket.io's private name for feeding the decoder; what it cannot decode
   * (even `null`) fails the connection as a malformed packet does: "error"
   * on its sockets, then "forced close".
   */
  ondata(data: unknown): void {
    try {
      this.onMessage(data as string | Uint8Array);
    } catch (err) {
      this.#enqueue(err instanceof Error ? err : new Error(String(err)));
    }
  }

  #enqueue(item: Packet | Error): void {
    const queue = this.#queue;
    if (queue === undefined) this.#queue = item;
    else if (Array.isArray(queue)) queue.push(item);
    else this.#queue = [queue, item];
    if (!this.#drainScheduled) {
      this.#drainScheduled = true;
      // Packets are routed on the next microtask, as the reference does on the next tick; one
      // shared microtask drains every client with work, so no closure is made per client.
      Client.#draining.push(this);
      if (Client.#draining.length === 1) microtask(Client.#drainAll);
    }
  }

  /** Clients with packets to route; emptied in place by the drain (no array per drain). */
  static #draining: Client[] = [];

  static #drainAll = (): void => {
    const clients = Client.#draining;
    // A client that gets packets while this runs is appended and drained by this loop too.
    for (let i = 0; i < clients.length; i++) {
      try {
        clients[i]!.#drain();
      } catch (err) {
        rethrowAsync(err);
      }
    }
    clients.length = 0;
  };

  /**
   * Events of the batch being routed, as (socket, args or middleware error)
   * pairs in one flat array. They are dispatched once the whole batch is
   * routed, as socket.io dispatches on the next tick: an event followed by
   * its namespace's DISCONNECT in the same payload is then dropped, since
   * its socket is gone by the time it would reach the listeners.
   */
  static #deferred: unknown[] = [];
  static #routing = false;

  #drain(): void {
    let queue = this.#queue;
    let i = 0;
    Client.#routing = true;
    if (queue !== undefined && !Array.isArray(queue)) {
      if (this.#state === "open") this.#routeItem(queue);
      // A packet enqueued while that one was routed turned the queue into [it, next].
      queue = this.#queue;
      i = 1;
    }
    if (Array.isArray(queue)) {
      for (; i < queue.length; i++) {
        if (this.#state !== "open") break;
        this.#routeItem(queue[i]!);
      }
    }
    Client.#routing = false;
    this.#queue = undefined;
    this.#drainScheduled = false;
    const deferred = Client.#deferred;
    for (let i = 0; i < deferred.length; i += 2) {
      try {
        (deferred[i] as Socket)._dispatch(deferred[i + 1] as unknown[] | Error);
      } catch (err) {
        rethrowAsync(err);
      }
    }
    deferred.length = 0;
  }

  #routeItem(item: Packet | Error): void {
    try {
      if (item instanceof Error) this.#onDecodeError(item);
      else this.#route(item);
    } catch (err) {
      // A user handler threw: report it like an uncaught error, keep routing the batch.
      rethrowAsync(err);
    }
  }

  /** @internal An incoming event ready for its listeners (or its middleware error): now, or after the batch being routed. */
  _dispatch(socket: Socket<ListenEvents, EmitEvents, ServerSideEvents, SocketData>, event: unknown[] | Error): void {
    if (Client.#routing) Client.#deferred.push(socket, event);
    else socket._dispatch(event);
  }

  #route(packet: Packet): void {
    // unio's decoder guarantees a string; a third-party parser might not.
    if (typeof packet.nsp !== "string") return this.#onDecodeError(new Error("invalid namespace"));
    let name = packet.nsp;
    let auth = (packet.data as Record<string, unknown> | undefined) ?? NO_AUTH;
    if (this.conn.protocol === 3) {
      // Protocol v4 carries no auth object: `/admin?token=x` is the namespace and its query.
      const q = name.indexOf("?");
      auth = q === -1 ? NO_AUTH : Object.fromEntries(new URLSearchParams(name.slice(q + 1)));
      if (q !== -1) name = name.slice(0, q);
    }
    const socket = this.#socketOf(name);
    if (!socket) {
      if (packet.type === PacketType.CONNECT) {
        this.#connect(name, auth);
      } else {
        // A packet for a namespace not joined, or a CONNECT_ERROR from the client.
        this.close();
      }
      return;
    }
    if (packet.type === PacketType.CONNECT || packet.type === PacketType.CONNECT_ERROR) {
      // Duplicate CONNECT, or a CONNECT_ERROR from the client: protocol violation.
      this.close();
      return;
    }
    socket._onpacket(packet);
  }

  #onDecodeError(err: Error): void {
    this.#state = "failed";
    for (const socket of (this.#nsps ?? NONE).slice()) socket._onerror(err);
    // The engine reports "forced close" once the close completes.
    this.conn.close();
  }

  // ── namespace connection ──────────────────────────────────────────────

  /** @internal Connects a v3 connection to "/" unasked, as a socket.io-client 2.x expects. */
  _connectRoot(): void {
    this.#connect("/", NO_AUTH);
  }

  #connect(name: string, auth: Readonly<Record<string, unknown>>): void {
    const connecting = (this.#connecting ??= new Set());
    if (connecting.has(name)) return;
    connecting.add(name);
    const server = this.#server;
    if (server._nsps.has(name)) {
      server.of(name)._add(this, auth);
      return;
    }
    // User code sees this auth (a dynamic namespace's check), and it becomes the handshake's.
    if (auth === NO_AUTH) auth = {};
    server._checkNamespace(name, auth, (nsp) => {
      if (this.#state !== "open") return;
      if (nsp) {
        nsp._add(this, auth);
      } else {
        this.#doneConnecting(name);
        this._packet({ type: PacketType.CONNECT_ERROR, nsp: name, data: { message: "Invalid namespace" } }, true, false);
      }
    });
  }

  /** @internal Whether the engine connection is still open (checked after async middlewares). */
  get _open(): boolean {
    return this.#state === "open" && this.conn.readyState === "open";
  }

  /** @internal A socket was created and entered connection middlewares. */
  _pending(socket: Socket<ListenEvents, EmitEvents, ServerSideEvents, SocketData>): void {
    (this.#pending ??= new Set()).add(socket);
  }

  /** @internal A connection attempt ended without a socket joining (rejected, or the connection closed). */
  _connectAborted(name: string, socket?: Socket<ListenEvents, EmitEvents, ServerSideEvents, SocketData>): void {
    this.#doneConnecting(name);
    if (socket) this.#notPending(socket);
  }

  /** @internal A socket joined its namespace: register it and stop the connect timer. */
  _connected(socket: Socket<ListenEvents, EmitEvents, ServerSideEvents, SocketData>): void {
    const name = socket.nsp.name;
    this.#doneConnecting(name);
    this.#notPending(socket);
    const nsps = this.#nsps;
    const i = nsps ? nsps.findIndex((s) => s.nsp.name === name) : -1;
    if (i !== -1) nsps![i] = socket;
    else if (nsps) nsps.push(socket);
    else this.#nsps = [socket];
    this.#connectTimer?.cancel();
    this.#connectTimer = undefined;
  }

  #socketOf(name: string): Socket<ListenEvents, EmitEvents, ServerSideEvents, SocketData> | undefined {
    const nsps = this.#nsps;
    if (nsps) for (let i = 0; i < nsps.length; i++) if (nsps[i]!.nsp.name === name) return nsps[i];
    return undefined;
  }

  // The two sets are only needed while a CONNECT is in progress: a connection keeps neither for life.
  #doneConnecting(name: string): void {
    const connecting = this.#connecting;
    if (connecting?.delete(name) && connecting.size === 0) this.#connecting = undefined;
  }

  #notPending(socket: Socket<ListenEvents, EmitEvents, ServerSideEvents, SocketData>): void {
    const pending = this.#pending;
    if (pending?.delete(socket) && pending.size === 0) this.#pending = undefined;
  }

  /** @internal The time a socket created now is issued (its handshake's `issued`): wall-clock ms, as a date is shown from it. */
  _now(): number {
    return this.#server._clock.wallNow();
  }

  /** @internal The handshake of a socket of this connection issued at `issued` (see `Socket.handshake`). */
  _buildHandshake(auth: Readonly<Record<string, unknown>>, issued: number): Handshake {
    // A bound engine may have no HTTP request behind a connection (WebTransport in the
    // reference): then, as there, no headers or query, and the connection counts as secure.
    const req = this.conn.request as IncomingRequest | undefined;
    return {
      headers: req?.headers ?? {},
      time: new Date(issued).toString(),
      address: this.conn.remoteAddress,
      xdomain: !!req?.headers.origin,
      secure: req ? req.secure : true,
      issued,
      url: req?.url as string,
      query: this.#handshakeQuery(auth),
      auth: auth === NO_AUTH ? {} : (auth as Record<string, unknown>),
    };
  }

  /**
   * The query a socket's handshake shows. A v3 socket's auth is its
   * CONNECT's `?query`, which socket.io 2.x servers merged into
   * `handshake.query`, where apps written for them still look: unio shows
   * it there too (socket.io 4 puts it in `auth` only).
   */
  #handshakeQuery(auth: Readonly<Record<string, unknown>>): Record<string, string> {
    // A connection without an Engine.IO request (WebTransport in socket.io) has no query.
    const req = this.conn.request;
    const query = (this.#query ??= req ? parseQuery(req.url) : {});
    if (this.conn.protocol !== 3 || auth === NO_AUTH) return query;
    return { ...query, ...(auth as Record<string, string>) };
  }

  // ── outgoing ──────────────────────────────────────────────────────────

  /** @internal Encodes and writes one packet to this connection. */
  _packet(packet: Packet, compress: boolean, volatile: boolean): void {
    const conn = this.conn;
    if (conn.readyState !== "open") return;
    if (volatile && this.#dropsVolatile()) return;
    const encoded = this.#server.encoder.encode(packet);
    const opts = compress ? COMPRESS : NO_COMPRESS;
    for (let i = 0; i < encoded.length; i++) {
      const part = encoded[i]!;
      conn.send(part instanceof ArrayBuffer ? new Uint8Array(part) : part, opts);
    }
  }

  /**
   * socket.io's `Client.writeToEngine()`, for adapters built on
   * socket.io-adapter (see adapter-contract.ts): writes packets they encoded
   * once for every recipient. Nothing is written when the connection is
   * closed, or for a volatile packet while the transport is busy.
   */
  writeToEngine(encodedPackets: ReadonlyArray<string | Uint8Array | ArrayBuffer>, opts: WriteOptions = {}): void {
    if (!isEncodedPackets(encodedPackets)) return;
    this._writeMessages(sharedMessages(encodedPackets, opts.compress !== false), opts.volatile === true);
  }

  /** @internal Writes pre-encoded broadcast messages; false when nothing was written (closed, or volatile drop). */
  _writeMessages(messages: readonly OutboundMessage[], volatile: boolean): boolean {
    const conn = this.conn;
    if (conn.readyState !== "open") return false;
    if (volatile && this.#dropsVolatile()) return false;
    conn.sendMessages(messages);
    return true;
  }

  /** Whether a volatile packet is dropped now (volatile.ts); a drop is counted for metrics. */
  #dropsVolatile(): boolean {
    const server = this.#server;
    if (!dropsVolatile(this.conn, server.engine.opts.bufferedLowWaterMark)) return false;
    if (server._counters) server._counters.volatileDropped++;
    return true;
  }

  // ── closing ───────────────────────────────────────────────────────────

  /** @internal `socket.disconnect(true)`: DISCONNECT every namespace, then close the connection. */
  _disconnect(): void {
    for (const socket of (this.#nsps ?? NONE).slice()) socket.disconnect();
    this.#nsps = undefined;
    this.close();
  }

  /** @internal A socket left its namespace. */
  _remove(socket: Socket<ListenEvents, EmitEvents, ServerSideEvents, SocketData>): void {
    const nsps = this.#nsps;
    const i = nsps ? nsps.indexOf(socket) : -1;
    if (i === -1) return;
    if (nsps!.length === 1) this.#nsps = undefined;
    else nsps!.splice(i, 1);
  }

  /** @internal Acks this connection's sockets await from the client now (`io.drain()` waits for them). */
  get _pendingAcks(): number {
    let n = 0;
    for (const socket of this.#nsps ?? NONE) n += socket._pendingAcks;
    return n;
  }

  /**
   * @internal `io.drain()`: closes the connection gracefully (queued packets
   * are flushed first) so that the client reconnects, elsewhere: no
   * DISCONNECT packet is sent, which socket.io-client would take as "io
   * server disconnect" and not reconnect after; it sees "transport close".
   * The sockets get "server shutting down" (as with `io.close()`), a
   * recoverable reason: with connection state recovery their sessions are
   * persisted, for any node sharing the adapter to restore.
   */
  _drain(): void {
    if (this.conn.readyState !== "open") return;
    this.onClose("server shutting down");
    this.conn.close();
  }

  /**
   * Closes the connection gracefully (buffered packets are flushed). The
   * remaining sockets get "forced server close" first: our listener is
   * removed before the engine reports its own reason.
   */
  close(): void {
    if (this.conn.readyState !== "open") return;
    this.onClose("forced server close");
    this.conn.close();
  }

  /** The engine session closed (or this client closes it): every socket learns why. */
  onClose(reason: EngineCloseReason | DisconnectReason, description?: unknown): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    this.conn.setHandler(null);
    this.#decoder?.destroy();
    this.#connectTimer?.cancel();
    this.#connectTimer = undefined;
    this.#queue = undefined;
    const pending = this.#pending;
    this.#pending = undefined;
    if (pending) for (const socket of pending) socket._cleanup();
    const sockets = this.#nsps ?? NONE;
    this.#nsps = undefined;
    for (const socket of sockets) {
      try {
        socket._onclose(reason as DisconnectReason, description);
      } catch (err) {
        rethrowAsync(err);
      }
    }
  }
}

/**
 * The query of a request URL as an object; for a repeated key the last value
 * wins. Built like the reference's `Object.fromEntries`: every key is an own
 * data property, so `__proto__=x` is kept as data instead of being dropped by
 * the `__proto__` setter.
 */
function parseQuery(url: string): Record<string, string> {
  const q = url.indexOf("?");
  return Object.fromEntries(new URLSearchParams(q === -1 ? "" : url.slice(q + 1)));
}
