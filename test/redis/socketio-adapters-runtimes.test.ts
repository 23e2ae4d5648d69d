/**
 * The official @socket.io/redis-adapter and @socket.io/redis-streams-adapter,
 * unchanged, on unio nodes running on Bun and Deno (through socket.io-adapter's
 * contract), each with the other Redis client library, next to a Node node:
 * a round trip of broadcasts, a server-side emit with ack and fetchSockets.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type ClusterNode, closeAllClients, connect, ctl, next, type RedisCluster, startRedisCluster } from "./harness.ts";
import { waitFor } from "../helpers/wait.ts";

afterEach(() => closeAllClients());

const setups: Array<[string, "sio-pubsub" | "sio-streams", Array<["node" | "bun" | "deno", "ioredis" | "node-redis"]>]> = [
  ["@socket.io/redis-adapter", "sio-pubsub", [["node", "ioredis"], ["bun", "ioredis"], ["deno", "node-redis"]]],
  ["@socket.io/redis-adapter", "sio-pubsub", [["node", "node-redis"], ["bun", "node-redis"], ["deno", "ioredis"]]],
  ["@socket.io/redis-streams-adapter", "sio-streams", [["node", "ioredis"], ["bun", "ioredis"], ["deno", "node-redis"]]],
];

describe.each(setups)("%s (%s) on %j", (_pkg, adapter, runtimes) => {
  let cluster: RedisCluster;
  let nodes: ClusterNode[] = [];

  beforeAll(async () => {
    cluster = await startRedisCluster(
      runtimes.map(([runtime, client]) => ({ name: `${runtime}-${client}`, runtime, client, adapter, requestsTimeout: 3000 })),
    );
    nodes = cluster.nodes;
  }, 60_000);

  afterAll(() => cluster?.stop());

  it("broadcasts, serverSideEmit with ack and fetchSockets round-trip between the runtimes", async () => {
    const cs = await Promise.all(nodes.map((n) => connect(n.url)));
    await waitFor(async () => (await ctl(cs[1]!, "serverCount")).count === 3, { timeout: 10_000, what: "three servers" });
    await Promise.all(cs.map((c) => ctl(c, "join", "rt")));
    for (const sender of cs) {
      const got = Promise.all(cs.map((c) => next(c, "hello")));
      await ctl(sender, "broadcast", { rooms: ["rt"], event: "hello", args: [sender.node, new Uint8Array([7])] });
      for (const [from, bytes] of await got) {
        expect(from).toBe(sender.node);
        expect([...(bytes as Uint8Array)]).toEqual([7]);
      }
      const sse = await ctl(sender, "serverSideEmit", { event: "whoareyou", args: [0], withAck: true });
      expect(sse.error).toBeUndefined();
      expect(sse.responses.map((r: any) => r.from).sort()).toEqual(cs.filter((c) => c !== sender).map((c) => c.node).sort());
      const fetched = await ctl(sender, "fetchSockets", { rooms: ["rt"] });
      expect(fetched.sockets.map((s: any) => s.id).sort()).toEqual(cs.map((c) => c.id).sort());
    }
  });
});
