/**
 * The socket layer end to end: the real Engine behind the Node shim on a
 * real port, driven by the official socket.io-client.
 */
import { afterEach, describe, expect, it } from "vitest";
import { io as ioc, type ManagerOptions, type Socket as ClientSocket, type SocketOptions } from "socket.io-client";
import * as msgpackParser from "socket.io-msgpack-parser";
import { Server, type ServerOptions } from "../../src/index.ts";
import type { Socket } from "../../src/socket/socket.ts";
import { type Running, startNode } from "../helpers/node.ts";
import { type Emitterish, once, waitFor } from "../helpers/wait.ts";

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function start(opts: Partial<ServerOptions> = {}): Promise<{ io: Server; run: Running }> {
  const io = new Server(opts);
  const run = await startNode(io);
  cleanups.push(() => run.close());
  return { io, run };
}

function client(
  run: Running,
  nsp = "/",
  opts: Partial<ManagerOptions & SocketOptions> = {},
): ClientSocket {
  const socket = ioc(run.url + nsp, { forceNew: true, reconnection: false, ...opts });
  cleanups.push(() => socket.disconnect());
  return socket;
}

const nextConnection = (nsp: Emitterish) => once<Socket>(nsp, "connection");

describe.each([
  ["polling", { transports: ["polling"] as string[] }],
  ["websocket", { transports: ["websocket"] as string[] }],
  ["polling + upgrade", {}],
])("transport: %s", (name, clientOpts) => {
  it("connects, exchanges events and acks both ways", async () => {
    const { io, run } = await start();
    const connected = nextConnection(io);
    const c = client(run, "/", clientOpts);
    await once(c, "connect");
    const s = await connected;
    expect(c.id).toBe(s.id);
    s.on("ask", (q: string, ack: (a: string) => void) => ack(`answer:${q}`));
    await expect(c.emitWithAck("ask", "x")).resolves.toBe("answer:x");
    c.on("server-ask", (n: number, ack: (v: number) => void) => ack(n + 1));
    await expect(s.timeout(2000).emitWithAck("server-ask", 41)).resolves.toBe(42);
    if (name === "polling + upgrade") {
      if (c.io.engine.transport.name !== "websocket") await once(c.io.engine, "upgrade");
      expect(s.conn.transport.name).toBe("websocket");
      await expect(c.emitWithAck("ask", "after-upgrade")).resolves.toBe("answer:after-upgrade");
    } else {
      expect(s.conn.transport.name).toBe((clientOpts as { transports: string[] }).transports[0]);
    }
  });

  it("carries binary both ways", async () => {
    const { io, run } = await start();
    const connected = nextConnection(io);
    const c = client(run, "/", clientOpts);
    const s = await connected;
    const fromClient = new Promise<unknown[]>((resolve) => s.on("bin", (...args: unknown[]) => resolve(args)));
    c.emit("bin", Buffer.from([1, 2, 3]), { nested: new Uint8Array([4, 5]) }, "text");
    const args = await fromClient;
    expect(new Uint8Array(args[0] as Uint8Array)).toEqual(new Uint8Array([1, 2, 3]));
    expect(new Uint8Array((args[1] as { nested: Uint8Array }).nested)).toEqual(new Uint8Array([4, 5]));
    expect(args[2]).toBe("text");
    const toClient = new Promise<unknown[]>((resolve) => c.on("bin-back", (...a: unknown[]) => resolve(a)));
    s.emit("bin-back", new Uint8Array([9, 8, 7]), [new Uint8Array([6]).buffer]);
    const back = await toClient;
    expect(new Uint8Array(back[0] as ArrayBuffer)).toEqual(new Uint8Array([9, 8, 7]));
    expect(new Uint8Array((back[1] as ArrayBuffer[])[0]!)).toEqual(new Uint8Array([6]));
    // binary in acks, both ways
    s.on("bin-ack", (ack: (b: Uint8Array) => void) => ack(new Uint8Array([1])));
    const reply = await c.emitWithAck("bin-ack");
    expect(new Uint8Array(reply)).toEqual(new Uint8Array([1]));
  });
});

describe("namespaces", () => {
  it("custom and dynamic namespaces, multiplexed over one connection", async () => {
    const { io, run } = await start();
    const names: string[] = [];
    io.of("/chat").on("connection", (s) => names.push(s.nsp.name));
    io.of(/^\/team-\w+$/).on("connection", (s) => names.push(s.nsp.name));
    const main = client(run, "/");
    await once(main, "connect");
    // Manager.socket() connects by itself (autoConnect); calling connect() too would send a
    // second CONNECT, which closes the connection if the first one already completed.
    const chat = main.io.socket("/chat");
    const team = main.io.socket("/team-red");
    cleanups.push(() => chat.disconnect(), () => team.disconnect());
    await Promise.all([once(chat, "connect"), once(team, "connect")]);
    expect(names.sort()).toEqual(["/chat", "/team-red"]);
    expect(io.engine.clientsCount).toBe(1);
    const lost = client(run, "/nowhere");
    const err = await once<Error>(lost, "connect_error");
    expect(err.message).toBe("Invalid namespace");
  });

  it("auth reaches the middleware; a rejection carries message and data", async () => {
    const { io, run } = await start();
    io.use((socket, next) => {
      if (socket.handshake.auth.token === "good") return next();
      next(Object.assign(new Error("unauthorized"), { data: { reason: "bad token" } }));
    });
    const bad = client(run, "/", { auth: { token: "bad" } });
    const err = await once<Error & { data?: unknown }>(bad, "connect_error");
    expect(err.message).toBe("unauthorized");
    expect(err.data).toEqual({ reason: "bad token" });
    const good = client(run, "/", { auth: { token: "good" }, query: { room: "lobby" } });
    const connected = nextConnection(io);
    await once(good, "connect");
    const s = await connected;
    expect(s.handshake.query.room).toBe("lobby");
    expect(s.handshake.auth).toEqual({ token: "good" });
  });
});

describe("rooms and broadcasts", () => {
  it("to/in/except across several clients", async () => {
    const { io, run } = await start();
    io.on("connection", (s) => {
      const room = s.handshake.query.room;
      if (room) s.join(room);
    });
    const mk = async (room?: string) => {
      const c = client(run, "/", room ? { query: { room } } : {});
      await once(c, "connect");
      return c;
    };
    const [a1, a2, b1, none] = await Promise.all([mk("a"), mk("a"), mk("b"), mk()]);
    const rooms = io.of("/").adapter.rooms;
    await waitFor(() => rooms.get("a")?.size === 2 && rooms.get("b")?.size === 1, { what: "rooms a (2) and b (1) joined" });
    const inbox = new Map<ClientSocket, string[]>();
    for (const c of [a1, a2, b1, none]) {
      const list: string[] = [];
      inbox.set(c, list);
      c.onAny((ev: string) => list.push(ev));
    }
    io.to("a").emit("to-a");
    io.in(["a", "b"]).except("b").emit("a-not-b");
    io.except("a").emit("not-a");
    io.emit("all");
    // A last broadcast to everyone: once it arrived, every earlier one would have.
    const markers = Promise.all([a1, a2, b1, none].map((c) => once(c, "marker")));
    io.emit("marker");
    await markers;
    expect(inbox.get(a1)).toEqual(["to-a", "a-not-b", "all", "marker"]);
    expect(inbox.get(a2)).toEqual(["to-a", "a-not-b", "all", "marker"]);
    expect(inbox.get(b1)).toEqual(["not-a", "all", "marker"]);
    expect(inbox.get(none)).toEqual(["not-a", "all", "marker"]);
  });

  it("100 concurrent clients with acks in both directions", async () => {
    const { io, run } = await start();
    io.on("connection", (s) => s.on("inc", (n: number, ack: (v: number) => void) => ack(n + 1)));
    const clients = await Promise.all(
      Array.from({ length: 100 }, async (_, i) => {
        const c = client(run, "/", { transports: i % 2 ? ["websocket"] : ["polling"] });
        c.on("who", (ack: (i: number) => void) => ack(i));
        await once(c, "connect");
        return c;
      }),
    );
    const sums = await Promise.all(clients.map((c, i) => c.timeout(5000).emitWithAck("inc", i)));
    expect(sums).toEqual(clients.map((_, i) => i + 1));
    const answers = (await io.timeout(5000).emitWithAck("who")) as number[];
    expect(answers.sort((x, y) => x - y)).toEqual(clients.map((_, i) => i));
  });

  it("ack timeouts both ways", async () => {
    const { io, run } = await start();
    const connected = nextConnection(io);
    const c = client(run);
    const s = await connected;
    c.on("silent", () => {});
    await expect(s.timeout(100).emitWithAck("silent")).rejects.toThrow("operation has timed out");
    s.on("silent", () => {});
    await expect(c.timeout(100).emitWithAck("silent")).rejects.toThrow();
    const err = await io.timeout(100).emitWithAck("silent").catch((e) => e);
    expect(err.message).toBe("operation has timed out");
    expect(err.responses).toEqual([]);
  });
});

describe("disconnection", () => {
  it("reports the reference reasons on both sides", async () => {
    const { io, run } = await start();
    const reasons: string[] = [];
    io.on("connection", (s) => s.on("disconnect", (r) => reasons.push(r)));

    const c1 = client(run);
    await once(c1, "connect");
    c1.disconnect();
    await waitFor(() => reasons.length === 1, { what: "the server-side disconnect of c1" });
    expect(reasons).toEqual(["client namespace disconnect"]);

    const connected = nextConnection(io);
    const c2 = client(run);
    const s2 = await connected;
    const clientReason = once<string>(c2, "disconnect");
    s2.disconnect();
    expect(await clientReason).toBe("io server disconnect");
    expect(reasons[1]).toBe("server namespace disconnect");

    const c3 = client(run, "/", { transports: ["websocket"] });
    await once(c3, "connect");
    c3.io.engine.close();
    await waitFor(() => reasons.length === 3, { what: "the server-side disconnect of c3" });
    expect(reasons[2]).toBe("transport close");

    const c4 = client(run, "/", { transports: ["websocket"] });
    await once(c4, "connect");
    const c4Reason = once<string>(c4, "disconnect");
    await io.close();
    expect(reasons[3]).toBe("server shutting down");
    expect(await c4Reason).toBe("transport close");
  });
});

describe("connection state recovery", () => {
  it("recovers id, rooms, data and missed events after a dropped transport", async () => {
    const { io, run } = await start({ connectionStateRecovery: {} });
    io.on("connection", (s) => {
      if (!s.recovered) {
        s.join("news");
        s.data = { since: "first" };
      }
    });
    const connected = nextConnection(io);
    const c = client(run, "/", {
      transports: ["websocket"],
      reconnection: true,
      reconnectionDelay: 20,
      reconnectionDelayMax: 20,
    });
    const s1 = await connected;
    expect(c.recovered).toBe(false);
    const got: string[] = [];
    c.on("news", (text: string) => got.push(text));
    const before = once(c, "news");
    io.to("news").emit("news", "before");
    await before;
    const disconnected = once(s1, "disconnect");
    c.io.engine.close(); // the transport drops; the client reconnects
    await disconnected;
    io.to("news").emit("news", "while-away-1");
    io.emit("news", "while-away-2");
    const reconnected = nextConnection(io);
    const s2 = await reconnected;
    await once(c, "connect");
    // The missed packets are replayed first: once a later packet arrived, they all have.
    const marker = once(c, "marker");
    s2.emit("marker");
    await marker;
    expect(s2.recovered).toBe(true);
    expect(c.recovered).toBe(true);
    expect(s2.id).toBe(s1.id);
    expect(c.id).toBe(s1.id);
    expect(s2.rooms).toEqual(new Set([s1.id, "news"]));
    expect(s2.data).toEqual({ since: "first" });
    expect(got).toEqual(["before", "while-away-1", "while-away-2"]);
  });
});

describe("custom parser", () => {
  it("msgpack client against a msgpack server", async () => {
    const { io, run } = await start({ parser: msgpackParser });
    io.on("connection", (s) => {
      s.on("echo", (v: unknown, ack: (v: unknown) => void) => ack(v));
      s.emit("hello", { n: 1, b: new Uint8Array([1, 2]) });
    });
    for (const transports of [["websocket"]]) {
      const c = client(run, "/", { parser: msgpackParser, transports });
      const hello = once<{ n: number; b: Uint8Array }>(c, "hello");
      await once(c, "connect");
      const msg = await hello;
      expect(msg.n).toBe(1);
      expect(new Uint8Array(msg.b)).toEqual(new Uint8Array([1, 2]));
      await expect(c.emitWithAck("echo", { deep: [1, "two"] })).resolves.toEqual({ deep: [1, "two"] });
    }
  });

  // Known gap (engine, not socket layer): over polling the engine hands binary
  // messages to the socket layer as plain Uint8Array, while notepack.io (inside
  // socket.io-msgpack-parser) on Node needs a Buffer, so the CONNECT fails to
  // decode. Flip to a plain `it` once the Node shim/engine delivers Buffers.
  it("msgpack over polling", async () => {
    const { run } = await start({ parser: msgpackParser });
    const c = client(run, "/", { parser: msgpackParser, transports: ["polling"] });
    await once(c, "connect", { failOn: "connect_error", what: "connect over polling" });
  });
});
