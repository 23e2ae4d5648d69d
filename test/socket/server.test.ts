import { afterEach, describe, expect, it, vi } from "vitest";
import type { IncomingRequest } from "../../src/engine/facade.ts";
import { clearClientBundleLoader, setClientBundleLoader } from "../../src/socket/client-files.ts";
import { Server } from "../../src/socket/server.ts";
import { Engine } from "../../src/engine/engine.ts";
import { createServer, connectTo, FakeEngineSocket, flush, openConnection } from "./fake-engine.ts";

function get(url: string, headers: Record<string, string> = {}): IncomingRequest {
  return {
    method: "GET",
    url,
    headers,
    remoteAddress: "127.0.0.1",
    secure: false,
    readBody: async () => ({ ok: false, reason: "aborted" }),
    onAbort: () => {},
  };
}

afterEach(() => clearClientBundleLoader());

describe("Server", () => {
  it("is a RequestTarget delegating to its engine, with socket.io's path default", () => {
    const io = new Server({ maxHttpBufferSize: 1234, pingInterval: 500 });
    // socket.io's io.path(): no trailing slash; the engine keeps it.
    expect(io.path()).toBe("/socket.io");
    expect(io.engine.path).toBe("/socket.io/");
    expect(io.maxPayload).toBe(1234);
    expect(io.matches("/socket.io/")).toBe(true);
    expect(io.matches("/other")).toBe(false);
    expect(io.engine.opts.pingInterval).toBe(500);
    const custom = new Server({ path: "/rt/" });
    expect(custom.path()).toBe("/rt");
    expect(custom.matches("/rt/")).toBe(true);
  });

  it("io.path(v) moves the endpoint (a new engine, same options)", () => {
    const io = new Server({ pingInterval: 500 });
    expect(io.path("/ws")).toBe(io);
    expect(io.path()).toBe("/ws");
    expect(io.matches("/ws/")).toBe(true);
    expect(io.matches("/socket.io/")).toBe(false);
    expect(io.engine.opts.pingInterval).toBe(500);
  });

  it("takes options only: new Server(httpServer | port) points to a runtime's Server", () => {
    const fakeHttpServer = { listen() {} };
    expect(() => new Server(fakeHttpServer as never)).toThrow(/unio\/node/);
    expect(() => new Server(3000 as never)).toThrow(/unio\/node/);
  });

  it("answers an Engine.IO handshake through handleRequest", async () => {
    const io = new Server();
    const res = await io.handleRequest(get("/socket.io/?EIO=4&transport=polling"));
    expect(res.status).toBe(200);
    expect(String(res.body)).toMatch(/^0\{"sid":/);
    expect(io.engine.clientsCount).toBe(1);
    await io.close();
    expect(io.engine.clientsCount).toBe(0);
  });

  it("serves client bundles when a loader is registered and serveClient is on", async () => {
    const io = new Server();
    const miss = await io.handleRequest(get("/socket.io/socket.io.js"));
    expect(miss.status).toBe(400); // no loader: the engine answers (Transport unknown)
    setClientBundleLoader(async (file) => new TextEncoder().encode(`/* ${file} */`), "9.9.9");
    const hit = await io.handleRequest(get("/socket.io/socket.io.js"));
    expect(hit.status).toBe(200);
    expect(hit.headers.etag).toBe('"9.9.9"');
    expect(new TextDecoder().decode(hit.body as Uint8Array)).toBe("/* socket.io.js */");
    const off = new Server({ serveClient: false });
    expect(off.serveClient()).toBe(false);
    expect((await off.handleRequest(get("/socket.io/socket.io.js"))).status).toBe(400);
    off.serveClient(true);
    expect((await off.handleRequest(get("/socket.io/socket.io.js"))).status).toBe(200);
  });

  it("getters and setters: connectTimeout, adapter, _opts with CSR defaults", () => {
    const io = new Server({ connectTimeout: 0, connectionStateRecovery: { maxDisconnectionDuration: 10 } });
    expect(io.connectTimeout()).toBe(45000);
    expect(io.connectTimeout(100)).toBe(io);
    expect(io.connectTimeout()).toBe(100);
    expect(io._opts.connectionStateRecovery).toEqual({ maxDisconnectionDuration: 10, skipMiddlewares: true });
    expect(io._opts.cleanupEmptyChildNamespaces).toBe(false);
  });

  it("proxies listener methods to the main namespace", async () => {
    const { io } = createServer();
    const fn = vi.fn();
    io.on("connection", fn);
    expect(io.sockets.listeners("connection")).toEqual([fn]);
    expect(io.listeners("connection")).toEqual([fn]);
    expect(io.listenerCount("connection")).toBe(1);
    await connectTo(io);
    expect(fn).toHaveBeenCalledTimes(1);
    io.off("connection", fn);
    await connectTo(io);
    expect(fn).toHaveBeenCalledTimes(1);
    const once = vi.fn();
    io.once("connection", once);
    await connectTo(io);
    await connectTo(io);
    expect(once).toHaveBeenCalledTimes(1);
    io.removeAllListeners("connection");
    expect(io.hasListeners("connection")).toBe(false);
  });

  it("bind() swaps the engine that feeds connections", async () => {
    const { io, clock } = createServer();
    const old = io.engine;
    const replacement = new Engine({ clock }, "/socket.io");
    io.bind(replacement);
    expect(io.engine).toBe(replacement);
    const stray = new FakeEngineSocket();
    old.emit("connection", stray);
    stray.receive("0");
    await flush();
    expect(stray.texts).toEqual([]);
    const conn = openConnection(io);
    conn.receive("0");
    await flush();
    expect(conn.texts[0]).toMatch(/^0\{"sid"/);
  });
});
