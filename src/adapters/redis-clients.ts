/**
 * One small interface over the two Redis clients users bring: ioredis
 * (`new Redis()`, `new Redis.Cluster()`) and node-redis v4+ (`createClient()`,
 * `createCluster()`). The adapters only need publish, (pattern / sharded)
 * subscribe, a few raw commands and `duplicate()`; this file is the only
 * place that knows the two APIs apart.
 *
 * Both clients run on Node, Bun and Deno (through their Node compatibility)
 * and both want Node `Buffer`s for binary arguments, hence `node:buffer`,
 * which all three runtimes provide. Payloads handed to handlers are
 * Uint8Arrays (a Buffer is one).
 */
import { Buffer } from "node:buffer";

// biome-ignore lint: the clients' own types are not a dependency of unio
export type RedisClient = any;

export type PubSubHandler = (channel: string, message: Uint8Array) => void;
export type SubscriptionKind = "channel" | "pattern" | "sharded";

/** Whether the client is node-redis (v4 and later). */
export function isNodeRedis(client: RedisClient): boolean {
  return typeof client?.pSubscribe === "function" || typeof client?.sSubscribe === "function";
}

/** Whether the client is ioredis (standalone or cluster). */
export function isIoRedis(client: RedisClient): boolean {
  return !isNodeRedis(client) && typeof client?.psubscribe === "function" && typeof client?.call === "function";
}

function isIoRedisCluster(client: RedisClient): boolean {
  return client?.isCluster === true || client?.constructor?.name === "Cluster";
}

function isNodeRedisCluster(client: RedisClient): boolean {
  return Array.isArray(client?.masters);
}

/** Throws a helpful error for anything that is neither client. */
export function assertSupportedClient(client: RedisClient, role: string): void {
  if (!isNodeRedis(client) && !isIoRedis(client)) {
    throw new TypeError(`unio/redis: the ${role} is neither an ioredis nor a node-redis (v4+) client`);
  }
}

/** A Redis argument: strings as is, bytes as the Buffer both clients require. */
export function toArg(value: string | Uint8Array): string | Buffer {
  if (typeof value === "string") return value;
  return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

function channelString(channel: unknown): string {
  return typeof channel === "string" ? channel : String(channel);
}

/**
 * Subscriptions of one subscriber client, shared by every adapter using it:
 * one native subscription per channel, fanned out to the handlers here.
 */
class Subscriptions {
  readonly #client: RedisClient;
  readonly #nodeRedis: boolean;
  readonly #handlers: Record<SubscriptionKind, Map<string, Set<PubSubHandler>>> = {
    channel: new Map(),
    pattern: new Map(),
    sharded: new Map(),
  };
  /** node-redis: the native listener of each key, to unsubscribe exactly it. */
  readonly #native = new Map<string, (message: Uint8Array, channel: unknown) => void>();
  #ioListening = false;

  constructor(client: RedisClient) {
    this.#client = client;
    this.#nodeRedis = isNodeRedis(client);
  }

  #dispatch(kind: SubscriptionKind, key: string, channel: string, message: Uint8Array): void {
    const set = this.#handlers[kind].get(key);
    if (!set) return;
    for (const handler of [...set]) handler(channel, message);
  }

  #listenIoRedis(): void {
    if (this.#ioListening) return;
    this.#ioListening = true;
    const c = this.#client;
    c.on("messageBuffer", (channel: unknown, message: Uint8Array) => {
      const name = channelString(channel);
      this.#dispatch("channel", name, name, message);
    });
    c.on("pmessageBuffer", (pattern: unknown, channel: unknown, message: Uint8Array) => {
      this.#dispatch("pattern", channelString(pattern), channelString(channel), message);
    });
    c.on("smessageBuffer", (channel: unknown, message: Uint8Array) => {
      const name = channelString(channel);
      this.#dispatch("sharded", name, name, message);
    });
  }

  async add(kind: SubscriptionKind, key: string, handler: PubSubHandler): Promise<void> {
    const map = this.#handlers[kind];
    let set = map.get(key);
    if (set) {
      set.add(handler);
      return;
    }
    map.set(key, (set = new Set([handler])));
    const c = this.#client;
    if (this.#nodeRedis) {
      const native = (message: Uint8Array, channel: unknown) =>
        this.#dispatch(kind, key, channelString(channel), message);
      this.#native.set(kind + ":" + key, native);
      // `true`: hand over Buffers, so msgpack payloads arrive intact.
      if (kind === "channel") await c.subscribe(key, native, true);
      else if (kind === "pattern") await c.pSubscribe(key, native, true);
      else await c.sSubscribe(key, native, true);
      return;
    }
    this.#listenIoRedis();
    if (kind === "channel") await c.subscribe(key);
    else if (kind === "pattern") await c.psubscribe(key);
    else await c.ssubscribe(key);
  }

  async remove(kind: SubscriptionKind, key: string, handler: PubSubHandler): Promise<void> {
    const map = this.#handlers[kind];
    const set = map.get(key);
    if (!set || !set.delete(handler) || set.size > 0) return;
    map.delete(key);
    const c = this.#client;
    if (this.#nodeRedis) {
      const native = this.#native.get(kind + ":" + key);
      this.#native.delete(kind + ":" + key);
      if (kind === "channel") await c.unsubscribe(key, native, true);
      else if (kind === "pattern") await c.pUnsubscribe(key, native, true);
      else await c.sUnsubscribe(key, native, true);
      return;
    }
    if (kind === "channel") await c.unsubscribe(key);
    else if (kind === "pattern") await c.punsubscribe(key);
    else await c.sunsubscribe(key);
  }
}

const subscriptions = new WeakMap<object, Subscriptions>();

function subscriptionsOf(client: RedisClient): Subscriptions {
  let subs = subscriptions.get(client);
  if (!subs) subscriptions.set(client, (subs = new Subscriptions(client)));
  return subs;
}

export function subscribe(client: RedisClient, kind: SubscriptionKind, key: string, handler: PubSubHandler): Promise<void> {
  return subscriptionsOf(client).add(kind, key, handler);
}

export function unsubscribe(client: RedisClient, kind: SubscriptionKind, key: string, handler: PubSubHandler): Promise<void> {
  return subscriptionsOf(client).remove(kind, key, handler);
}

/** PUBLISH, or SPUBLISH when `sharded`. */
export function publish(client: RedisClient, channel: string, payload: string | Uint8Array, sharded = false): Promise<unknown> {
  const arg = toArg(payload);
  if (isNodeRedis(client)) return sharded ? client.sPublish(channel, arg) : client.publish(channel, arg);
  return sharded ? client.spublish(channel, arg) : client.publish(channel, arg);
}

/**
 * A raw command, e.g. `command(c, ["XADD", ...])`. `key` routes it in a
 * cluster. Replies are whatever the client returns for RESP (strings,
 * arrays, numbers, null).
 */
export async function command(client: RedisClient, args: Array<string | Uint8Array>, key?: string): Promise<unknown> {
  const converted = args.map(toArg);
  if (isNodeRedis(client)) {
    if (isNodeRedisCluster(client)) return client.sendCommand(key, false, converted);
    return client.sendCommand(converted);
  }
  return client.call(...converted);
}

function parseCount(reply: unknown): number {
  // RESP2: [channel, count]; RESP3 (node-redis with RESP: 3) may give a map or object.
  if (Array.isArray(reply)) return Number(reply[1]) || 0;
  if (reply instanceof Map) {
    for (const v of reply.values()) return Number(v) || 0;
    return 0;
  }
  if (reply && typeof reply === "object") {
    for (const v of Object.values(reply)) return Number(v) || 0;
  }
  return 0;
}

/**
 * Number of subscribers of a channel (PUBSUB NUMSUB or SHARDNUMSUB), summed
 * over the masters of a cluster.
 */
export async function numsub(client: RedisClient, channel: string, sharded = false): Promise<number> {
  const sub = sharded ? "SHARDNUMSUB" : "NUMSUB";
  if (isIoRedisCluster(client)) {
    const counts = await Promise.all(
      client.nodes("master").map((node: RedisClient) => node.call("PUBSUB", sub, channel).then(parseCount)),
    );
    return counts.reduce((a: number, b: number) => a + b, 0);
  }
  if (isNodeRedisCluster(client)) {
    const counts = await Promise.all(
      client.masters.map(async (master: RedisClient) => {
        const node = typeof client.nodeClient === "function" ? await client.nodeClient(master) : master.client;
        return parseCount(await node.sendCommand(["PUBSUB", sub, channel]));
      }),
    );
    return counts.reduce((a: number, b: number) => a + b, 0);
  }
  return parseCount(await command(client, ["PUBSUB", sub, channel]));
}

/** A new connection with the same options (for blocking reads and subscriptions), connected. */
export async function duplicate(client: RedisClient): Promise<RedisClient> {
  const copy = client.duplicate();
  // Errors on a connection we own are retried by the client; do not let them crash the process.
  copy.on("error", () => {});
  if (isNodeRedis(client)) await copy.connect();
  else if (copy.options?.lazyConnect && copy.status === "wait") await copy.connect();
  return copy;
}

/** Closes a connection we created, without waiting for pending replies. */
export function destroy(client: RedisClient): void {
  try {
    if (isNodeRedis(client)) {
      if (typeof client.destroy === "function") client.destroy();
      // node-redis v4 has no destroy(), and its disconnect() is async: on a
      // connection that is already closed it rejects with ClientClosedError
      // instead of throwing here. The Streams reader closes its connection
      // twice (stop() aborts the blocking XREAD, then the loop ends), so
      // without this catch `io.close()` took the process down with an
      // unhandled rejection.
      else Promise.resolve(client.disconnect()).catch(() => {});
    } else {
      client.disconnect();
    }
  } catch {
    // Already closed.
  }
}

const guarded = new WeakSet<object>();

/**
 * Adds, once per client, an "error" listener that only speaks when it is
 * alone: node-redis throws an unhandled "error" event, which would take the
 * server down during a Redis restart. The clients reconnect by themselves.
 */
export function guardErrors(client: RedisClient): void {
  if (guarded.has(client)) return;
  guarded.add(client);
  let warned = false;
  client.on("error", (err: unknown) => {
    if (!warned && client.listenerCount?.("error") === 1) {
      warned = true;
      console.warn("unio/redis: missing 'error' handler on this Redis client:", (err as Error)?.message ?? err);
    }
  });
}

/** A reply as a string (RESP bulk strings may come back as Buffers). */
export function replyString(value: unknown): string {
  if (typeof value === "string") return value;
  if (value instanceof Uint8Array) return new TextDecoder().decode(value);
  return value === null || value === undefined ? "" : String(value);
}
