/**
 * Socket.IO behaviours, run unchanged against every runtime's fixture
 * (app.ts `createServer()` at /socket.io/) with the official
 * socket.io-client, and raw `ws` / `fetch` for wire-level checks.
 *
 * The fixture is shared by every test of a runtime, so each test uses its
 * own room names, and server-side disconnect reasons are read from the
 * /observer namespace, keyed by socket id.
 */
import { Manager, io as ioc, type ManagerOptions, type Socket as ClientSocket, type SocketOptions } from "socket.io-client";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { type Departure, IO_PING_INTERVAL, IO_PING_TIMEOUT, type WhoAmI } from "./app.ts";
import { type RunningFixture, startFixture } from "./harness.ts";
import { selectedRuntimes } from "./runtimes.ts";
import { once, onceArgs, waitFor, within } from "../helpers/wait.ts";

type Transports = ("polling" | "websocket")[];
type ClientOptions = Partial<ManagerOptions & SocketOptions>;

/** Connection modes: name, client transports, the transport the session ends up on. */
const MODES: Array<[string, Transports, "polling" | "websocket"]> = [
  ["polling", ["polling"], "polling"],
  ["websocket", ["websocket"], "websocket"],
  ["polling upgraded to websocket", ["polling", "websocket"], "websocket"],
];

const LOOPBACK = /^(::ffff:)?127\.0\.0\.1$/;

let seq = 0;
/** A name no other test uses (rooms, dynamic namespaces). */
const unique = (prefix: string) => `${prefix}-${process.pid}-${++seq}`;
/** A fresh name under the fixture's dynamic namespace /^\/dyn-\w+$/. */
const dynamicName = (word: string) => `/dyn-${word}_${process.pid}_${++seq}`;

const bytes = (v: unknown) => [...new Uint8Array(v as ArrayBuffer)];

/** `emitWithAck`, bounded: a missing answer fails with "operation has timed out". */
const ask = (c: ClientSocket, ev: string, ...args: unknown[]): Promise<any> => c.timeout(5000).emitWithAck(ev, ...args);

describe.each(selectedRuntimes())("socket.io on $name", (runtime) => {
  let fx: RunningFixture;
  let observer: ClientSocket;
  const departures: Departure[] = [];
  /** What the app's "note" listener was reached with, as the observer heard it. */
  const notes: string[] = [];
  const departureWaiters: Array<() => void> = [];
  const clients: ClientSocket[] = [];
  const cleanups: Array<() => unknown> = [];

  beforeAll(async () => {
    fx = await startFixture(runtime);
    observer = ioc(`${fx.url}/observer`, { forceNew: true, transports: ["websocket"] });
    observer.on("departed", (d: Departure) => {
      departures.push(d);
      for (const w of departureWaiters.splice(0)) w();
    });
    observer.on("noted", (n: { note: string }) => notes.push(n.note));
    await once(observer, "connect", { timeout: 10_000 });
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) c.disconnect();
    while (cleanups.length) await cleanups.pop()!();
  });

  afterAll(async () => {
    observer?.disconnect();
    await fx?.stop();
  });

  /** A socket.io-client socket, closed after the test. Does not wait for the connection. */
  function client(nsp = "/", opts: ClientOptions = {}): ClientSocket {
    const socket = ioc(fx.url + nsp, { forceNew: true, reconnection: false, ...opts });
    clients.push(socket);
    return socket;
  }

  /** A connected client; a connect_error fails at once, with its message. */
  async function connected(nsp = "/", opts: ClientOptions = {}): Promise<ClientSocket> {
    const socket = client(nsp, opts);
    await Promise.race([
      once(socket, "connect"),
      once<Error>(socket, "connect_error").then((err) => {
        throw new Error(`connect_error on ${nsp}: ${err.message}`);
      }),
    ]);
    return socket;
  }

  /** The server-side reason for socket `id` of `nsp` leaving, as the observer saw it. */
  async function serverReason(id: string, nsp = "/", ms = 5000): Promise<string> {
    const find = () => departures.find((d) => d.id === id && d.nsp === nsp);
    const deadline = Date.now() + ms;
    for (;;) {
      const found = find();
      if (found) return found.reason;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`the server reported no disconnect of ${nsp}#${id}`);
      await within(new Promise<void>((resolve) => departureWaiters.push(resolve)), { timeout: left, what: `departure of ${id}` }).catch(
        () => {},
      );
    }
  }

  const whoami = (c: ClientSocket): Promise<WhoAmI> => ask(c, "whoami");
  const members = (c: ClientSocket, room: string): Promise<string[]> => ask(c, "members", room);

  describe("connecting", () => {
    it.each(MODES)("%s: connects, the ids match, acks and events flow", async (_name, transports, finalTransport) => {
      const c = await connected("/", { transports });
      if (c.io.engine.transport.name !== finalTransport) await once(c.io.engine, "upgrade");
      const who = await whoami(c);
      expect(who.id).toBe(c.id);
      expect(who.nsp).toBe("/");
      expect(who.transport).toBe(finalTransport);
      expect(who.recovered).toBe(false);
      expect(c.recovered).toBe(false);
      await expect(ask(c, "echo", "héllo ✓", 42, { deep: [null, true] })).resolves.toBe("héllo ✓");
      const back = onceArgs(c, "echo");
      c.emit("echo", "no ack", 1);
      // With connection state recovery on, socket.io appends the packet's offset to every
      // stored emit, and socket.io-client hands it to the listener as one more argument.
      expect(await back).toEqual(["no ack", 1, expect.stringMatching(/.+/)]);
    });

    it.each(MODES)("%s: the peer address reaches socket.handshake.address", async (_name, transports) => {
      const who = await whoami(await connected("/", { transports }));
      // A runtime that cannot tell the peer declares it: the address is then "".
      if (runtime.capabilities.remoteAddress) expect(who.address).toMatch(LOOPBACK);
      else expect(who.address).toBe("");
    });

    it("handshake.query and handshake.auth reach the server", async () => {
      const c = await connected("/", { query: { room: "lobby", n: "1" }, auth: { token: "t", user: { id: 7 } } });
      const who = await whoami(c);
      expect(who.query).toMatchObject({ room: "lobby", n: "1", EIO: "4", transport: "polling" });
      expect(who.auth).toEqual({ token: "t", user: { id: 7 } });
    });
  });

  describe("namespaces", () => {
    it("a custom namespace", async () => {
      const c = await connected("/custom", { transports: ["websocket"] });
      const who = await whoami(c);
      expect(who.nsp).toBe("/custom");
      expect(who.id).toBe(c.id);
    });

    it("dynamic namespaces matching a regular expression, created on demand", async () => {
      const red = dynamicName("red");
      const [a, b] = await Promise.all([connected(red), connected("/dyn-blue", { transports: ["websocket"] })]);
      expect((await whoami(a)).nsp).toBe(red);
      expect((await whoami(b)).nsp).toBe("/dyn-blue");
    });

    it("an unknown namespace is refused with connect_error", async () => {
      const c = client("/nowhere", { transports: ["websocket"] });
      const err = await once<Error>(c, "connect_error");
      expect(err.message).toBe("Invalid namespace");
      expect(c.connected).toBe(false);
    });

    it.each(MODES)("%s: one Manager multiplexes several namespaces over one connection", async (_n, transports) => {
      const manager = new Manager(fx.url, { transports, reconnection: false });
      cleanups.push(() => manager.engine?.close());
      const dyn = dynamicName("x");
      const sockets = ["/", "/custom", dyn].map((n) => manager.socket(n));
      await Promise.all(sockets.map((s) => once(s, "connect")));
      const who = await Promise.all(sockets.map(whoami));
      expect(who.map((w) => w.nsp)).toEqual(["/", "/custom", dyn]);
      expect(new Set(who.map((w) => w.conn)).size).toBe(1);
      expect(new Set(who.map((w) => w.id)).size).toBe(3);
      expect(who.map((w) => w.id)).toEqual(sockets.map((s) => s.id));
      // One namespace leaving leaves the others and the connection up.
      sockets[1]!.disconnect();
      expect(await serverReason(who[1]!.id, "/custom")).toBe("client namespace disconnect");
      await expect(ask(sockets[0]!, "echo", "still")).resolves.toBe("still");
      await expect(ask(sockets[2]!, "echo", "here")).resolves.toBe("here");
      for (const s of sockets) s.disconnect();
    });

    it("middleware rejection reaches the client as connect_error with message and data", async () => {
      for (const auth of [undefined, { token: "wrong" }]) {
        const c = client("/guarded", auth ? { auth } : {});
        const err = await once<Error & { data?: unknown }>(c, "connect_error");
        expect(err.message).toBe("unauthorized");
        expect(err.data).toEqual({ reason: "bad token", code: 4401 });
      }
      const ok = await connected("/guarded", { auth: { token: "secret" } });
      const who = await whoami(ok);
      expect(who.nsp).toBe("/guarded");
      expect(who.auth).toEqual({ token: "secret" });
    });

    it("a rejected namespace leaves the others of the same connection alone", async () => {
      const manager = new Manager(fx.url, { transports: ["websocket"], reconnection: false });
      cleanups.push(() => manager.engine?.close());
      const main = manager.socket("/");
      await once(main, "connect");
      const guarded = manager.socket("/guarded", { auth: { token: "nope" } });
      const err = await once<Error & { data?: unknown }>(guarded, "connect_error");
      expect(err.data).toEqual({ reason: "bad token", code: 4401 });
      await expect(ask(main, "echo", 1)).resolves.toBe(1);
      main.disconnect();
    });
  });

  describe("rooms", () => {
    it("to / except / socket.broadcast across several clients", async () => {
      const A = unique("a");
      const B = unique("b");
      const N = unique("n");
      const [a1, a2, ab, b1, none, ctl] = await Promise.all([
        connected("/", { transports: ["websocket"] }),
        connected("/", { transports: ["polling"] }),
        connected("/"),
        connected("/", { transports: ["polling"] }),
        connected("/", { transports: ["websocket"] }),
        connected("/", { transports: ["websocket"] }),
      ]);
      await Promise.all([
        ask(a1, "join", A),
        ask(a2, "join", [A]),
        ask(ab, "join", [A, B]),
        ask(b1, "join", B),
        ask(none, "join", N),
      ]);
      const all = { a1, a2, ab, b1, none };
      const inbox: Record<string, string[]> = {};
      const ended = Object.entries(all).map(([name, c]) => {
        inbox[name] = [];
        c.onAny((ev: string) => {
          if (ev !== "end") inbox[name]!.push(ev);
        });
        return once(c, "end");
      });
      const bc = (spec: object, from: ClientSocket = ctl) => ask(from, "broadcast", { from: "nsp", ...spec });
      await bc({ to: [A], event: "to-a" });
      await bc({ to: [A, B], event: "a-or-b" });
      await bc({ to: [A, B], except: [B], event: "a-not-b" });
      await bc({ to: [A, B, N], except: [A], event: "not-a" });
      await bc({ from: "socket", to: [A], event: "a1-to-a" }, a1);
      await bc({ from: "socket", to: [A], except: [B], event: "a1-to-a-not-b" }, a1);
      // Messages to one client keep their order: "end" last means everything before it arrived.
      await bc({ to: [A, B, N], event: "end" });
      await Promise.all(ended);
      expect(inbox).toEqual({
        a1: ["to-a", "a-or-b", "a-not-b"],
        a2: ["to-a", "a-or-b", "a-not-b", "a1-to-a", "a1-to-a-not-b"],
        ab: ["to-a", "a-or-b", "a1-to-a"],
        b1: ["a-or-b", "not-a"],
        none: ["not-a"],
      });
    });

    it("io.in(room).fetchSockets() follows joins, leaves and disconnects", async () => {
      const R = unique("r");
      const [x, y, z] = await Promise.all([
        connected("/", { transports: ["websocket"] }),
        connected("/", { transports: ["polling"] }),
        connected("/"),
      ]);
      await Promise.all([x, y, z].map((c) => ask(c, "join", R)));
      expect(await members(z, R)).toEqual([x.id, y.id, z.id].sort());
      await ask(y, "leave", R);
      expect(await members(z, R)).toEqual([x.id, z.id].sort());
      const xid = x.id!;
      x.disconnect();
      await serverReason(xid);
      expect(await members(z, R)).toEqual([z.id]);
      expect((await whoami(z)).rooms).toEqual([z.id, R].sort());
      expect(await members(z, unique("empty"))).toEqual([]);
    });
  });

  describe("fan-out: broadcasts by native publish where the runtime has topics", () => {
    /** Publishes expected for a broadcast that may go by topic. */
    const publish = runtime.capabilities.fanout ? 1 : 0;
    const inboxOf = (c: ClientSocket) => {
      const inbox: string[] = [];
      c.onAny((ev: string, arg: unknown) => inbox.push(ev === "seq" ? String(arg) : ev));
      return inbox;
    };
    const ws: ClientOptions = { transports: ["websocket"] };

    it("a room of WebSocket clients: exactly the members, in order with direct emits; a leaver stops receiving", async () => {
      const nsp = dynamicName("fan");
      const R = unique("r");
      const members = await Promise.all([1, 2, 3].map(() => connected(nsp, ws)));
      const outsider = await connected(nsp, ws);
      await Promise.all(members.map((m) => ask(m, "join", R)));
      const inboxes = [...members, outsider].map(inboxOf);
      expect(await ask(outsider, "interleave", R)).toEqual({ published: publish });
      await ask(members[2]!, "leave", R);
      const bc = (spec: object) => ask(outsider, "broadcast", { from: "nsp", ...spec });
      expect(await bc({ to: [R], event: "after-leave" })).toEqual({ published: publish });
      // The whole namespace: one topic too. "end" last means everything before it arrived.
      const ended = [...members, outsider].map((c) => once(c, "end"));
      expect(await bc({ event: "end" })).toEqual({ published: publish });
      await Promise.all(ended);
      const room = ["direct-1", "shared", "direct-2"];
      expect(inboxes).toEqual([
        [...room, "after-leave", "end"],
        [...room, "after-leave", "end"],
        [...room, "end"],
        ["end"],
      ]);
    });

    it("socket.to(room) and socket.broadcast leave the sender out, by publish from its WebSocket where the runtime has topics", async () => {
      const nsp = dynamicName("fanfrom");
      const R = unique("r");
      const [m1, m2, m3] = (await Promise.all([1, 2, 3].map(() => connected(nsp, ws)))) as ClientSocket[];
      const outsider = await connected(nsp, ws);
      const poller = await connected(nsp, { transports: ["polling"] });
      await Promise.all([m1, m2, m3].map((m) => ask(m!, "join", R)));
      const everyone = [m1!, m2!, m3!, outsider, poller];
      const inboxes = everyone.map(inboxOf);
      const bc = (from: ClientSocket, spec: object) => ask(from, "broadcast", { from: "socket", ...spec });
      expect(await bc(m1!, { to: [R], event: "room-but-me" })).toEqual({ published: publish });
      // The whole namespace but the sender: the polling client is a recipient, so socket by socket.
      expect(await bc(m1!, { event: "all-but-me" })).toEqual({ published: 0 });
      // A sender on polling has no WebSocket to publish from: socket by socket.
      expect(await bc(poller, { to: [R], event: "room-from-poller" })).toEqual({ published: 0 });
      // Without the polling client, socket.broadcast is one publish too.
      const pollerId = poller.id!;
      poller.disconnect();
      await serverReason(pollerId, nsp);
      expect(await bc(m1!, { event: "all-but-me-2" })).toEqual({ published: publish });
      const ended = everyone.slice(0, 4).map((c) => once(c, "end"));
      await ask(outsider, "broadcast", { from: "nsp", event: "end" });
      await Promise.all(ended);
      expect(inboxes).toEqual([
        ["room-from-poller", "end"],
        ["room-but-me", "all-but-me", "room-from-poller", "all-but-me-2", "end"],
        ["room-but-me", "all-but-me", "room-from-poller", "all-but-me-2", "end"],
        ["all-but-me", "all-but-me-2", "end"],
        ["all-but-me"],
      ]);
    });

    it("a polling member sends the broadcast socket by socket; everyone still gets it once", async () => {
      const nsp = dynamicName("fanpoll");
      const R = unique("r");
      const clients = await Promise.all([
        connected(nsp, ws),
        connected(nsp, ws),
        connected(nsp, { transports: ["polling"] }),
      ]);
      await Promise.all(clients.map((c) => ask(c, "join", R)));
      const inboxes = clients.map(inboxOf);
      expect(await ask(clients[0]!, "interleave", R)).toEqual({ published: 0 });
      const ended = clients.map((c) => once(c, "end"));
      await ask(clients[0]!, "broadcast", { from: "nsp", to: [R], event: "end" });
      await Promise.all(ended);
      for (const inbox of inboxes) expect(inbox).toEqual(["direct-1", "shared", "direct-2", "end"]);
    });

    it("rooms joined in a middleware while on polling are carried over to the upgraded WebSocket", async () => {
      const nsp = dynamicName("fanup");
      const R = unique("r");
      const upgraded = client(nsp, { transports: ["polling", "websocket"], auth: { rooms: [R] } });
      await once(upgraded, "connect");
      if (upgraded.io.engine.transport.name !== "websocket") await once(upgraded.io.engine, "upgrade");
      const other = await connected(nsp, { ...ws, auth: { rooms: [R] } });
      expect((await whoami(upgraded)).rooms).toEqual([upgraded.id, R].sort());
      const inboxes = [upgraded, other].map(inboxOf);
      expect(await ask(other, "interleave", R)).toEqual({ published: publish });
      const ended = [upgraded, other].map((c) => once(c, "end"));
      expect(await ask(other, "broadcast", { from: "nsp", to: [R], event: "end" })).toEqual({ published: publish });
      await Promise.all(ended);
      for (const inbox of inboxes) expect(inbox).toEqual(["direct-1", "shared", "direct-2", "end"]);
    });

    it("a socket that leaves one namespace of a shared connection gets none of its broadcasts", async () => {
      const nsp = dynamicName("fanmux");
      const manager = new Manager(fx.url, { forceNew: true, reconnection: false, ...ws });
      cleanups.push(() => manager.engine?.close());
      const muxed = manager.socket(nsp);
      const main = manager.socket("/");
      await Promise.all([once(muxed, "connect"), once(main, "connect")]);
      const [a, b] = await Promise.all([connected(nsp, ws), connected(nsp, ws)]);
      const seen: string[] = [];
      manager.engine.on("packet", (p: { type: string; data?: unknown }) => {
        if (p.type === "message") seen.push(String(p.data));
      });
      const muxedId = muxed.id!;
      muxed.disconnect();
      expect(await serverReason(muxedId, nsp)).toBe("client namespace disconnect");
      const ended = [a, b].map((c) => once(c, "end"));
      expect(await ask(a, "broadcast", { from: "nsp", event: "end" })).toEqual({ published: publish });
      await Promise.all(ended);
      // The connection is alive and in order: an echo on "/" comes back, and nothing of `nsp` came before it.
      await expect(ask(main, "echo", "still here")).resolves.toBe("still here");
      expect(seen.filter((d) => d.includes(`${nsp},`))).toEqual([]);
    });
  });

  describe("acknowledgements", () => {
    it("client to server, with several arguments and a client-side timeout", async () => {
      const c = await connected("/", { transports: ["websocket"] });
      const args = await new Promise<unknown[]>((resolve) => c.emit("echo", 1, "two", { three: [3] }, (...a: unknown[]) => resolve(a)));
      expect(args).toEqual([1, "two", { three: [3] }]);
      await expect(c.timeout(2000).emitWithAck("echo", "in time")).resolves.toBe("in time");
      const t0 = Date.now();
      await expect(within(c.timeout(200).emitWithAck("silent"), { timeout: 3000 })).rejects.toThrow("operation has timed out");
      expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
      // The connection is fine afterwards.
      await expect(ask(c, "echo", "after")).resolves.toBe("after");
    });

    it.each(MODES)("%s: server to client with socket.timeout().emitWithAck", async (_n, transports) => {
      const c = await connected("/", { transports });
      c.on("add", (a: number, b: number, ack: (sum: number) => void) => ack(a + b));
      c.on("ignore", () => {});
      await expect(ask(c, "ask-me", { event: "add", args: [20, 22], timeout: 3000 })).resolves.toEqual({
        ok: true,
        value: 42,
      });
      const t0 = Date.now();
      await expect(ask(c, "ask-me", { event: "ignore", timeout: 200 })).resolves.toEqual({
        ok: false,
        error: "operation has timed out",
      });
      expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
    });

    it("a room answers io.to(room).timeout().emitWithAck with one response per client", async () => {
      const R = unique("ack");
      const cs = await Promise.all([0, 1, 2].map((i) => connected("/", { transports: i === 1 ? ["polling"] : ["websocket"] })));
      cs.forEach((c, i) => c.on("who", (ack: (i: number) => void) => ack(i)));
      await Promise.all(cs.map((c) => ask(c, "join", R)));
      const res = (await ask(cs[0]!, "ask-room", { room: R, event: "who", timeout: 3000 })) as {
        ok: boolean;
        responses: number[];
      };
      expect(res.ok).toBe(true);
      expect(res.responses.sort()).toEqual([0, 1, 2]);
      // One member that never answers makes the whole broadcast time out.
      const mute = await connected("/", { transports: ["websocket"] });
      mute.on("who", () => {});
      await ask(mute, "join", R);
      const late = (await ask(cs[0]!, "ask-room", { room: R, event: "who", timeout: 300 })) as {
        ok: boolean;
        error: string;
      };
      expect(late).toMatchObject({ ok: false, error: "operation has timed out" });
    });
  });

  describe("volatile: dropped while the transport is busy with an earlier write", () => {
    const SINGLE: Array<[string, Transports]> = [
      ["polling", ["polling"]],
      ["websocket", ["websocket"]],
    ];
    type Burst = { steps: Array<"regular" | "volatile">; binary?: boolean; room?: string };

    /** Has `from` ask for a burst; resolves with the payloads each of `watchers` received before "vev-done". */
    async function burst(from: ClientSocket, spec: Burst, watchers: ClientSocket[] = [from]): Promise<unknown[][]> {
      const seen = watchers.map(() => [] as unknown[]);
      watchers.forEach((w, i) => w.on("vev", (payload: unknown) => seen[i]!.push(payload)));
      const done = Promise.all(watchers.map((w) => once(w, "vev-done")));
      await ask(from, "volatile-burst", spec);
      await done;
      for (const w of watchers) w.off("vev");
      return seen;
    }

    it.each(SINGLE)("%s: a lone volatile event is sent", async (_n, transports) => {
      const c = await connected("/", { transports });
      expect(await burst(c, { steps: ["volatile"] })).toEqual([["data"]]);
    });

    it.each(SINGLE)("%s: a volatile event right after a regular one is dropped", async (_n, transports) => {
      const c = await connected("/", { transports });
      expect(await burst(c, { steps: ["regular", "volatile"] })).toEqual([["data"]]);
    });

    it.each(SINGLE)("%s: of two consecutive volatile events only the first is sent", async (_n, transports) => {
      const c = await connected("/", { transports });
      expect(await burst(c, { steps: ["volatile", "volatile"] })).toEqual([["data"]]);
    });

    it("websocket: of two consecutive binary volatile events only the first is sent", async () => {
      const c = await connected("/", { transports: ["websocket"] });
      const [got] = await burst(c, { steps: ["volatile", "volatile"], binary: true });
      expect(got!.map(bytes)).toEqual([[1, 2, 3]]);
    });

    it.each(SINGLE)("%s: regular events after a dropped volatile one still arrive", async (_n, transports) => {
      const c = await connected("/", { transports });
      expect(await burst(c, { steps: ["regular", "volatile", "regular"] })).toEqual([["data", "data"]]);
    });

    it("websocket: a room broadcast of two consecutive binary volatile events reaches each member once", async () => {
      const R = unique("volatile");
      const cs = await Promise.all([0, 1].map(() => connected("/", { transports: ["websocket"] })));
      await Promise.all(cs.map((c) => ask(c, "join", R)));
      const seen = await burst(cs[0]!, { steps: ["volatile", "volatile"], binary: true, room: R }, cs);
      expect(seen.map((got) => got.map(bytes))).toEqual([[[1, 2, 3]], [[1, 2, 3]]]);
    });

    it("a room broadcast: a volatile event after a regular one is dropped for every member, polling or websocket", async () => {
      const R = unique("volatile");
      const cs = await Promise.all([["polling"], ["websocket"], ["websocket"]].map((t) => connected("/", { transports: t as Transports })));
      await Promise.all(cs.map((c) => ask(c, "join", R)));
      const seen = await burst(cs[0]!, { steps: ["regular", "volatile"], room: R }, cs);
      expect(seen).toEqual([["data"], ["data"], ["data"]]);
    });
  });

  describe("binary", () => {
    it.each(MODES)("%s: nested binary both ways, in events and in acks", async (_n, transports) => {
      const c = await connected("/", { transports });
      if (c.io.engine.transport.name !== transports[transports.length - 1]) await once(c.io.engine, "upgrade");
      // client -> server -> ack
      const sent = {
        buf: Buffer.from([1, 2, 3]),
        nested: [new Uint8Array([4, 5]), { ab: new Uint8Array([6, 7, 8]).buffer, text: "t" }],
      };
      const [echoed, second] = await new Promise<unknown[]>((resolve) =>
        c.emit("echo", sent, new Uint8Array([0, 255]), (...a: unknown[]) => resolve(a)),
      );
      const e = echoed as { buf: ArrayBuffer; nested: [ArrayBuffer, { ab: ArrayBuffer; text: string }] };
      expect(bytes(e.buf)).toEqual([1, 2, 3]);
      expect(bytes(e.nested[0])).toEqual([4, 5]);
      expect(bytes(e.nested[1].ab)).toEqual([6, 7, 8]);
      expect(e.nested[1].text).toBe("t");
      expect(bytes(second)).toEqual([0, 255]);
      // server-made binary, as an event and as an ack
      const event = onceArgs(c, "binary");
      const acked = (await ask(c, "binary-please")) as { flat: ArrayBuffer; nested: { deeper: unknown[] } };
      const [payload, extra] = (await event) as [typeof acked, ArrayBuffer];
      for (const p of [payload, acked]) {
        expect(bytes(p.flat)).toEqual([1, 2, 3]);
        expect(bytes(p.nested.deeper[0])).toEqual([4]);
        expect(p.nested.deeper[1]).toBe("text");
        expect(bytes(p.nested.deeper[2])).toEqual([5, 6]);
      }
      expect(bytes(extra)).toEqual([255, 0]);
      // a large binary payload
      const big = new Uint8Array(200_000).map((_, i) => i % 251);
      const bigBack = new Uint8Array((await c.timeout(5000).emitWithAck("echo", big)) as ArrayBuffer);
      expect(bigBack.byteLength).toBe(big.byteLength);
      expect(Buffer.compare(bigBack, big)).toBe(0);
    });
  });

  describe("disconnection reasons", () => {
    it.each(MODES)("%s: client disconnect()", async (_n, transports) => {
      const c = await connected("/", { transports });
      const id = c.id!;
      const reason = once<string>(c, "disconnect");
      c.disconnect();
      expect(await reason).toBe("io client disconnect");
      expect(await serverReason(id)).toBe("client namespace disconnect");
    });

    it.each(MODES)("%s: server socket.disconnect()", async (_n, transports) => {
      const c = await connected("/", { transports });
      const id = c.id!;
      const reason = once<string>(c, "disconnect");
      c.emit("disconnect-me");
      expect(await reason).toBe("io server disconnect");
      expect(await serverReason(id)).toBe("server namespace disconnect");
    });

    it("server socket.disconnect(true) closes every namespace of the connection", async () => {
      const manager = new Manager(fx.url, { transports: ["websocket"], reconnection: false });
      cleanups.push(() => manager.engine?.close());
      const main = manager.socket("/");
      const custom = manager.socket("/custom");
      await Promise.all([once(main, "connect"), once(custom, "connect")]);
      const [mainId, customId] = [main.id!, custom.id!];
      const reasons = Promise.all([once<string>(main, "disconnect"), once<string>(custom, "disconnect")]);
      const managerClosed = once<string>(manager, "close");
      custom.emit("disconnect-me", true);
      expect(await reasons).toEqual(["io server disconnect", "io server disconnect"]);
      expect(await serverReason(mainId)).toBe("server namespace disconnect");
      expect(await serverReason(customId, "/custom")).toBe("server namespace disconnect");
      await managerClosed;
    });

    it.each(MODES)("%s: the client's transport drops", async (_n, transports) => {
      const c = await connected("/", { transports });
      const id = c.id!;
      const reason = once<string>(c, "disconnect");
      c.io.engine.close();
      expect(await reason).toBe("forced close");
      expect(await serverReason(id)).toBe("transport close");
    });

    it.each(MODES)("%s: the server closes the transport", async (_n, transports) => {
      const c = await connected("/", { transports });
      if (c.io.engine.transport.name !== transports[transports.length - 1]) await once(c.io.engine, "upgrade");
      const id = c.id!;
      const reason = once<string>(c, "disconnect");
      c.emit("close-transport");
      expect(await reason).toBe("transport close");
      expect(await serverReason(id)).toBe("forced close");
    });

    it("a client that stops answering pings is dropped with ping timeout", async () => {
      const raw = new RawWs(`ws://127.0.0.1:${fx.port}/socket.io/?EIO=4&transport=websocket`, { answerPings: false });
      cleanups.push(() => raw.close());
      await raw.opened;
      await raw.next(); // open packet
      raw.send("40");
      const id = JSON.parse(String(await raw.next()).slice(2)).sid as string;
      const budget = IO_PING_INTERVAL + IO_PING_TIMEOUT + 3000;
      expect(await serverReason(id, "/", budget)).toBe("ping timeout");
      await within(raw.closed, { timeout: 2000, what: "close" });
    });
  });

  it("50 concurrent clients with acks both ways", async () => {
    const R = unique("crowd");
    const cs = await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        const c = await connected("/", { transports: i % 2 ? ["websocket"] : ["polling"] });
        c.on("who", (ack: (i: number) => void) => ack(i));
        await ask(c, "join", R);
        return c;
      }),
    );
    const sums = await Promise.all(cs.map((c, i) => c.timeout(5000).emitWithAck("echo", i)));
    expect(sums).toEqual(cs.map((_, i) => i));
    const res = (await ask(cs[0]!, "ask-room", { room: R, event: "who", timeout: 5000 })) as {
      ok: boolean;
      responses: number[];
    };
    expect(res.ok).toBe(true);
    expect(res.responses.sort((a, b) => a - b)).toEqual(cs.map((_, i) => i));
    expect((await members(cs[1]!, R)).length).toBe(50);
  });

  describe("connection state recovery", () => {
    it.each(MODES)("%s: after a dropped transport, id, rooms and data are kept and missed events replayed", async (_n, transports) => {
      const R = unique("news");
      const ctl = await connected("/", { transports: ["websocket"] });
      const c = await connected("/", { transports });
      if (c.io.engine.transport.name !== transports[transports.length - 1]) await once(c.io.engine, "upgrade");
      const first = await whoami(c);
      expect(first.recovered).toBe(false);
      await ask(c, "join", R);
      await ask(c, "set-data", { since: "first" });
      const got: string[] = [];
      c.on("news", (text: string) => got.push(text));
      const before = once(c, "news");
      await ask(ctl, "broadcast", { from: "nsp", to: [R], event: "news", args: ["before"] });
      await before;

      // The transport drops without a DISCONNECT; the server keeps the session.
      const id = c.id!;
      c.io.engine.close();
      expect(await serverReason(id)).toBe("transport close");
      await ask(ctl, "broadcast", { from: "nsp", to: [R], event: "news", args: ["away-1"] });
      await ask(ctl, "broadcast", { from: "nsp", to: [R], event: "news", args: ["away-2"] });
      expect(await members(ctl, R)).toEqual([]);

      // Reconnecting (what the Manager does by itself with `reconnection`) restores it.
      c.connect();
      await once(c, "connect");
      expect(c.recovered).toBe(true);
      expect(c.id).toBe(id);
      const again = await whoami(c);
      expect(again.recovered).toBe(true);
      expect(again.id).toBe(id);
      expect(again.rooms).toEqual([id, R].sort());
      expect(again.data).toEqual({ since: "first" });
      expect(await members(ctl, R)).toEqual([id]);
      // Replayed events arrive before anything sent after the reconnection.
      const after = once(c, "news");
      await ask(ctl, "broadcast", { from: "nsp", to: [R], event: "news", args: ["after"] });
      await after;
      expect(got).toEqual(["before", "away-1", "away-2", "after"]);
    });

    it("the Manager's own reconnection recovers the session", async () => {
      const R = unique("auto");
      const ctl = await connected("/", { transports: ["websocket"] });
      const c = await connected("/", {
        transports: ["websocket"],
        reconnection: true,
        reconnectionDelay: 50,
        reconnectionDelayMax: 50,
      });
      await ask(c, "join", R);
      // The client needs an offset (one event received) to ask for recovery, as with socket.io.
      const hello = once(c, "hello");
      await ask(ctl, "broadcast", { from: "nsp", to: [R], event: "hello" });
      await hello;
      const id = c.id!;
      const reconnected = once(c, "connect");
      c.io.engine.close();
      await reconnected;
      expect(c.recovered).toBe(true);
      expect(c.id).toBe(id);
      expect(await members(ctl, R)).toEqual([id]);
      c.io.reconnection(false);
    });

    it("a deliberate client disconnect discards the session", async () => {
      const R = unique("gone");
      const ctl = await connected("/", { transports: ["websocket"] });
      const c = await connected("/", { transports: ["websocket"] });
      await ask(c, "join", R);
      const id = c.id!;
      c.disconnect();
      expect(await serverReason(id)).toBe("client namespace disconnect");
      c.connect();
      await once(c, "connect");
      expect(c.recovered).toBe(false);
      expect(c.id).not.toBe(id);
      expect((await whoami(c)).recovered).toBe(false);
      expect(await members(ctl, R)).toEqual([]);
    });
  });

  describe("wire", () => {
    async function rawSession(): Promise<{ raw: RawWs; open: Record<string, unknown> }> {
      const raw = new RawWs(`ws://127.0.0.1:${fx.port}/socket.io/?EIO=4&transport=websocket`);
      cleanups.push(() => raw.close());
      await raw.opened;
      const first = String(await raw.next());
      expect(first[0]).toBe("0");
      return { raw, open: JSON.parse(first.slice(1)) };
    }

    it("the Engine.IO open packet carries the server's settings", async () => {
      const { open } = await rawSession();
      expect(open).toEqual({
        // The sid is opaque: its length is not part of the protocol (Workers encodes its object in it).
        sid: expect.stringMatching(/^[\w-]+$/),
        upgrades: [],
        pingInterval: IO_PING_INTERVAL,
        pingTimeout: IO_PING_TIMEOUT,
        maxPayload: 1_000_000,
      });
    });

    it("CONNECT replies with sid and pid, in the main and a custom namespace", async () => {
      const { raw } = await rawSession();
      raw.send("40");
      const reply = String(await raw.next());
      const m = /^40\{"sid":"([\w-]+)","pid":"([\w-]+)"\}$/.exec(reply);
      expect(m, reply).not.toBeNull();
      raw.send('421["whoami"]');
      const who = String(await raw.next());
      expect(who.startsWith("431[")).toBe(true);
      expect(JSON.parse(who.slice(3))[0].id).toBe(m![1]);
      raw.send('40/custom,{"token":"t"}');
      expect(String(await raw.next())).toMatch(/^40\/custom,\{"sid":"[\w-]+","pid":"[\w-]+"\}$/);
      raw.send('42/custom,7["whoami"]');
      const whoCustom = String(await raw.next());
      expect(whoCustom.startsWith("43/custom,7[")).toBe(true);
      expect(JSON.parse(whoCustom.slice("43/custom,7".length))[0]).toMatchObject({ nsp: "/custom", auth: { token: "t" } });
    });

    it("CONNECT_ERROR frames: unknown namespace, middleware rejection with data; the connection stays usable", async () => {
      const { raw } = await rawSession();
      raw.send("40/nope,");
      expect(await raw.next()).toBe('44/nope,{"message":"Invalid namespace"}');
      raw.send("40/guarded,");
      expect(await raw.next()).toBe('44/guarded,{"message":"unauthorized","data":{"reason":"bad token","code":4401}}');
      raw.send('40/guarded,{"token":"secret"}');
      expect(String(await raw.next())).toMatch(/^40\/guarded,\{"sid":"[\w-]+","pid":"[\w-]+"\}$/);
      raw.send("40");
      expect(String(await raw.next())).toMatch(/^40\{"sid":"[\w-]+","pid":"[\w-]+"\}$/);
    });

    it("EVENT with an ack id, BINARY_EVENT with attachments, and their acks", async () => {
      const { raw } = await rawSession();
      raw.send("40");
      await raw.next();
      raw.send('4212["echo","x",{"y":[1]}]');
      expect(await raw.next()).toBe('4312["x",{"y":[1]}]');
      raw.send('451-3["echo",{"_placeholder":true,"num":0}]');
      raw.send(new Uint8Array([9, 8, 7]));
      expect(await raw.next()).toBe('461-3[{"_placeholder":true,"num":0}]');
      expect(bytes(await raw.next())).toEqual([9, 8, 7]);
    });

    it.each([
      ["invalid JSON", '42["unterminated'],
      ["an unknown packet type", "49"],
      ["a reserved event name", '42["disconnect"]'],
      ["an unexpected binary frame", new Uint8Array([1, 2])],
      ["a packet for a namespace not joined", '42/custom,["echo"]'],
    ])("%s closes that connection only", async (_name, frame) => {
      const bystander = await connected("/", { transports: ["websocket"] });
      const { raw } = await rawSession();
      raw.send("40");
      const id = JSON.parse(String(await raw.next()).slice(2)).sid as string;
      raw.send(frame);
      await within(raw.closed, { timeout: 3000, what: "the connection to close" });
      expect(["forced close", "forced server close", "parse error"]).toContain(await serverReason(id));
      await expect(ask(bystander, "echo", "unharmed")).resolves.toBe("unharmed");
      expect(bystander.connected).toBe(true);
    });

    it("long-polling with fetch: handshake, CONNECT, EVENT with ack", async () => {
      const base = `${fx.url}/socket.io/?EIO=4&transport=polling`;
      const hs = await fetch(base);
      expect(hs.status).toBe(200);
      const open = JSON.parse((await hs.text()).slice(1));
      expect(open).toMatchObject({ upgrades: ["websocket"], pingInterval: IO_PING_INTERVAL, pingTimeout: IO_PING_TIMEOUT });
      const url = `${base}&sid=${open.sid}`;
      const post = async (body: string) => {
        const res = await fetch(url, { method: "POST", body, headers: { "content-type": "text/plain;charset=UTF-8" } });
        expect(res.status).toBe(200);
        expect(await res.text()).toBe("ok");
      };
      const poll = async () => {
        const res = await fetch(url);
        expect(res.status).toBe(200);
        return res.text();
      };
      await post("40");
      expect(await poll()).toMatch(/^40\{"sid":"[\w-]+","pid":"[\w-]+"\}$/);
      // Two packets in one payload, separated by the record separator.
      await post('421["echo","a"]\x1e422["echo","b"]');
      let got = "";
      for (let i = 0; i < 10 && !got.includes('432["b"]'); i++) got += (await poll()) + "\x1e";
      expect(got).toContain('431["a"]');
      await post("1");
    });

    it("an event in the same polling payload as a later DISCONNECT of its namespace is dropped", async () => {
      const base = `${fx.url}/socket.io/?EIO=4&transport=polling`;
      const open = JSON.parse((await (await fetch(base)).text()).slice(1));
      const url = `${base}&sid=${open.sid}`;
      const post = async (body: string) => {
        const res = await fetch(url, { method: "POST", body, headers: { "content-type": "text/plain;charset=UTF-8" } });
        expect(await res.text()).toBe("ok");
      };
      await post("40");
      const id = JSON.parse((await (await fetch(url)).text()).slice(2)).sid as string;
      const [kept, dropped] = [unique("kept"), unique("dropped")];
      // The same event alone in its payload reaches the listener.
      await post(`42["note","${kept}"]`);
      await waitFor(() => notes.includes(kept), { what: `the note ${kept}` });
      expect(notes).toContain(kept);
      await post(`42["note","${dropped}"]\x1e41`);
      // The observer hears of the departure after any note sent before it.
      expect(await serverReason(id)).toBe("client namespace disconnect");
      expect(notes).not.toContain(dropped);
      await post("1");
    });

    it("socket.io-client on polling: a binary event emitted right before disconnect() is dropped", async () => {
      const c = await connected("/", { transports: ["polling"] });
      const id = c.id!;
      const note = unique("binary-then-disconnect");
      // The header goes in one POST; the attachment follows with the DISCONNECT in the next.
      c.emit("note", note, new Uint8Array(10));
      c.disconnect();
      expect(await serverReason(id)).toBe("client namespace disconnect");
      expect(notes).not.toContain(note);
    });

    it("client bundle encodings and the source map's content type", async () => {
      const plain = await fetch(`${fx.url}/socket.io/socket.io.min.js`);
      const text = await plain.text();
      const accepted = await fetch(`${fx.url}/socket.io/socket.io.min.js`, { headers: { "accept-encoding": "br" } });
      // (Workers, whose loader has no Brotli, has the runtime compress the response itself.)
      expect(accepted.headers.get("content-encoding")).toBe("br");
      // fetch decodes it: the same text.
      expect(await accepted.text()).toBe(text);
      const gzip = await fetch(`${fx.url}/socket.io/socket.io.min.js`, { headers: { "accept-encoding": "gzip" } });
      expect(gzip.headers.get("content-encoding")).toBe("gzip");
      expect(await gzip.text()).toBe(text);
      const map = await fetch(`${fx.url}/socket.io/socket.io.min.js.map`);
      expect(map.status).toBe(200);
      expect(map.headers.get("content-type")).toBe("application/json; charset=utf-8");
      expect(JSON.parse(await map.text())).toHaveProperty("mappings");
    });

    it("the client bundle is served at /socket.io/socket.io.js with an ETag", async () => {
      const res = await fetch(`${fx.url}/socket.io/socket.io.js`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toMatch(/javascript/);
      const etag = res.headers.get("etag");
      expect(etag).toMatch(/^"[^"]+"$/);
      const text = await res.text();
      expect(text.length).toBeGreaterThan(10_000);
      expect(text).toContain("Socket.IO");
      const again = await fetch(`${fx.url}/socket.io/socket.io.js`, { headers: { "if-none-match": etag! } });
      expect(again.status).toBe(304);
      const min = await fetch(`${fx.url}/socket.io/socket.io.min.js`);
      expect(min.status).toBe(200);
      await min.arrayBuffer();
    });
  });
});

/** A raw `ws` client with a frame queue; answers heartbeats unless told not to. */
class RawWs {
  readonly ws: WebSocket;
  readonly opened: Promise<void>;
  readonly closed: Promise<number>;
  #queue: Array<string | Uint8Array> = [];
  #waiters: Array<(f: string | Uint8Array) => void> = [];

  constructor(url: string, { answerPings = true } = {}) {
    this.ws = new WebSocket(url);
    this.ws.on("message", (data: Buffer, isBinary: boolean) => {
      const frame = isBinary ? new Uint8Array(data) : data.toString();
      if (frame === "2") {
        if (answerPings) this.ws.send("3");
        return;
      }
      const w = this.#waiters.shift();
      if (w) w(frame);
      else this.#queue.push(frame);
    });
    this.opened = once(this.ws, "open", { failOn: "error", what: "the WebSocket to open" });
    this.opened.catch(() => {});
    this.closed = new Promise((resolve) => this.ws.once("close", (code: number) => resolve(code)));
  }

  next(ms = 3000): Promise<string | Uint8Array> {
    const f = this.#queue.shift();
    if (f !== undefined) return Promise.resolve(f);
    return within(new Promise((resolve) => this.#waiters.push(resolve)), { timeout: ms, what: "a frame" });
  }

  send(frame: string | Uint8Array): void {
    this.ws.send(frame);
  }

  close(): void {
    this.ws.terminate();
  }
}
