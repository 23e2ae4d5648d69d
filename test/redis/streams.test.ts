/**
 * The Redis Streams adapter with connection state recovery on: two unio
 * nodes (ioredis, node-redis) and a Node socket.io node using
 * @socket.io/redis-streams-adapter. A TCP proxy plays the load balancer:
 * it cuts a client's connection and sends its reconnection to another node.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  behindProxy,
  closeAllClients,
  type ClusterNode,
  connect,
  ctl,
  expectRecoveryAcrossNodes,
  goneFromCluster,
  marker,
  next,
  type Proxy,
  record,
  type RedisCluster,
  type RedisServer,
  startRedisCluster,
} from "./harness.ts";
import { sleep, waitFor } from "../helpers/wait.ts";

const OFFSET = /^\d+-\d+$/;

let cluster: RedisCluster;
let redis: RedisServer;
let u1: ClusterNode;
let u2: ClusterNode;
let ref: ClusterNode;
const proxies: Proxy[] = [];

beforeAll(async () => {
  cluster = await startRedisCluster([
    { name: "u1", adapter: "streams", client: "ioredis", csr: true, requestsTimeout: 2000 },
    { name: "u2", adapter: "streams", client: "node-redis", csr: true, requestsTimeout: 2000 },
    { name: "ref", runtime: "reference-streams", csr: true },
  ]);
  redis = cluster.redis;
  [u1, u2, ref] = cluster.nodes as [ClusterNode, ClusterNode, ClusterNode];
});

afterEach(async () => {
  closeAllClients();
  await Promise.all(proxies.splice(0).map((p) => p.close()));
});

afterAll(() => cluster?.stop());

describe("cluster operations over streams", () => {
  it("broadcasts reach every node, each event tagged with its stream offset", async () => {
    const clients = await Promise.all([u1, u2, ref].map((n) => connect(n.url)));
    await Promise.all(clients.map((c) => ctl(c, "join", "s")));
    for (const sender of clients) {
      const got = Promise.all(clients.map((c) => next(c, "hello")));
      await ctl(sender, "broadcast", { rooms: ["s"], event: "hello", args: [sender.node, new Uint8Array([4, 2])] });
      const received = await got;
      for (const [from, bytes, offset] of received) {
        expect(from).toBe(sender.node);
        expect([...(bytes as Uint8Array)]).toEqual([4, 2]);
        expect(offset).toMatch(OFFSET);
      }
      // Every node tags the packet with the same offset: the stream entry id.
      expect(new Set(received.map((r) => r[2])).size).toBe(1);
    }
  });

  it("fetchSockets, serverSideEmit with ack and emitWithAck span the three nodes", async () => {
    const clients = await Promise.all([u1, u2, ref].map((n) => connect(n.url)));
    for (const c of clients) {
      await ctl(c, "join", "ops");
      c.socket.on("q", (cb: (v: string) => void) => cb(c.node));
    }
    for (const asker of clients) {
      expect(await ctl(asker, "serverCount")).toEqual({ count: 3 });
      const fetched = await ctl(asker, "fetchSockets", { rooms: ["ops"] });
      expect(fetched.sockets.map((s: any) => s.data.node).sort()).toEqual(["ref", "u1", "u2"]);
      const sse = await ctl(asker, "serverSideEmit", { event: "whoareyou", args: [1], withAck: true });
      expect(sse.responses.map((r: any) => r.from).sort()).toEqual(["ref", "u1", "u2"].filter((n) => n !== asker.node));
      const acks = await ctl(asker, "emitWithAck", { rooms: ["ops"], event: "q", timeout: 3000 });
      expect(acks.responses.sort()).toEqual(["ref", "u1", "u2"]);
    }
  });

  it("socketsJoin and disconnectSockets reach sockets of the other nodes", async () => {
    const [a, b, r] = await Promise.all([u1, u2, ref].map((n) => connect(n.url)));
    await ctl(a, "socketsJoin", { rooms: [b.id, r.id], room: "streamed-join" });
    await waitFor(async () => (await ctl(a, "fetchSockets", { rooms: ["streamed-join"] })).sockets?.length === 2, { timeout: 5000 });
    const gone = Promise.all([next(b, "disconnect"), next(r, "disconnect")]);
    await ctl(a, "disconnectSockets", { rooms: ["streamed-join"] });
    expect((await gone).map(([reason]) => reason)).toEqual(["io server disconnect", "io server disconnect"]);
  });
});

describe("connection state recovery across nodes", () => {
  const pairs: Array<[string, () => ClusterNode, () => ClusterNode]> = [
    ["u1 -> u2 (unio to unio)", () => u1, () => u2],
    ["u2 -> ref (unio to socket.io)", () => u2, () => ref],
    ["ref -> u1 (socket.io to unio)", () => ref, () => u1],
  ];

  it.each(pairs)("%s: same id, rooms kept, missed packets replayed", (_label, from, to) =>
    expectRecoveryAcrossNodes(from(), to(), proxies),
  );

  it("replays what was emitted to the socket itself while it was away, but not volatile packets", async () => {
    const { client, proxy } = await behindProxy(u1, proxies);
    const sender = await connect(u2.url);
    const first = next(client, "m");
    await ctl(sender, "broadcast", { rooms: [client.id], event: "m", args: ["start"] });
    await first;

    const seen = record(client, "m");
    const welcomeAgain = next(client, "welcome", 10_000);
    proxy.setTarget(u2.port);
    proxy.dropAll();
    // The node saw the drop: what is sent now is missed, and kept for the recovery (volatile aside).
    await goneFromCluster(sender, client.id);
    await ctl(sender, "broadcast", { rooms: [client.id], volatile: true, event: "m", args: ["volatile"] });
    await ctl(sender, "broadcast", { rooms: [client.id], event: "m", args: ["private"] });
    const [welcome] = await welcomeAgain;
    expect(welcome.recovered).toBe(true);
    await waitFor(() => seen.length >= 1, { timeout: 3000, what: "the private packet" });
    // Once a later packet arrived, the volatile one would have too, had it been kept.
    await marker(client, sender);
    expect(seen.map((a) => a[0])).toEqual(["private"]);
  });

  it("an unknown session or a malformed offset starts a fresh session without error", async () => {
    const bogus = await connect(u1.url, { auth: { pid: "no-such-session", offset: "1-0" } });
    expect(bogus.socket.recovered).toBe(false);
    const malformed = await connect(u2.url, { auth: { pid: "x", offset: "not-an-offset" } });
    expect(malformed.socket.recovered).toBe(false);
    expect(bogus.id).not.toBe(malformed.id);
  });

  it("a session is restored once: a second restore of the same pid starts fresh", async () => {
    const { client, proxy } = await behindProxy(u1, proxies);
    const first = next(client, "m");
    const sender = await connect(u2.url);
    await ctl(sender, "broadcast", { rooms: [client.id], event: "m", args: ["x"] });
    const [, offset] = await first;
    const pid = (client.socket as unknown as { _pid: string })._pid;
    const welcomeAgain = next(client, "welcome", 10_000);
    proxy.setTarget(u2.port);
    proxy.dropAll();
    expect((await welcomeAgain)[0].recovered).toBe(true);
    // Another connection presenting the same pid and offset gets a new session.
    const thief = await connect(u1.url, { auth: { pid, offset } });
    expect(thief.socket.recovered).toBe(false);
    expect(thief.id).not.toBe(client.id);
  });
});

describe.sequential("Redis restarted under the streams adapter", () => {
  it("stream reading resumes and broadcasts flow again", async () => {
    const [a, b] = await Promise.all([connect(u1.url), connect(u2.url)]);
    await ctl(b, "join", "restart");
    await redis.stop();
    // The outage itself, not a wait for an outcome: Redis stays away 300 ms.
    await sleep(300);
    await redis.start();
    const received: unknown[] = [];
    b.socket.on("after", (i: number) => received.push(i));
    let n = 0;
    await waitFor(
      async () => {
        await ctl(a, "broadcast", { rooms: ["restart"], event: "after", args: [n++] });
        return received.length > 0;
      },
      { timeout: 20_000, interval: 150, what: "a broadcast after the restart" },
    );
    await waitFor(async () => (await ctl(a, "serverCount")).count === 3, { timeout: 10_000, what: "three nodes subscribed" });
    const sse = await ctl(a, "serverSideEmit", { event: "whoareyou", args: [0], withAck: true });
    expect(sse.responses.map((r: any) => r.from).sort()).toEqual(["ref", "u2"]);
  });
});
