/**
 * The official adapter packages, unchanged, on unio nodes (through
 * socket.io-adapter's contract, src/socket/adapter-contract.ts), with a
 * real redis-server: @socket.io/redis-adapter on ioredis and on node-redis,
 * with a socket.io 4.8 node in the same cluster, driven both ways; and
 * @socket.io/redis-streams-adapter with connection state recovery across
 * unio and socket.io nodes. Hostile messages on the adapter's channel are
 * dropped. Only what socket.io-client sees is asserted.
 */
import { encode } from "notepack.io";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  assertNotReceived,
  type Client,
  closeAllClients,
  type ClusterNode,
  connect,
  ctl,
  expectRecoveryAcrossNodes,
  marker,
  next,
  type Proxy,
  record,
  type RedisCluster,
  type RedisServer,
  startRedisCluster,
} from "./harness.ts";
import { waitFor } from "../helpers/wait.ts";

afterEach(() => closeAllClients());

describe("@socket.io/redis-adapter 8.3 on unio (ioredis, node-redis) and on socket.io 4.8", () => {
  let cluster: RedisCluster;
  let nodes: ClusterNode[] = [];
  let raw: Redis;
  /** unio + the official adapter on ioredis, the same on node-redis, socket.io + the official adapter. */
  let clients: () => Promise<[Client, Client, Client]>;

  beforeAll(async () => {
    cluster = await startRedisCluster([
      { name: "unio-ioredis", adapter: "sio-pubsub", client: "ioredis", requestsTimeout: 2000 },
      { name: "unio-node-redis", adapter: "sio-pubsub", client: "node-redis", requestsTimeout: 2000 },
      { name: "reference", runtime: "reference", requestsTimeout: 2000 },
    ]);
    nodes = cluster.nodes;
    raw = new Redis(cluster.redis.url);
    clients = () => Promise.all(nodes.map((n) => connect(n.url))) as Promise<[Client, Client, Client]>;
  });

  afterAll(async () => {
    raw?.disconnect();
    await cluster?.stop();
  });

  it("every node counts three servers (the adapter's NUMSUB)", async () => {
    for (const c of await clients()) expect(await ctl(c, "serverCount")).toEqual({ count: 3 });
  });

  it("broadcasts flow every way, with rooms, except and binary", async () => {
    const [u1, u2, ref] = await clients();
    await Promise.all([u1, u2, ref].map((c) => ctl(c, "join", "mixed")));
    for (const sender of [u1, u2, ref]) {
      const receivers = [u1, u2, ref].filter((c) => c !== sender);
      const [muted, ...others] = receivers as [Client, Client];
      await ctl(muted, "join", "muted");
      const got = Promise.all([sender, ...others].map((c) => next(c, "hello")));
      const seenMuted = record(muted, "hello");
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
      await assertNotReceived(seenMuted, muted, sender);
      await ctl(muted, "leave", "muted");
      muted.socket.off("hello");
    }
  });

  it("a unio node's local broadcast stays on it; volatile broadcasts arrive", async () => {
    const [u1, u2, ref] = await clients();
    const seen = [record(u2, "only-u1"), record(ref, "only-u1")];
    const got = next(u1, "only-u1");
    await ctl(u1, "broadcast", { local: true, event: "only-u1" });
    await got;
    await assertNotReceived(seen[0]!, u2, u1);
    expect(seen[1]).toEqual([]);
    const vol = Promise.all([next(u1, "vol"), next(u2, "vol"), next(ref, "vol")]);
    await ctl(u2, "broadcast", { volatile: true, event: "vol", args: [1] });
    expect((await vol).map(([x]) => x)).toEqual([1, 1, 1]);
  });

  it("fetchSockets sees every node's sockets, with data and rooms", async () => {
    const [u1, u2, ref] = await clients();
    await Promise.all([u1, u2, ref].map((c) => ctl(c, "join", "fetch-me")));
    for (const asker of [u1, u2, ref]) {
      const res = await ctl(asker, "fetchSockets", { rooms: ["fetch-me"] });
      expect(res.error).toBeUndefined();
      expect(res.sockets.map((s: any) => s.id).sort()).toEqual([u1.id, u2.id, ref.id].sort());
      for (const c of [u1, u2, ref]) {
        const s = res.sockets.find((x: any) => x.id === c.id);
        expect(s.data).toEqual({ node: c.node });
        expect(s.rooms).toEqual([c.id, "fetch-me"].sort());
      }
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
    // The joined room is a real one on the node: a broadcast to it arrives.
    const inRoom = next(u2, "in-room");
    await ctl(ref, "broadcast", { rooms: ["from-ref"], event: "in-room" });
    await inRoom;

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

  it("serverSideEmit with and without ack reaches the other nodes", async () => {
    const [u1, u2, ref] = await clients();
    const fromUnio = await ctl(u1, "serverSideEmit", { event: "whoareyou", args: ["u"], withAck: true });
    expect(fromUnio.error).toBeUndefined();
    expect(fromUnio.responses.map((r: any) => r.from).sort()).toEqual(["reference", "unio-node-redis"]);
    const fromRef = await ctl(ref, "serverSideEmit", { event: "whoareyou", args: ["r"], withAck: true });
    expect(fromRef.responses.map((r: any) => r.from).sort()).toEqual(["unio-ioredis", "unio-node-redis"]);
    const got = Promise.all([next(u1, "notice-received"), next(ref, "notice-received")]);
    await ctl(u2, "serverSideEmit", { event: "notice", args: [5] });
    expect((await got).map(([x]) => x)).toEqual([
      { node: "unio-ioredis", arg: 5 },
      { node: "reference", arg: 5 },
    ]);
  });

  it("emitWithAck with timeout() collects acks of every node, from either side; remote socket acks", async () => {
    const [u1, u2, ref] = await clients();
    for (const c of [u1, u2, ref]) {
      await ctl(c, "join", "ack-room");
      c.socket.on("q", (x: number, cb: (v: string) => void) => cb(`${c.node}:${x}`));
    }
    for (const asker of [u1, u2, ref]) {
      const res = await ctl(asker, "emitWithAck", { rooms: ["ack-room"], event: "q", args: [1], timeout: 3000 });
      expect(res.error).toBeUndefined();
      expect(res.responses.sort()).toEqual(["reference:1", "unio-ioredis:1", "unio-node-redis:1"]);
    }
    // A silent client: the timeout reports what did arrive.
    u2.socket.off("q");
    u2.socket.on("q", () => {});
    const partial = await ctl(u1, "emitWithAck", { rooms: ["ack-room"], event: "q", args: [2], timeout: 500 });
    expect(partial.error).toMatch(/timeout|timed out/);
    expect(partial.responses.sort()).toEqual(["reference:2", "unio-ioredis:2"]);
    expect(await ctl(ref, "remoteEmit", { id: u1.id, event: "q", args: [3], ack: true })).toEqual({ response: "unio-ioredis:3" });
    expect(await ctl(u1, "remoteEmit", { id: ref.id, event: "q", args: [4], ack: true })).toEqual({ response: "reference:4" });
  });

  it("hostile messages on the adapter's channels are dropped: no node crashes, no client sees them", async () => {
    const [u1, u2, ref] = await clients();
    const seen = [u1, u2, ref].map((c) => {
      const all: unknown[][] = [];
      c.socket.onAny((...x) => all.push(x));
      return all;
    });
    const closed: unknown[] = [];
    for (const c of [u1, u2, ref]) c.socket.on("disconnect", (r) => closed.push(r));
    const ch = "socket.io#/#";
    // Well-formed for the adapter (msgpack [uid, packet, opts]), hostile for clients:
    const forged: unknown[] = [
      { type: 0, nsp: "/", data: { sid: "evil" } }, // a forged CONNECT
      { type: 1, nsp: "/" }, // a forged DISCONNECT
      { type: 4, nsp: "/", data: { message: "forged" } },
      { type: 3, nsp: "/", id: 0, data: ["forged ack"] },
      { type: 2, nsp: "/", data: "not an array" },
      { type: 2, nsp: "/", data: [] },
      { type: 2, nsp: "/", data: [{ not: "a name" }] },
      { type: 2, nsp: "/", data: ["connect"] },
      { type: 2, nsp: "/", data: ["disconnect", "x"] },
      { type: 2, nsp: "/", id: "x", data: ["evil-id"] },
      { type: 7, nsp: "/", data: ["evil-type"] },
    ];
    const publish = (packet: unknown) => raw.publish(ch, encode(["attacker", packet, { rooms: [], except: [] }]) as Buffer);
    // The socket.io node forwards them as they are, and its client handles a decoded packet a tick later
    // but closes on one it cannot parse at once: the forged DISCONNECT is seen through before the rest,
    // or a "parse error" could overtake it when the frames arrive in one read.
    const refClosed = next(ref, "disconnect");
    for (const packet of forged.slice(0, 2)) await publish(packet);
    await refClosed;
    for (const packet of forged.slice(2)) await publish(packet);
    // Malformed requests on the request channel (the adapter parses them in a try/catch).
    await raw.publish("socket.io-request#/#", Buffer.from([0xc1, 0xff, 0x00]));
    await raw.publish("socket.io-request#/#", "{not json");
    await raw.publish("socket.io-request#/#", JSON.stringify({ type: 4, sid: "nobody", room: "x" }));
    // Redis delivers in the order it took the PUBLISHes: the broadcasts below reach each node after the forged messages.
    // Every node still runs and serves: a broadcast from each reaches the unio clients, and a fresh client of the socket.io node.
    const refAgain = await connect(nodes[2]!.url);
    for (const sender of [u1, u2, refAgain]) {
      const got = Promise.all([u1, u2, refAgain].map((c) => next(c, "still-alive")));
      await ctl(sender, "broadcast", { event: "still-alive", args: [sender.node] });
      await got;
    }
    // unio nodes drop every forged packet: their clients stayed connected and saw only the real broadcasts.
    for (const s of seen.slice(0, 2)) expect(s.map((x) => x[0])).toEqual(["still-alive", "still-alive", "still-alive"]);
    expect(u1.socket.connected && u2.socket.connected).toBe(true);
    // (The socket.io node forwards them as they are: its client was disconnected by the forged DISCONNECT.)
    expect(closed).toEqual(["io server disconnect"]);
    for (const n of nodes) expect(n.child.exitCode).toBeNull();
  });
});

describe("@socket.io/redis-adapter 8.3's sharded adapter (SPUBLISH) on unio and socket.io 4.8", () => {
  let cluster: RedisCluster;
  let nodes: ClusterNode[] = [];

  beforeAll(async () => {
    cluster = await startRedisCluster([
      { name: "unio-ioredis", adapter: "sio-sharded", client: "ioredis" },
      { name: "unio-node-redis", adapter: "sio-sharded", client: "node-redis" },
      { name: "reference", runtime: "reference-sharded" },
    ]);
    nodes = cluster.nodes;
  });

  afterAll(() => cluster?.stop());

  it("broadcasts to rooms (dynamic channels), fetchSockets, serverSideEmit with ack and acks, every way", async () => {
    const cs = await Promise.all(nodes.map((n) => connect(n.url)));
    await waitFor(async () => (await ctl(cs[0]!, "serverCount")).count === 3, { timeout: 8000, what: "three servers" });
    await Promise.all(cs.map((c) => ctl(c, "join", "sharded-room")));
    // Each node subscribes to the room's channel on its first join, asynchronously: probe until a broadcast reaches all.
    await waitFor(
      async () => {
        const got = Promise.all(cs.map((c) => next(c, "probe", 1000)));
        await ctl(cs[0]!, "broadcast", { rooms: ["sharded-room"], event: "probe" });
        return got.then(
          () => true,
          () => false,
        );
      },
      { what: "the room's channel subscribed on every node" },
    );
    for (const sender of cs) {
      const got = Promise.all(cs.map((c) => next(c, "hello")));
      await ctl(sender, "broadcast", { rooms: ["sharded-room"], event: "hello", args: [sender.node, new Uint8Array([3])] });
      for (const [from, bytes] of await got) {
        expect(from).toBe(sender.node);
        expect([...(bytes as Uint8Array)]).toEqual([3]);
      }
      const fetched = await ctl(sender, "fetchSockets", { rooms: ["sharded-room"] });
      expect(fetched.sockets.map((s: any) => s.id).sort()).toEqual(cs.map((c) => c.id).sort());
      const sse = await ctl(sender, "serverSideEmit", { event: "whoareyou", args: [0], withAck: true });
      expect(sse.responses.map((r: any) => r.from).sort()).toEqual(cs.filter((c) => c !== sender).map((c) => c.node).sort());
    }
    for (const c of cs) c.socket.on("q", (cb: (v: string) => void) => cb(c.node));
    const acks = await ctl(cs[1]!, "emitWithAck", { rooms: ["sharded-room"], event: "q", timeout: 3000 });
    expect(acks.responses.sort()).toEqual(cs.map((c) => c.node).sort());
  });
});

describe("@socket.io/redis-streams-adapter 0.3 on unio and socket.io 4.8: connection state recovery across nodes", () => {
  let cluster: RedisCluster;
  let redis: RedisServer;
  let u1: ClusterNode;
  let u2: ClusterNode;
  let ref: ClusterNode;
  const proxies: Proxy[] = [];

  beforeAll(async () => {
    cluster = await startRedisCluster([
      { name: "u1", adapter: "sio-streams", client: "ioredis", csr: true, requestsTimeout: 2000 },
      { name: "u2", adapter: "sio-streams", client: "node-redis", csr: true, requestsTimeout: 2000 },
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

  it("counts three servers (heartbeats); fetchSockets, serverSideEmit with ack and acks span the nodes", async () => {
    const cs = await Promise.all([u1, u2, ref].map((n) => connect(n.url)));
    await waitFor(async () => (await ctl(cs[0]!, "serverCount")).count === 3, { timeout: 8000, what: "three servers" });
    for (const c of cs) await ctl(c, "join", "all");
    const res = await ctl(cs[1]!, "fetchSockets", { rooms: ["all"] });
    expect(res.sockets.map((s: any) => s.id).sort()).toEqual(cs.map((c) => c.id).sort());
    const sse = await ctl(cs[0]!, "serverSideEmit", { event: "whoareyou", args: [1], withAck: true });
    expect(sse.responses.map((r: any) => r.from).sort()).toEqual(["ref", "u2"]);
    for (const c of cs) c.socket.on("q", (cb: (v: string) => void) => cb(c.node));
    const acks = await ctl(cs[2]!, "emitWithAck", { rooms: ["all"], event: "q", timeout: 3000 });
    expect(acks.responses.sort()).toEqual(["ref", "u1", "u2"]);
  });

  const pairs: Array<[string, () => ClusterNode, () => ClusterNode]> = [
    ["u1 -> u2 (unio to unio)", () => u1, () => u2],
    ["u2 -> ref (unio to socket.io)", () => u2, () => ref],
    ["ref -> u1 (socket.io to unio)", () => ref, () => u1],
  ];

  it.each(pairs)("%s: same id, rooms kept, missed packets replayed", (_label, from, to) =>
    expectRecoveryAcrossNodes(from(), to(), proxies),
  );
  it("forged broadcasts on the stream are dropped by unio nodes; the stream keeps flowing", async () => {
    const cs = await Promise.all([u1, u2].map((n) => connect(n.url)));
    const seen = cs.map((c) => {
      const all: unknown[][] = [];
      c.socket.onAny((...x) => all.push(x));
      return all;
    });
    const raw = new Redis(redis.url);
    try {
      // Entries the adapter accepts (BROADCAST, type 3) carrying packets no client should get.
      const forged: unknown[] = [
        { type: 0, nsp: "/", data: { sid: "evil" } },
        { type: 1, nsp: "/" },
        { type: 3, nsp: "/", id: 0, data: ["forged ack"] },
        { type: 4, nsp: "/", data: { message: "forged" } },
        { type: 2, nsp: "/", data: [{ not: "a name" }] },
        { type: 2, nsp: "/", data: ["connect"] },
        { type: 2, nsp: "/", data: ["disconnecting", 1] },
      ];
      for (const packet of forged) {
        await raw.xadd("socket.io", "*", "uid", "attacker", "nsp", "/", "type", "3", "data", JSON.stringify({ packet, opts: { rooms: [], except: [] } }));
      }
      // Stream entries are read in order: the nodes read the forged ones before this broadcast.
      const got = Promise.all(cs.map((c) => next(c, "after-forged", 8000)));
      await ctl(cs[0]!, "broadcast", { event: "after-forged" });
      await got;
      for (const x of seen) expect(x.map((e) => e[0])).toEqual(["after-forged"]);
      expect(cs.every((c) => c.socket.connected)).toBe(true);
      for (const n of [u1, u2]) expect(n.child.exitCode).toBeNull();
    } finally {
      raw.disconnect();
    }
  });
});

describe("garbage on the official Redis adapters' channels: unio nodes drop it with a log line and keep serving", () => {
  // @socket.io/redis-adapter decodes a broadcast outside any try/catch, inside the Redis client's
  // event listener: on ioredis the throw is an uncaught exception and socket.io 4.8 exits (the
  // reference node below, which also shows the input is hostile). unio guards the adapter's
  // entry points (src/socket/adapter-contract.ts), whichever client library it runs on.
  let cluster: RedisCluster;
  let nodes: ClusterNode[] = [];
  let raw: Redis;

  beforeAll(async () => {
    cluster = await startRedisCluster([
      { name: "pubsub-ioredis", adapter: "sio-pubsub", client: "ioredis" },
      { name: "pubsub-node-redis", adapter: "sio-pubsub", client: "node-redis" },
      { name: "sharded-ioredis", adapter: "sio-sharded", client: "ioredis" },
      { name: "reference", runtime: "reference" },
    ]);
    nodes = cluster.nodes;
    raw = new Redis(cluster.redis.url);
  });

  afterAll(async () => {
    raw?.disconnect();
    await cluster?.stop();
  });

  it("bytes that are not msgpack, and msgpack of the wrong shape, on the broadcast, room, request and response channels", async () => {
    const unio = nodes.slice(0, 3);
    const cs = await Promise.all(unio.map((n) => connect(n.url)));
    const seen = cs.map((c) => record(c, "still-alive"));
    const closed: unknown[] = [];
    for (const c of cs) c.socket.on("disconnect", (r) => closed.push(r));
    await Promise.all(cs.map((c) => ctl(c, "join", "garbage-room")));
    const shapes: Buffer[] = [
      Buffer.from([0xc1, 0xff, 0x00]), // not msgpack at all
      Buffer.from([0x05]), // 5
      Buffer.from([0xc0]), // null
      encode(["attacker"]) as Buffer, // no packet, no options
      encode(["attacker", { type: 2, nsp: "/", data: ["x"] }]) as Buffer, // no options
      encode(["attacker", { type: 2, nsp: "/", data: ["x"] }, 5]) as Buffer, // options not an object
      encode(["attacker", { type: 2, nsp: "/", data: ["x"] }, { rooms: 7, except: [] }]) as Buffer,
    ];
    const uids = await Promise.all(cs.slice(0, 2).map(async (c) => (await ctl(c, "adapterUid")) as { uid?: string }));
    const channels = ["socket.io#/#", "socket.io#/#garbage-room#", "socket.io-request#/#", "socket.io-response#/#"];
    for (const u of uids) if (u.uid) channels.push(`socket.io-response#/#${u.uid}#`);
    expect(channels).toHaveLength(6);
    for (const ch of channels) for (const bytes of shapes) await raw.publish(ch, bytes);
    // The sharded adapter's channels take SPUBLISH.
    for (const ch of ["socket.io#/#", "socket.io#/#garbage-room#"]) {
      for (const bytes of shapes) await raw.call("SPUBLISH", ch, bytes);
    }
    // Every unio node still runs and serves: a broadcast from each reaches every client of its
    // adapter (the Pub/Sub pair, the sharded node alone), which saw nothing else.
    const groups = [[0, 1], [0, 1], [2]];
    for (const [i, sender] of cs.entries()) {
      const group = groups[i]!.map((j) => cs[j]!);
      const got = Promise.all(group.map((c) => next(c, "still-alive")));
      await ctl(sender, "broadcast", { event: "still-alive", args: [sender.node] });
      await got;
    }
    expect(seen.map((s) => s.map((x) => x[0]))).toEqual([
      ["pubsub-ioredis", "pubsub-node-redis"],
      ["pubsub-ioredis", "pubsub-node-redis"],
      ["sharded-ioredis"],
    ]);
    expect(closed).toEqual([]);
    for (const n of unio) expect(n.child.exitCode).toBeNull();
    // Requests still get their answers across the Pub/Sub pair after the garbage on those channels.
    const fetched = await ctl(cs[1]!, "fetchSockets", { rooms: ["garbage-room"] });
    expect(fetched.sockets.map((s: { id: string }) => s.id).sort()).toEqual([cs[0]!.id, cs[1]!.id].sort());
    // Each said what it dropped (the first ten lines, then every hundredth).
    for (const n of unio.slice(0, 2)) {
      expect(n.stderr()).toMatch(/unio: adapter of \/: dropped a message it could not handle in onmessage \(Error: Could not parse; 1 so far\)/);
    }
    expect(unio[2]!.stderr()).toMatch(/unio: adapter of \/: dropped a message it could not handle in on(RawMessage|Message)/);
    // socket.io 4.8 with the same adapter on ioredis ended its process.
    await waitFor(() => nodes[3]!.child.exitCode !== null, { timeout: 5000, what: "the socket.io node to exit" });
  });
});
