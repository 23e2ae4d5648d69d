/**
 * What socket.io exposes of the engine below a socket: the `packetCreate`
 * and `packet` events of `socket.conn`, `io.eio`, and the handshake of a
 * connection that no HTTP request opened.
 */
import { afterEach, describe, expect, it } from "vitest";
import { io as ioc, type Socket as ClientSocket } from "socket.io-client";
import { Server } from "../../src/index.ts";
import type { EnginePacketInfo } from "../../src/engine/types.ts";
import type { Socket } from "../../src/socket/socket.ts";
import { type Running, startNode } from "../helpers/node.ts";
import { connectFrame, createServer, flush, FakeEngineSocket, lastSocket } from "./fake-engine.ts";

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function connected(opts: ConstructorParameters<typeof Server>[0] = {}, nsp = "/", transports = ["websocket"]) {
  const io = new Server(opts);
  const run: Running = await startNode(io);
  cleanups.push(() => run.close());
  const connection = new Promise<Socket>((resolve) => io.of(nsp).once("connection", resolve));
  const c: ClientSocket = ioc(run.url + nsp, { forceNew: true, reconnection: false, transports });
  cleanups.push(() => c.disconnect());
  const s = await connection;
  if (!c.connected) await new Promise<void>((r) => c.once("connect", () => r()));
  return { io, c, s };
}

/** The next `packetCreate` of `s.conn`. */
const nextCreated = (s: Socket) => new Promise<EnginePacketInfo>((resolve) => s.conn.once("packetCreate", resolve));

describe("socket.conn events", () => {
  it.each([["websocket"], ["polling"]])("%s: packetCreate for every emit, with the compress flag", async (transport) => {
    const { io, c, s } = await connected({}, "/chat", [transport]);
    let created = nextCreated(s);
    s.emit("woot", "hi");
    expect(await created).toEqual({ type: "message", data: '2/chat,["woot","hi"]', options: { compress: true } });
    created = nextCreated(s);
    s.compress(false).emit("woot", "hi");
    expect((await created).options).toEqual({ compress: false });
    // Broadcasts too, the packet encoded once for everyone.
    created = nextCreated(s);
    io.of("/chat").compress(false).emit("woot", "all");
    expect(await created).toEqual({ type: "message", data: '2/chat,["woot","all"]', options: { compress: false } });
    created = nextCreated(s);
    io.of("/chat").emit("woot", "all");
    expect((await created).options).toEqual({ compress: true });
    // The client still gets all four.
    const got: string[] = [];
    await new Promise<void>((resolve) => {
      c.on("woot", (v: string) => {
        got.push(v);
        if (got.length === 4) resolve();
      });
    });
    expect(got).toEqual(["hi", "hi", "all", "all"]);
  });

  it("packetCreate for a binary emit: the header, then the attachment as a Buffer; and for pings", async () => {
    const { s } = await connected({ pingInterval: 50 });
    const created: EnginePacketInfo[] = [];
    s.conn.on("packetCreate", (p) => created.push(p));
    s.emit("bin", new Uint8Array([1, 2]));
    expect(created[0]).toEqual({ type: "message", data: '51-["bin",{"_placeholder":true,"num":0}]', options: { compress: true } });
    expect(Buffer.isBuffer(created[1]!.data)).toBe(true);
    expect([...(created[1]!.data as Uint8Array)]).toEqual([1, 2]);
    await new Promise<void>((resolve) => s.conn.once("heartbeat", () => resolve()));
    expect(created.some((p) => p.type === "ping")).toBe(true);
  });

  it.each([["websocket"], ["polling"]])("%s: packet for every packet received, before it is handled", async (transport) => {
    const { c, s } = await connected({ pingInterval: 50 }, "/", [transport]);
    const received: EnginePacketInfo[] = [];
    s.conn.on("packet", (p) => received.push(p));
    const handled = new Promise((resolve) => s.once("hello", resolve));
    c.emit("hello", 1);
    await handled;
    expect(received).toContainEqual({ type: "message", data: '2["hello",1]' });
    await new Promise<void>((resolve) => s.conn.once("heartbeat", () => resolve()));
    expect(received).toContainEqual({ type: "pong" });
  });
});

describe("Server", () => {
  it("io.eio is the engine, as socket.io's internal name", () => {
    const io = new Server();
    expect(io.eio).toBe(io.engine);
  });
});

describe("a connection no HTTP request opened (a bound engine, as WebTransport in socket.io)", () => {
  it("has a handshake without headers or query, and counts as secure", async () => {
    const { io } = createServer();
    const conn = new FakeEngineSocket({ remoteAddress: "10.0.0.1" });
    Object.defineProperty(conn, "request", { value: undefined });
    io.engine.emit("connection", conn);
    conn.receive(connectFrame("/", { token: "t" }));
    await flush();
    const socket = lastSocket(io);
    expect(socket.handshake).toMatchObject({
      headers: {},
      address: "10.0.0.1",
      xdomain: false,
      secure: true,
      url: undefined,
      query: {},
      auth: { token: "t" },
    });
    expect(conn.packets()[0]).toMatchObject({ type: 0, data: { sid: socket.id } });
  });
});
