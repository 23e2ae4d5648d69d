/**
 * The Redis Pub/Sub wire: @socket.io/redis-adapter 8.x's default
 * (non-sharded) adapter. The same channels (`socket.io#/nsp#`,
 * `socket.io#/nsp#room#`, `socket.io-request#/nsp#`,
 * `socket.io-response#/nsp#[uid#]`), the same request types and the same
 * msgpack/JSON encodings, so unio nodes and socket.io nodes using that
 * adapter form one cluster, and @socket.io/redis-emitter can emit into it.
 * The cluster logic itself is `ClusterAdapter`'s; this file translates.
 */
import type { Packet } from "../protocol/socket-io-packet.ts";
import type { AnyNamespace } from "../socket/adapter.ts";
import type { Room } from "../socket/types.ts";
import { ClusterAdapter, type ClusterAdapterOptions } from "./cluster-adapter.ts";
import {
  type ClusterMessage,
  type ClusterResponse,
  EMITTER_UID,
  type EncodedOptions,
  MessageType,
  randomId,
} from "./cluster-protocol.ts";
import { hasBinary } from "./msgpack.ts";
import {
  assertSupportedClient,
  guardErrors,
  numsub,
  type PubSubHandler,
  publish,
  type RedisClient,
  subscribe,
  unsubscribe,
} from "./redis-clients.ts";
import { AllRoomsRequest, isNumeric, notepackParser, parsePayload, type RedisParser, RequestType } from "./redis-pubsub-wire.ts";

export type { RedisParser } from "./redis-pubsub-wire.ts";

export interface RedisAdapterOptions extends Pick<ClusterAdapterOptions, "requestsTimeout"> {
  /** Prefix of every channel (default "socket.io"); must match the other nodes and emitters. */
  key?: string;
  /**
   * Answer requests on the requester's own channel (`socket.io-response#/#<uid>#`)
   * instead of the channel every node listens to (default false).
   */
  publishOnSpecificResponseChannel?: boolean;
  /** Codec for broadcasts and binary-carrying messages (default: msgpack, as notepack.io). */
  parser?: RedisParser;
}

/**
 * Returns the `adapter` option for `new Server()`: one RedisAdapter per
 * namespace, all sharing the two clients.
 *
 * @param pubClient publishes and runs commands (PUBSUB NUMSUB)
 * @param subClient subscribes (it enters subscriber mode; do not use it for anything else)
 */
export function createAdapter(
  pubClient: RedisClient,
  subClient: RedisClient,
  opts: RedisAdapterOptions = {},
): (nsp: AnyNamespace) => RedisAdapter {
  assertSupportedClient(pubClient, "pubClient");
  assertSupportedClient(subClient, "subClient");
  return (nsp) => new RedisAdapter(nsp, pubClient, subClient, opts);
}

/**
 * The adapter of one namespace. Publishing and receiving translate between
 * the cluster protocol of `ClusterAdapter` and @socket.io/redis-adapter's
 * wire format; the cluster logic itself lives in the base class.
 */
export class RedisAdapter extends ClusterAdapter {
  readonly channel: string;
  readonly requestChannel: string;
  readonly responseChannel: string;
  readonly specificResponseChannel: string;
  readonly #pub: RedisClient;
  readonly #sub: RedisClient;
  readonly #parser: RedisParser;
  readonly #specificResponses: boolean;
  readonly #onPattern: PubSubHandler;
  readonly #onChannel: PubSubHandler;
  readonly #allRooms = new Map<string, AllRoomsRequest>();
  #ready: Promise<void> | undefined;

  constructor(nsp: AnyNamespace, pubClient: RedisClient, subClient: RedisClient, opts: RedisAdapterOptions = {}) {
    super(nsp, { requestsTimeout: opts.requestsTimeout });
    this.#pub = pubClient;
    this.#sub = subClient;
    this.#parser = opts.parser ?? notepackParser;
    this.#specificResponses = opts.publishOnSpecificResponseChannel === true;
    const prefix = opts.key ?? "socket.io";
    this.channel = `${prefix}#${nsp.name}#`;
    this.requestChannel = `${prefix}-request#${nsp.name}#`;
    this.responseChannel = `${prefix}-response#${nsp.name}#`;
    this.specificResponseChannel = `${this.responseChannel}${this.uid}#`;
    this.#onPattern = (channel, message) => this.#onBroadcastMessage(channel, message);
    this.#onChannel = (channel, message) => this.#onRequestOrResponse(channel, message);
    guardErrors(pubClient);
    guardErrors(subClient);
  }

  /** Subscribes to this namespace's channels; resolves once Redis confirmed. */
  override init(): Promise<void> {
    this.#ready ??= Promise.all([
      subscribe(this.#sub, "pattern", this.channel + "*", this.#onPattern),
      subscribe(this.#sub, "channel", this.requestChannel, this.#onChannel),
      subscribe(this.#sub, "channel", this.responseChannel, this.#onChannel),
      subscribe(this.#sub, "channel", this.specificResponseChannel, this.#onChannel),
    ]).then(() => undefined);
    return this.#ready;
  }

  /** Resolves once the subscriptions are active. */
  whenReady(): Promise<void> {
    return this.init();
  }

  /** Number of nodes: subscribers of the request channel (PUBSUB NUMSUB). */
  override serverCount(): Promise<number> {
    return numsub(this.#pub, this.requestChannel);
  }

  /** @internal */
  override _timeoutError(kind: "fetchSockets" | "serverSideEmit", received: number, expected: number, missing?: number): Error {
    if (kind === "fetchSockets") return new Error("timeout reached while waiting for fetchSockets response");
    return super._timeoutError(kind, received, expected, missing);
  }

  // ── outgoing: cluster messages to the redis-adapter wire ──────────────

  protected doPublish(message: ClusterMessage): Promise<string> {
    const sent = this.#publishMessage(message);
    return sent ? sent.then(() => "") : Promise.resolve("");
  }

  #publishMessage(message: ClusterMessage): Promise<unknown> | undefined {
    const uid = this.uid;
    switch (message.type) {
      case MessageType.BROADCAST: {
        const { packet, opts, requestId } = message.data;
        const rawOpts = { rooms: opts.rooms, except: opts.except, flags: opts.flags ?? {} };
        if (requestId === undefined) {
          let channel = this.channel;
          if (opts.rooms.length === 1) channel += opts.rooms[0] + "#";
          return publish(this.#pub, channel, this.#parser.encode([uid, packet, rawOpts]));
        }
        const request = { uid, requestId, type: RequestType.BROADCAST, packet, opts: rawOpts };
        return publish(this.#pub, this.requestChannel, this.#parser.encode(request));
      }
      case MessageType.SOCKETS_JOIN:
      case MessageType.SOCKETS_LEAVE: {
        const type = message.type === MessageType.SOCKETS_JOIN ? RequestType.REMOTE_JOIN : RequestType.REMOTE_LEAVE;
        const { opts, rooms } = message.data;
        return this.#request({ uid, type, opts: { rooms: opts.rooms, except: opts.except }, rooms });
      }
      case MessageType.DISCONNECT_SOCKETS: {
        const { opts, close } = message.data;
        return this.#request({
          uid,
          type: RequestType.REMOTE_DISCONNECT,
          opts: { rooms: opts.rooms, except: opts.except },
          close: close === true,
        });
      }
      case MessageType.FETCH_SOCKETS: {
        const { opts, requestId } = message.data;
        return this.#request({
          uid,
          requestId,
          type: RequestType.REMOTE_FETCH,
          opts: { rooms: opts.rooms, except: opts.except },
        });
      }
      case MessageType.SERVER_SIDE_EMIT: {
        const { packet, requestId } = message.data;
        const request: Record<string, unknown> = { uid, type: RequestType.SERVER_SIDE_EMIT, data: packet };
        if (requestId !== undefined) request.requestId = requestId;
        return this.#request(request);
      }
      default:
        // Heartbeats do not exist on this wire: NUMSUB counts the nodes.
        return undefined;
    }
  }

  /** JSON as the reference sends it, or msgpack when the payload carries binary (JSON would mangle it). */
  #request(request: Record<string, unknown>): Promise<unknown> {
    return publish(this.#pub, this.requestChannel, this.#serialize(request));
  }

  #serialize(value: Record<string, unknown>): string | Uint8Array {
    return hasBinary(value) ? this.#parser.encode(value) : JSON.stringify(value);
  }

  protected doPublishResponse(requesterUid: string, response: ClusterResponse): Promise<void> {
    const channel = this.#specificResponses ? `${this.responseChannel}${requesterUid}#` : this.responseChannel;
    let payload: string | Uint8Array;
    switch (response.type) {
      case MessageType.BROADCAST_CLIENT_COUNT:
        payload = JSON.stringify({
          type: RequestType.BROADCAST_CLIENT_COUNT,
          requestId: response.data.requestId,
          clientCount: response.data.clientCount,
        });
        break;
      case MessageType.BROADCAST_ACK:
        payload = this.#parser.encode({
          type: RequestType.BROADCAST_ACK,
          requestId: response.data.requestId,
          packet: response.data.packet,
        });
        break;
      case MessageType.FETCH_SOCKETS_RESPONSE:
        payload = this.#serialize({ requestId: response.data.requestId, sockets: response.data.sockets });
        break;
      case MessageType.SERVER_SIDE_EMIT_RESPONSE:
        payload = this.#serialize({
          type: RequestType.SERVER_SIDE_EMIT,
          requestId: response.data.requestId,
          data: response.data.packet,
        });
        break;
      default:
        return Promise.resolve();
    }
    return publish(this.#pub, channel, payload).then(() => undefined);
  }

  // ── incoming: the redis-adapter wire to cluster messages ──────────────

  #hasRoom(room: string): boolean {
    if (this.rooms.has(room)) return true;
    // socket.io lets numeric room names through; the channel carries them as text.
    return isNumeric(room) && (this.rooms as Map<unknown, unknown>).has(Number.parseFloat(room));
  }

  /** A broadcast on `socket.io#/nsp#` or `socket.io#/nsp#room#`: `[uid, packet, opts]`. */
  #onBroadcastMessage(channel: string, message: Uint8Array): void {
    if (!channel.startsWith(this.channel)) return;
    const room = channel.slice(this.channel.length, -1);
    // Cheap filter before decoding: a room nobody here is in.
    if (room !== "" && !this.#hasRoom(room)) return;
    let decoded: unknown;
    try {
      decoded = this.#parser.decode(message);
    } catch {
      return;
    }
    if (!Array.isArray(decoded)) return;
    const [uid, packet, opts] = decoded as [unknown, Packet | undefined, Partial<EncodedOptions> | undefined];
    if (uid === this.uid || !packet || typeof packet !== "object") return;
    // @socket.io/redis-emitter and old nodes may leave the namespace out for "/".
    if (packet.nsp === undefined) packet.nsp = "/";
    if (packet.nsp !== this.nsp.name) return;
    this.onMessage({
      uid: typeof uid === "string" ? uid : EMITTER_UID,
      nsp: this.nsp.name,
      type: MessageType.BROADCAST,
      data: { packet, opts: (opts ?? {}) as EncodedOptions },
    });
  }

  #onRequestOrResponse(channel: string, message: Uint8Array): void {
    if (channel === this.requestChannel) this.#onRequest(message);
    else if (channel === this.responseChannel || channel === this.specificResponseChannel) this.#onResponse(message);
  }

  #onRequest(bytes: Uint8Array): void {
    const req = parsePayload(bytes, this.#parser);
    if (!req) return;
    // The emitter sends no uid. Requests of this node come back to it: they were applied locally already.
    const uid = typeof req.uid === "string" ? req.uid : EMITTER_UID;
    if (uid === this.uid) return;
    const nsp = this.nsp.name;
    switch (req.type) {
      case RequestType.SOCKETS: {
        const rooms = new Set<Room>(Array.isArray(req.rooms) ? req.rooms.map(String) : []);
        const sockets: string[] = [];
        this.apply({ rooms }, (socket) => sockets.push(socket.id));
        this.#respond(uid, { requestId: req.requestId, sockets });
        return;
      }
      case RequestType.ALL_ROOMS:
        this.#respond(uid, { requestId: req.requestId, rooms: [...this.rooms.keys()] });
        return;
      case RequestType.REMOTE_JOIN:
      case RequestType.REMOTE_LEAVE:
      case RequestType.REMOTE_DISCONNECT: {
        if (req.opts) {
          const base = { uid, nsp };
          if (req.type === RequestType.REMOTE_DISCONNECT) {
            this.onMessage({ ...base, type: MessageType.DISCONNECT_SOCKETS, data: { opts: req.opts, close: req.close === true } });
          } else {
            const type = req.type === RequestType.REMOTE_JOIN ? MessageType.SOCKETS_JOIN : MessageType.SOCKETS_LEAVE;
            this.onMessage({ ...base, type, data: { opts: req.opts, rooms: req.rooms } });
          }
          return;
        }
        // The older single-socket form: {sid, room} or {sid, close}, answered with {requestId}.
        const socket = this.nsp.sockets.get(String(req.sid));
        if (!socket) return;
        if (req.type === RequestType.REMOTE_JOIN) socket.join(String(req.room));
        else if (req.type === RequestType.REMOTE_LEAVE) socket.leave(String(req.room));
        else socket.disconnect(req.close === true);
        this.#respond(uid, { requestId: req.requestId });
        return;
      }
      case RequestType.REMOTE_FETCH:
        if (typeof req.requestId !== "string") return;
        this.onMessage({ uid, nsp, type: MessageType.FETCH_SOCKETS, data: { opts: req.opts, requestId: req.requestId } });
        return;
      case RequestType.SERVER_SIDE_EMIT: {
        const data: { packet: unknown[]; requestId?: string } = { packet: req.data };
        if (req.requestId !== undefined) data.requestId = String(req.requestId);
        this.onMessage({ uid, nsp, type: MessageType.SERVER_SIDE_EMIT, data });
        return;
      }
      case RequestType.BROADCAST:
        if (req.requestId === undefined) return;
        this.onMessage({
          uid,
          nsp,
          type: MessageType.BROADCAST,
          data: { packet: req.packet, opts: req.opts, requestId: String(req.requestId) },
        });
        return;
    }
  }

  #respond(requesterUid: string, body: Record<string, unknown>): void {
    const channel = this.#specificResponses ? `${this.responseChannel}${requesterUid}#` : this.responseChannel;
    publish(this.#pub, channel, JSON.stringify(body)).then(undefined, (err) => this.onPublishError(err));
  }

  #onResponse(bytes: Uint8Array): void {
    const res = parsePayload(bytes, this.#parser);
    if (!res || res.requestId === undefined) return;
    const requestId = String(res.requestId);
    switch (res.type) {
      case RequestType.BROADCAST_CLIENT_COUNT:
        this.onResponse({ type: MessageType.BROADCAST_CLIENT_COUNT, data: { requestId, clientCount: res.clientCount } });
        return;
      case RequestType.BROADCAST_ACK:
        this.onResponse({ type: MessageType.BROADCAST_ACK, data: { requestId, packet: res.packet } });
        return;
      case RequestType.SERVER_SIDE_EMIT:
        this.onResponse({ type: MessageType.SERVER_SIDE_EMIT_RESPONSE, data: { requestId, packet: res.data } });
        return;
    }
    // Untyped answers: fetchSockets ({sockets}) and allRooms ({rooms}).
    if (Array.isArray(res.rooms)) {
      this.#allRooms.get(requestId)?.add(res.rooms);
      return;
    }
    if (Array.isArray(res.sockets)) {
      this.onResponse({ type: MessageType.FETCH_SOCKETS_RESPONSE, data: { requestId, sockets: res.sockets } });
    }
  }

  /**
   * Every room of the namespace, across the cluster (@socket.io/redis-adapter's
   * `allRooms()`; rejects after `requestsTimeout`).
   */
  async allRooms(): Promise<Set<Room>> {
    const local = new Set(this.rooms.keys());
    const expected = await this.serverCount();
    if (expected <= 1) return local;
    const requestId = randomId(3);
    return new Promise((resolve, reject) => {
      const request = new AllRoomsRequest(expected, local, resolve, reject, () => this.#allRooms.delete(requestId));
      this.#allRooms.set(requestId, request);
      request.entry = this.nsp.server._scheduler.schedule(request, 0, this.requestsTimeout);
      this.#request({ uid: this.uid, requestId, type: RequestType.ALL_ROOMS }).then(undefined, (err) =>
        this.onPublishError(err),
      );
    });
  }

  /** Unsubscribes this namespace's channels (the clients stay open: they are the user's). */
  override close(): Promise<void> {
    super.close();
    for (const request of this.#allRooms.values()) request.entry?.cancel();
    this.#allRooms.clear();
    return Promise.all([
      unsubscribe(this.#sub, "pattern", this.channel + "*", this.#onPattern),
      unsubscribe(this.#sub, "channel", this.requestChannel, this.#onChannel),
      unsubscribe(this.#sub, "channel", this.responseChannel, this.#onChannel),
      unsubscribe(this.#sub, "channel", this.specificResponseChannel, this.#onChannel),
    ]).then(
      () => undefined,
      () => undefined,
    );
  }
}
