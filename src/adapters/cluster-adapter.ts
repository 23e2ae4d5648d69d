/**
 * The base class of scale-out adapters: every cluster operation is applied
 * locally and published to the other nodes of the namespace in the cluster
 * protocol (cluster-protocol.ts); operations that need answers wait for
 * them through the request book (cluster-requests.ts).
 *
 *   io.to("r").emit() ─┬─ local sockets
 *                      └─ doPublish({ type: BROADCAST, ... }) ──▶ other nodes: onMessage() ─▶ their sockets
 *   fetchSockets()  ───── doPublish(FETCH_SOCKETS) ──▶ onMessage() ─▶ doPublishResponse(uid, FETCH_SOCKETS_RESPONSE)
 *                   ◀──────────────────────────────── onResponse() ◀───────────────────────────────┘
 *
 * The transport is abstract: a subclass implements `doPublish` (to every
 * node) and `doPublishResponse` (to one node), and calls `onMessage` /
 * `onResponse` with what it receives. Nothing here is runtime specific;
 * timers run on the server's scheduler and clock.
 */
import type { Packet } from "../protocol/socket-io-packet.ts";
import { Adapter, type AnyNamespace } from "../socket/adapter.ts";
import { isKeptForRecovery, type SessionStore } from "../socket/session-store.ts";
import type { BroadcastOptions, PrivateSessionId, Room, Session, SessionToPersist } from "../socket/types.ts";
import { rethrowAsync } from "../socket/util.ts";
import {
  type ClusterMessage,
  type ClusterMessageBody,
  type ClusterResponse,
  type ClusterResponseBody,
  decodeOptions,
  encodeOptions,
  MessageType,
  normalizePacket,
  RESPONSE_TYPES,
  randomId,
  serializeSocket,
  toRoomList,
} from "./cluster-protocol.ts";
import { type RequestKind, RequestBook, type Responders, withDeadline } from "./cluster-requests.ts";

const DEFAULT_REQUESTS_TIMEOUT = 5000;

export interface ClusterAdapterOptions {
  /**
   * How long `fetchSockets()` and `serverSideEmit()` with an ack wait for
   * the other nodes, in ms (default 5000). A `timeout()` flag on
   * `fetchSockets()` takes precedence.
   */
  requestsTimeout?: number;
  /**
   * Where connection state recovery keeps sessions and broadcasts (when
   * `connectionStateRecovery` is on). Without one, sessions are not kept,
   * unless the transport keeps an ordered log (`providesOffsets`).
   */
  sessionStore?: SessionStore;
  /**
   * This node's id in the cluster (random by default). Give one when the
   * transport addresses nodes by a name of its own.
   */
  uid?: string;
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
  /** Connection state recovery storage, if any. */
  protected readonly sessions: SessionStore | undefined;
  readonly #requests: RequestBook;

  constructor(nsp: AnyNamespace, opts: ClusterAdapterOptions = {}) {
    super(nsp);
    this.uid = opts.uid ?? randomId();
    this.requestsTimeout = opts.requestsTimeout ?? DEFAULT_REQUESTS_TIMEOUT;
    this.sessions = opts.sessionStore;
    this.#requests = new RequestBook(
      () => this.nsp.server._scheduler,
      () => randomId(),
      (kind, received, expected, missing) => this._timeoutError(kind, received, expected, missing),
    );
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
  protected publish(message: ClusterMessageBody): void {
    this.publishAndReturnOffset(message).then(undefined, (err) => this.onPublishError(err));
  }

  protected publishAndReturnOffset(message: ClusterMessageBody): Promise<string | void> {
    const full = { ...message, uid: this.uid, nsp: this.nsp.name } as ClusterMessage;
    try {
      return this.doPublish(full);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  protected publishResponse(requesterUid: string, response: ClusterResponseBody): void {
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
          this.#keepReceived(packet, opts, offset);
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
      default:
        // Transports that do not tell messages from responses may hand a response here.
        if (RESPONSE_TYPES.has((message as { type: number }).type)) this.onResponse(message as unknown as ClusterResponse);
    }
  }

  /** Handles an answer to one of this node's requests; unknown request ids are ignored. */
  onResponse(response: ClusterResponse): void {
    if (!response || typeof response !== "object" || !response.data) return;
    const requestId = response.data.requestId;
    try {
      switch (response.type) {
        case MessageType.BROADCAST_CLIENT_COUNT:
          this.#requests.clientCount(requestId, Number(response.data.clientCount) || 0);
          return;
        case MessageType.BROADCAST_ACK:
          this.#requests.ack(requestId, response.data.packet);
          return;
        case MessageType.FETCH_SOCKETS_RESPONSE: {
          const sockets = Array.isArray(response.data.sockets) ? response.data.sockets : [];
          this.#requests.answer("fetchSockets", requestId, response.uid, sockets);
          return;
        }
        case MessageType.SERVER_SIDE_EMIT_RESPONSE:
          this.#requests.answer("serverSideEmit", requestId, response.uid, [response.data.packet]);
          return;
      }
    } catch (err) {
      rethrowAsync(err);
    }
  }

  // ── connection state recovery ─────────────────────────────────────────

  /**
   * With connection state recovery, a kept EVENT carries its offset as last
   * argument (packets with an ack cannot be replayed on another node,
   * volatile ones are not kept).
   */
  protected addOffsetIfNecessary(packet: Packet, opts: BroadcastOptions, offset: string | undefined | void): void {
    if (!offset || !this.recoveryEnabled || !isKeptForRecovery(packet, opts.flags)) return;
    (packet.data as unknown[]).push(offset);
    this.sessions?.keepPacket(packet.data as unknown[], opts);
  }

  /** A broadcast from another node: under the log's offset, or under the one its origin appended. */
  #keepReceived(packet: Packet, opts: BroadcastOptions, offset: string | undefined): void {
    if (this.providesOffsets) {
      this.addOffsetIfNecessary(packet, opts, offset);
      return;
    }
    if (!this.sessions || !this.recoveryEnabled || !isKeptForRecovery(packet, opts.flags)) return;
    const data = packet.data as unknown[];
    if (typeof data[data.length - 1] === "string") this.sessions.keepPacket(data, opts);
  }

  override persistSession(session: SessionToPersist): Promise<void> | void {
    return this.sessions ? this.sessions.persistSession(session) : super.persistSession(session);
  }

  override restoreSession(pid: PrivateSessionId, offset: string): Promise<Session | null> | Session | null {
    return this.sessions ? this.sessions.restoreSession(pid, offset) : super.restoreSession(pid, offset);
  }

  // ── the Adapter operations, cluster-wide ──────────────────────────────

  override broadcast(packet: Packet, opts: BroadcastOptions): void {
    packet.nsp = this.nsp.name;
    const kept = this.recoveryEnabled && isKeptForRecovery(packet, opts.flags);
    if (kept && !this.providesOffsets && this.sessions) {
      // This node names the offset; the others keep the packet under the same one (it travels in the data).
      this.addOffsetIfNecessary(packet, opts, randomId());
    }
    if (opts.flags?.local || this.#onlyLocalSocket(opts)) {
      super.broadcast(packet, opts);
      return;
    }
    const needsOffset = kept && this.providesOffsets;
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
   * elsewhere; skip the broker, unless the transport's log is where it is kept.
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
      const timeout = opts.flags?.timeout ?? this.requestsTimeout;
      const requestId = this.#requests.startAck(clientCountCallback, ack, timeout);
      // Published before the local part assigns this node's ack id to the packet.
      this.publish({
        type: MessageType.BROADCAST,
        data: { packet: { ...packet }, requestId, opts: encodeOptions(opts) },
      });
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
    const responders = await withDeadline(this.nsp.server._scheduler, this.expectedResponders(), timeout);
    if (responders.count <= 0 && !responders.uids?.size) return local;
    return new Promise((resolve, reject) => {
      const requestId = this.#requests.start("fetchSockets", responders, timeout, local, (err, responses) =>
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
    withDeadline(this.nsp.server._scheduler, this.expectedResponders(), this.requestsTimeout).then(
      (responders) => {
        if (responders.count <= 0 && !responders.uids?.size) {
          ack(null, []);
          return;
        }
        const requestId = this.#requests.start("serverSideEmit", responders, this.requestsTimeout, [], ack);
        if (requestId) this.publish({ type: MessageType.SERVER_SIDE_EMIT, data: { requestId, packet: args } });
      },
      (err) => ack(err as Error, []),
    );
  }

  /** @internal The error a request settles with at its deadline (the reference's wording). */
  _timeoutError(_kind: RequestKind, received: number, expected: number, missing: number | undefined): Error {
    if (missing !== undefined) return new Error(`timeout reached: missing ${missing} responses`);
    return new Error(`timeout reached: only ${received} responses received out of ${expected}`);
  }

  /** Stops waiting for `uid` in every pending request (the node left). */
  protected forgetNode(uid: string): void {
    this.#requests.forget(uid);
  }

  /** Number of requests waiting for answers (monitoring, tests). */
  get pendingRequests(): number {
    return this.#requests.size;
  }

  /** Settles pending requests at once: nothing will answer them once closed. */
  override close(): Promise<void> | void {
    this.#requests.close();
    this.sessions?.close?.();
  }

  protected get closed(): boolean {
    return this.#requests.closed;
  }
}
