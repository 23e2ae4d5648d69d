/**
 * A Socket: one client's connection to one namespace. Sending goes through
 * the Client (one per Engine.IO connection); receiving arrives from it as
 * decoded packets. Public API follows socket.io v4.8's `Socket`.
 *
 * Lifecycle, as a union rather than flags:
 *   "pending"   created, connection middlewares running
 *   "connected" CONNECT reply sent, in `nsp.sockets`
 *   "closed"    disconnected or rejected: rooms left, `join()` is a no-op
 *
 * Its base classes: the ack bookkeeping (socket-acks.ts) and the incoming
 * events' way to the listeners: rate limit, catch-alls, per-packet
 * middlewares (socket-listeners.ts).
 */
import type { EngineSocket } from "../engine/types.ts";
import type { IncomingRequest } from "../engine/facade.ts";
import { type Packet, PacketType } from "../protocol/socket-io-packet.ts";
import type { AckCallback } from "./acks.ts";
import { isNamedAck } from "./named-acks.ts";
import type { Adapter } from "./adapter.ts";
import { BroadcastOperator } from "./broadcast-operator.ts";
import type { Client } from "./client.ts";
import { generateId } from "../engine/id.ts";
import { TokenBucket } from "./rate-limit.ts";
import type { Namespace } from "./namespace.ts";
import type {
  AllButLast,
  DecorateAcknowledgements,
  DecorateAcknowledgementsWithMultipleResponses,
  DefaultEventsMap,
  EventNames,
  EventNamesWithAck,
  EventParams,
  EventsMap,
  FirstNonErrorArg,
  Last,
} from "./typed-events.ts";
import { SocketAcks } from "./socket-acks.ts";
import {
  type DisconnectReason,
  type Handshake,
  RECOVERABLE_DISCONNECT_REASONS,
  RESERVED_EVENTS,
  type Room,
  type Session,
  type SocketId,
} from "./types.ts";
import { ignoreRejection, toArray } from "./util.ts";

export type SocketState = "pending" | "connected" | "closed";

const UNSET: unique symbol = Symbol("unset");

/** Modifiers consumed by the next `emit` (socket.io's socket flags are mutable, unlike an operator's). */
interface SocketFlags {
  volatile?: boolean;
  compress?: boolean;
  timeout?: number;
}

/**
 * The server side of one client in one namespace.
 *
 * @example
 * io.on("connection", (socket) => {
 *   socket.join("lobby");
 *   socket.on("chat", (text, ack) => {
 *     socket.to("lobby").emit("chat", text);
 *     ack?.("ok");
 *   });
 *   socket.on("disconnect", (reason) => console.log(socket.id, reason));
 * });
 */
export class Socket<
  ListenEvents extends EventsMap = DefaultEventsMap,
  EmitEvents extends EventsMap = ListenEvents,
  ServerSideEvents extends EventsMap = DefaultEventsMap,
  SocketData = any,
> extends SocketAcks<ListenEvents, EmitEvents, ServerSideEvents, SocketData> {
  /** Public id, distinct from the Engine.IO session id (which is a secret). */
  readonly id: SocketId;
  /** Whether connection state recovery restored this socket's session. */
  readonly recovered: boolean;

  #state: SocketState = "pending";
  readonly #adapter: Adapter;
  readonly #pid: string | undefined;
  /** Missed packets of a restored session, written just before the CONNECT reply. */
  #missed: unknown[][] | undefined;
  #flags: SocketFlags | undefined;
  /** `data` until it is first read or set; most sockets never use it, and an empty object costs 60 bytes. */
  #data: SocketData | typeof UNSET = UNSET;
  /**
   * Until `handshake` is first read, what it is built from: the auth and the
   * time of issue (the rest comes from the connection). A socket no one asks
   * about keeps no handshake object, date string or query object.
   */
  #handshake: Handshake | undefined;
  readonly #auth: Record<string, unknown>;
  readonly #issued: number;

  constructor(
    readonly nsp: Namespace<ListenEvents, EmitEvents, ServerSideEvents, SocketData>,
    readonly client: Client<ListenEvents, EmitEvents, ServerSideEvents, SocketData>,
    auth: Record<string, unknown>,
    previousSession?: Session,
  ) {
    const rate = nsp.server._eventRate;
    // `eventRateLimit`'s bucket, only when the option is set. Durations on the deadline clock
    // (`now()`), not the wall clock the handshake is dated by.
    super(rate ? new TokenBucket(rate.burst, nsp.server._clock.now()) : undefined);
    this.#adapter = nsp.adapter;
    if (previousSession) {
      this.id = previousSession.sid;
      this.#pid = previousSession.pid;
      this.join(previousSession.rooms);
      this.data = previousSession.data as SocketData;
      this.#missed = previousSession.missedPackets;
      this.recovered = true;
    } else {
      // A socket.io-client 2.x derives the id itself from the Engine.IO id (`/admin#<sid>`),
      // so a v3 socket must use it, secret or not, as the reference does.
      const sid = client.conn.protocol === 3 ? client.conn.id : undefined;
      this.id = sid === undefined ? generateId() : nsp.name === "/" ? sid : `${nsp.name}#${sid}`;
      this.#pid = nsp.server._recovery ? generateId() : undefined;
      this.recovered = false;
    }
    this.#auth = auth;
    this.#issued = client._now();
    // No "error" listener is installed: an "error" nobody listens to is dropped by the emitter
    // (it never throws), and a listener table per socket would cost 56-64 bytes for life.
  }

  /** Free-form data: shown by `fetchSockets()`, restored by CSR. */
  get data(): SocketData {
    const data = this.#data;
    return data === UNSET ? (this.#data = {} as SocketData) : data;
  }

  set data(value: SocketData) {
    this.#data = value;
  }

  /** The handshake details, as socket.io gives them: built on first access, with the values of the time of connection. */
  get handshake(): Handshake {
    return (this.#handshake ??= this.client._buildHandshake(this.#auth, this.#issued));
  }

  /** @internal The private session id of connection state recovery (runtimes that rebuild sockets keep it). */
  get _pid(): string | undefined {
    return this.#pid;
  }

  /** Whether the socket is connected to its namespace. */
  get connected(): boolean {
    return this.#state === "connected";
  }

  get disconnected(): boolean {
    return this.#state !== "connected";
  }

  /** The lifecycle state (unio addition). */
  get state(): SocketState {
    return this.#state;
  }

  /** The request that opened the Engine.IO session. */
  get request(): IncomingRequest {
    return this.client.request;
  }

  /** The Engine.IO connection. */
  get conn(): EngineSocket {
    return this.client.conn;
  }

  /** Rooms this socket is in, its own id included. */
  get rooms(): Set<Room> {
    return this.#adapter.socketRooms(this.id) ?? new Set();
  }

  /**
   * Sends an event to this client. A trailing function asks for an ack.
   * @example socket.emit("hello", "world", (answer) => console.log(answer));
   */
  emit<Ev extends EventNames<EmitEvents>>(ev: Ev, ...args: EventParams<EmitEvents, Ev>): boolean {
    if (RESERVED_EVENTS.has(ev)) throw new Error(`"${String(ev)}" is a reserved event name`);
    const data = args as unknown[];
    // The rest array is ours: prepend the name in place instead of copying.
    data.unshift(ev);
    const packet: Packet = { type: PacketType.EVENT, nsp: this.nsp.name, data };
    const flags = this.#flags;
    this.#flags = undefined;
    const last = data[data.length - 1];
    if (typeof last === "function") {
      const timeout = flags?.timeout ?? this.nsp.server._ackTimeout;
      const id = this.nsp._ids;
      // An unknown ackNamed() name throws here, before the id is spent or anything is sent.
      const fn = isNamedAck(last) ? this.nsp.server._acks.callback(last, id, timeout !== undefined, false) : (last as AckCallback);
      this.nsp._ids++;
      data.pop();
      this._awaitAck(id, fn, timeout);
      packet.id = id;
    }
    if (this.nsp.server._recovery && this.#state !== "pending") {
      // Through the adapter so the packet gets an offset and is stored: a client that
      // recovers its session (even after this socket closed) receives it then.
      // Not while in connection middlewares: the adapter does not know the socket
      // yet, and socket.io silently drops the packet there.
      this.#adapter.broadcast(packet, { rooms: new Set([this.id]), except: new Set(), flags: flags ?? {} });
    } else if (this.#state !== "closed") {
      // (After disconnect the client would buffer it on its closed namespace socket: drop it.)
      this._notifyOutgoing(data);
      this.client._packet(packet, flags?.compress !== false, flags?.volatile === true);
    }
    return true;
  }

  /**
   * Emits and resolves with the client's first ack argument; with
   * `timeout()` it rejects with Error("operation has timed out").
   * @example const answer = await socket.timeout(5000).emitWithAck("question", 42);
   */
  emitWithAck<Ev extends EventNamesWithAck<EmitEvents>>(
    ev: Ev,
    ...args: AllButLast<EventParams<EmitEvents, Ev>>
  ): Promise<FirstNonErrorArg<Last<EventParams<EmitEvents, Ev>>>> {
    const withErr = this.#flags?.timeout !== undefined || this.nsp.server._ackTimeout !== undefined;
    return new Promise((resolve, reject) => {
      const cb = withErr
        ? (err: Error | null, response: any) => (err ? reject(err) : resolve(response))
        : (response: any) => resolve(response);
      (this.emit as (ev: string, ...a: unknown[]) => boolean)(ev as string, ...(args as unknown[]), cb);
    });
  }

  /** Broadcast to rooms, excluding this socket. */
  to(room: Room | Room[]): BroadcastOperator<DecorateAcknowledgementsWithMultipleResponses<EmitEvents>, SocketData> {
    return this.#operator().to(room);
  }

  in(room: Room | Room[]): BroadcastOperator<DecorateAcknowledgementsWithMultipleResponses<EmitEvents>, SocketData> {
    return this.#operator().in(room);
  }

  except(room: Room | Room[]): BroadcastOperator<DecorateAcknowledgementsWithMultipleResponses<EmitEvents>, SocketData> {
    return this.#operator().except(room);
  }

  /** Broadcast to every other socket of the namespace. */
  get broadcast(): BroadcastOperator<DecorateAcknowledgementsWithMultipleResponses<EmitEvents>, SocketData> {
    return this.#operator();
  }

  /** Broadcast to the other sockets of this node only. */
  get local(): BroadcastOperator<DecorateAcknowledgementsWithMultipleResponses<EmitEvents>, SocketData> {
    return this.#operator().local;
  }

  #operator(): BroadcastOperator<DecorateAcknowledgementsWithMultipleResponses<EmitEvents>, SocketData> {
    const flags = { ...this.#flags };
    this.#flags = undefined;
    return new BroadcastOperator(this.#adapter, new Set(), new Set([this.id]), flags);
  }

  /** `emit("message", ...args)`. */
  send(...args: EventParams<EmitEvents, "message">): this {
    (this.emit as (ev: string, ...a: unknown[]) => boolean)("message", ...(args as unknown[]));
    return this;
  }

  write(...args: EventParams<EmitEvents, "message">): this {
    return this.send(...args);
  }

  /** Joins rooms; a no-op once the socket is closed (no leaked memberships). */
  join(rooms: Room | Room[]): Promise<void> | void {
    if (this.#state === "closed") return;
    return this.#adapter.addAll(this.id, new Set(toArray(rooms)));
  }

  leave(room: Room): Promise<void> | void {
    return this.#adapter.del(this.id, room);
  }

  /**
   * Leaves every room, its own included (socket.io's private `leaveAll()`,
   * kept for code written against it). The socket stays connected.
   */
  leaveAll(): void {
    this.#adapter.delAll(this.id);
  }

  /** Next emit: gzip/deflate allowed or not (polling only). */
  compress(compress: boolean): this {
    (this.#flags ??= {}).compress = compress;
    return this;
  }

  /** Next emit: dropped if the transport cannot take it right now. */
  get volatile(): this {
    (this.#flags ??= {}).volatile = true;
    return this;
  }

  /**
   * Next emit: its ack callback gets an error first, Error("operation has
   * timed out") if the client has not answered within `timeout` ms.
   * @example socket.timeout(1000).emit("ping", (err) => { if (err) console.log("no pong"); });
   */
  timeout(timeout: number): Socket<ListenEvents, DecorateAcknowledgements<EmitEvents>, ServerSideEvents, SocketData> {
    (this.#flags ??= {}).timeout = timeout;
    return this as unknown as Socket<ListenEvents, DecorateAcknowledgements<EmitEvents>, ServerSideEvents, SocketData>;
  }

  /**
   * Disconnects from this namespace (DISCONNECT sent, reason "server
   * namespace disconnect"); with `close`, from every namespace, then closes
   * the connection.
   */
  disconnect(close = false): this {
    if (this.#state !== "connected") return this;
    if (close) {
      this.client._disconnect();
    } else {
      this.client._packet({ type: PacketType.DISCONNECT, nsp: this.nsp.name }, true, false);
      this._onclose("server namespace disconnect");
    }
    return this;
  }

  // ── internal: driven by Namespace and Client ──────────────────────────

  /**
   * @internal Accepted: join the own room, replay missed packets, send the CONNECT reply.
   * `sendReply: false` when the client is connected already (a session rebuilt after an eviction).
   */
  _onconnect(sendReply = true): void {
    this.#state = "connected";
    const counters = this.nsp.server._counters;
    if (counters) counters.connects++;
    this.join(this.id);
    // Rooms joined in a middleware, and the namespace itself, become fan-out topics now.
    (this.#adapter as Partial<Adapter>)._topics?.subscribeAll(this.id);
    const missed = this.#missed;
    if (missed) {
      this.#missed = undefined;
      for (const data of missed) this.client._packet({ type: PacketType.EVENT, nsp: this.nsp.name, data }, true, false);
    }
    if (!sendReply) return;
    // Protocol v4 (socket.io-client 2.x) replies with a bare CONNECT.
    if (this.client.conn.protocol === 3) {
      this.client._packet({ type: PacketType.CONNECT, nsp: this.nsp.name }, true, false);
      return;
    }
    const reply: { sid: string; pid?: string } = { sid: this.id };
    if (this.#pid !== undefined) reply.pid = this.#pid;
    this.client._packet({ type: PacketType.CONNECT, nsp: this.nsp.name, data: reply }, true, false);
  }

  /** @internal A decoded packet for this namespace. */
  _onpacket(packet: Packet): void {
    switch (packet.type) {
      case PacketType.EVENT:
      case PacketType.BINARY_EVENT:
        if (this.#state === "connected") this._onevent(packet);
        break;
      case PacketType.ACK:
      case PacketType.BINARY_ACK:
        this._onack(packet);
        break;
      case PacketType.DISCONNECT:
        this._onclose("client namespace disconnect");
        break;
    }
  }

  /**
   * An incoming event after its middlewares: to the listeners, unless this
   * socket disconnected meanwhile (while the middlewares ran, or later in
   * the same batch of packets: see `Client._dispatch`).
   * @internal
   */
  _dispatch(event: unknown[] | Error): void {
    if (event instanceof Error) this._onerror(event);
    else if (this.#state === "connected") this.emitUntypedArray(event);
  }

  /** @internal The ack function handed to listeners: sends ACK at most once, never after disconnect. */
  protected _ackFunction(id: number): AckCallback {
    let sent = false;
    return (...args: unknown[]) => {
      if (sent || this.#state !== "connected") return;
      sent = true;
      this.client._packet({ type: PacketType.ACK, nsp: this.nsp.name, id, data: args }, true, false);
    };
  }

  /** @internal Emits "error" (decode failures, rejected packets). */
  _onerror(err: Error): void {
    this.emitReserved("error", err);
  }

  /** @internal Closes the socket: "disconnecting" (rooms still joined), cleanup, "disconnect". */
  _onclose(reason: DisconnectReason, description?: unknown): this {
    if (this.#state !== "connected") return this;
    this.emitReserved("disconnecting", reason, description);
    if (this.#pid !== undefined && this.nsp.server._recovery && RECOVERABLE_DISCONNECT_REASONS.has(reason)) {
      ignoreRejection(
        this.#adapter.persistSession({ sid: this.id, pid: this.#pid, rooms: [...this.rooms], data: this.data }),
      );
    }
    this._cleanup();
    this.client._remove(this);
    const counters = this.nsp.server._counters;
    if (counters && Object.prototype.hasOwnProperty.call(counters.disconnects, reason)) counters.disconnects[reason]++;
    this.emitReserved("disconnect", reason, description);
    // After "disconnect", so an ack callback that runs now sees this socket gone.
    this._abandonAcks();
    return this;
  }

  /** @internal Leaves every room and the namespace; `join()` becomes a no-op. Idempotent. */
  _cleanup(): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    this.#adapter.delAll(this.id);
    this.nsp._remove(this);
  }

  /** @internal Sends CONNECT_ERROR (a rejected connection). */
  _error(err: unknown): void {
    this.client._packet({ type: PacketType.CONNECT_ERROR, nsp: this.nsp.name, data: err }, true, false);
  }
}
