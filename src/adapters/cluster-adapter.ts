/**
 * The cluster protocol shared by scale-out adapters: how the nodes of one
 * namespace tell each other about broadcasts, bulk room operations, socket
 * queries and server-side events, and how the answers come back.
 *
 * The message shapes and type numbers are socket.io-adapter's
 * `ClusterAdapter` ones (`{uid, nsp, type, data}`, see `MessageType`), so an
 * adapter built on this class can share a broker with socket.io nodes that
 * speak the same protocol (the sharded Redis adapter, the Redis Streams
 * adapter). The transport is abstract: a subclass implements `doPublish`
 * (to every node) and `doPublishResponse` (to one node), and calls
 * `onMessage`/`onResponse` with what it receives. Nothing here is runtime
 * specific; timers run on the server's scheduler and clock.
 */
import type { TimerEntry, TimerTarget } from "../engine/scheduler.ts";
import { type Packet, PacketType } from "../protocol/socket-io-packet.ts";
import { Adapter, type AnyNamespace, type AnySocket } from "../socket/adapter.ts";
import type { BroadcastFlags, BroadcastOptions, Room } from "../socket/types.ts";
import { rethrowAsync } from "../socket/util.ts";

/** Message types, numbered as in socket.io-adapter. */
export const MessageType = {
  INITIAL_HEARTBEAT: 1,
  HEARTBEAT: 2,
  BROADCAST: 3,
  SOCKETS_JOIN: 4,
  SOCKETS_LEAVE: 5,
  DISCONNECT_SOCKETS: 6,
  FETCH_SOCKETS: 7,
  FETCH_SOCKETS_RESPONSE: 8,
  SERVER_SIDE_EMIT: 9,
  SERVER_SIDE_EMIT_RESPONSE: 10,
  BROADCAST_CLIENT_COUNT: 11,
  BROADCAST_ACK: 12,
  ADAPTER_CLOSE: 13,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/** Broadcast options as they travel: arrays instead of sets. */
export interface EncodedOptions {
  rooms: Room[];
  except: Room[];
  flags?: BroadcastFlags;
}

/** What `fetchSockets()` learns about a socket on another node. */
export interface SocketDetails {
  id: string;
  handshake: Record<string, unknown>;
  rooms: Room[];
  data: unknown;
}

interface Envelope {
  /** The sender's node id ("emitter" for @socket.io/*-emitter). */
  uid: string;
  nsp: string;
}

/** A message published to every node of the namespace. */
export type ClusterMessage = Envelope &
  (
    | { type: typeof MessageType.INITIAL_HEARTBEAT | typeof MessageType.HEARTBEAT | typeof MessageType.ADAPTER_CLOSE }
    | { type: typeof MessageType.BROADCAST; data: { packet: Packet; opts: EncodedOptions; requestId?: string } }
    | {
        type: typeof MessageType.SOCKETS_JOIN | typeof MessageType.SOCKETS_LEAVE;
        data: { opts: EncodedOptions; rooms: Room[] };
      }
    | { type: typeof MessageType.DISCONNECT_SOCKETS; data: { opts: EncodedOptions; close?: boolean } }
    | { type: typeof MessageType.FETCH_SOCKETS; data: { opts: EncodedOptions; requestId: string } }
    | { type: typeof MessageType.SERVER_SIDE_EMIT; data: { packet: unknown[]; requestId?: string } }
  );

/** A response published to the node that asked. `uid` is the responder (absent on some legacy wires). */
export type ClusterResponse = { uid?: string; nsp?: string } & (
  | { type: typeof MessageType.FETCH_SOCKETS_RESPONSE; data: { requestId: string; sockets: SocketDetails[] } }
  | { type: typeof MessageType.SERVER_SIDE_EMIT_RESPONSE; data: { requestId: string; packet: unknown } }
  | { type: typeof MessageType.BROADCAST_CLIENT_COUNT; data: { requestId: string; clientCount: number } }
  | { type: typeof MessageType.BROADCAST_ACK; data: { requestId: string; packet: unknown } }
);

/** A message before the envelope is filled in by `publish`. */
export type OutgoingMessage = DistributiveOmit<ClusterMessage, "uid" | "nsp">;
export type OutgoingResponse = DistributiveOmit<ClusterResponse, "uid" | "nsp">;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** The uid @socket.io emitters use; it is never a node of the cluster. */
export const EMITTER_UID = "emitter";

const DEFAULT_REQUESTS_TIMEOUT = 5000;

export interface ClusterAdapterOptions {
  /**
   * How long `fetchSockets()` and `serverSideEmit()` with an ack wait for
   * the other nodes, in ms (default 5000). A `timeout()` flag on
   * `fetchSockets()` takes precedence.
   */
  requestsTimeout?: number;
}

/** Random hex node id: 8 bytes, as socket.io-adapter's. */
export function randomId(bytes = 8): string {
  const b = new Uint8Array(bytes);
  crypto.getRandomValues(b);
  let out = "";
  for (const v of b) out += (v < 16 ? "0" : "") + v.toString(16);
  return out;
}

export function encodeOptions(opts: BroadcastOptions): EncodedOptions {
  const out: EncodedOptions = { rooms: [...opts.rooms], except: opts.except ? [...opts.except] : [] };
  if (opts.flags) out.flags = opts.flags;
  return out;
}

/** Options from the wire; tolerant of the missing fields older peers and emitters leave out. */
export function decodeOptions(opts: Partial<EncodedOptions> | undefined): BroadcastOptions {
  const rooms = Array.isArray(opts?.rooms) ? opts.rooms.map(String) : [];
  const except = Array.isArray(opts?.except) ? opts.except.map(String) : [];
  const flags = opts?.flags && typeof opts.flags === "object" ? { ...opts.flags } : {};
  // A flag meaning "do not forward" is meaningless once forwarded; never let it leak into local handling.
  delete flags.local;
  return { rooms: new Set(rooms), except: new Set(except), flags };
}

/** A received packet made safe for the local broadcast: a plain EVENT of this namespace. */
function normalizePacket(packet: unknown, nsp: string): Packet | null {
  if (!packet || typeof packet !== "object") return null;
  const p = packet as Packet;
  if (!Array.isArray(p.data)) return null;
  const type = (p.type as number) === PacketType.BINARY_EVENT ? PacketType.EVENT : p.type;
  return { type, nsp, data: p.data };
}

/** Drops what must not travel (socket.io drops `sessionStore`, which may be circular). */
export function serializeSocket(socket: AnySocket): SocketDetails {
  const { sessionStore: _, ...handshake } = socket.handshake as unknown as Record<string, unknown>;
  return { id: socket.id, handshake, rooms: [...socket.rooms], data: socket.data };
}

type RequestKind = "fetchSockets" | "serverSideEmit";

/** Who is expected to answer a request: a count, or (with heartbeats) the uids of the live nodes. */
export interface Responders {
  count: number;
  uids?: Set<string>;
}

/**
 * A request waiting for the other nodes. Complete when every expected
 * node answered; at the deadline it settles with an error and what came in.
 */
class PendingRequest implements TimerTarget {
  current = 0;
  entry: TimerEntry | undefined;
  readonly #answered = new Set<string>();

  constructor(
    readonly adapter: ClusterAdapter,
    readonly id: string,
    readonly kind: RequestKind,
    readonly expected: number,
    readonly missing: Set<string> | undefined,
    readonly responses: unknown[],
    readonly settle: (err: Error | null, responses: unknown[]) => void,
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
    this.adapter._dropRequest(this.id);
    this.settle(null, this.responses);
  }

  onTimer(): void {
    this.adapter._dropRequest(this.id);
    this.settle(this.adapter._timeoutError(this.kind, this.current, this.expected, this.missing?.size), this.responses);
  }

  fail(err: Error): void {
    this.entry?.cancel();
    this.settle(err, this.responses);
  }
}

/** Forgets the callbacks of a broadcast with ack once its deadline passed. */
class AckRequestCleanup implements TimerTarget {
  constructor(
    readonly adapter: ClusterAdapter,
    readonly id: string,
  ) {}
  onTimer(): void {
    this.adapter._dropAckRequest(this.id);
  }
}

interface AckRequest {
  clientCountCallback: (clientCount: number) => void;
  ack: (...args: unknown[]) => void;
  cleanup: TimerEntry | undefined;
}

/**
 * Base class of cluster adapters. Every cluster operation publishes a
 * message (unless `flags.local`) and applies the operation locally;
 * operations that need answers (`fetchSockets`, `serverSideEmit` with an
 * ack, `broadcastWithAck`) wait for the other nodes with a deadline, so a
 * node that died makes a request time out instead of hang.
 *
 * @example
 * class MyAdapter extends ClusterAdapter {
 *   protected doPublish(msg) { bus.send(msg); return Promise.resolve(""); }
 *   protected doPublishResponse(uid, res) { bus.sendTo(uid, res); return Promise.resolve(); }
 *   override serverCount() { return bus.nodeCount(); }
 * }
 */
export abstract class ClusterAdapter extends Adapter {
  /** This node's id in the cluster. */
  readonly uid: string;
  protected readonly requestsTimeout: number;
  readonly #requests = new Map<string, PendingRequest>();
  readonly #ackRequests = new Map<string, AckRequest>();
  #closed = false;

  constructor(nsp: AnyNamespace, opts: ClusterAdapterOptions = {}) {
    super(nsp);
    this.uid = randomId();
    this.requestsTimeout = opts.requestsTimeout ?? DEFAULT_REQUESTS_TIMEOUT;
  }

  /**
   * Sends a message to every node (this one may receive it back; it is
   * ignored). Resolves with the message's offset when the transport keeps
   * an ordered log (connection state recovery), else with "".
   */
  protected abstract doPublish(message: ClusterMessage): Promise<string | void>;

  /** Sends a response to the node `requesterUid`. */
  protected abstract doPublishResponse(requesterUid: string, response: ClusterResponse): Promise<void>;

  /**
   * Whether `doPublish` resolves with offsets that clients may use to
   * recover a session on any node. When true and connection state recovery
   * is on, a broadcast is delivered locally once the offset is known.
   */
  protected get providesOffsets(): boolean {
    return false;
  }

  /** Whether connection state recovery is on for this server. */
  protected get recoveryEnabled(): boolean {
    return !!this.nsp.server._recovery;
  }

  // ── publishing ─────────────────────────────────────────────────────────

  /** Publishes, filling in the envelope; failures are reported through `onPublishError`. */
  protected publish(message: OutgoingMessage): void {
    this.publishAndReturnOffset(message).then(undefined, (err) => this.onPublishError(err));
  }

  protected publishAndReturnOffset(message: OutgoingMessage): Promise<string | void> {
    const full = { ...message, uid: this.uid, nsp: this.nsp.name } as ClusterMessage;
    try {
      return this.doPublish(full);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  protected publishResponse(requesterUid: string, response: OutgoingResponse): void {
    const full = { ...response, uid: this.uid, nsp: this.nsp.name } as ClusterResponse;
    let sent: Promise<void>;
    try {
      sent = this.doPublishResponse(requesterUid, full);
    } catch (err) {
      sent = Promise.reject(err);
    }
    sent.then(undefined, (err) => this.onPublishError(err));
  }

  /**
   * A message could not be handed to the broker (it is down, or the client
   * gave up). The cluster operation then only happened locally. Emits
   * "error" on the adapter when someone listens, as nothing else can.
   */
  protected onPublishError(err: unknown): void {
    if (this.listenerCount("error") > 0) this.emit("error", err);
  }

  // ── receiving ──────────────────────────────────────────────────────────

  /**
   * Handles a message from another node (or an emitter). Messages from this
   * node or for another namespace are ignored. `offset` is the message's
   * position in the transport's log, for connection state recovery.
   */
  onMessage(message: ClusterMessage, offset?: string): void {
    if (!message || typeof message !== "object") return;
    if (message.uid === this.uid) return;
    if (message.nsp !== this.nsp.name) return;
    try {
      this.handleMessage(message, offset);
    } catch (err) {
      // A user listener (onAnyOutgoing, a server-side event handler) threw: report it
      // without unwinding the transport's receive loop.
      rethrowAsync(err);
    }
  }

  protected handleMessage(message: ClusterMessage, offset: string | undefined): void {
    switch (message.type) {
      case MessageType.BROADCAST: {
        const data = message.data;
        const packet = normalizePacket(data?.packet, this.nsp.name);
        if (!packet) return;
        const opts = decodeOptions(data.opts);
        const requestId = data.requestId;
        if (requestId !== undefined) {
          const uid = message.uid;
          super.broadcastWithAck(
            packet,
            opts,
            (clientCount) =>
              this.publishResponse(uid, {
                type: MessageType.BROADCAST_CLIENT_COUNT,
                data: { requestId, clientCount },
              }),
            (arg) => this.publishResponse(uid, { type: MessageType.BROADCAST_ACK, data: { requestId, packet: arg } }),
          );
        } else {
          this.addOffsetIfNecessary(packet, opts, offset);
          super.broadcast(packet, opts);
        }
        return;
      }
      case MessageType.SOCKETS_JOIN:
        super.addSockets(decodeOptions(message.data?.opts), toRoomList(message.data?.rooms));
        return;
      case MessageType.SOCKETS_LEAVE:
        super.delSockets(decodeOptions(message.data?.opts), toRoomList(message.data?.rooms));
        return;
      case MessageType.DISCONNECT_SOCKETS:
        super.disconnectSockets(decodeOptions(message.data?.opts), message.data?.close === true);
        return;
      case MessageType.FETCH_SOCKETS: {
        const requestId = message.data?.requestId;
        if (requestId === undefined) return;
        const sockets = this.collect(decodeOptions(message.data.opts)).map(serializeSocket);
        this.publishResponse(message.uid, {
          type: MessageType.FETCH_SOCKETS_RESPONSE,
          data: { requestId, sockets },
        });
        return;
      }
      case MessageType.SERVER_SIDE_EMIT: {
        const args = message.data?.packet;
        if (!Array.isArray(args) || typeof args[0] !== "string") return;
        const requestId = message.data.requestId;
        if (requestId === undefined) {
          this.nsp._onServerSideEmit(args as [string, ...unknown[]]);
          return;
        }
        const uid = message.uid;
        let called = false;
        // One answer per node: the first argument of the first call.
        const callback = (arg: unknown) => {
          if (called) return;
          called = true;
          this.publishResponse(uid, { type: MessageType.SERVER_SIDE_EMIT_RESPONSE, data: { requestId, packet: arg } });
        };
        this.nsp._onServerSideEmit([...(args as [string, ...unknown[]]), callback]);
        return;
      }
      default: {
        // Transports that do not tell messages from responses may hand a response here.
        const type = (message as { type: number }).type;
        if (
          type === MessageType.BROADCAST_CLIENT_COUNT ||
          type === MessageType.BROADCAST_ACK ||
          type === MessageType.FETCH_SOCKETS_RESPONSE ||
          type === MessageType.SERVER_SIDE_EMIT_RESPONSE
        ) {
          this.onResponse(message as unknown as ClusterResponse);
        }
      }
    }
  }

  /** Handles an answer to one of this node's requests; unknown request ids are ignored. */
  onResponse(response: ClusterResponse): void {
    if (!response || typeof response !== "object" || !response.data) return;
    const requestId = response.data.requestId;
    try {
      switch (response.type) {
        case MessageType.BROADCAST_CLIENT_COUNT:
          this.#ackRequests.get(requestId)?.clientCountCallback(Number(response.data.clientCount) || 0);
          return;
        case MessageType.BROADCAST_ACK:
          this.#ackRequests.get(requestId)?.ack(response.data.packet);
          return;
        case MessageType.FETCH_SOCKETS_RESPONSE: {
          const request = this.#requests.get(requestId);
          if (request?.kind !== "fetchSockets") return;
          const sockets = Array.isArray(response.data.sockets) ? response.data.sockets : [];
          request.add(response.uid, sockets);
          return;
        }
        case MessageType.SERVER_SIDE_EMIT_RESPONSE: {
          const request = this.#requests.get(requestId);
          if (request?.kind !== "serverSideEmit") return;
          request.add(response.uid, [response.data.packet]);
          return;
        }
      }
    } catch (err) {
      rethrowAsync(err);
    }
  }

  /** With connection state recovery, a stored EVENT carries its offset as last argument. */
  protected addOffsetIfNecessary(packet: Packet, opts: BroadcastOptions, offset: string | undefined | void): void {
    if (!offset || !this.recoveryEnabled) return;
    // Packets with an ack cannot be replayed on another node, volatile ones are not stored.
    if (packet.type !== PacketType.EVENT || packet.id !== undefined || opts.flags?.volatile) return;
    (packet.data as unknown[]).push(offset);
  }

  // ── the Adapter operations, cluster-wide ──────────────────────────────

  override broadcast(packet: Packet, opts: BroadcastOptions): void {
    packet.nsp = this.nsp.name;
    if (opts.flags?.local || this.#onlyLocalSocket(opts)) {
      super.broadcast(packet, opts);
      return;
    }
    const needsOffset =
      this.providesOffsets &&
      this.recoveryEnabled &&
      packet.type === PacketType.EVENT &&
      packet.id === undefined &&
      !opts.flags?.volatile;
    // The published copy must not see the offset the local delivery appends.
    const published = { ...packet, data: needsOffset ? (packet.data as unknown[]).slice() : packet.data };
    const sent = this.publishAndReturnOffset({
      type: MessageType.BROADCAST,
      data: { packet: published, opts: encodeOptions(opts) },
    });
    if (!needsOffset) {
      sent.then(undefined, (err) => this.onPublishError(err));
      super.broadcast(packet, opts);
      return;
    }
    // The client must learn the offset the other nodes know this packet by: deliver once it is known.
    sent.then(
      (offset) => {
        this.addOffsetIfNecessary(packet, opts, offset);
        super.broadcast(packet, opts);
      },
      (err) => {
        this.onPublishError(err);
        super.broadcast(packet, opts);
      },
    );
  }

  /**
   * A broadcast to exactly one room that is a socket of this node (a
   * socket's own emit under connection state recovery) reaches nobody
   * elsewhere; skip the broker, unless the transport stores it for recovery.
   */
  #onlyLocalSocket(opts: BroadcastOptions): boolean {
    if (this.providesOffsets && this.recoveryEnabled) return false;
    if (opts.rooms.size !== 1) return false;
    for (const room of opts.rooms) return this.nsp.sockets.has(room);
    return false;
  }

  override broadcastWithAck(
    packet: Packet,
    opts: BroadcastOptions,
    clientCountCallback: (clientCount: number) => void,
    ack: (...args: unknown[]) => void,
  ): void {
    packet.nsp = this.nsp.name;
    if (!opts.flags?.local) {
      const requestId = randomId();
      const request: AckRequest = { clientCountCallback, ack, cleanup: undefined };
      this.#ackRequests.set(requestId, request);
      // Published before the local part assigns this node's ack id to the packet.
      this.publish({
        type: MessageType.BROADCAST,
        data: { packet: { ...packet }, requestId, opts: encodeOptions(opts) },
      });
      // No way to know when every remote client answered: forget the callbacks after the deadline.
      const timeout = opts.flags?.timeout ?? this.requestsTimeout;
      request.cleanup = this.nsp.server._scheduler.schedule(new AckRequestCleanup(this, requestId), 0, timeout);
    }
    super.broadcastWithAck(packet, opts, clientCountCallback, ack);
  }

  override addSockets(opts: BroadcastOptions, rooms: Room[]): void {
    if (!opts.flags?.local) {
      this.publish({ type: MessageType.SOCKETS_JOIN, data: { opts: encodeOptions(opts), rooms: [...rooms] } });
    }
    super.addSockets(opts, rooms);
  }

  override delSockets(opts: BroadcastOptions, rooms: Room[]): void {
    if (!opts.flags?.local) {
      this.publish({ type: MessageType.SOCKETS_LEAVE, data: { opts: encodeOptions(opts), rooms: [...rooms] } });
    }
    super.delSockets(opts, rooms);
  }

  override disconnectSockets(opts: BroadcastOptions, close: boolean): void {
    if (!opts.flags?.local) {
      this.publish({ type: MessageType.DISCONNECT_SOCKETS, data: { opts: encodeOptions(opts), close } });
    }
    super.disconnectSockets(opts, close);
  }

  /**
   * The nodes expected to answer a request (every other node). The base
   * counts `serverCount() - 1`; the heartbeat variant lists live nodes.
   */
  protected async expectedResponders(): Promise<Responders> {
    return { count: (await this.serverCount()) - 1 };
  }

  override async fetchSockets(opts: BroadcastOptions): Promise<any[]> {
    const local: unknown[] = this.collect(opts);
    if (opts.flags?.local) return local;
    const timeout = opts.flags?.timeout || this.requestsTimeout;
    const responders = await this.#bounded(this.expectedResponders(), timeout);
    if (responders.count <= 0 && !responders.uids?.size) return local;
    return new Promise((resolve, reject) => {
      const requestId = this.#startRequest("fetchSockets", responders, timeout, local, (err, responses) =>
        err ? reject(err) : resolve(responses),
      );
      if (requestId) this.publish({ type: MessageType.FETCH_SOCKETS, data: { opts: encodeOptions(opts), requestId } });
    });
  }

  override serverSideEmit(packet: unknown[]): void {
    const last = packet[packet.length - 1];
    if (typeof last !== "function") {
      this.publish({ type: MessageType.SERVER_SIDE_EMIT, data: { packet } });
      return;
    }
    const ack = last as (err: Error | null, responses: unknown[]) => void;
    const args = packet.slice(0, -1);
    this.#bounded(this.expectedResponders(), this.requestsTimeout).then(
      (responders) => {
        if (responders.count <= 0 && !responders.uids?.size) {
          ack(null, []);
          return;
        }
        const requestId = this.#startRequest("serverSideEmit", responders, this.requestsTimeout, [], ack);
        if (requestId) this.publish({ type: MessageType.SERVER_SIDE_EMIT, data: { requestId, packet: args } });
      },
      (err) => ack(err as Error, []),
    );
  }

  /** Registers a request with its deadline; returns its id, or undefined when closed (settled at once). */
  #startRequest(
    kind: RequestKind,
    responders: Responders,
    timeout: number,
    initial: unknown[],
    settle: (err: Error | null, responses: unknown[]) => void,
  ): string | undefined {
    const id = randomId();
    const missing = responders.uids ? new Set(responders.uids) : undefined;
    const request = new PendingRequest(this, id, kind, responders.count, missing, initial, settle);
    if (this.#closed) {
      request.fail(new Error("the adapter is closed"));
      return undefined;
    }
    this.#requests.set(id, request);
    request.entry = this.nsp.server._scheduler.schedule(request, 0, timeout);
    return id;
  }

  /** Rejects when `promise` (a broker round trip) takes longer than `ms`. */
  #bounded<T>(promise: Promise<T>, ms: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const entry = this.nsp.server._scheduler.schedule(
        { onTimer: () => reject(new Error("timeout reached: the broker did not answer")) },
        0,
        ms,
      );
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

  /** The error a request settles with at its deadline (the reference's wording). */
  _timeoutError(_kind: RequestKind, received: number, expected: number, missing: number | undefined): Error {
    if (missing !== undefined) return new Error(`timeout reached: missing ${missing} responses`);
    return new Error(`timeout reached: only ${received} responses received out of ${expected}`);
  }

  /** Stops waiting for `uid` in every pending request (the node left). */
  protected forgetNode(uid: string): void {
    for (const request of [...this.#requests.values()]) request.forget(uid);
  }

  /** Number of requests waiting for answers (monitoring, tests). */
  get pendingRequests(): number {
    return this.#requests.size + this.#ackRequests.size;
  }

  /** @internal */
  _dropRequest(id: string): void {
    this.#requests.delete(id);
  }

  /** @internal */
  _dropAckRequest(id: string): void {
    this.#ackRequests.delete(id);
  }

  /** Settles pending requests at once: nothing will answer them once closed. */
  override close(): Promise<void> | void {
    this.#closed = true;
    const requests = [...this.#requests.values()];
    this.#requests.clear();
    for (const request of requests) request.fail(new Error("the adapter is closed"));
    for (const ackRequest of this.#ackRequests.values()) ackRequest.cleanup?.cancel();
    this.#ackRequests.clear();
  }

  protected get closed(): boolean {
    return this.#closed;
  }
}

function toRoomList(rooms: unknown): Room[] {
  if (Array.isArray(rooms)) return rooms.map(String);
  if (typeof rooms === "string" || typeof rooms === "number") return [String(rooms)];
  return [];
}

export interface ClusterAdapterWithHeartbeatOptions extends ClusterAdapterOptions {
  /** How often this node says it is alive, in ms (default 5000). */
  heartbeatInterval?: number;
  /** After how long without news a node is considered gone, in ms (default 10000). */
  heartbeatTimeout?: number;
}

const HEARTBEAT_TICK = 0;

/**
 * A cluster adapter for transports that cannot count subscribers: nodes
 * announce themselves (INITIAL_HEARTBEAT on init, HEARTBEAT when idle for
 * `heartbeatInterval`, ADAPTER_CLOSE on close), and a node silent for
 * `heartbeatTimeout` is forgotten. `serverCount()` is 1 plus the live nodes,
 * and requests wait for exactly those nodes: when one goes silent, the
 * requests waiting for it complete without it.
 */
export abstract class ClusterAdapterWithHeartbeat extends ClusterAdapter implements TimerTarget {
  readonly #interval: number;
  readonly #timeout: number;
  /** Live nodes: uid to the time of the last message heard from it. */
  readonly #nodes = new Map<string, number>();
  #lastPublish = -Infinity;
  #tick: TimerEntry | undefined;

  constructor(nsp: AnyNamespace, opts: ClusterAdapterWithHeartbeatOptions = {}) {
    super(nsp, opts);
    this.#interval = opts.heartbeatInterval ?? 5000;
    this.#timeout = opts.heartbeatTimeout ?? 10000;
  }

  #now(): number {
    return this.nsp.server._clock.now();
  }

  override init(): Promise<void> | void {
    this.publish({ type: MessageType.INITIAL_HEARTBEAT });
    this.#scheduleTick();
  }

  #scheduleTick(): void {
    if (this.closed) return;
    // One timer per adapter: it both sends idle heartbeats and sweeps silent nodes.
    const period = Math.max(10, Math.min(1000, this.#interval, this.#timeout / 2));
    this.#tick = this.nsp.server._scheduler.schedule(this, HEARTBEAT_TICK, period);
  }

  onTimer(_kind: number): void {
    this.#tick = undefined;
    if (this.closed) return;
    const now = this.#now();
    if (now - this.#lastPublish >= this.#interval) this.publish({ type: MessageType.HEARTBEAT });
    for (const [uid, lastSeen] of this.#nodes) {
      if (now - lastSeen > this.#timeout) this.#removeNode(uid);
    }
    this.#scheduleTick();
  }

  protected override publishAndReturnOffset(message: OutgoingMessage): Promise<string | void> {
    this.#lastPublish = this.#now();
    return super.publishAndReturnOffset(message);
  }

  override onMessage(message: ClusterMessage, offset?: string): void {
    if (!message || typeof message !== "object" || message.uid === this.uid || message.nsp !== this.nsp.name) return;
    if (typeof message.uid === "string" && message.uid !== EMITTER_UID) this.#nodes.set(message.uid, this.#now());
    switch (message.type) {
      case MessageType.INITIAL_HEARTBEAT:
        // A newcomer: tell it we exist.
        this.publish({ type: MessageType.HEARTBEAT });
        return;
      case MessageType.HEARTBEAT:
        return;
      case MessageType.ADAPTER_CLOSE:
        this.#removeNode(message.uid);
        return;
      default:
        super.onMessage(message, offset);
    }
  }

  #removeNode(uid: string): void {
    this.#nodes.delete(uid);
    this.forgetNode(uid);
  }

  override serverCount(): Promise<number> {
    return Promise.resolve(1 + this.#nodes.size);
  }

  protected override expectedResponders(): Promise<Responders> {
    return Promise.resolve({ count: this.#nodes.size, uids: new Set(this.#nodes.keys()) });
  }

  override close(): Promise<void> | void {
    if (!this.closed) this.publish({ type: MessageType.ADAPTER_CLOSE });
    this.#tick?.cancel();
    this.#tick = undefined;
    return super.close();
  }
}
