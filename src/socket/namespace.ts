/**
 * Namespace: a communication channel multiplexed over every connection
 * ("/" is the main one, `io.sockets`). It owns its connected sockets, its
 * connection middlewares, its adapter, and the ack-id counter shared by
 * socket emits and broadcasts.
 */
import { collectResponses } from "./acks.ts";
import { type AdapterConstructor, type Adapter, createAdapter } from "./adapter.ts";
import { BroadcastOperator, type RemoteSocket } from "./broadcast-operator.ts";
import { type Middleware, runMiddlewares } from "./middleware.ts";
import type { Client } from "./client.ts";
import type { ParentNamespace } from "./parent-namespace.ts";
import type { Server } from "./server.ts";
import { Socket } from "./socket.ts";
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
import { type ExtendedError, type Room, SERVER_RESERVED_EVENTS, type Session, type SocketId } from "./types.ts";
import { errorMessage, ignoreRejection, rethrowAsync } from "./util.ts";

export interface NamespaceReservedEventsMap<
  ListenEvents extends EventsMap,
  EmitEvents extends EventsMap,
  ServerSideEvents extends EventsMap,
  SocketData,
> {
  connect: (socket: Socket<ListenEvents, EmitEvents, ServerSideEvents, SocketData>) => void;
  connection: (socket: Socket<ListenEvents, EmitEvents, ServerSideEvents, SocketData>) => void;
}

export interface ServerReservedEventsMap<
  ListenEvents extends EventsMap,
  EmitEvents extends EventsMap,
  ServerSideEvents extends EventsMap,
  SocketData,
> extends NamespaceReservedEventsMap<ListenEvents, EmitEvents, ServerSideEvents, SocketData> {
  new_namespace: (namespace: Namespace<ListenEvents, EmitEvents, ServerSideEvents, SocketData>) => void;
}

export type NamespaceMiddleware<
  ListenEvents extends EventsMap = DefaultEventsMap,
  EmitEvents extends EventsMap = ListenEvents,
  ServerSideEvents extends EventsMap = DefaultEventsMap,
  SocketData = any,
> = Middleware<Socket<ListenEvents, EmitEvents, ServerSideEvents, SocketData>, ExtendedError>;

/**
 * A namespace.
 *
 * @example
 * const admin = io.of("/admin");
 * admin.use((socket, next) => (socket.handshake.auth.token === secret ? next() : next(new Error("denied"))));
 * admin.on("connection", (socket) => socket.emit("welcome"));
 */
export class Namespace<
  ListenEvents extends EventsMap = DefaultEventsMap,
  EmitEvents extends EventsMap = ListenEvents,
  ServerSideEvents extends EventsMap = DefaultEventsMap,
  SocketData = any,
> extends StrictEventEmitter<
  ServerSideEvents,
  RemoveAcknowledgements<EmitEvents>,
  NamespaceReservedEventsMap<ListenEvents, EmitEvents, ServerSideEvents, SocketData>
> {
  /** Connected sockets only (sockets in middlewares are not here yet). */
  readonly sockets: Map<SocketId, Socket<ListenEvents, EmitEvents, ServerSideEvents, SocketData>> = new Map();
  adapter!: Adapter;
  /** Ack-id counter shared by socket emits and broadcasts of this namespace. */
  _ids = 0;
  /** @internal The parent of a dynamically created child namespace. */
  _parent: ParentNamespace<ListenEvents, EmitEvents, ServerSideEvents, SocketData> | undefined;
  #fns: NamespaceMiddleware<ListenEvents, EmitEvents, ServerSideEvents, SocketData>[] = [];
  /**
   * Sockets in connection middlewares, by id; a child namespace is not
   * cleaned up while some are. Named as socket.io's private member, which
   * tools and socket.io's own tests read.
   * @internal
   */
  readonly _preConnectSockets = new Map<SocketId, Socket<ListenEvents, EmitEvents, ServerSideEvents, SocketData>>();

  constructor(
    readonly server: Server<ListenEvents, EmitEvents, ServerSideEvents, SocketData>,
    readonly name: string,
  ) {
    super();
    this._initAdapter();
  }

  /** @internal (Re)creates the adapter from the server's `adapter` option. */
  _initAdapter(): void {
    this.adapter = createAdapter(this.server.adapter() as AdapterConstructor, this);
    try {
      ignoreRejection(this.adapter.init());
    } catch {
      // As in socket.io, a failing init does not prevent the namespace from working locally.
    }
  }

  /**
   * Adds a connection middleware; `next(err)` rejects the client with
   * CONNECT_ERROR `{message, data}`.
   * @example nsp.use((socket, next) => { socket.data.user = lookup(socket.handshake.auth); next(); });
   */
  use(fn: NamespaceMiddleware<ListenEvents, EmitEvents, ServerSideEvents, SocketData>): this {
    this.#fns.push(fn);
    return this;
  }

  /** @internal The middlewares to run for a new socket: a parent's (live) then this namespace's. */
  _middlewares(): NamespaceMiddleware<ListenEvents, EmitEvents, ServerSideEvents, SocketData>[] {
    const own = this.#fns;
    const parent = this._parent?._middlewares();
    return parent && parent.length > 0 ? [...parent, ...own] : own.slice();
  }

  to(room: Room | Room[]): BroadcastOperator<DecorateAcknowledgementsWithMultipleResponses<EmitEvents>, SocketData> {
    return this.#operator().to(room);
  }

  in(room: Room | Room[]): BroadcastOperator<DecorateAcknowledgementsWithMultipleResponses<EmitEvents>, SocketData> {
    return this.#operator().in(room);
  }

  except(room: Room | Room[]): BroadcastOperator<DecorateAcknowledgementsWithMultipleResponses<EmitEvents>, SocketData> {
    return this.#operator().except(room);
  }

  compress(compress: boolean): BroadcastOperator<DecorateAcknowledgementsWithMultipleResponses<EmitEvents>, SocketData> {
    return this.#operator().compress(compress);
  }

  get volatile(): BroadcastOperator<DecorateAcknowledgementsWithMultipleResponses<EmitEvents>, SocketData> {
    return this.#operator().volatile;
  }

  get local(): BroadcastOperator<DecorateAcknowledgementsWithMultipleResponses<EmitEvents>, SocketData> {
    return this.#operator().local;
  }

  timeout(
    timeout: number,
  ): BroadcastOperator<DecorateAcknowledgements<DecorateAcknowledgementsWithMultipleResponses<EmitEvents>>, SocketData> {
    return this.#operator().timeout(timeout);
  }

  #operator(): BroadcastOperator<DecorateAcknowledgementsWithMultipleResponses<EmitEvents>, SocketData> {
    return new BroadcastOperator(this.adapter);
  }

  /**
   * Broadcasts to every socket of the namespace (acks need `timeout()`).
   * @example io.of("/news").emit("headline", text);
   */
  emit<Ev extends EventNamesWithoutAck<EmitEvents>>(ev: Ev, ...args: EventParams<EmitEvents, Ev>): boolean {
    return (this.#operator().emit as (ev: string, ...a: unknown[]) => boolean)(ev as string, ...(args as unknown[]));
  }

  send(...args: EventParams<EmitEvents, "message">): this {
    (this.emit as (ev: string, ...a: unknown[]) => boolean)("message", ...(args as unknown[]));
    return this;
  }

  write(...args: EventParams<EmitEvents, "message">): this {
    return this.send(...args);
  }

  /**
   * Emits to the other servers of a cluster; a trailing callback gets
   * `(err, responses)`.
   * @example io.serverSideEmit("reload-config");
   */
  serverSideEmit<Ev extends EventNames<ServerSideEvents>>(
    ev: Ev,
    ...args: EventParams<DecorateAcknowledgementsWithTimeoutAndMultipleResponses<ServerSideEvents>, Ev>
  ): boolean {
    if (SERVER_RESERVED_EVENTS.has(ev)) throw new Error(`"${String(ev)}" is a reserved event name`);
    const packet = args as unknown[];
    packet.unshift(ev);
    this.adapter.serverSideEmit(packet);
    return true;
  }

  serverSideEmitWithAck<Ev extends EventNamesWithAck<ServerSideEvents>>(
    ev: Ev,
    ...args: AllButLast<EventParams<ServerSideEvents, Ev>>
  ): Promise<FirstNonErrorArg<Last<EventParams<ServerSideEvents, Ev>>>[]> {
    return collectResponses((cb) => (this.serverSideEmit as (ev: string, ...a: unknown[]) => boolean)(ev as string, ...(args as unknown[]), cb));
  }

  /** Called by cluster adapters with an event another server emitted: `[ev, ...args]`. */
  _onServerSideEmit(args: [string, ...unknown[]]): void {
    this.emitUntypedArray(args);
  }

  /** @deprecated use `fetchSockets()`. */
  allSockets(): Promise<Set<SocketId>> {
    return this.#operator().allSockets();
  }

  fetchSockets(): Promise<RemoteSocket<EmitEvents, SocketData>[]> {
    return this.#operator().fetchSockets() as Promise<RemoteSocket<EmitEvents, SocketData>[]>;
  }

  socketsJoin(room: Room | Room[]): void {
    this.#operator().socketsJoin(room);
  }

  socketsLeave(room: Room | Room[]): void {
    this.#operator().socketsLeave(room);
  }

  disconnectSockets(close = false): void {
    this.#operator().disconnectSockets(close);
  }

  // ── connection of a client (driven by Client) ─────────────────────────

  /**
   * A client asked to join: restore its session when it offers one, create
   * the socket, run the middlewares, then connect it on a later microtask
   * (if the connection is still open).
   * @internal
   */
  _add(client: Client<ListenEvents, EmitEvents, ServerSideEvents, SocketData>, auth: Record<string, unknown>): void {
    const recovery = this.server._recovery;
    if (recovery && typeof auth.pid === "string" && typeof auth.offset === "string") {
      let restored: Promise<Session | null>;
      try {
        restored = Promise.resolve(this.adapter.restoreSession(auth.pid, auth.offset));
      } catch {
        restored = Promise.resolve(null);
      }
      // A failed restore silently starts a fresh session.
      restored.then(
        (session) => this.#admit(client, auth, session ?? undefined),
        () => this.#admit(client, auth, undefined),
      );
      return;
    }
    this.#admit(client, auth, undefined);
  }

  #admit(
    client: Client<ListenEvents, EmitEvents, ServerSideEvents, SocketData>,
    auth: Record<string, unknown>,
    session: Session | undefined,
  ): void {
    if (!client._open) {
      // The connection dropped while the session was being looked up: keep it recoverable.
      if (session) this.#persistAgain(session);
      client._connectAborted(this.name);
      return;
    }
    const socket = new Socket(this, client, auth, session);
    client._pending(socket);
    if (session && this.server._recovery?.skipMiddlewares) {
      this.#connectSocket(socket, client);
      return;
    }
    this._preConnectSockets.set(socket.id, socket);
    runMiddlewares(this._middlewares(), socket, (err) => {
      // A microtask later, as socket.io does (a tick after the last `next()`).
      queueMicrotask(() => {
        this._preConnectSockets.delete(socket.id);
        this.#afterMiddlewares(socket, client, err, session);
      });
    });
  }

  #afterMiddlewares(
    socket: Socket<ListenEvents, EmitEvents, ServerSideEvents, SocketData>,
    client: Client<ListenEvents, EmitEvents, ServerSideEvents, SocketData>,
    err: ExtendedError | undefined,
    session: Session | undefined,
  ): void {
    if (!client._open || socket.state === "closed") {
      if (session) this.#persistAgain(session);
      socket._cleanup();
      client._connectAborted(this.name, socket);
      // The cleanup may have happened earlier (connection closed) while this socket still counted as pending.
      this.#checkEmpty();
      return;
    }
    if (err) {
      // Leaves rooms joined in the middleware; `join()` is a no-op from now on.
      socket._cleanup();
      client._connectAborted(this.name, socket);
      if (client.conn.protocol === 3) {
        // A socket.io-client 2.x emits this payload as its "error" event: the reference sends a bare value.
        socket._error(err.data || errorMessage(err));
        return;
      }
      const data: { message: string; data?: unknown } = { message: errorMessage(err) };
      if (err.data !== undefined) data.data = err.data;
      socket._error(data);
      return;
    }
    this.#connectSocket(socket, client);
  }

  /**
   * A restored session is removed from the store (see SessionAwareAdapter);
   * if its connection drops before the socket connects, store it again so
   * the next attempt can still recover.
   */
  #persistAgain(session: Session): void {
    const { sid, pid, rooms, data } = session;
    try {
      ignoreRejection(this.adapter.persistSession({ sid, pid, rooms, data }));
    } catch {
      // Best effort: the client then starts a fresh session.
    }
  }

  /** CONNECT reply first, then the client registers the socket, then "connection" handlers run. */
  #connectSocket(
    socket: Socket<ListenEvents, EmitEvents, ServerSideEvents, SocketData>,
    client: Client<ListenEvents, EmitEvents, ServerSideEvents, SocketData>,
  ): void {
    this.sockets.set(socket.id, socket);
    socket._onconnect();
    client._connected(socket);
    try {
      this._parent?._emitReservedConnection(socket);
      this.emitReserved("connect", socket);
      this.emitReserved("connection", socket);
    } catch (err) {
      rethrowAsync(err);
    }
  }

  /** @internal A socket left (disconnect, or rejected by middleware). */
  _remove(socket: Socket<ListenEvents, EmitEvents, ServerSideEvents, SocketData>): void {
    this.sockets.delete(socket.id);
    this.#checkEmpty();
  }

  #checkEmpty(): void {
    if (this.sockets.size === 0 && this._preConnectSockets.size === 0) this._parent?._childEmptied(this);
  }

  /** @internal "new_namespace" is emitted on the main namespace (where `io.on()` listens). */
  _emitNewNamespace(nsp: Namespace<ListenEvents, EmitEvents, ServerSideEvents, SocketData>): void {
    this.emitUntyped("new_namespace", nsp);
  }

  /** @internal Lets a parent namespace emit its "connect"/"connection" for a child's socket. */
  _emitReservedConnection(socket: Socket<ListenEvents, EmitEvents, ServerSideEvents, SocketData>): void {
    this.emitReserved("connect", socket);
    this.emitReserved("connection", socket);
  }
}
