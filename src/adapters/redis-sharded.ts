/**
 * The Redis 7 sharded Pub/Sub wire (SPUBLISH / SSUBSCRIBE), compatible with
 * @socket.io/redis-adapter's `createShardedAdapter()`: the cluster protocol
 * of `ClusterAdapter` as is, JSON or msgpack when binary, on one channel per
 * namespace plus, in the dynamic modes, one per room.
 */
import type { AnyNamespace } from "../socket/adapter.ts";
import type { Room } from "../socket/types.ts";
import { ClusterAdapter, type ClusterAdapterOptions } from "./cluster-adapter.ts";
import { type ClusterMessage, type ClusterResponse, MessageType } from "./cluster-protocol.ts";
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

const textDecoder = new TextDecoder();

export interface ShardedRedisAdapterOptions extends Pick<ClusterAdapterOptions, "requestsTimeout"> {
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
    super(nsp, { requestsTimeout: opts.requestsTimeout });
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
