/**
 * Several unio nodes behind HAProxy balancing every request round-robin, no
 * stickiness: the Redis session router forwards each polling request to the
 * node that owns its session and relays upgraded WebSockets. Clients are
 * socket.io-client, with `transports: ["polling"]` and with the default
 * polling-then-upgrade; what they see is what a user sees.
 */
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../helpers/wait.ts";
import { type Cluster, closeAll, connect, startCluster } from "./harness.ts";
import { runLoad } from "./load.ts";

const POLLING = { transports: ["polling"] as ("polling" | "websocket")[] };

async function isWebSocket(socket: { io: { engine: { transport: { name: string } } } }): Promise<boolean> {
  return waitFor(() => socket.io.engine.transport.name === "websocket", { timeout: 10_000, what: "the upgrade" }).then(() => true);
}

describe("three Node nodes, round-robin, no stickiness", () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster(["node", "node", "node"]);
  });
  afterEach(() => closeAll());
  afterAll(async () => {
    closeAll();
    await cluster?.stop();
  });

  it("a polling-only client connects and exchanges acked events, always with the node that owns it", async () => {
    const { socket, welcome } = await connect(cluster.url, POLLING);
    for (let i = 0; i < 30; i++) {
      const reply = await socket.timeout(5000).emitWithAck("echo", { i, text: "héllo ✓" });
      expect(reply).toEqual({ node: welcome.node, data: { i, text: "héllo ✓" } });
    }
    // The requests did spread: this session's node served requests that reached other nodes.
    const stats = await socket.timeout(5000).emitWithAck("stats");
    expect(stats.router.served).toBeGreaterThan(0);
  });

  it("binary goes both ways unchanged through forwarded POSTs and GETs", async () => {
    const { socket } = await connect(cluster.url, POLLING);
    const bytes = Uint8Array.from({ length: 3000 }, (_, i) => (i * 7) & 0xff);
    const reply = await socket.timeout(5000).emitWithAck("echo", { bytes, nested: [bytes.subarray(0, 3)] });
    expect(new Uint8Array(reply.data.bytes)).toEqual(bytes);
    expect(new Uint8Array(reply.data.nested[0])).toEqual(bytes.subarray(0, 3));
  });

  it("events keep their order across forwarded polls", async () => {
    const { socket } = await connect(cluster.url, POLLING);
    const seen: number[] = [];
    socket.on("seq", (i: number) => seen.push(i));
    await socket.timeout(5000).emitWithAck("push", 300);
    await waitFor(() => seen.length === 300, { timeout: 5000, what: "300 events" });
    expect(seen).toEqual(Array.from({ length: 300 }, (_, i) => i));
  });

  it("the server's own acks reach it (client answers through a forwarded POST)", async () => {
    const { socket, welcome } = await connect(cluster.url, POLLING);
    socket.on("question", (q: { from: string }, cb: (a: unknown) => void) => cb({ to: q.from, ok: true }));
    const reply = await socket.timeout(8000).emitWithAck("ask");
    expect(reply).toEqual({ node: welcome.node, answer: { to: welcome.node, ok: true } });
  });

  it("a room broadcast reaches polling and upgraded clients owned by every node", async () => {
    const clients = await Promise.all([
      ...Array.from({ length: 4 }, () => connect(cluster.url, POLLING)),
      ...Array.from({ length: 4 }, () => connect(cluster.url)),
    ]);
    expect(new Set(clients.map((c) => c.welcome.node)).size).toBe(3);
    await Promise.all(clients.map((c) => c.socket.timeout(5000).emitWithAck("join", "room")));
    const got = clients.map((c) => new Promise((resolve) => c.socket.once("news", resolve)));
    await clients[0]!.socket.timeout(5000).emitWithAck("broadcast", "room", { hi: new Uint8Array([1, 2]) });
    const news = (await Promise.all(got)) as Array<{ hi: Uint8Array }>;
    for (const n of news) expect(new Uint8Array(n.hi)).toEqual(new Uint8Array([1, 2]));
  });

  it("polling then upgrade: the WebSocket works wherever it lands (relayed to the owner when elsewhere)", async () => {
    const clients = await Promise.all(Array.from({ length: 6 }, () => connect(cluster.url)));
    for (const { socket, welcome } of clients) {
      await isWebSocket(socket);
      const seen: number[] = [];
      socket.on("seq", (i: number) => seen.push(i));
      const bytes = new Uint8Array([9, 8, 7, 0, 255]);
      const reply = await socket.timeout(5000).emitWithAck("echo", { bytes });
      expect(reply.node).toBe(welcome.node);
      expect(new Uint8Array(reply.data.bytes)).toEqual(bytes);
      await socket.timeout(5000).emitWithAck("push", 100);
      await waitFor(() => seen.length === 100, { timeout: 5000, what: "100 events" });
      expect(seen).toEqual(Array.from({ length: 100 }, (_, i) => i));
      const stats = await socket.timeout(5000).emitWithAck("stats");
      expect(stats.transport).toBe("websocket");
    }
  });

  // The bench (bench/cluster-no-sticky.ts) runs 300 clients for a minute; this is its short form.
  it("many polling clients sending acked messages at a steady rate lose none", async () => {
    const r = await runLoad(cluster.url, { clients: 60, duration: 4000, interval: 500 });
    expect(r.errors).toBe(0);
    expect(r.sent).toBeGreaterThan(60 * 4);
    expect(r.lost).toBe(0);
  }, 40_000);

  it("a sid no node owns gets 400 Session ID unknown at once", async () => {
    const started = Date.now();
    const res = await fetch(`${cluster.url}/socket.io/?EIO=4&transport=polling&sid=zzzzzzzz${"A".repeat(20)}`);
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ code: 1, message: "Session ID unknown" });
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it("garbage on a node's routing channel is dropped; the node carries on", async () => {
    const { socket, welcome } = await connect(cluster.url, POLLING);
    const sid = socket.io.engine.id!;
    const redis = new Redis(cluster.redis.url);
    try {
      const channel = `socket.io-route#${sid.slice(0, 8)}`;
      for (const junk of ["", "not msgpack", Buffer.from([0x93, 0x00, 0xc0, 0xc0]), Buffer.from([0x92, 0x07, 0xff]), Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff])]) {
        expect(await redis.publish(channel, junk)).toBe(1);
      }
    } finally {
      redis.disconnect();
    }
    expect(await socket.timeout(5000).emitWithAck("echo", 1)).toEqual({ node: welcome.node, data: 1 });
  });

  it("a killed owner: the client gets a protocol error, reconnects to a live node and carries on", async () => {
    const { socket, welcome } = await connect(cluster.url, { ...POLLING, reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 500 });
    const owner = cluster.nodes.find((n) => n.name === welcome.node)!;
    const again = new Promise<{ node: string }>((resolve) => socket.once("welcome", resolve));
    const disconnected = new Promise<string>((resolve) => socket.once("disconnect", resolve));
    await owner.kill();
    expect(await disconnected).toMatch(/transport (error|close)|ping timeout/);
    const w = await Promise.race([again, new Promise<never>((_, rej) => setTimeout(() => rej(new Error("no reconnection")), 15_000))]);
    expect(w.node).not.toBe(welcome.node);
    expect(await socket.timeout(5000).emitWithAck("echo", "back")).toEqual({ node: w.node, data: "back" });
  }, 30_000);
});

describe("the same HAProxy without the router", () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster(["node", "node", "node"], { env: { ROUTER: "0" } });
  });
  afterAll(async () => {
    closeAll();
    await cluster?.stop();
  });

  // The control: it shows the balancer really is not sticky, so the tests above can fail.
  it("polling clients fail with Session ID unknown", async () => {
    const results = await Promise.allSettled(Array.from({ length: 4 }, () => connect(cluster.url, POLLING, 4000)));
    expect(results.some((r) => r.status === "rejected")).toBe(true);
  });
});

describe("Node, Bun and Deno nodes in one cluster, round-robin", () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster(["node", "bun", "deno"]);
  }, 60_000);
  afterEach(() => closeAll());
  afterAll(async () => {
    closeAll();
    await cluster?.stop();
  });

  it("polling-only and upgraded clients owned by every runtime exchange acks, binary and broadcasts", async () => {
    const clients = await Promise.all([
      ...Array.from({ length: 6 }, () => connect(cluster.url, POLLING)),
      ...Array.from({ length: 6 }, () => connect(cluster.url)),
    ]);
    expect(new Set(clients.map((c) => c.welcome.node))).toEqual(new Set(["node-0", "bun-1", "deno-2"]));
    for (const c of clients.slice(6)) await isWebSocket(c.socket);
    const bytes = Uint8Array.from({ length: 500 }, (_, i) => i & 0xff);
    for (const { socket, welcome } of clients) {
      for (let i = 0; i < 5; i++) {
        const reply = await socket.timeout(5000).emitWithAck("echo", { i, bytes });
        expect(reply.node).toBe(welcome.node);
        expect(reply.data.i).toBe(i);
        expect(new Uint8Array(reply.data.bytes)).toEqual(bytes);
      }
    }
    await Promise.all(clients.map((c) => c.socket.timeout(5000).emitWithAck("join", "all")));
    const got = clients.map((c) => new Promise((resolve) => c.socket.once("news", resolve)));
    await clients[3]!.socket.timeout(5000).emitWithAck("broadcast", "all", "to everyone");
    expect(await Promise.all(got)).toEqual(clients.map(() => "to everyone"));
  }, 60_000);
});
