/**
 * `unio/redis`: the Redis adapters. Broadcasts, rooms and server-side
 * events span every node of a cluster, carried by Redis.
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
export type { RedisClient } from "./redis-clients.ts";
export { ClusterAdapter } from "./cluster-adapter.ts";
export { ClusterAdapterWithHeartbeat } from "./cluster-heartbeat.ts";
export { MessageType } from "./cluster-protocol.ts";
export { createAdapter, RedisAdapter, type RedisAdapterOptions, type RedisParser } from "./redis-pubsub.ts";
export { createShardedAdapter, ShardedRedisAdapter, type ShardedRedisAdapterOptions } from "./redis-sharded.ts";
export { createStreamsAdapter, RedisStreamsAdapter, type RedisStreamsAdapterOptions } from "./redis-streams.ts";
export { createSessionRouter, RedisSessionRouter, type SessionRouterOptions } from "./redis-session-router.ts";
