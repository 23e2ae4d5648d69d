/**
 * Wire-level checks with a raw `ws` client: exact Socket.IO frames over a
 * real Engine.IO WebSocket session.
 */
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { Server, type ServerOptions } from "../../src/index.ts";
import type { Socket } from "../../src/socket/socket.ts";
import { type Running, startNode } from "../helpers/node.ts";

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

type Frame = string | Uint8Array;

class RawClient {
  readonly frames: Frame[] = [];
  #waiters: Array<(f: Frame) => void> = [];
  closed: Promise<number>;

  constructor(readonly ws: WebSocket) {
    ws.on("message", (data: Buffer, isBinary: boolean) => {
      const frame: Frame = isBinary ? new Uint8Array(data) : data.toString();
      // Answer heartbeats so long tests never time out.
      if (frame === "2") return ws.send("3");
      const w = this.#waiters.shift();
      if (w) w(frame);
      else this.frames.push(frame);
    });
    this.closed = new Promise((resolve) => ws.on("close", (code) => resolve(code)));
  }

  next(timeoutMs = 2000): Promise<Frame> {
    const f = this.frames.shift();
    if (f !== undefined) return Promise.resolve(f);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no frame")), timeoutMs);
      this.#waiters.push((frame) => {
        clearTimeout(timer);
        resolve(frame);
      });
    });
  }

  send(frame: Frame): void {
    this.ws.send(frame);
  }
}

async function start(opts: Partial<ServerOptions> = {}): Promise<{ io: Server; run: Running }> {
  const io = new Server(opts);
  const run = await startNode(io);
  cleanups.push(() => run.close());
  return { io, run };
}

async function rawConnect(run: Running): Promise<RawClient> {
  const ws = new WebSocket(`${run.wsUrl}/socket.io/?EIO=4&transport=websocket`);
  cleanups.push(() => ws.terminate());
  const client = new RawClient(ws);
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  const open = await client.next();
  expect(String(open)).toMatch(/^0\{"sid":"[\w-]+","upgrades":\[\],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000\}$/);
  return client;
}

const nextConnection = (io: Server, nsp = "/") =>
  new Promise<Socket>((resolve) => io.of(nsp).once("connection", resolve));

describe("raw WebSocket frames", () => {
  it("CONNECT and its reply, for the main and a custom namespace", async () => {
    const { io, run } = await start();
    io.of("/admin");
    const c = await rawConnect(run);
    const main = nextConnection(io);
    c.send("40");
    const reply = String(await c.next());
    const socket = await main;
    expect(reply).toBe(`40{"sid":"${socket.id}"}`);
    const admin = nextConnection(io, "/admin");
    c.send('40/admin,{"token":"t"}');
    const adminReply = String(await c.next());
    const adminSocket = await admin;
    expect(adminReply).toBe(`40/admin,{"sid":"${adminSocket.id}"}`);
    expect(adminSocket.handshake.auth).toEqual({ token: "t" });
  });

  it("CONNECT_ERROR for an unknown namespace and for a middleware rejection", async () => {
    const { io, run } = await start();
    io.of("/guarded").use((_s, next) => next(Object.assign(new Error("denied"), { data: { code: 42 } })));
    const c = await rawConnect(run);
    c.send("40/nope,");
    expect(await c.next()).toBe('44/nope,{"message":"Invalid namespace"}');
    c.send("40/guarded,");
    expect(await c.next()).toBe('44/guarded,{"message":"denied","data":{"code":42}}');
    // the connection is still usable
    c.send("40");
    expect(String(await c.next())).toMatch(/^40\{"sid":"[\w-]{20}"\}$/);
  });

  it("EVENT, ACK in both directions", async () => {
    const { io, run } = await start();
    const c = await rawConnect(run);
    const connected = nextConnection(io);
    c.send("40");
    await c.next();
    const socket = await connected;
    socket.on("ask", (q: string, ack: (...a: unknown[]) => void) => ack({ q }, "second"));
    c.send('4212["ask","why"]');
    expect(await c.next()).toBe('4312[{"q":"why"},"second"]');
    const answer = new Promise((resolve) => socket.emit("server-q", 1, resolve));
    expect(await c.next()).toBe('420["server-q",1]');
    c.send('430["yes"]');
    expect(await answer).toBe("yes");
    socket.emit("plain", null, undefined, "x");
    expect(await c.next()).toBe('42["plain",null,null,"x"]');
  });

  it("BINARY_EVENT with attachments in both directions, BINARY_ACK", async () => {
    const { io, run } = await start();
    const c = await rawConnect(run);
    const connected = nextConnection(io);
    c.send("40");
    await c.next();
    const socket = await connected;
    const received = new Promise<unknown[]>((resolve) => socket.on("up", (...a: unknown[]) => resolve(a)));
    c.send('452-["up",{"_placeholder":true,"num":0},{"k":{"_placeholder":true,"num":1}}]');
    c.send(new Uint8Array([1, 2]));
    c.send(new Uint8Array([3]));
    const args = await received;
    expect(new Uint8Array(args[0] as Uint8Array)).toEqual(new Uint8Array([1, 2]));
    expect(new Uint8Array((args[1] as { k: Uint8Array }).k)).toEqual(new Uint8Array([3]));
    socket.emit("down", new Uint8Array([7, 7]));
    expect(await c.next()).toBe('451-["down",{"_placeholder":true,"num":0}]');
    expect(await c.next()).toEqual(new Uint8Array([7, 7]));
    socket.on("bin-ack", (ack: (b: Uint8Array) => void) => ack(new Uint8Array([5])));
    c.send('425["bin-ack"]');
    expect(await c.next()).toBe('461-5[{"_placeholder":true,"num":0}]');
    expect(await c.next()).toEqual(new Uint8Array([5]));
  });

  it("DISCONNECT in both directions", async () => {
    const { io, run } = await start();
    const c = await rawConnect(run);
    const connected = nextConnection(io);
    c.send("40");
    await c.next();
    const socket = await connected;
    const reason = new Promise((resolve) => socket.on("disconnect", resolve));
    c.send("41");
    expect(await reason).toBe("client namespace disconnect");
    const again = nextConnection(io);
    c.send("40");
    await c.next();
    (await again).disconnect();
    expect(await c.next()).toBe("41");
  });

  it.each([
    ["a reserved event name", '42["disconnect"]'],
    ["an object as event name", '42[{"toString":"x"}]'],
    ["invalid JSON", '42["unterminated'],
    ["an unknown packet type", "49"],
    ["a packet for a namespace not joined", '42/other,["x"]'],
    ["a CONNECT_ERROR from the client", '44{"message":"x"}'],
    ["a duplicate CONNECT", "40"],
    ["an unexpected binary frame", new Uint8Array([1])],
  ])("closes the connection on %s", async (_name, frame) => {
    const { io, run } = await start();
    const c = await rawConnect(run);
    const connected = nextConnection(io);
    c.send("40");
    await c.next();
    const socket = await connected;
    const reason = new Promise((resolve) => socket.on("disconnect", resolve));
    c.send(frame);
    await c.closed;
    expect(["forced close", "forced server close"]).toContain(await reason);
  });
});
