/**
 * `unio/redis`: the Redis Pub/Sub adapter. Broadcasts, rooms and
 * server-side events span every node of a cluster, carried by Redis.
 *
 * `createAdapter()` speaks the wire format of @socket.io/redis-adapter 8.x
 * (its default, non-sharded adapter): the same channels
 * (`socket.io#/nsp#`, `socket.io#/nsp#room#`, `socket.io-request#/nsp#`,
 * `socket.io-response#/nsp#[uid#]`), the same request types and the same
 * msgpack/JSON encodings. So unio nodes and Node socket.io nodes using that
 * adapter form one cluster, and @socket.io/redis-emitter can emit into it.
 *
 * `createShardedAdapter()` speaks @socket.io/redis-adapter's sharded
 * variant (Redis 7 sharded Pub/Sub, SPUBLISH/SSUBSCRIBE).
 *
 * @example
 * import { createClient } from "redis";
 * import { Server } from "unio";
 * import { createAdapter } from "unio/redis";
 *
 * const pubClient = createClient({ url: "redis://localhost:6379" });
 * const subClient = pubClient.duplicate();
 * await Promise.all([pubClient.connect(), subClient.connect()]);
 * const io = new Server({ adapter: createAdapter(pubClient, subClient) });
 */
import type { TimerEntry, TimerTarget } from "../engine/scheduler.ts";
import type { Packet } from "../protocol/socket-io-packet.ts";
import type { AnyNamespace } from "../socket/adapter.ts";
import type { Room } from "../socket/types.ts";
import {
  ClusterAdapter,
  type ClusterAdapterOptions,
  type ClusterMessage,
  type ClusterResponse,
  EMITTER_UID,
  type EncodedOptions,
  MessageType,
  randomId,
} from "./cluster-adapter.ts";
import { decode as msgpackDecode, encode as msgpackEncode, hasBinary } from "./msgpack.ts";
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

export type { RedisClient } from "./redis-clients.ts";
export { ClusterAdapter, ClusterAdapterWithHeartbeat, MessageType } from "./cluster-adapter.ts";
export { createStreamsAdapter, RedisStreamsAdapter, type RedisStreamsAdapterOptions } from "./redis-streams.ts";
export { createSessionRouter, RedisSessionRouter, type SessionRouterOptions } from "./redis-session-router.ts";

/** Encodes and decodes broadcast payloads; MessagePack (as notepack.io writes it) by default. */
export interface RedisParser {
  encode(value: unknown): Uint8Array | string;
  decode(bytes: Uint8Array): unknown;
}

const notepackParser: RedisParser = {
  encode: (value) => msgpackEncode(value),
  decode: (bytes) => msgpackDecode(bytes),
};

export interface RedisAdapterOptions extends ClusterAdapterOptions {
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

/** Request types of @socket.io/redis-adapter's wire format (not the cluster MessageType). */
const RequestType = {
  SOCKETS: 0,
  ALL_ROOMS: 1,
  REMOTE_JOIN: 2,
  REMOTE_LEAVE: 3,
  REMOTE_DISCONNECT: 4,
  REMOTE_FETCH: 5,
  SERVER_SIDE_EMIT: 6,
  BROADCAST: 7,
  BROADCAST_CLIENT_COUNT: 8,
  BROADCAST_ACK: 9,
} as const;

const textDecoder = new TextDecoder();

/** Parses a request or response: JSON when it starts with "{", else the parser (msgpack). */
function parsePayload(bytes: Uint8Array, parser: RedisParser): Record<string, any> | null {
  try {
    const value = bytes[0] === 0x7b ? JSON.parse(textDecoder.decode(bytes)) : parser.decode(bytes);
    return value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, any>) : null;
  } catch {
    return null;
  }
}

function isNumeric(s: string): boolean {
  return s.trim() !== "" && !Number.isNaN(Number(s)) && !Number.isNaN(Number.parseFloat(s));
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

/** Waits for the ALL_ROOMS answers of every other node. */
class AllRoomsRequest implements TimerTarget {
  received = 1;
  entry: TimerEntry | undefined;
  constructor(
    readonly expected: number,
    readonly rooms: Set<Room>,
    readonly resolve: (rooms: Set<Room>) => void,
    readonly reject: (err: Error) => void,
    readonly done: () => void,
  ) {}
  add(rooms: unknown[]): void {
    this.received++;
    for (const r of rooms) this.rooms.add(String(r));
    if (this.received >= this.expected) {
      this.entry?.cancel();
      this.done();
      this.resolve(this.rooms);
    }
  }
  onTimer(): void {
    this.done();
    this.reject(new Error("timeout reached while waiting for allRooms response"));
  }
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
    super(nsp, opts);
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

// ── sharded Pub/Sub ─────────────────────────────────────────────────────

export interface ShardedRedisAdapterOptions extends ClusterAdapterOptions {
  /** Prefix of every channel (default "socket.io"). */
  channelPrefix?: string;
  /**
   * "static": one channel per namespace. "dynamic" (default): public rooms
   * get their own channel, so a node only receives broadcasts for rooms it
   * has. "dynamic-private": private rooms (socket ids) too.
   */
  subscriptionMode?: "static" | "dynamic" | "dynamic-private";
}

/**
 * The adapter option for Redis 7 sharded Pub/Sub, wire-compatible with
 * @socket.io/redis-adapter's `createShardedAdapter()`.
 *
 * @example
 * const io = new Server({ adapter: createShardedAdapter(pubClient, subClient) });
 */
export function createShardedAdapter(
  pubClient: RedisClient,
  subClient: RedisClient,
  opts: ShardedRedisAdapterOptions = {},
): (nsp: AnyNamespace) => ShardedRedisAdapter {
  assertSupportedClient(pubClient, "pubClient");
  assertSupportedClient(subClient, "subClient");
  return (nsp) => new ShardedRedisAdapter(nsp, pubClient, subClient, opts);
}

/** A socket id is 20 characters; such rooms stay on the namespace channel in "dynamic" mode. */
function looksLikeASocketId(room: unknown): boolean {
  return typeof room === "string" && room.length === 20;
}

const BINARY_CAPABLE: ReadonlySet<number> = new Set([
  MessageType.BROADCAST,
  MessageType.BROADCAST_ACK,
  MessageType.FETCH_SOCKETS_RESPONSE,
  MessageType.SERVER_SIDE_EMIT,
  MessageType.SERVER_SIDE_EMIT_RESPONSE,
]);

export class ShardedRedisAdapter extends ClusterAdapter {
  readonly channel: string;
  readonly responseChannel: string;
  readonly #pub: RedisClient;
  readonly #sub: RedisClient;
  readonly #mode: "static" | "dynamic" | "dynamic-private";
  readonly #handler: PubSubHandler;
  readonly #dynamic = new Set<string>();
  #ready: Promise<void> | undefined;

  constructor(nsp: AnyNamespace, pubClient: RedisClient, subClient: RedisClient, opts: ShardedRedisAdapterOptions = {}) {
    super(nsp, opts);
    this.#pub = pubClient;
    this.#sub = subClient;
    this.#mode = opts.subscriptionMode ?? "dynamic";
    const prefix = opts.channelPrefix ?? "socket.io";
    this.channel = `${prefix}#${nsp.name}#`;
    this.responseChannel = `${prefix}#${nsp.name}#${this.uid}#`;
    this.#handler = (channel, message) => this.#onRaw(channel, message);
    guardErrors(pubClient);
    guardErrors(subClient);
    if (this.#mode !== "static") {
      this.on("create-room", (room: Room) => {
        if (!this.#separateChannel(room)) return;
        const channel = this.#dynamicChannel(room);
        this.#dynamic.add(channel);
        subscribe(this.#sub, "sharded", channel, this.#handler).then(undefined, (err) => this.onPublishError(err));
      });
      this.on("delete-room", (room: Room) => {
        const channel = this.#dynamicChannel(room);
        if (!this.#dynamic.delete(channel)) return;
        unsubscribe(this.#sub, "sharded", channel, this.#handler).then(undefined, () => {});
      });
    }
  }

  override init(): Promise<void> {
    this.#ready ??= Promise.all([
      subscribe(this.#sub, "sharded", this.channel, this.#handler),
      subscribe(this.#sub, "sharded", this.responseChannel, this.#handler),
    ]).then(() => undefined);
    return this.#ready;
  }

  whenReady(): Promise<void> {
    return this.init();
  }

  #separateChannel(room: Room): boolean {
    if (this.#mode === "dynamic-private") return true;
    // A public room: not a socket's own room.
    return this.#mode === "dynamic" && !this.sids.has(room);
  }

  #dynamicChannel(room: Room): string {
    return this.channel + room + "#";
  }

  #computeChannel(message: ClusterMessage): string {
    // A broadcast with ack goes to every node: each must report its client count.
    if (message.type !== MessageType.BROADCAST || message.data.requestId !== undefined) return this.channel;
    const rooms = message.data.opts.rooms;
    if (rooms.length !== 1) return this.channel;
    const useDynamic =
      (this.#mode === "dynamic" && !looksLikeASocketId(rooms[0])) || this.#mode === "dynamic-private";
    return useDynamic ? this.#dynamicChannel(rooms[0]!) : this.channel;
  }

  #encode(message: ClusterMessage | ClusterResponse): string | Uint8Array {
    const data = (message as { data?: unknown }).data;
    if (BINARY_CAPABLE.has(message.type) && hasBinary(data)) return msgpackEncode(message);
    return JSON.stringify(message);
  }

  protected doPublish(message: ClusterMessage): Promise<string> {
    return publish(this.#pub, this.#computeChannel(message), this.#encode(message), true).then(() => "");
  }

  protected doPublishResponse(requesterUid: string, response: ClusterResponse): Promise<void> {
    return publish(this.#pub, `${this.channel}${requesterUid}#`, this.#encode(response), true).then(() => undefined);
  }

  #onRaw(channel: string, raw: Uint8Array): void {
    let message: unknown;
    try {
      message = raw[0] === 0x7b ? JSON.parse(textDecoder.decode(raw)) : msgpackDecode(raw);
    } catch {
      return;
    }
    if (!message || typeof message !== "object") return;
    if (channel === this.responseChannel) this.onResponse(message as ClusterResponse);
    else this.onMessage(message as ClusterMessage);
  }

  /** Number of nodes: subscribers of the namespace channel (PUBSUB SHARDNUMSUB). */
  override serverCount(): Promise<number> {
    return numsub(this.#pub, this.channel, true);
  }

  override close(): Promise<void> {
    super.close();
    const channels = [this.channel, this.responseChannel, ...this.#dynamic];
    this.#dynamic.clear();
    return Promise.all(channels.map((c) => unsubscribe(this.#sub, "sharded", c, this.#handler))).then(
      () => undefined,
      () => undefined,
    );
  }
}
