/**
 * What socket.io exposes of the engine below a socket: the `packetCreate`
 * and `packet` events of `socket.conn`, `io.eio`, and the handshake of a
 * connection that no HTTP request opened.
 */
import { connect as netConnect } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { type ClientOptions, WebSocket } from "ws";
import { io as ioc, type Socket as ClientSocket } from "socket.io-client";
import { Server } from "../../src/index.ts";
import type { EnginePacketInfo } from "../../src/engine/types.ts";
import type { Socket } from "../../src/socket/socket.ts";
import { setSharedFrames } from "../../src/runtimes/node-ws.ts";
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
    expect(await created).toMatchObject({ type: "message", data: '2/chat,["woot","all"]', options: { compress: false } });
    created = nextCreated(s);
    io.of("/chat").emit("woot", "all");
    expect((await created).options).toMatchObject({ compress: true });
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
    // A ping (every 50 ms) may come first on a loaded machine: the message's two packets in order.
    const messages = created.filter((p) => p.type === "message");
    expect(messages[0]).toEqual({ type: "message", data: '51-["bin",{"_placeholder":true,"num":0}]', options: { compress: true } });
    expect(Buffer.isBuffer(messages[1]!.data)).toBe(true);
    expect([...(messages[1]!.data as Uint8Array)]).toEqual([1, 2]);
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

/**
 * A raw `ws` client on a socket whose every received byte is kept: the
 * 101 response, then the server's frames exactly as written to TCP.
 */
async function rawClient(wsUrl: string, nsp = "/") {
  const wire: Buffer[] = [];
  const ws = new WebSocket(`${wsUrl}/socket.io/?EIO=4&transport=websocket`, {
    createConnection: (opts: Record<string, unknown>) => {
      const sock = netConnect(opts as { port: number; host: string });
      sock.on("data", (chunk: Buffer) => wire.push(chunk));
      return sock;
    },
  } as unknown as ClientOptions);
  cleanups.push(() => ws.terminate());
  const texts: string[] = [];
  ws.on("message", (data, isBinary) => {
    if (isBinary) return;
    const text = data.toString();
    texts.push(text);
    if (text.startsWith("0")) ws.send(nsp === "/" ? "40" : `40${nsp},`);
  });
  return { wire: () => Buffer.concat(wire), texts };
}

const until = async (check: () => boolean) => {
  for (let i = 0; i < 400 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(check()).toBe(true);
};

describe("packetCreate: options.wsPreEncodedFrame (Node)", () => {
  afterEach(() => setSharedFrames(undefined));

  // 3 sizes: the header carries the length in 7 bits, 16 bits (126) and 64 bits (127).
  it.each([
    ["a short", 10, 2],
    ["a 16-bit length", 1_000, 4],
    ["a 64-bit length", 70_000, 10],
    ["(ws's send() path, shared frames off) a short", 10, 2],
  ])("a broadcast of %s text message: [header, payload], the bytes written to the socket", async (label, size, headerLength) => {
    if (label.startsWith("(ws")) setSharedFrames(false);
    const io = new Server();
    const run = await startNode(io);
    cleanups.push(() => run.close());
    const connection = new Promise<Socket>((resolve) => io.of("/chat").once("connection", resolve));
    const client = await rawClient(run.wsUrl, "/chat");
    const s = await connection;
    await until(() => client.texts.some((t) => t.startsWith("40/chat,")));
    const created = nextCreated(s);
    const text = "é".repeat(size / 2);
    io.of("/chat").compress(false).emit("woot", text);
    const packet = await created;
    const frame = packet.options!.wsPreEncodedFrame!;
    expect(frame).toBeInstanceOf(Array);
    expect(frame.map((part) => Buffer.isBuffer(part))).toEqual([true, true]);
    const payload = `42/chat,${JSON.stringify(["woot", text])}`;
    expect(frame[0]!.byteLength).toBe(headerLength);
    expect(frame[0]![0]).toBe(0x81); // FIN, text, no RSV1
    expect(Buffer.from(frame[1]!).toString()).toBe(payload);
    await until(() => client.texts.includes(payload));
    // The very bytes: header and payload back to back in what the server wrote.
    expect(client.wire().indexOf(Buffer.concat(frame))).toBeGreaterThan(0);
  });

  it("only a broadcast's single text message has one: not a socket's own emit, not a binary broadcast", async () => {
    const { io, s } = await connected();
    const created: EnginePacketInfo[] = [];
    s.conn.on("packetCreate", (p) => created.push(p));
    s.emit("own", 1);
    io.emit("bin", new Uint8Array([1, 2]));
    io.emit("all", 2);
    await until(() => created.length === 4);
    expect(created.map((p) => p.options?.wsPreEncodedFrame !== undefined)).toEqual([false, false, false, true]);
  });

  it("a polling recipient of a broadcast is shown the frame too (as in socket.io, which builds it per broadcast)", async () => {
    const { io, s } = await connected({}, "/", ["polling"]);
    const created = nextCreated(s);
    io.emit("all", 1);
    const frame = (await created).options!.wsPreEncodedFrame!;
    expect(Buffer.from(frame[1]!).toString()).toBe('42["all",1]');
  });

  it("the core alone (no shim framing) shows none", async () => {
    const io = new Server();
    expect(io.preEncodeFrame).toBe(null);
    const { io: served, s } = await connected();
    expect(served.preEncodeFrame).not.toBe(null);
    const created = nextCreated(s);
    served.preEncodeFrame = null;
    served.emit("all", 1);
    expect((await created).options).toEqual({ compress: true });
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
