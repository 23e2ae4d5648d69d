/**
 * One cluster across runtimes: a unio node on Node (ioredis), one on Bun
 * (node-redis) and one on Deno (ioredis), each through its own shim.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  type Client,
  type ClusterNode,
  closeAllClients,
  connect,
  goneFromCluster,
  ctl,
  next,
  type RedisCluster,
  record,
  startProxy,
  startRedisCluster,
} from "./harness.ts";
import { waitFor } from "../helpers/wait.ts";

let cluster: RedisCluster;
let nodes: ClusterNode[] = [];

beforeAll(async () => {
  cluster = await startRedisCluster([
    { name: "node", runtime: "node", client: "ioredis", requestsTimeout: 3000 },
    { name: "bun", runtime: "bun", client: "node-redis", requestsTimeout: 3000 },
    { name: "deno", runtime: "deno", client: "ioredis", requestsTimeout: 3000 },
  ]);
  nodes = cluster.nodes;
}, 60_000);

afterEach(() => closeAllClients());

afterAll(() => cluster?.stop());

async function clientsPerNode(): Promise<Client[]> {
  return Promise.all(nodes.map((n) => connect(n.url)));
}

describe("a Node + Bun + Deno cluster", () => {
  it("each node reports itself and counts three servers", async () => {
    const clients = await clientsPerNode();
    expect(clients.map((c) => c.node)).toEqual(["node", "bun", "deno"]);
    for (const c of clients) expect(await ctl(c, "serverCount")).toEqual({ count: 3 });
  });

  it.each(["node", "bun", "deno"])("a room broadcast from the %s node reaches every runtime", async (from) => {
    const clients = await clientsPerNode();
    const room = `rt-${from}`;
    await Promise.all(clients.map((c) => ctl(c, "join", room)));
    const sender = clients.find((c) => c.node === from)!;
    const got = Promise.all(clients.map((c) => next(c, "hello")));
    await ctl(sender, "broadcast", { rooms: [room], event: "hello", args: [from, new Uint8Array([7, 8])] });
    for (const [name, bytes] of await got) {
      expect(name).toBe(from);
      expect([...(bytes as Uint8Array)]).toEqual([7, 8]);
    }
  });

  it("except() is honoured by every runtime", async () => {
    const [n, b, d] = await clientsPerNode();
    await Promise.all([n!, b!, d!].map((c) => ctl(c, "join", "ex")));
    await ctl(b!, "join", "muted");
    const seenB = record(b!, "msg");
    const got = Promise.all([next(n!, "msg"), next(d!, "msg")]);
    await ctl(d!, "broadcast", { rooms: ["ex"], except: ["muted"], event: "msg", args: [1] });
    await got;
    const marker = next(b!, "marker");
    await ctl(d!, "broadcast", { event: "marker" });
    await marker;
    expect(seenB).toEqual([]);
  });

  it("fetchSockets from Bun and Deno sees the sockets of every runtime", async () => {
    const clients = await clientsPerNode();
    await Promise.all(clients.map((c) => ctl(c, "join", "seen")));
    for (const asker of clients.slice(1)) {
      const res = await ctl(asker, "fetchSockets", { rooms: ["seen"] });
      expect(res.error).toBeUndefined();
      expect(res.sockets.map((s: any) => s.data.node).sort()).toEqual(["bun", "deno", "node"]);
    }
  });

  it("socketsJoin from Deno moves a Bun socket into a room a Node broadcast then reaches", async () => {
    const [n, b, d] = await clientsPerNode();
    await ctl(d!, "socketsJoin", { rooms: [b!.id], room: "moved" });
    await waitFor(async () => (await ctl(n!, "fetchSockets", { rooms: ["moved"] })).sockets?.length === 1, { timeout: 5000 });
    const got = next(b!, "moved-msg");
    await ctl(n!, "broadcast", { rooms: ["moved"], event: "moved-msg", args: ["ok"] });
    expect(await got).toEqual(["ok"]);
  });

  it("serverSideEmit with ack from each runtime gets the two other runtimes' answers", async () => {
    const clients = await clientsPerNode();
    for (const c of clients) {
      const res = await ctl(c, "serverSideEmit", { event: "whoareyou", args: [c.node], withAck: true });
      expect(res.error).toBeUndefined();
      const expected = ["node", "bun", "deno"].filter((x) => x !== c.node).sort();
      expect(res.responses.map((r: any) => r.from).sort()).toEqual(expected);
    }
  });

  it("emitWithAck from Bun collects the acks of clients on all runtimes", async () => {
    const clients = await clientsPerNode();
    for (const c of clients) {
      await ctl(c, "join", "acks");
      c.socket.on("q", (cb: (v: string) => void) => cb(c.node));
    }
    const res = await ctl(clients[1]!, "emitWithAck", { rooms: ["acks"], event: "q", timeout: 3000 });
    expect(res.error).toBeUndefined();
    expect(res.responses.sort()).toEqual(["bun", "deno", "node"]);
  });

  it("disconnectSockets from Deno disconnects sockets on Node and Bun", async () => {
    const [n, b, d] = await clientsPerNode();
    await ctl(n!, "join", "kick");
    await ctl(b!, "join", "kick");
    const reasons = Promise.all([next(n!, "disconnect"), next(b!, "disconnect")]);
    await ctl(d!, "disconnectSockets", { rooms: ["kick"] });
    expect((await reasons).map(([r]) => r)).toEqual(["io server disconnect", "io server disconnect"]);
    expect(d!.socket.connected).toBe(true);
  });
});

describe("the other client library on each runtime, with the streams adapter", () => {
  let cluster2: RedisCluster;
  let bun: ClusterNode;
  let deno: ClusterNode;

  beforeAll(async () => {
    cluster2 = await startRedisCluster([
      { name: "bun-s", runtime: "bun", client: "ioredis", adapter: "streams", csr: true },
      { name: "deno-s", runtime: "deno", client: "node-redis", adapter: "streams", csr: true },
    ]);
    [bun, deno] = cluster2.nodes as [ClusterNode, ClusterNode];
  }, 60_000);

  afterAll(() => cluster2?.stop());

  it("Bun (ioredis) and Deno (node-redis) broadcast to each other and answer server-side emits", async () => {
    const [b, d] = await Promise.all([connect(bun.url), connect(deno.url)]);
    await Promise.all([b, d].map((c) => ctl(c, "join", "s")));
    for (const [sender, receiver] of [
      [b, d],
      [d, b],
    ] as const) {
      const got = next(receiver, "hello");
      await ctl(sender, "broadcast", { rooms: ["s"], event: "hello", args: [sender.node] });
      const [from, offset] = await got;
      expect(from).toBe(sender.node);
      expect(offset).toMatch(/^\d+-\d+$/);
      const sse = await ctl(sender, "serverSideEmit", { event: "whoareyou", args: [0], withAck: true });
      expect(sse.responses).toEqual([{ from: receiver.node, arg: 0 }]);
    }
  });

  it("a client of the Bun node recovers its session on the Deno node", async () => {
    const proxy = await startProxy(bun.port);
    try {
      const client = await connect(proxy.url, {
        reconnection: true,
        reconnectionDelay: 1200,
        reconnectionDelayMax: 1200,
        randomizationFactor: 0,
      });
      expect(client.node).toBe("bun-s");
      await ctl(client, "join", "move");
      const sender = await connect(deno.url);
      const first = next(client, "m");
      await ctl(sender, "broadcast", { rooms: ["move"], event: "m", args: ["before"] });
      await first;
      const seen = record(client, "m");
      const welcome = next(client, "welcome", 10_000);
      proxy.setTarget(deno.port);
      proxy.dropAll();
      // The node saw the drop: what is sent now is missed, and kept for the recovery.
      await goneFromCluster(sender, client.id);
      await ctl(sender, "broadcast", { rooms: ["move"], event: "m", args: ["missed"] });
      expect((await welcome)[0]).toMatchObject({ node: "deno-s", id: client.id, recovered: true });
      await waitFor(() => seen.length >= 1, { timeout: 3000, what: "the missed packet" });
      expect(seen.map((a) => a[0])).toEqual(["missed"]);
    } finally {
      await proxy.close();
    }
  });
});
