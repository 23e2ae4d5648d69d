/**
 * Every supported major of both Redis clients, for real: ioredis 5 and 6,
 * node-redis 4, 5 and 6 (the older majors come from the npm alias
 * devDependencies ioredis-v5, redis-v4 and redis-v5). For each client and
 * each adapter (Pub/Sub, sharded Pub/Sub, Streams with connection state
 * recovery), a cluster of two unio nodes on Node shares one private
 * redis-server: one node on the client under test, the other on the default
 * ioredis. The clusters run one after the other (each describe starts its
 * nodes in beforeAll and kills them in afterAll), so they never see each
 * other on the shared server. A last group closes an in-process server on
 * each client and adapter, which must not leave a rejection behind.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createAdapter, createShardedAdapter, createStreamsAdapter } from "../../src/adapters/redis.ts";
import { Server } from "../../src/index.ts";
import {
  type ClientFlavour,
  type ClusterNode,
  closeAllClients,
  connect,
  goneFromCluster,
  ctl,
  next,
  type Proxy,
  type RedisCluster,
  type RedisServer,
  record,
  startProxy,
  startRedis,
  startRedisCluster,
} from "./harness.ts";
import { sleep, waitFor } from "../helpers/wait.ts";

const flavours: Array<{ client: ClientFlavour; label: string }> = [
  { client: "ioredis-v5", label: "ioredis 5" },
  { client: "ioredis", label: "ioredis 6" },
  { client: "node-redis-v4", label: "node-redis 4" },
  { client: "node-redis-v5", label: "node-redis 5" },
  { client: "node-redis", label: "node-redis 6" },
];

const adapters = [
  { adapter: "pubsub", label: "Pub/Sub adapter" },
  { adapter: "sharded", label: "sharded Pub/Sub adapter" },
  { adapter: "streams", label: "Streams adapter" },
] as const;

let redis: RedisServer;
let seq = 0;
const room = (label: string) => `${label}-${++seq}`;

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  closeAllClients();
  await redis?.stop();
});

for (const { adapter, label: adapterLabel } of adapters) {
  for (const { client, label } of flavours) {
    describe(`${adapterLabel} with ${label}`, () => {
      // `subject` runs on the client under test, `peer` on the default ioredis.
      let cluster: RedisCluster;
      let subject: ClusterNode;
      let peer: ClusterNode;
      const proxies: Proxy[] = [];
      const csr = adapter === "streams";

      beforeAll(async () => {
        // On the file's redis-server, which cluster.stop() leaves running.
        cluster = await startRedisCluster(
          [
            { name: `subject-${client}`, adapter, client, csr, requestsTimeout: 2000 },
            { name: "peer-ioredis", adapter, client: "ioredis", csr, requestsTimeout: 2000 },
          ],
          { redis },
        );
        [subject, peer] = cluster.nodes as [ClusterNode, ClusterNode];
        // The previous cluster's nodes were killed; wait until Redis only counts these two.
        const probe = await connect(subject.url);
        await waitFor(async () => (await ctl(probe, "serverCount")).count === 2, { timeout: 10_000, what: "a cluster of two nodes" });
        probe.close();
      });

      afterEach(async () => {
        closeAllClients();
        await Promise.all(proxies.splice(0).map((p) => p.close()));
      });

      afterAll(() => cluster?.stop());

      it("serverCount counts both nodes from either side", async () => {
        const [a, b] = await Promise.all([connect(subject.url), connect(peer.url)]);
        expect(await ctl(a, "serverCount")).toEqual({ count: 2 });
        expect(await ctl(b, "serverCount")).toEqual({ count: 2 });
      });

      it("a room broadcast crosses the nodes both ways, binary intact, and skips non-members", async () => {
        const r = room("versions");
        const [a, b, outsider] = await Promise.all([connect(subject.url), connect(peer.url), connect(subject.url)]);
        await Promise.all([a, b].map((x) => ctl(x, "join", r)));
        const seenOutsider = record(outsider, "hello");
        for (const sender of [a, b]) {
          const got = Promise.all([next(a, "hello"), next(b, "hello")]);
          await ctl(sender, "broadcast", { rooms: [r], event: "hello", args: [sender.node, new Uint8Array([1, 2, 255])] });
          for (const [from, bytes] of await got) {
            expect(from).toBe(sender.node);
            expect([...(bytes as Uint8Array)]).toEqual([1, 2, 255]);
          }
        }
        // Each node's messages keep their order: once the marker arrived, a stray "hello" would have too.
        for (const sender of [a, b]) {
          const marker = next(outsider, "marker");
          await ctl(sender, "broadcast", { event: "marker" });
          await marker;
        }
        expect(seenOutsider).toEqual([]);
      });

      it("fetchSockets on either node sees the socket of the other", async () => {
        const r = room("fetch");
        const a = await connect(subject.url, { auth: { data: { user: "alice" } } });
        const b = await connect(peer.url, { auth: { data: { user: "bob" } } });
        await Promise.all([a, b].map((x) => ctl(x, "join", r)));
        for (const asker of [a, b]) {
          const res = await ctl(asker, "fetchSockets", { rooms: [r] });
          expect(res.error).toBeUndefined();
          const byId = Object.fromEntries(res.sockets.map((s: any) => [s.id, s]));
          expect(Object.keys(byId).sort()).toEqual([a.id, b.id].sort());
          expect(byId[a.id].data).toEqual({ node: subject.name, user: "alice" });
          expect(byId[b.id].data).toEqual({ node: peer.name, user: "bob" });
          expect(byId[a.id].rooms).toEqual([a.id, r].sort());
        }
      });

      it("serverSideEmitWithAck gets the other node's answer, both ways", async () => {
        const [a, b] = await Promise.all([connect(subject.url), connect(peer.url)]);
        for (const [asker, other] of [
          [a, peer.name],
          [b, subject.name],
        ] as const) {
          const res = await ctl(asker, "serverSideEmit", { event: "whoareyou", args: [asker.node], withAck: true });
          expect(res.error).toBeUndefined();
          expect(res.responses).toEqual([{ from: other, arg: asker.node }]);
        }
      });

      if (csr) {
        it.each([
          ["from the subject to the peer", true],
          ["from the peer to the subject", false],
        ] as const)("connection state recovery %s: same id, rooms kept, missed packets replayed", async (_l, subjectFirst) => {
          const from = subjectFirst ? subject : peer;
          const to = subjectFirst ? peer : subject;
          const proxy = await startProxy(from.port);
          proxies.push(proxy);
          const c = await connect(proxy.url, {
            reconnection: true,
            reconnectionDelay: 1200,
            reconnectionDelayMax: 1200,
            randomizationFactor: 0,
          });
          expect(c.node).toBe(from.name);
          const r = room("csr");
          await ctl(c, "join", r);
          const sender = await connect(to.url);

          // A first packet gives the client an offset to resume from.
          const first = next(c, "m");
          await ctl(sender, "broadcast", { rooms: [r], event: "m", args: ["before"] });
          expect((await first)[0]).toBe("before");

          const seen = record(c, "m");
          const welcomeAgain = next(c, "welcome", 10_000);
          proxy.setTarget(to.port);
          proxy.dropAll();
          // The node saw the drop: what is sent now is missed, and kept for the recovery.
          await goneFromCluster(sender, c.id);
          await ctl(sender, "broadcast", { rooms: [r], event: "m", args: ["missed", new Uint8Array([9])] });
          const [welcome] = await welcomeAgain;
          expect(welcome).toMatchObject({ node: to.name, id: c.id, recovered: true });
          await waitFor(() => seen.length >= 1, { timeout: 3000, what: "the missed packet" });
          expect(seen[0]![0]).toBe("missed");
          expect([...(seen[0]![1] as Uint8Array)]).toEqual([9]);

          // Its rooms came along: a room broadcast from the old node reaches it on the new one.
          const after = next(c, "m");
          const oldNodeClient = await connect(from.url);
          await ctl(oldNodeClient, "broadcast", { rooms: [r], event: "m", args: ["after"] });
          expect((await after)[0]).toBe("after");
        });
      }
    });
  }
}

/** A connected pub/sub pair of the given flavour, built in this process. */
async function clientPair(flavour: ClientFlavour): Promise<{ pub: any; sub: any; close(): Promise<void> }> {
  if (flavour.startsWith("node-redis")) {
    const create: (opts: { url: string }) => any = (
      flavour === "node-redis-v4" ? await import("redis-v4") : flavour === "node-redis-v5" ? await import("redis-v5") : await import("redis")
    ).createClient;
    const pub = create({ url: redis.url });
    pub.on("error", () => {});
    const sub = pub.duplicate();
    sub.on("error", () => {});
    await Promise.all([pub.connect(), sub.connect()]);
    // close() since node-redis 5, quit() before.
    const quit = (c: any) => (typeof c.close === "function" ? c.close() : c.quit());
    return { pub, sub, close: async () => void (await Promise.all([quit(pub), quit(sub)])) };
  }
  const Client: new (url: string) => any = (flavour === "ioredis-v5" ? await import("ioredis-v5") : await import("ioredis")).Redis;
  const pub = new Client(redis.url);
  pub.on("error", () => {});
  const sub = pub.duplicate();
  sub.on("error", () => {});
  return { pub, sub, close: async () => void (await Promise.all([pub.quit(), sub.quit()])) };
}

describe("closing a server", () => {
  // node-redis 4 has no destroy() and its disconnect() rejects on a closed connection:
  // closing a Streams server used to end in an unhandled ClientClosedError.
  it.each(flavours.flatMap(({ client, label }) => adapters.map(({ adapter }) => [label, adapter, client] as const)))(
    "%s, %s adapter: io.close() leaves no unhandled rejection",
    async (_label, adapter, client) => {
      const pair = await clientPair(client);
      const rejections: unknown[] = [];
      const onRejection = (reason: unknown) => rejections.push(reason);
      process.on("unhandledRejection", onRejection);
      try {
        const io = new Server({
          adapter:
            adapter === "streams"
              ? createStreamsAdapter(pair.pub, { blockTimeInMs: 1000 })
              : adapter === "sharded"
                ? createShardedAdapter(pair.pub, pair.sub)
                : createAdapter(pair.pub, pair.sub),
        });
        await (io.of("/").adapter as unknown as { whenReady(): Promise<void> }).whenReady();
        await io.close();
        // Asserting silence: the Streams reader's loop ends after its blocking XREAD was aborted, and no
        // rejection comes out of it in the next 300 ms.
        await sleep(300);
        expect(rejections).toEqual([]);
      } finally {
        process.off("unhandledRejection", onRejection);
        await pair.close();
      }
    },
  );
});
