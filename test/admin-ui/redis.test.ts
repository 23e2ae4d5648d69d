/**
 * @socket.io/admin-ui on a cluster: two unio servers (A in this process
 * behind the Node shim; B likewise, or a Bun process) sharing a real
 * redis-server through `unio/redis`'s adapter, each instrumented as an app
 * would be. The admin
 * page is connected to A only; it must see B as if it were local: B's stats,
 * B's sockets in the list (fetchSockets across the cluster), B's live events
 * (they are broadcasts of B's admin namespace), and its commands must reach
 * B's sockets.
 */
import { instrument } from "@socket.io/admin-ui";
import { Redis } from "ioredis";
import type { Socket as ClientSocket } from "socket.io-client";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createAdapter, createStreamsAdapter } from "../../src/adapters/redis.ts";
import { Server } from "../../src/index.ts";
import { type Running, startNode } from "../helpers/node.ts";
import { type RedisServer, startRedis } from "../redis/harness.ts";
import { app } from "./app.ts";
import {
  type AdminClient,
  type AdminSocket,
  bin,
  connectAdmin,
  connectApp,
  fixture,
  nextEvent,
  type ServerStats,
  startFixture,
} from "./helpers.ts";
import { sleep, waitFor } from "../helpers/wait.ts";

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});

type Flavour = "pubsub" | "streams";

interface ClusterNode {
  url: string;
  pid: number;
  /** The server object, when the node runs in this process. */
  io?: Server;
  close(): Promise<void>;
}

async function startClusterNode(serverId: string, flavour: Flavour): Promise<ClusterNode> {
  const pub = new Redis(redis.url);
  pub.on("error", () => {});
  const sub = pub.duplicate();
  sub.on("error", () => {});
  const io =
    flavour === "streams"
      ? new Server({
          adapter: createStreamsAdapter(pub, { requestsTimeout: 3000, blockTimeInMs: 500 }),
          connectionStateRecovery: { maxDisconnectionDuration: 30_000 },
        })
      : new Server({ adapter: createAdapter(pub, sub, { requestsTimeout: 3000 }) });
  app(io);
  instrument(io as any, { auth: false, mode: "development", serverId });
  const run: Running = await startNode(io);
  return {
    io,
    url: run.url,
    pid: process.pid,
    async close() {
      await run.close();
      pub.disconnect();
      sub.disconnect();
    },
  };
}

/** Node B as a Bun process (Pub/Sub adapter over ioredis). */
async function startBunNode(serverId: string): Promise<ClusterNode> {
  const f = await startFixture([bin("bun"), "run", fixture("redis-bun.ts")], { REDIS_URL: redis.url, SERVER_ID: serverId });
  return { url: f.url, pid: f.pid, close: () => f.kill() };
}

const SETUPS: Array<[string, Flavour, "node" | "bun"]> = [
  ["Redis pubsub adapter", "pubsub", "node"],
  ["Redis streams adapter, connection state recovery", "streams", "node"],
  ["Redis pubsub adapter, B on Bun", "pubsub", "bun"],
];

describe.each(SETUPS)("admin-ui on a two-node unio cluster (%s)", (_title, flavour, bRuntime) => {
  let a: ClusterNode;
  let b: ClusterNode;
  const open: Array<{ disconnect(): unknown }> = [];

  beforeAll(async () => {
    [a, b] = await Promise.all([
      startClusterNode("A", flavour),
      bRuntime === "bun" ? startBunNode("B") : startClusterNode("B", flavour),
    ]);
    // A's requests reach B once B has subscribed.
    await waitFor(async () => (await a.io!.of("/admin").adapter.serverCount()) === 2, { timeout: 10_000, what: "A sees B" });
    if (b.io) await waitFor(async () => (await b.io!.of("/admin").adapter.serverCount()) === 2, { timeout: 10_000, what: "B sees A" });
  });
  afterEach(() => {
    for (const s of open.splice(0)) s.disconnect();
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
  });

  function adminOnA(): AdminClient {
    const page = connectAdmin(a.url, { transports: ["websocket"] });
    open.push(page.socket);
    return page;
  }
  async function appClient(node: ClusterNode, opts: Parameters<typeof connectApp>[1] = {}): Promise<ClientSocket> {
    const c = await connectApp(node.url, { transports: ["websocket"], ...opts });
    open.push(c);
    return c;
  }

  it("shows the stats of both servers", async () => {
    const page = adminOnA();
    await page.next("config");
    await appClient(b);
    await appClient(b, { transports: ["polling"] });
    await appClient(a);
    const fromB = await page.stats((s) => s.serverId === "B" && s.clientsCount === 2);
    expect(fromB).toMatchObject({ pollingClientsCount: 1, pid: b.pid });
    expect(fromB.namespaces).toEqual(
      expect.arrayContaining([
        { name: "/", socketsCount: 2 },
        { name: "/admin", socketsCount: 0 },
      ]),
    );
    const fromA = await page.stats((s: ServerStats) => s.serverId === "A" && s.clientsCount === 2);
    expect(fromA.namespaces).toEqual(
      expect.arrayContaining([
        { name: "/", socketsCount: 1 },
        { name: "/admin", socketsCount: 1 },
      ]),
    );
  });

  it("lists the sockets of both servers, and reports B's live events", async () => {
    const onB = await appClient(b, { auth: { user: "bea" }, query: { from: "b" } });
    await onB.emitWithAck("join", "lobby");
    const onA = await appClient(a, { auth: { user: "ann" } });

    const page = adminOnA();
    const [all] = await page.next<[AdminSocket[]]>("all_sockets");
    const sockets = new Map(all.filter((s) => s.nsp === "/").map((s) => [s.id, s]));
    expect([...sockets.keys()].sort()).toEqual([onA.id, onB.id].sort());
    expect(sockets.get(onB.id!)).toMatchObject({
      clientId: onB.io.engine.id.substring(0, 12),
      transport: "websocket",
      data: { user: "bea" },
      handshake: { address: "127.0.0.1", query: { from: "b" }, secure: false, xdomain: false },
    });
    expect(sockets.get(onB.id!)!.rooms.sort()).toEqual([onB.id, "lobby"].sort());
    expect(sockets.get(onA.id!)).toMatchObject({ data: { user: "ann" }, rooms: [onA.id] });

    // Live events happen on B and are broadcast by B's admin namespace to the page on A.
    const later = await appClient(b, { auth: { user: "ben" } });
    await page.next("socket_connected", (s: AdminSocket) => s.id === later.id && s.data.user === "ben");
    await later.emitWithAck("join", "lounge");
    await page.next("room_joined", (nsp, room, id) => nsp === "/" && room === "lounge" && id === later.id);
    await page.next("event_received", (_n, id, args) => id === later.id && args[0] === "join" && args[1] === "lounge");
    await later.emitWithAck("set", "level", 3);
    await page.next("socket_updated", (u) => u.id === later.id && u.data?.level === 3);
    const laterId = later.id;
    later.disconnect();
    await page.next("socket_disconnected", (_n, id, reason) => id === laterId && reason === "client namespace disconnect");
  });

  it("runs the commands on B's sockets", async () => {
    const onB = await appClient(b);
    const other = await appClient(b);
    const onA = await appClient(a);
    const page = adminOnA();
    await page.next("all_sockets");
    const bId = onB.id!;

    // join: B's socket enters the room on B, and room broadcasts from A reach it.
    page.socket.emit("join", "/", "vip", bId);
    await page.next("room_joined", (_n, room, id) => room === "vip" && id === bId);
    expect(await onB.emitWithAck("rooms")).toEqual(expect.arrayContaining([bId, "vip"]));
    const vip = nextEvent(onB, "vip-news");
    await onA.emitWithAck("to-room", "vip", "vip-news");
    // (With connection state recovery, a broadcast carries its offset as a last argument.)
    expect((await vip)[0]).toBe("vip");

    // emit to that one socket.
    const hello = nextEvent(onB, "hello");
    page.socket.emit("emit", "/", bId, "hello", { from: "admin" });
    expect((await hello)[0]).toEqual({ from: "admin" });

    // leave.
    page.socket.emit("leave", "/", "vip", bId);
    await page.next("room_left", (_n, room, id) => room === "vip" && id === bId);
    expect(await onB.emitWithAck("rooms")).toEqual([bId]);

    // _disconnect: only that socket, on B.
    const gone = nextEvent(onB, "disconnect");
    page.socket.emit("_disconnect", "/", false, bId);
    expect((await gone)[0]).toBe("io server disconnect");
    await page.next("socket_disconnected", (_n, id, reason) => id === bId && reason === "server namespace disconnect");
    // Asserting silence: nobody else is disconnected in the next 100 ms.
    await sleep(100);
    expect(other.connected).toBe(true);
    expect(onA.connected).toBe(true);
    const [all] = await adminOnA().next<[AdminSocket[]]>("all_sockets");
    expect(all.filter((s) => s.nsp === "/").map((s) => s.id).sort()).toEqual([other.id, onA.id].sort());
  });
});
