/**
 * @socket.io/admin-ui's `instrument(io, options)` on a unio Server behind the
 * Node shim, seen from an admin client (socket.io-client on `/admin`, as the
 * Admin UI page connects) while real app clients come and go. Every case
 * also runs against socket.io 4.8 itself, so what is asserted is what the
 * reference server gives the admin UI.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { instrument } from "@socket.io/admin-ui";
import bcrypt from "bcryptjs";
import type { Socket as ClientSocket } from "socket.io-client";
import { Server as SioServer } from "socket.io";
import { afterEach, describe, expect, it } from "vitest";
import { Server } from "../../src/index.ts";
import { startNode } from "../helpers/node.ts";
import { app } from "./app.ts";
import {
  type AdminClient,
  type AdminSocket,
  connectAdmin,
  connectApp,
  countOf,
  nextEvent,
  type ServerStats,
} from "./helpers.ts";
import { sleep, waitFor } from "../helpers/wait.ts";

type AnyServer = any;
type Kind = "unio" | "socket.io";

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** A server of `kind` on a free port, instrumented; `app` runs before `instrument` (as apps do). */
async function start(
  kind: Kind,
  adminOpts: Record<string, unknown>,
  serverOpts: Record<string, unknown> = {},
): Promise<{ io: AnyServer; url: string }> {
  let io: AnyServer;
  let url: string;
  if (kind === "unio") {
    io = new Server(serverOpts);
    const run = await startNode(io);
    cleanups.push(() => run.close());
    url = run.url;
  } else {
    const http = createServer();
    io = new SioServer(http, serverOpts);
    await new Promise<void>((r) => http.listen(0, "127.0.0.1", () => r()));
    cleanups.push(() => io.close());
    url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  }
  app(io);
  instrument(io, adminOpts);
  return { io, url };
}

function admin(url: string, opts: Parameters<typeof connectAdmin>[1] = {}): AdminClient {
  const a = connectAdmin(url, opts);
  cleanups.push(() => a.close());
  return a;
}

async function appClient(url: string, opts: Parameters<typeof connectApp>[1] = {}, nsp = "/"): Promise<ClientSocket> {
  const c = await connectApp(url, opts, nsp);
  cleanups.push(() => c.disconnect());
  return c;
}

/** Totals over every stats message received so far. */
function totals(a: AdminClient, type: string, subType?: string): number {
  return a.events.filter((e) => e[0] === "server_stats").reduce((n, e) => n + countOf(e[1] as ServerStats, type, subType), 0);
}

const ALL_FEATURES = ["EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT", "AGGREGATED_EVENTS", "ALL_EVENTS"];
const DEV = { auth: false, mode: "development" } as const;
const isDate = (d: unknown) => typeof d === "string" && !Number.isNaN(Date.parse(d));

describe.each<Kind>(["unio", "socket.io"])("admin-ui on %s", (kind) => {
  it("lists the app's sockets and sends the server stats", async () => {
    const { url } = await start(kind, DEV);
    const watcher = admin(url, { transports: ["websocket"] });
    await watcher.next("config");
    const ws = await appClient(url, { transports: ["websocket"], query: { tag: "one" }, auth: { user: "alice" } });
    const polling = await appClient(url, { transports: ["polling"] });
    await ws.emitWithAck("join", "lobby");

    // What a second admin page gets on opening: its config, then every socket.
    const page = admin(url, { transports: ["websocket"] });
    const [config] = await page.next("config");
    expect(config).toEqual({ supportedFeatures: ALL_FEATURES });
    const [all] = await page.next<[AdminSocket[]]>("all_sockets");
    const byId = new Map(all.map((s) => [s.id, s]));
    const one = byId.get(ws.id!)!;
    expect(one).toMatchObject({
      id: ws.id,
      clientId: ws.io.engine.id.substring(0, 12),
      transport: "websocket",
      nsp: "/",
      data: { user: "alice" },
      handshake: { address: "127.0.0.1", query: { tag: "one", EIO: "4", transport: "websocket" }, secure: false, xdomain: false },
    });
    expect(one.rooms.sort()).toEqual([ws.id, "lobby"].sort());
    expect(one.handshake.url.startsWith("/socket.io/?")).toBe(true);
    expect(one.handshake.headers.host).toBe(url.slice("http://".length));
    expect(isDate(one.handshake.time)).toBe(true);
    expect(Math.abs(one.handshake.issued - Date.now())).toBeLessThan(10_000);
    expect(byId.get(polling.id!)).toMatchObject({ transport: "polling", nsp: "/", data: { user: "anonymous" }, rooms: [polling.id] });
    // The admin sockets are listed too, in their namespace.
    expect(all.filter((s) => s.nsp === "/admin")).toHaveLength(2);
    expect(all).toHaveLength(4);

    const big = "x".repeat(20_000);
    await expect(ws.emitWithAck("echo", big)).resolves.toBe(big);
    const stats = await watcher.stats((s) => s.clientsCount === 4 && s.pollingClientsCount === 1 && totals(watcher, "bytesIn") > 20_000);
    expect(stats).toMatchObject({ pid: process.pid, clientsCount: 4, pollingClientsCount: 1 });
    expect(stats.serverId).toBe(stats.hostname);
    expect(stats.uptime).toBeGreaterThan(0);
    expect(stats.namespaces).toEqual(
      expect.arrayContaining([
        { name: "/", socketsCount: 2 },
        { name: "/admin", socketsCount: 2 },
      ]),
    );
    expect(stats.namespaces).toHaveLength(2);
    // The page's counters: connections, packets and bytes both ways.
    await waitFor(() => totals(watcher, "bytesOut") > 20_000, { timeout: 5000, what: "bytesOut in the stats" });
    // The watcher, both app clients, the page (the watcher's own may fall in a stats sent before it joined /admin).
    expect(totals(watcher, "rawConnection")).toBeGreaterThanOrEqual(3);
    expect(totals(watcher, "rawConnection")).toBeLessThanOrEqual(4);
    expect(totals(watcher, "packetsIn")).toBeGreaterThanOrEqual(4);
    expect(totals(watcher, "packetsOut")).toBeGreaterThanOrEqual(4);

    polling.disconnect();
    ws.disconnect();
    await watcher.stats((s) => s.clientsCount === 2 && s.pollingClientsCount === 0);
    await waitFor(() => totals(watcher, "rawDisconnection", "transport close") === 2, { timeout: 5000, what: "two disconnections in the stats" });
  });

  it("reports connections, rooms, data, events, upgrades and disconnections as they happen", async () => {
    const { io, url } = await start(kind, DEV);
    const watcher = admin(url, { transports: ["websocket"] });
    await watcher.next("config");
    watcher.clear();

    const c = await appClient(url, { auth: { user: "bob" } }); // polling, then the upgrade
    const [connected, at] = await watcher.next<[AdminSocket, string]>("socket_connected", (s: AdminSocket) => s.id === c.id);
    expect(connected).toMatchObject({ id: c.id, nsp: "/", transport: "polling", data: { user: "bob" }, rooms: [c.id] });
    expect(isDate(at)).toBe(true);
    await watcher.next("room_joined", (nsp, room, id) => nsp === "/" && room === c.id && id === c.id);
    expect(await watcher.next("socket_updated", (u) => u.id === c.id && u.transport === "websocket")).toEqual([
      { id: c.id, nsp: "/", transport: "websocket" },
    ]);

    await c.emitWithAck("join", "lobby");
    await watcher.next("room_joined", (nsp, room, id) => nsp === "/" && room === "lobby" && id === c.id);
    const [nsp, id, args, when] = await watcher.next("event_received", (_n, id, args) => id === c.id && args[0] === "join");
    expect([nsp, id, args]).toEqual(["/", c.id, ["join", "lobby"]]); // the ack function is left out
    expect(isDate(when)).toBe(true);

    await c.emitWithAck("set", "score", 42);
    const [updated] = await watcher.next("socket_updated", (u) => u.id === c.id && u.data?.score !== undefined);
    expect(updated).toEqual({ id: c.id, nsp: "/", data: { user: "bob", score: 42 } });

    const pong = nextEvent(c, "pong-you");
    c.emit("ping-me");
    expect(await pong).toEqual([1, "two"]);
    const sent = await watcher.next("event_sent", (_n, id, args) => id === c.id && args[0] === "pong-you");
    expect(sent.slice(0, 3)).toEqual(["/", c.id, ["pong-you", 1, "two"]]);
    // A broadcast counts as sent to each recipient.
    await c.emitWithAck("to-room", "lobby", "news");
    const news = await watcher.next("event_sent", (_n, id, args) => id === c.id && args[0] === "news");
    expect(news.slice(0, 3)).toEqual(["/", c.id, ["news", "lobby"]]);

    await c.emitWithAck("leave", "lobby");
    await watcher.next("room_left", (nsp, room, id) => nsp === "/" && room === "lobby" && id === c.id);

    const sid = c.id;
    c.disconnect();
    const [dNsp, dId, reason, dAt] = await watcher.next("socket_disconnected", (_n, id) => id === sid);
    expect([dNsp, dId, reason]).toEqual(["/", sid, "client namespace disconnect"]);
    expect(isDate(dAt)).toBe(true);
    await watcher.next("room_left", (nsp, room, id) => nsp === "/" && room === sid && id === sid);

    // Namespaces created after instrument(): a static one and a dynamic child.
    io.of("/chat");
    io.of(/^\/dyn-\d+$/);
    const chat = await appClient(url, { transports: ["websocket"] }, "/chat");
    const dyn = await appClient(url, { transports: ["websocket"] }, "/dyn-7");
    await watcher.next("socket_connected", (s: AdminSocket) => s.nsp === "/chat" && s.id === chat.id);
    await watcher.next("socket_connected", (s: AdminSocket) => s.nsp === "/dyn-7" && s.id === dyn.id);
    const stats = await watcher.stats((s) => s.namespaces.some((n) => n.name === "/dyn-7" && n.socketsCount === 1));
    expect(stats.namespaces).toEqual(expect.arrayContaining([{ name: "/chat", socketsCount: 1 }]));
  });

  it("runs the admin commands (emit, join, leave, _disconnect) on the app's sockets", async () => {
    const { io, url } = await start(kind, DEV);
    const a = await appClient(url, { transports: ["websocket"] });
    const b = await appClient(url, { transports: ["websocket"] });
    const page = admin(url, { transports: ["websocket"] });
    await page.next("all_sockets");

    // join, on one socket (the row's button) then on every socket of the namespace.
    page.socket.emit("join", "/", "vip", a.id);
    await page.next("room_joined", (nsp, room, id) => nsp === "/" && room === "vip" && id === a.id);
    const vip = nextEvent(a, "vip-news");
    let bGotVip = false;
    b.on("vip-news", () => (bGotVip = true));
    await b.emitWithAck("to-room", "vip", "vip-news");
    expect(await vip).toEqual(["vip"]);
    page.socket.emit("join", "/", "everyone");
    await page.next("room_joined", (_n, room, id) => room === "everyone" && id === a.id);
    await page.next("room_joined", (_n, room, id) => room === "everyone" && id === b.id);
    expect([...io.of("/").adapter.rooms.get("everyone")].sort()).toEqual([a.id, b.id].sort());

    // emit, to the sockets of a room.
    const hello = nextEvent(a, "hello");
    page.socket.emit("emit", "/", "vip", "hello", 1, { two: 2 });
    expect(await hello).toEqual([1, { two: 2 }]);

    // leave: a no longer gets the room's broadcasts.
    page.socket.emit("leave", "/", "vip", a.id);
    await page.next("room_left", (nsp, room, id) => nsp === "/" && room === "vip" && id === a.id);
    let aGotVip = false;
    a.on("vip-news", () => (aGotVip = true));
    // A broadcast to everyone after the one to the room: once it arrived, a vip-news would have.
    const allNews = [nextEvent(a, "all-news"), nextEvent(b, "all-news")];
    await b.emitWithAck("to-room", "vip", "vip-news");
    await b.emitWithAck("to-room", "everyone", "all-news");
    await Promise.all(allNews);
    expect(aGotVip).toBe(false);
    expect(bGotVip).toBe(false);

    // _disconnect one socket from its namespace: the app client is told by the server.
    const [aId, bId] = [a.id, b.id];
    const bGone = nextEvent(b, "disconnect");
    page.socket.emit("_disconnect", "/", false, bId);
    expect((await bGone)[0]).toBe("io server disconnect");
    await page.next("socket_disconnected", (_n, id, reason) => id === bId && reason === "server namespace disconnect");
    expect(a.connected).toBe(true);

    // _disconnect with close: the whole connection goes.
    const aGone = nextEvent(a, "disconnect");
    page.socket.emit("_disconnect", "/", true, aId);
    expect((await aGone)[0]).toBe("io server disconnect");
    await page.next("socket_disconnected", (_n, id, reason) => id === aId && reason === "server namespace disconnect");
    await waitFor(() => io.of("/").sockets.size === 0, { timeout: 3000, what: "no socket left" });
  });

  it("readonly: the page is told no command is available, and commands do nothing", async () => {
    const { io, url } = await start(kind, { ...DEV, readonly: true });
    const c = await appClient(url, { transports: ["websocket"] });
    const page = admin(url, { transports: ["websocket"] });
    const [config] = await page.next("config");
    expect(config).toEqual({ supportedFeatures: ["AGGREGATED_EVENTS", "ALL_EVENTS"] });
    page.socket.emit("join", "/", "vip", c.id);
    page.socket.emit("emit", "/", null, "hello");
    page.socket.emit("_disconnect", "/", true);
    let hello = false;
    c.on("hello", () => (hello = true));
    // A round trip after the commands: they were received, and ignored.
    await expect(c.emitWithAck("echo", "still here")).resolves.toBe("still here");
    // Asserting silence: the commands came on the page's connection, which nothing orders with c's;
    // 100 ms more for a command that were not ignored to show.
    await sleep(100);
    expect(c.connected).toBe(true);
    expect(hello).toBe(false);
    expect([...io.of("/").sockets.get(c.id).rooms]).toEqual([c.id]);
  });

  it('mode "production": stats only, no socket list and no per-event reports', async () => {
    const { url } = await start(kind, { auth: false, mode: "production" });
    const page = admin(url, { transports: ["websocket"] });
    const [config] = await page.next("config");
    expect(config.supportedFeatures).not.toContain("ALL_EVENTS");
    const c = await appClient(url, { transports: ["websocket"] });
    await c.emitWithAck("join", "lobby");
    await page.stats((s) => s.clientsCount === 2);
    expect(page.events.map((e) => e[0]).filter((n) => n !== "server_stats")).toEqual(["config"]);
  });

  it("the hosted page (admin.socket.io) gets in with the cors option its docs give", async () => {
    const origin = "https://admin.socket.io";
    const { url } = await start(kind, DEV, { cors: { origin: [origin], credentials: true } });
    const preflight = await fetch(`${url}/socket.io/?EIO=4&transport=polling`, {
      method: "OPTIONS",
      headers: { origin, "access-control-request-method": "GET", "access-control-request-headers": "content-type" },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe(origin);
    expect(preflight.headers.get("access-control-allow-credentials")).toBe("true");
    const open = await fetch(`${url}/socket.io/?EIO=4&transport=polling`, { headers: { origin } });
    expect(open.status).toBe(200);
    expect(open.headers.get("access-control-allow-origin")).toBe(origin);
    expect(open.headers.get("access-control-allow-credentials")).toBe("true");
    // The page's own connection, with the Origin it sends.
    const page = admin(url, { withCredentials: true, extraHeaders: { origin } });
    const [all] = await page.next<[AdminSocket[]]>("all_sockets");
    expect(all[0]!.handshake).toMatchObject({ xdomain: true, headers: { origin } });
  });

  it("basic auth: a bcrypt-checked login, a session id to come back with, wrong credentials refused", async () => {
    const password = bcrypt.hashSync("s3cret", 4);
    const { url } = await start(kind, { ...DEV, auth: { type: "basic", username: "admin", password } });

    const ok = admin(url, { transports: ["websocket"], auth: { username: "admin", password: "s3cret" } });
    const [sessionId] = await ok.next<[string]>("session");
    expect(sessionId).toMatch(/^[0-9a-f]{16}$/);
    await ok.next("config");
    await ok.next("all_sockets");
    expect(ok.socket.connected).toBe(true);

    // The page stores the session id and reconnects with it instead of the password.
    const back = admin(url, { transports: ["websocket"], auth: { sessionId } });
    await back.next("config");
    expect(back.socket.connected).toBe(true);

    for (const auth of [{ username: "admin", password: "wrong" }, { username: "root", password: "s3cret" }, {}, { sessionId: "0123456789abcdef" }]) {
      const refused = admin(url, { transports: ["websocket"], auth });
      const [err] = await refused.next<[Error]>("connect_error");
      expect(err.message).toBe("invalid credentials");
      expect(refused.events.some((e) => e[0] === "config" || e[0] === "server_stats")).toBe(false);
    }
    // The app's own namespace is not behind the admin's auth.
    await appClient(url, { transports: ["websocket"] });
  });
});

describe("admin-ui: unio and socket.io give the page the same story", () => {
  /** One scripted session; the page's events (stats aside) with ids, dates and per-run values made symbolic. */
  async function trace(kind: Kind): Promise<string[]> {
    const { io, url } = await start(kind, DEV);
    const page = admin(url, { transports: ["websocket"] });
    await page.next("all_sockets");
    // Each step waits for the page's last report about it, so the order cannot depend on timing.
    const seen = (name: string, match: (...args: any[]) => boolean) => page.next(name, match);
    const c1 = await appClient(url, { transports: ["websocket"], auth: { user: "u1" } });
    const id1 = c1.id!;
    await seen("socket_connected", (s) => s.id === id1);
    await c1.emitWithAck("join", "lobby");
    await seen("room_joined", (_n, room) => room === "lobby");
    await c1.emitWithAck("set", "score", 1);
    await seen("socket_updated", (u) => u.data?.score === 1);
    const pong = nextEvent(c1, "pong-you");
    c1.emit("ping-me");
    await pong;
    await seen("event_sent", (_n, _id, args) => args[0] === "pong-you");
    await c1.emitWithAck("to-room", "lobby", "news");
    await seen("event_sent", (_n, _id, args) => args[0] === "news");
    await c1.emitWithAck("echo", { bytes: Buffer.from([1, 2, 3]) });
    await seen("event_received", (_n, _id, args) => args[0] === "echo");
    await c1.emitWithAck("leave", "lobby");
    await seen("room_left", (_n, room) => room === "lobby");
    io.of("/chat");
    const c2 = await appClient(url, { transports: ["websocket"] }, "/chat");
    const id2 = c2.id!;
    await seen("socket_connected", (s) => s.id === id2);
    page.socket.emit("join", "/", "vip", id1);
    await seen("room_joined", (_n, room) => room === "vip");
    const hello = nextEvent(c1, "hello");
    page.socket.emit("emit", "/", "vip", "hello", 1);
    await hello;
    await seen("event_sent", (_n, _id, args) => args[0] === "hello");
    page.socket.emit("leave", "/", "vip", id1);
    await seen("room_left", (_n, room) => room === "vip");
    page.socket.emit("_disconnect", "/", false, id1);
    await seen("room_left", (_n, room, id) => room === id1 && id === id1);
    c2.disconnect();
    await seen("room_left", (_n, room, id) => room === id2 && id === id2);
    const c3 = await appClient(url, { query: { k: "v" } }); // polling, then the upgrade
    const id3 = c3.id!;
    await seen("socket_updated", (u) => u.id === id3 && u.transport === "websocket");
    c3.disconnect();
    await seen("room_left", (_n, room, id) => room === id3 && id === id3);
    const stats = await page.stats((s) => s.clientsCount === 1);

    const ids = new Map<string, string>();
    const symbolic = (v: unknown): unknown => {
      if (typeof v === "string") {
        if (/^[\w-]{20}$/.test(v)) {
          if (!ids.has(v)) ids.set(v, `id${ids.size}`);
          return ids.get(v);
        }
        return /^\d{4}-\d\d-\d\dT/.test(v) ? "<date>" : v;
      }
      if (v instanceof ArrayBuffer || ArrayBuffer.isView(v)) return `<${(v as ArrayBuffer).byteLength} bytes>`;
      if (Array.isArray(v)) return v.map(symbolic);
      if (v && typeof v === "object") {
        const out: Record<string, unknown> = {};
        for (const [k, x] of Object.entries(v)) {
          if (k === "handshake") {
            const h = x as AdminSocket["handshake"];
            out[k] = { keys: Object.keys(h).sort(), headers: Object.keys(h.headers).sort(), query: Object.keys(h.query).sort() };
          } else out[k] = k === "clientId" ? typeof x : symbolic(x);
        }
        return out;
      }
      return v;
    };
    return [
      ...page.events.filter((e) => e[0] !== "server_stats").map((e) => JSON.stringify(symbolic(e))),
      `stats keys: ${Object.keys(stats).sort()}`,
      `namespaces: ${JSON.stringify(stats.namespaces)}`,
    ];
  }

  it("the same events, in the same order, with the same contents", async () => {
    const fromUnio = await trace("unio");
    const fromSocketIo = await trace("socket.io");
    expect(fromUnio.length).toBeGreaterThan(30);
    // Binary arguments reach the page as binary (id0 is the page, id1 the first app client).
    expect(fromUnio).toContain(JSON.stringify(["event_received", "/", "id1", ["echo", { bytes: "<3 bytes>" }], "<date>"]));
    expect(fromUnio).toEqual(fromSocketIo);
  });
});
