/**
 * socket.io's private members that code written against socket.io (its own
 * tests, admin tools, leak checks) reads: aliased on unio, each behaving as
 * there. Real clients, real server.
 */
import { afterEach, describe, expect, it } from "vitest";
import { io as ioc, type Socket as ClientSocket } from "socket.io-client";
import { Server } from "../../src/index.ts";
import type { ParentNamespace } from "../../src/socket/parent-namespace.ts";
import type { Socket } from "../../src/socket/socket.ts";
import { type Running, startNode } from "../helpers/node.ts";

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function started(opts: ConstructorParameters<typeof Server>[0] = {}) {
  const io = new Server(opts);
  const run: Running = await startNode(io);
  cleanups.push(() => run.close());
  const client = (nsp = "/", o: Record<string, unknown> = {}) => {
    const c: ClientSocket = ioc(run.url + nsp, { forceNew: true, reconnection: false, transports: ["websocket"], ...o });
    cleanups.push(() => c.disconnect());
    return c;
  };
  return { io, client };
}

async function connected() {
  const { io, client } = await started();
  const connection = new Promise<Socket>((resolve) => io.once("connection", resolve));
  const c = client();
  const s = await connection;
  if (!c.connected) await new Promise<void>((r) => c.once("connect", () => r()));
  return { io, c, s };
}

describe("socket.io's private members", () => {
  it("socket.leaveAll() leaves every room, its own too, and the socket stays connected", async () => {
    const { io, c, s } = await connected();
    await s.join(["a", "b"]);
    expect([...s.rooms].sort()).toEqual([s.id, "a", "b"].sort());
    s.leaveAll();
    expect(s.rooms.size).toBe(0);
    expect(io.of("/").adapter.rooms.has("a")).toBe(false);
    // Still connected: events flow both ways.
    const back = new Promise((r) => c.once("pong!", r));
    s.emit("pong!", 1);
    expect(await back).toBe(1);
  });

  it("socket.acks holds the acks awaited, and none once answered or timed out", async () => {
    const { c, s } = await connected();
    c.on("answer", (cb: (v: number) => void) => cb(42));
    c.on("ignore", () => {});
    expect(s.acks.size).toBe(0);
    const answered = s.emitWithAck("answer");
    const timedOut = s.timeout(50).emitWithAck("ignore").catch((e: Error) => e.message);
    expect(s.acks.size).toBe(2);
    expect(await answered).toBe(42);
    expect(await timedOut).toBe("operation has timed out");
    expect(s.acks.size).toBe(0);
  });

  it("nsp._preConnectSockets holds a socket while its middlewares run, nsp.sockets only after", async () => {
    const { io, client } = await started();
    const seen: Array<[string, number, number, boolean]> = [];
    io.use((socket, next) => {
      seen.push(["middleware", io.of("/").sockets.size, io.of("/")._preConnectSockets.size, socket.connected]);
      expect(io.of("/")._preConnectSockets.get(socket.id)).toBe(socket);
      next();
    });
    const connection = new Promise<Socket>((resolve) => io.once("connection", resolve));
    client();
    const s = await connection;
    seen.push(["connection", io.of("/").sockets.size, io.of("/")._preConnectSockets.size, s.connected]);
    expect(seen).toEqual([
      ["middleware", 0, 1, false],
      ["connection", 1, 0, true],
    ]);
  });

  it("a dynamic parent's children include a child created by io.of(name)", async () => {
    const { io, client } = await started();
    const parent = io.of(/^\/dynamic-\d+$/) as unknown as ParentNamespace;
    const child = io.of("/dynamic-101");
    expect(parent.children.has(child)).toBe(true);
    // A client reaches it through the parent's handlers.
    const connection = new Promise<Socket>((resolve) => parent.once("connection", resolve));
    client("/dynamic-101");
    expect((await connection).nsp).toBe(child);
  });

  it("client.ondata(null) fails the connection: 'error' on the socket, then 'forced close'", async () => {
    const { c, s } = await connected();
    const error = new Promise<unknown>((r) => s.once("error", r));
    const reason = new Promise<string>((r) => s.once("disconnect", r));
    const clientGone = new Promise<string>((r) => c.once("disconnect", r));
    (s.client as unknown as { ondata(d: unknown): void }).ondata(null);
    expect(await error).toBeInstanceOf(Error);
    expect(await reason).toBe("forced close");
    expect(await clientGone).toBe("transport close");
  });

  it("a connection whose engine request was deleted (WebTransport-style) still hands over, address empty", async () => {
    const { io, client } = await started();
    io.engine.on("connection", (conn: { request?: unknown }) => {
      delete conn.request;
    });
    const connection = new Promise<Socket>((resolve) => io.once("connection", resolve));
    client();
    const s = await connection;
    expect(s.handshake.secure).toBe(true);
    expect(s.handshake.headers).toEqual({});
    expect(s.handshake.query).toEqual({});
    expect(s.handshake.address).toBe("");
  });
});
