/**
 * @socket.io/admin-ui instrumenting a unio server on Bun and on Deno
 * (fixtures/<runtime>.ts, run as a child process with basic auth on): the
 * stats, the socket list, live reports and the admin commands, seen from an
 * admin client and real app clients (socket.io-client on Node).
 */
import bcrypt from "bcryptjs";
import type { Socket as ClientSocket } from "socket.io-client";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  type AdminClient,
  type AdminSocket,
  bin,
  connectAdmin,
  connectApp,
  countOf,
  type Fixture,
  fixture,
  nextEvent,
  type ServerStats,
  startFixture,
} from "./helpers.ts";
import { sleep, waitFor } from "../helpers/wait.ts";

const RUNTIMES: Array<[string, string[]]> = [
  ["bun", [bin("bun"), "run", fixture("bun.ts")]],
  // admin-ui reads os.hostname() (--allow-sys) and process.pid/uptime, which Deno's Node layer provides.
  ["deno", [bin("deno"), "run", "--allow-net", "--allow-env", "--allow-read", "--allow-sys", "--no-lock", fixture("deno.ts")]],
];

const PASSWORD = "s3cret";
const ADMIN_OPTS = {
  auth: { type: "basic", username: "admin", password: bcrypt.hashSync(PASSWORD, 4) },
  mode: "development",
  serverId: "runtime-node",
};
const AUTH = { username: "admin", password: PASSWORD };

describe.each(RUNTIMES)("admin-ui on %s", (_name, command) => {
  let server: Fixture;
  const open: Array<{ disconnect(): unknown }> = [];

  beforeAll(async () => {
    server = await startFixture(command, { ADMIN_OPTS: JSON.stringify(ADMIN_OPTS) });
  });
  afterEach(() => {
    for (const s of open.splice(0)) s.disconnect();
  });
  afterAll(async () => {
    await server?.kill();
  });

  function admin(auth: Record<string, unknown> = AUTH): AdminClient {
    const a = connectAdmin(server.url, { transports: ["websocket"], auth });
    open.push(a.socket);
    return a;
  }
  async function appClient(opts: Parameters<typeof connectApp>[1] = {}): Promise<ClientSocket> {
    const c = await connectApp(server.url, opts);
    open.push(c);
    return c;
  }
  const totals = (a: AdminClient, type: string) =>
    a.events.filter((e) => e[0] === "server_stats").reduce((n, e) => n + countOf(e[1] as ServerStats, type), 0);

  it("checks the admin's password, then sends the stats and the socket list", async () => {
    const refused = admin({ username: "admin", password: "nope" });
    expect((await refused.next<[Error]>("connect_error"))[0].message).toBe("invalid credentials");

    const watcher = admin();
    await watcher.next("session");
    await watcher.next("config");
    const ws = await appClient({ transports: ["websocket"], auth: { user: "alice" }, query: { tag: "t" } });
    const polling = await appClient({ transports: ["polling"] });
    await ws.emitWithAck("join", "lobby");

    const page = admin();
    const [all] = await page.next<[AdminSocket[]]>("all_sockets");
    const mine = all.filter((s) => s.nsp === "/");
    expect(mine).toHaveLength(2);
    expect(mine.find((s) => s.id === ws.id)).toMatchObject({
      clientId: ws.io.engine.id.substring(0, 12),
      transport: "websocket",
      data: { user: "alice" },
      handshake: { address: "127.0.0.1", query: { tag: "t" } },
    });
    expect(mine.find((s) => s.id === ws.id)!.rooms.sort()).toEqual([ws.id, "lobby"].sort());
    expect(mine.find((s) => s.id === polling.id)).toMatchObject({ transport: "polling", rooms: [polling.id] });

    const big = "y".repeat(30_000);
    await expect(ws.emitWithAck("echo", big)).resolves.toBe(big);
    const stats = await watcher.stats((s) => s.clientsCount === 4 && s.pollingClientsCount === 1);
    expect(stats).toMatchObject({ serverId: "runtime-node", pid: server.pid });
    expect(stats.namespaces).toEqual(
      expect.arrayContaining([
        { name: "/", socketsCount: 2 },
        { name: "/admin", socketsCount: 2 },
      ]),
    );
    await waitFor(() => totals(watcher, "bytesIn") > 30_000 && totals(watcher, "bytesOut") > 30_000, { timeout: 5000, what: "bytes in the stats" });
    expect(totals(watcher, "rawConnection")).toBeGreaterThanOrEqual(4);
  });

  it("reports live events, also for a room broadcast (one native publish on Bun)", async () => {
    const watcher = admin();
    await watcher.next("config");
    watcher.clear();
    const a = await appClient({ transports: ["websocket"] });
    const b = await appClient({ transports: ["websocket"] });
    const c = await appClient({ transports: ["websocket"] });
    await watcher.next("socket_connected", (s: AdminSocket) => s.id === c.id);
    for (const s of [a, b, c]) await s.emitWithAck("join", "crowd");
    await watcher.next("room_joined", (_n, room, id) => room === "crowd" && id === c.id);
    await watcher.next("event_received", (_n, id, args) => id === a.id && args[0] === "join");

    // Three WebSocket members: on Bun this is one publish to the room's topic.
    const got = [a, b, c].map((s) => nextEvent(s, "crowd-news"));
    await a.emitWithAck("to-room", "crowd", "crowd-news");
    for (const p of got) expect(await p).toEqual(["crowd"]);
    for (const s of [a, b, c]) {
      await watcher.next("event_sent", (_n, id, args) => id === s.id && args[0] === "crowd-news");
    }

    // The stats count what each recipient was sent, published or not: three shouts, plus
    // what the watcher itself is sent about them (event_received once, event_sent three times).
    const before = totals(watcher, "bytesOut");
    const big = "z".repeat(40_000);
    const shouts = [a, b, c].map((s) => nextEvent(s, "shout"));
    await a.emitWithAck("shout", "crowd", big);
    for (const p of shouts) expect(await p).toEqual([big]);
    await waitFor(() => totals(watcher, "bytesOut") - before >= 7 * 40_000, { timeout: 5000, what: "the shouts counted in bytesOut" });

    await a.emitWithAck("set", "score", 7);
    await watcher.next("socket_updated", (u) => u.id === a.id && u.data?.score === 7);
    const aId = a.id;
    a.disconnect();
    await watcher.next("socket_disconnected", (_n, id, reason) => id === aId && reason === "client namespace disconnect");
    await watcher.next("room_left", (_n, room, id) => room === "crowd" && id === aId);
  });

  it("runs the admin commands on the app's sockets", async () => {
    const a = await appClient({ transports: ["websocket"] });
    const b = await appClient({ transports: ["polling"] });
    const page = admin();
    await page.next("all_sockets");

    page.socket.emit("join", "/", "vip", b.id);
    await page.next("room_joined", (_n, room, id) => room === "vip" && id === b.id);
    await expect(b.emitWithAck("rooms")).resolves.toEqual(expect.arrayContaining(["vip"]));
    const vip = nextEvent(b, "vip-news");
    await a.emitWithAck("to-room", "vip", "vip-news");
    expect(await vip).toEqual(["vip"]);

    const hello = nextEvent(a, "hello");
    page.socket.emit("emit", "/", a.id, "hello", "from the admin");
    expect(await hello).toEqual(["from the admin"]);

    page.socket.emit("leave", "/", "vip", b.id);
    await page.next("room_left", (_n, room, id) => room === "vip" && id === b.id);
    expect(await b.emitWithAck("rooms")).toEqual([b.id]);

    const [aId, bId] = [a.id, b.id];
    const gone = nextEvent(a, "disconnect");
    page.socket.emit("_disconnect", "/", false, aId);
    expect((await gone)[0]).toBe("io server disconnect");
    await page.next("socket_disconnected", (_n, id, reason) => id === aId && reason === "server namespace disconnect");
    // Asserting silence: nobody else is disconnected in the next 50 ms.
    await sleep(50);
    expect(b.connected).toBe(true);
    await page.stats((s) => s.namespaces.some((n) => n.name === "/" && n.socketsCount === 1));
    expect(bId).toBeTruthy();
  });
});
