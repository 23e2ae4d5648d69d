/**
 * unio nodes and a Node socket.io 4.8 node in one cluster: the reference
 * node uses @socket.io/redis-adapter (createAdapter, then createShardedAdapter),
 * and @socket.io/redis-emitter emits into the cluster from outside.
 */
import { Emitter } from "@socket.io/redis-emitter";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  assertNotReceived,
  type Client,
  type ClusterNode,
  closeAllClients,
  connect,
  ctl,
  next,
  type RedisCluster,
  record,
  startRedisCluster,
} from "./harness.ts";
import { waitFor } from "../helpers/wait.ts";

afterEach(() => closeAllClients());

describe("with @socket.io/redis-adapter (Pub/Sub)", () => {
  let cluster: RedisCluster;
  let nodes: ClusterNode[] = [];
  let emitterClient: Redis;
  let emitter: Emitter;
  /** unio on ioredis, unio on node-redis, the reference. */
  let clients: () => Promise<[Client, Client, Client]>;

  beforeAll(async () => {
    cluster = await startRedisCluster([
      { name: "unio-1", client: "ioredis", requestsTimeout: 2000 },
      { name: "unio-2", client: "node-redis", requestsTimeout: 2000 },
      { name: "reference", runtime: "reference", requestsTimeout: 2000 },
    ]);
    nodes = cluster.nodes;
    emitterClient = new Redis(cluster.redis.url);
    emitter = new Emitter(emitterClient);
    clients = () => Promise.all(nodes.map((n) => connect(n.url))) as Promise<[Client, Client, Client]>;
  });

  afterAll(async () => {
    emitterClient?.disconnect();
    await cluster?.stop();
  });

  it("every node counts three servers", async () => {
    for (const c of await clients()) expect(await ctl(c, "serverCount")).toEqual({ count: 3 });
  });

  it("broadcasts flow both ways, with rooms, except and binary", async () => {
    const [u1, u2, ref] = await clients();
    await Promise.all([u1, u2, ref].map((c) => ctl(c, "join", "mixed")));
    await ctl(u2, "join", "muted");

    for (const sender of [u1, ref]) {
      const got = Promise.all([next(u1, "hello"), next(ref, "hello")]);
      const seenU2 = record(u2, "hello");
      await ctl(sender, "broadcast", {
        rooms: ["mixed"],
        except: ["muted"],
        event: "hello",
        args: [sender.node, new Uint8Array([0, 128, 255]), { nested: [1, "two"] }],
      });
      for (const [from, bytes, obj] of await got) {
        expect(from).toBe(sender.node);
        expect([...(bytes as Uint8Array)]).toEqual([0, 128, 255]);
        expect(obj).toEqual({ nested: [1, "two"] });
      }
      await assertNotReceived(seenU2, u2, sender);
      u2.socket.off("hello");
    }
  });

  it("the reference's local broadcast stays on the reference node", async () => {
    const [u1, , ref] = await clients();
    const seen = record(u1, "only-ref");
    const got = next(ref, "only-ref");
    await ctl(ref, "broadcast", { local: true, event: "only-ref" });
    await got;
    await assertNotReceived(seen, u1, ref);
  });

  it("fetchSockets sees the other kind's sockets, with data", async () => {
    const [u1, u2, ref] = await clients();
    await Promise.all([u1, u2, ref].map((c) => ctl(c, "join", "fetch-me")));
    for (const asker of [u1, ref]) {
      const res = await ctl(asker, "fetchSockets", { rooms: ["fetch-me"] });
      expect(res.error).toBeUndefined();
      expect(res.sockets.map((s: any) => s.id).sort()).toEqual([u1.id, u2.id, ref.id].sort());
      const refSocket = res.sockets.find((s: any) => s.id === ref.id);
      expect(refSocket.data).toEqual({ node: "reference" });
      expect(refSocket.rooms).toEqual([ref.id, "fetch-me"].sort());
    }
  });

  it("socketsJoin, socketsLeave and disconnectSockets cross in both directions", async () => {
    const [u1, u2, ref] = await clients();
    await ctl(ref, "socketsJoin", { rooms: [u2.id], room: "from-ref" });
    await ctl(u1, "socketsJoin", { rooms: [ref.id], room: "from-unio" });
    await waitFor(async () => {
      const a = await ctl(u1, "fetchSockets", { rooms: ["from-ref"] });
      const b = await ctl(ref, "fetchSockets", { rooms: ["from-unio"] });
      return a.sockets?.[0]?.id === u2.id && b.sockets?.[0]?.id === ref.id;
    }, { timeout: 5000 });

    await ctl(ref, "socketsLeave", { rooms: [u2.id], room: "from-ref" });
    await waitFor(async () => (await ctl(u1, "fetchSockets", { rooms: ["from-ref"] })).sockets?.length === 0, { timeout: 5000 });

    const refGone = next(ref, "disconnect");
    await ctl(u2, "disconnectSockets", { rooms: ["from-unio"] });
    expect((await refGone)[0]).toBe("io server disconnect");
    const u2Gone = next(u2, "disconnect");
    const other = await connect(nodes[2]!.url);
    await ctl(other, "disconnectSockets", { rooms: [u2.id] });
    expect((await u2Gone)[0]).toBe("io server disconnect");
  });

  it("serverSideEmit with ack is answered across kinds", async () => {
    const [u1, u2, ref] = await clients();
    const fromUnio = await ctl(u1, "serverSideEmit", { event: "whoareyou", args: ["u"], withAck: true });
    expect(fromUnio.responses.map((r: any) => r.from).sort()).toEqual(["reference", "unio-2"]);
    const fromRef = await ctl(ref, "serverSideEmit", { event: "whoareyou", args: ["r"], withAck: true });
    expect(fromRef.responses.map((r: any) => r.from).sort()).toEqual(["unio-1", "unio-2"]);
    const got = Promise.all([next(u1, "notice-received"), next(u2, "notice-received")]);
    await ctl(ref, "serverSideEmit", { event: "notice", args: [5] });
    expect((await got).map(([x]) => x)).toEqual([
      { node: "unio-1", arg: 5 },
      { node: "unio-2", arg: 5 },
    ]);
  });

  it("emitWithAck collects acks across kinds, from either side", async () => {
    const [u1, u2, ref] = await clients();
    for (const c of [u1, u2, ref]) {
      await ctl(c, "join", "ack-room");
      c.socket.on("q", (x: number, cb: (v: string) => void) => cb(`${c.node}:${x}`));
    }
    for (const asker of [u2, ref]) {
      const res = await ctl(asker, "emitWithAck", { rooms: ["ack-room"], event: "q", args: [1], timeout: 3000 });
      expect(res.error).toBeUndefined();
      expect(res.responses.sort()).toEqual(["reference:1", "unio-1:1", "unio-2:1"]);
    }
    const remote = await ctl(ref, "remoteEmit", { id: u1.id, event: "q", args: [2], ack: true });
    expect(remote).toEqual({ response: "unio-1:2" });
  });

  it("@socket.io/redis-emitter emits to a unio room, honouring except", async () => {
    const [u1, u2, ref] = await clients();
    await ctl(u1, "join", "emitter-room");
    await ctl(u2, "join", "emitter-room");
    await ctl(u2, "join", "emitter-muted");
    const seenU2 = record(u2, "from-emitter");
    const seenRef = record(ref, "from-emitter");
    const got = next(u1, "from-emitter");
    emitter.to("emitter-room").except("emitter-muted").emit("from-emitter", "hi", { n: 1 });
    expect(await got).toEqual(["hi", { n: 1 }]);
    // Ordering: a later emitter broadcast to all arrives after the first one would have.
    const markers = Promise.all([next(u2, "marker"), next(ref, "marker")]);
    emitter.emit("marker");
    await markers;
    expect(seenU2).toEqual([]);
    expect(seenRef).toEqual([]);
  });

  it("@socket.io/redis-emitter makes unio sockets join rooms, disconnects them, and emits server-side", async () => {
    const [u1, u2] = await clients();
    emitter.in(u1.id).socketsJoin("emitter-joined");
    await waitFor(async () => (await ctl(u2, "fetchSockets", { rooms: ["emitter-joined"] })).sockets?.length === 1, { timeout: 5000 });
    const got = next(u1, "after-join");
    emitter.to("emitter-joined").emit("after-join", 1);
    expect(await got).toEqual([1]);

    const notices = Promise.all([next(u1, "notice-received"), next(u2, "notice-received")]);
    emitter.serverSideEmit("notice", "from-emitter");
    expect((await notices).map(([x]) => x)).toEqual([
      { node: "unio-1", arg: "from-emitter" },
      { node: "unio-2", arg: "from-emitter" },
    ]);

    const gone = next(u1, "disconnect");
    emitter.in("emitter-joined").disconnectSockets();
    expect((await gone)[0]).toBe("io server disconnect");
  });

  it("the emitter reaches other namespaces' channels only (a /admin emit does not reach /)", async () => {
    const [u1] = await clients();
    const seen = record(u1, "admin-only");
    emitter.of("/admin").emit("admin-only", 1);
    const marker = next(u1, "marker");
    emitter.emit("marker");
    await marker;
    expect(seen).toEqual([]);
  });
});

describe("with @socket.io/redis-adapter's sharded adapter (SPUBLISH)", () => {
  let cluster: RedisCluster;
  let nodes: ClusterNode[] = [];

  beforeAll(async () => {
    cluster = await startRedisCluster([
      { name: "unio-s1", adapter: "sharded", client: "node-redis", requestsTimeout: 2000 },
      { name: "unio-s2", adapter: "sharded", client: "ioredis", requestsTimeout: 2000 },
      { name: "reference-s", runtime: "reference-sharded" },
    ]);
    nodes = cluster.nodes;
  });

  afterAll(() => cluster?.stop());

  it("counts three servers, broadcasts with dynamic room channels both ways", async () => {
    const [a, b, ref] = await Promise.all(nodes.map((n) => connect(n.url)));
    for (const c of [a!, b!, ref!]) expect(await ctl(c, "serverCount")).toEqual({ count: 3 });
    await Promise.all([a!, ref!].map((c) => ctl(c, "join", "sharded-room")));
    const seenB = record(b!, "s-hello");
    for (const sender of [b!, ref!]) {
      const got = Promise.all([next(a!, "s-hello"), next(ref!, "s-hello")]);
      await ctl(sender, "broadcast", { rooms: ["sharded-room"], event: "s-hello", args: [sender.node, new Uint8Array([3])] });
      for (const [from, bytes] of await got) {
        expect(from).toBe(sender.node);
        expect([...(bytes as Uint8Array)]).toEqual([3]);
      }
    }
    const marker = next(b!, "marker");
    await ctl(ref!, "broadcast", { event: "marker" });
    await marker;
    expect(seenB).toEqual([]);
  });

  it("fetchSockets, serverSideEmit and emitWithAck work across kinds", async () => {
    const [a, b, ref] = await Promise.all(nodes.map((n) => connect(n.url)));
    for (const c of [a!, b!, ref!]) {
      await ctl(c, "join", "s-all");
      c.socket.on("q", (cb: (v: string) => void) => cb(c.node));
    }
    for (const asker of [a!, ref!]) {
      const fetched = await ctl(asker, "fetchSockets", { rooms: ["s-all"] });
      expect(fetched.sockets.map((s: any) => s.data.node).sort()).toEqual(["reference-s", "unio-s1", "unio-s2"]);
      const sse = await ctl(asker, "serverSideEmit", { event: "whoareyou", args: [0], withAck: true });
      expect(sse.responses).toHaveLength(2);
      const acks = await ctl(asker, "emitWithAck", { rooms: ["s-all"], event: "q", timeout: 3000 });
      expect(acks.responses.sort()).toEqual(["reference-s", "unio-s1", "unio-s2"]);
    }
  });

  it("remote socketsJoin and disconnectSockets cross kinds", async () => {
    const [a, , ref] = await Promise.all(nodes.map((n) => connect(n.url)));
    await ctl(ref!, "socketsJoin", { rooms: [a!.id], room: "s-joined" });
    await waitFor(async () => (await ctl(ref!, "fetchSockets", { rooms: ["s-joined"] })).sockets?.length === 1, { timeout: 5000 });
    const gone = next(a!, "disconnect");
    await ctl(ref!, "disconnectSockets", { rooms: ["s-joined"] });
    expect((await gone)[0]).toBe("io server disconnect");
  });
});
