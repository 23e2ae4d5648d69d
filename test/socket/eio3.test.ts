/**
 * socket.io-client 2.x (Engine.IO v3, Socket.IO protocol v4) against a unio
 * Server with `allowEIO3`, end to end on the Node shim: what an app written
 * for socket.io 2 sees, beside socket.io-client 4 on the same server.
 */
import { createRequire } from "node:module";
import { io as ioc, type Socket as V4Socket } from "socket.io-client";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { Server, type ServerOptions } from "../../src/index.ts";
import { FakeClock } from "../../src/testing.ts";
import type { Socket } from "../../src/socket/socket.ts";
import { type Running, startNode } from "../helpers/node.ts";
import { type Emitterish, once, waitFor } from "../helpers/wait.ts";

// socket.io-client 2 is CommonJS and has no types: this is the surface the tests use.
interface V2Socket {
  id: string;
  connected: boolean;
  io: { engine: { id: string; transport: { name: string }; once(ev: string, fn: (...a: any[]) => void): void } };
  on(ev: string, fn: (...a: any[]) => void): V2Socket;
  once(ev: string, fn: (...a: any[]) => void): V2Socket;
  emit(ev: string, ...args: unknown[]): V2Socket;
  close(): V2Socket;
}
const ioV2 = createRequire(import.meta.url)("socket.io-client-v2") as (url: string, opts: Record<string, unknown>) => V2Socket;

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function start(opts: Partial<ServerOptions> = {}): Promise<{ io: Server; run: Running }> {
  const io = new Server({ allowEIO3: true, ...opts });
  const run = await startNode(io);
  cleanups.push(() => run.close());
  return { io, run };
}

function v2(run: Running, nsp = "/", opts: Record<string, unknown> = {}): V2Socket {
  const socket = ioV2(run.url + nsp, { forceNew: true, reconnection: false, ...opts });
  cleanups.push(() => socket.close());
  return socket;
}

function v4(run: Running, nsp = "/", opts: Record<string, unknown> = {}): V4Socket {
  const socket = ioc(run.url + nsp, { forceNew: true, reconnection: false, ...opts });
  cleanups.push(() => socket.disconnect());
  return socket;
}

const nextConnection = (nsp: Emitterish) => once<Socket>(nsp, "connection");

const withAck = <T>(socket: V2Socket, ev: string, ...args: unknown[]) =>
  new Promise<T>((resolve) => socket.emit(ev, ...args, (res: T) => resolve(res)));

describe.each([
  ["polling", ["polling"], "polling"],
  ["websocket", ["websocket"], "websocket"],
  ["polling upgraded to websocket", ["polling", "websocket"], "websocket"],
] as const)("socket.io-client 2 over %s", (_, transports, finalTransport) => {
  it("is connected to / at once, with the Engine.IO id as its socket id, and exchanges events and acks both ways", async () => {
    const { io, run } = await start();
    const connected = nextConnection(io);
    const c = v2(run, "/", { transports });
    await once(c, "connect");
    const s = await connected;
    expect(s.conn.protocol).toBe(3);
    expect(s.id).toBe(c.id);
    expect(s.id).toBe(s.conn.id);
    s.on("ask", (q: string, ack: (a: string) => void) => ack(`answer:${q}`));
    await expect(withAck(c, "ask", "x")).resolves.toBe("answer:x");
    c.on("server-ask", (n: number, ack: (v: number) => void) => ack(n + 1));
    await expect(s.timeout(2000).emitWithAck("server-ask", 41)).resolves.toBe(42);
    if (finalTransport === "websocket" && s.conn.transport.name !== "websocket") await once(s.conn, "upgrade");
    expect(s.conn.transport.name).toBe(finalTransport);
  });

  it("carries binary both ways, nested and in acks", async () => {
    const { io, run } = await start();
    const connected = nextConnection(io);
    const c = v2(run, "/", { transports });
    await once(c, "connect");
    const s = await connected;
    s.on("upload", (file: Buffer, meta: { name: string }, ack: (...a: unknown[]) => void) => {
      ack({ size: file.length, first: file[0], name: meta.name }, Buffer.from([9, 8, 7]));
    });
    const [info, back] = await new Promise<[unknown, Buffer]>((resolve) =>
      c.emit("upload", Buffer.from([5, 6, 7, 8]), { name: "f" }, (a: unknown, b: Buffer) => resolve([a, b])),
    );
    expect(info).toEqual({ size: 4, first: 5, name: "f" });
    expect([...back]).toEqual([9, 8, 7]);
    const got = once<{ a: Buffer; b: Buffer[] }>(c, "bin");
    s.emit("bin", { a: Buffer.from([1]), b: [Buffer.from([2, 3])] });
    const msg = await got;
    expect([...msg.a]).toEqual([1]);
    expect([...msg.b[0]!]).toEqual([2, 3]);
  });

  it("connects to a custom namespace with a query: id nsp#sid, the query as auth and in handshake.query", async () => {
    const { io, run } = await start();
    const admin = io.of("/admin");
    const connected = nextConnection(admin);
    const c = v2(run, "/admin", { transports, query: { token: "abc" } });
    await once(c, "connect");
    const s = await connected;
    expect(c.id).toBe(`/admin#${s.conn.id}`);
    expect(s.id).toBe(c.id);
    expect(s.handshake.auth).toEqual({ token: "abc" });
    expect(s.handshake.query.token).toBe("abc");
    expect(s.handshake.query.EIO).toBe("3");
    // The implicit "/" socket of the same connection exists too.
    expect(io.sockets.sockets.get(s.conn.id)).toBeDefined();
    s.on("echo", (v: unknown, ack: (v: unknown) => void) => ack(v));
    await expect(withAck(c, "echo", { n: 1 })).resolves.toEqual({ n: 1 });
  });

  it("gets a middleware refusal as an error event carrying the message (or err.data)", async () => {
    const { io, run } = await start();
    io.of("/guarded").use((_socket, next) => next(new Error("nope")));
    io.of("/data").use((_socket, next) => next(Object.assign(new Error("ignored"), { data: { reason: "bad token" } })));
    const c = v2(run, "/guarded", { transports });
    await expect(once(c, "error")).resolves.toBe("nope");
    const d = v2(run, "/data", { transports });
    await expect(once(d, "error")).resolves.toEqual({ reason: "bad token" });
  });

  it("gets an unknown namespace refused as the reference does; a dynamic one sees the query as auth", async () => {
    const { io, run } = await start();
    io.of(/^\/dyn-\w+$/).use((socket, next) => (socket.handshake.auth.key === "k" ? next() : next(new Error("no key"))));
    const c = v2(run, "/nope", { transports });
    await expect(once(c, "error")).resolves.toEqual({ message: "Invalid namespace" });
    const d = v2(run, "/dyn-a", { transports, query: "key=k" });
    await once(d, "connect");
    const e = v2(run, "/dyn-b", { transports });
    await expect(once(e, "error")).resolves.toBe("no key");
  });

  it("gets a refusal on / as an error event", async () => {
    const { io, run } = await start();
    io.use((_socket, next) => next(new Error("nope")));
    const c = v2(run, "/", { transports });
    await expect(once(c, "error")).resolves.toBe("nope");
    expect(c.connected).toBe(false);
  });

  it("disconnects from the client side: the server sees the namespace disconnect", async () => {
    const { io, run } = await start();
    const connected = nextConnection(io);
    const c = v2(run, "/", { transports });
    await once(c, "connect");
    const s = await connected;
    const reason = once<string>(s, "disconnect");
    c.close();
    expect(await reason).toBe("client namespace disconnect");
  });

  it("disconnects from the server side: the client sees io server disconnect", async () => {
    const { io, run } = await start();
    const connected = nextConnection(io);
    const c = v2(run, "/", { transports });
    await once(c, "connect");
    const s = await connected;
    const reason = once<string>(c, "disconnect");
    s.disconnect(true);
    expect(await reason).toBe("io server disconnect");
  });
});

describe("beside socket.io-client 4", () => {
  it("one io.to(room).emit reaches v2 and v4 clients, binary included, and is encoded once", async () => {
    const { io, run } = await start();
    io.on("connection", (s) => s.join("room"));
    const clients2 = [v2(run, "/", { transports: ["websocket"] }), v2(run, "/", { transports: ["polling"] })];
    const clients4 = [v4(run, "/", { transports: ["websocket"] }), v4(run, "/", { transports: ["polling"] })];
    await Promise.all([...clients2, ...clients4].map((c) => once(c, "connect")));
    await waitFor(() => io.of("/").adapter.rooms.get("room")?.size === 4, { what: "four clients in the room" });
    let encodes = 0;
    const encode = io.encoder.encode.bind(io.encoder);
    io.encoder.encode = (p) => {
      encodes++;
      return encode(p);
    };
    const payloads = [...clients2, ...clients4].map(
      (c) => new Promise<unknown[]>((resolve) => (c as V2Socket).once("news", (...a: unknown[]) => resolve(a))),
    );
    io.to("room").emit("news", "hello", Buffer.from([1, 2, 3]));
    for (const args of await Promise.all(payloads)) {
      expect(args[0]).toBe("hello");
      expect([...(args[1] as Uint8Array)]).toEqual([1, 2, 3]);
    }
    expect(encodes).toBe(1);
  });

  it("io.emit from a v2 client's event reaches both kinds of client", async () => {
    const { io, run } = await start();
    io.on("connection", (s) => s.on("shout", (text: string) => io.emit("heard", text)));
    const a = v2(run, "/", { transports: ["websocket"] });
    const b = v4(run, "/", { transports: ["websocket"] });
    await Promise.all([once(a, "connect"), once(b, "connect")]);
    const heard = [once(a, "heard"), once(b, "heard")];
    a.emit("shout", "hi all");
    await expect(Promise.all(heard)).resolves.toEqual(["hi all", "hi all"]);
  });
});

describe("heartbeat", () => {
  it("the v2 client's pings keep the session alive", async () => {
    const { io, run } = await start({ pingInterval: 150, pingTimeout: 150 });
    const connected = nextConnection(io);
    const c = v2(run, "/", { transports: ["websocket"] });
    await once(c, "connect");
    const s = await connected;
    let beats = 0;
    s.conn.on("heartbeat", () => beats++);
    let gone = false;
    s.on("disconnect", () => (gone = true));
    // Five heartbeats span more than twice pingInterval + pingTimeout: a session without pings would be gone.
    await waitFor(() => beats >= 5 || gone, { what: "five heartbeats" });
    expect(gone).toBe(false);
    expect(beats).toBeGreaterThanOrEqual(5);
  });

  it("a client that stops pinging is closed with ping timeout (fake clock)", async () => {
    const clock = new FakeClock(Date.now());
    const { io, run } = await start({ clock, pingInterval: 25_000, pingTimeout: 20_000 });
    const connected = nextConnection(io);
    // A raw v3 WebSocket client that never pings, then CONNECT-free: "/" is joined for it.
    const ws = new WebSocket(`${run.wsUrl}/socket.io/?EIO=3&transport=websocket`);
    cleanups.push(() => ws.terminate());
    const frames: string[] = [];
    ws.on("message", (d) => frames.push(d.toString()));
    const s = await connected;
    const closed = once(ws, "close", { timeout: 10_000 });
    await waitFor(() => frames.length >= 2, { what: "the open and CONNECT frames" });
    expect(frames[0]).toMatch(/^0\{"sid":/);
    expect(frames[1]).toBe("40");
    const reason = once<string>(s, "disconnect");
    clock.advance(44_999);
    expect(s.connected).toBe(true);
    clock.advance(1);
    expect(await reason).toBe("ping timeout");
    await closed;
  });
});
