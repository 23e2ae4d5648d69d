/**
 * socket.io's ways of starting a server, through `unio/node`'s `Server`:
 * `new Server(httpServer, opts)`, `new Server(port)`, `new Server(opts)` then
 * `attach()` / `listen()`, `io.httpServer`, and `close()` closing the HTTP
 * server with socket.io's callback and promise semantics. Driven by the
 * official socket.io-client.
 */
import { createServer, type Server as HttpServer } from "node:http";
import { connect, createServer as createNetServer, type AddressInfo } from "node:net";
import express from "express";
import { io as ioc, type Socket as ClientSocket } from "socket.io-client";
import { afterEach, describe, expect, it } from "vitest";
import io, { Namespace, Server, Socket } from "../../src/runtimes/node.ts";
import { once, waitFor } from "../helpers/wait.ts";

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const portOf = (srv: HttpServer) => (srv.address() as AddressInfo).port;

function listening(srv: HttpServer): Promise<number> {
  return new Promise((resolve) => {
    if (srv.listening) return resolve(portOf(srv));
    srv.once("listening", () => resolve(portOf(srv)));
  });
}

function track(server: Server): Server {
  cleanups.push(async () => {
    server.httpServer?.closeAllConnections?.();
    await server.close().catch(() => {});
  });
  return server;
}

function client(port: number, opts: Parameters<typeof ioc>[1] = {}, nsp = "/"): ClientSocket {
  const socket = ioc(`http://127.0.0.1:${port}${nsp}`, { forceNew: true, reconnection: false, ...opts });
  cleanups.push(() => socket.disconnect());
  return socket;
}

/** Connects, sends "hello" with an ack, and returns what the server acked. */
async function roundTrip(port: number, opts: Parameters<typeof ioc>[1] = {}): Promise<unknown> {
  const socket = client(port, opts);
  await once(socket, "connect", { failOn: "connect_error" });
  return socket.timeout(3000).emitWithAck("hello", "world");
}

function echo(server: Server): Server {
  server.on("connection", (socket) => socket.on("hello", (v: unknown, ack: (r: unknown) => void) => ack(`hi ${v}`)));
  return server;
}

/** Whether `port` can be listened on again (the HTTP server really closed). */
function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createNetServer();
    probe.once("error", () => resolve(false));
    probe.listen(port, () => probe.close(() => resolve(true)));
  });
}

describe("unio/node Server: socket.io's constructor forms", () => {
  it("new Server(httpServer, opts): the app's other routes keep working", async () => {
    const httpServer = createServer((_req, res) => res.end("app"));
    const server = track(echo(new Server(httpServer, { pingInterval: 700 })));
    expect(server.httpServer).toBe(httpServer);
    expect(server.engine.opts.pingInterval).toBe(700);
    httpServer.listen(0, "127.0.0.1");
    const port = await listening(httpServer);
    expect(await roundTrip(port)).toBe("hi world");
    expect(await (await fetch(`http://127.0.0.1:${port}/other`)).text()).toBe("app");
  });

  it("new Server(httpServer) with an express app behind the http server", async () => {
    const app = express();
    app.get("/health", (_req, res) => void res.send("ok"));
    const httpServer = createServer(app);
    track(echo(new Server(httpServer)));
    httpServer.listen(0, "127.0.0.1");
    const port = await listening(httpServer);
    expect(await roundTrip(port, { transports: ["websocket"] })).toBe("hi world");
    expect(await roundTrip(port, { transports: ["polling"] })).toBe("hi world");
    expect(await (await fetch(`http://127.0.0.1:${port}/health`)).text()).toBe("ok");
  });

  it("new Server(port) creates and listens an http.Server that answers 404 elsewhere", async () => {
    const server = track(echo(new Server(0)));
    const port = await listening(server.httpServer as HttpServer);
    expect(await roundTrip(port)).toBe("hi world");
    expect((await fetch(`http://127.0.0.1:${port}/nope`)).status).toBe(404);
  });

  it('new Server("0") takes a port given as a string', async () => {
    const server = track(echo(new Server("0")));
    const port = await listening(server.httpServer as HttpServer);
    expect(await roundTrip(port)).toBe("hi world");
  });

  it("new Server(opts) then io.attach(httpServer) / io.listen(port)", async () => {
    const httpServer = createServer();
    const a = track(echo(new Server({ path: "/rt" })));
    expect(a.attach(httpServer)).toBe(a);
    httpServer.listen(0, "127.0.0.1");
    const portA = await listening(httpServer);
    expect(await roundTrip(portA, { path: "/rt" })).toBe("hi world");

    const b = track(echo(new Server()));
    expect(b.listen(0)).toBe(b);
    const portB = await listening(b.httpServer as HttpServer);
    expect(await roundTrip(portB)).toBe("hi world");
  });

  it("attach(srv, opts) fills in options the constructor did not set; the constructor's win", async () => {
    const server = track(echo(new Server({ pingInterval: 900 })));
    server.listen(0, { path: "/late", pingInterval: 5 });
    expect(server.path()).toBe("/late");
    expect(server.engine.opts.pingInterval).toBe(900);
    const port = await listening(server.httpServer as HttpServer);
    expect(await roundTrip(port, { path: "/late" })).toBe("hi world");
  });

  it("attaching to an express app (a function) fails with socket.io's message", () => {
    const server = new Server();
    expect(() => server.attach(express() as never)).toThrow(/Please pass a http.Server instance/);
  });

  it("the callable default export: io(httpServer) is new Server(httpServer)", async () => {
    const httpServer = createServer();
    const server = track(echo(io(httpServer)));
    expect(server).toBeInstanceOf(Server);
    httpServer.listen(0, "127.0.0.1");
    expect(await roundTrip(await listening(httpServer))).toBe("hi world");
    expect(typeof Namespace).toBe("function");
    expect(typeof Socket).toBe("function");
  });
});

describe("unio/node Server: close()", () => {
  it("closes the sockets and the HTTP server; the port is free afterwards", async () => {
    const server = echo(new Server(0));
    const port = await listening(server.httpServer as HttpServer);
    const socket = client(port, { transports: ["websocket"] });
    await once(socket, "connect");
    const reason = once(socket, "disconnect");
    let callbackErr: unknown = "not called";
    await server.close((err) => (callbackErr = err));
    expect(callbackErr).toBeUndefined();
    expect(await reason).toBe("transport close");
    expect(server.sockets.sockets.size).toBe(0);
    expect(await portIsFree(port)).toBe(true);
  });

  it("a server that is not running: the callback gets ERR_SERVER_NOT_RUNNING, the promise resolves", async () => {
    const withCallback = new Server(createServer());
    const err = await new Promise<Error & { code?: string }>((resolve) => void withCallback.close((e) => resolve(e!)));
    expect(err.code).toBe("ERR_SERVER_NOT_RUNNING");
    await expect(new Server(createServer()).close()).resolves.toBeUndefined();
  });

  it("without an HTTP server (new Server() served by serve()/handler()), close calls back without error", async () => {
    const server = new Server();
    const err = await new Promise((resolve) => void server.close(resolve));
    expect(err).toBeUndefined();
  });

  it("io.close() then io.listen(port): the old server's late close does not end the new sessions", async () => {
    const server = track(echo(new Server(0)));
    const old = server.httpServer as HttpServer;
    const oldPort = await listening(old);
    // A keep-alive connection holds the old server open, so its "close" event comes late.
    const held = client(oldPort, { transports: ["polling"] });
    await once(held, "connect");
    const closing = server.close();
    server.listen(0);
    const fresh = server.httpServer as HttpServer;
    expect(fresh).not.toBe(old);
    const port = await listening(fresh);
    const socket = client(port, { transports: ["websocket"] });
    await once(socket, "connect");
    old.closeAllConnections();
    await closing;
    // A round trip after the old server's "close": a session that close ended could not answer it.
    expect(await socket.timeout(3000).emitWithAck("hello", "again")).toBe("hi again");
    expect(socket.connected).toBe(true);
  });

  it("with one io on two http servers, closing one leaves the other's clients connected", async () => {
    const a = createServer();
    const b = createServer();
    const server = track(echo(new Server()));
    server.attach(a);
    server.attach(b);
    a.listen(0, "127.0.0.1");
    b.listen(0, "127.0.0.1");
    const [portA, portB] = [await listening(a), await listening(b)];
    const viaB = client(portB, { transports: ["websocket"] });
    await once(viaB, "connect");
    const viaA = client(portA, { transports: ["polling"] });
    expect(await viaA.timeout(3000).emitWithAck("hello", "a")).toBe("hi a");
    viaA.disconnect();
    await waitFor(() => server.engine.clientsCount === 1, { what: "the client of a to leave" });
    // A server's "close" comes once its last connection ended (upgraded ones included).
    await new Promise<void>((r) => {
      a.close(() => r());
      a.closeAllConnections();
    });
    // A round trip after a's "close": a session that close ended could not answer it.
    expect(await viaB.timeout(3000).emitWithAck("hello", "b")).toBe("hi b");
    expect(viaB.connected).toBe(true);
    expect(server.engine.clientsCount).toBe(1);

    // Closing the last one closes the sessions, as socket.io's engine closes with its server.
    viaB.disconnect();
    const polling = client(portB, { transports: ["polling"] });
    await once(polling, "connect");
    await waitFor(() => server.engine.clientsCount === 1, { what: "the WebSocket session to end" });
    b.close();
    b.closeAllConnections();
    await waitFor(() => server.engine.clientsCount === 0, { what: "sessions closed with the last server" });
  });
});

describe("unio/node Server: socket.io's attach options", () => {
  /** Sends an upgrade request for a path nobody serves; resolves with what came back, or "open" if nothing did in `wait` ms. */
  function strayUpgrade(port: number, wait: number): Promise<string> {
    return new Promise((resolve) => {
      const sock = connect(port, "127.0.0.1", () => {
        sock.write("GET /elsewhere HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
      });
      let got = "";
      sock.on("data", (d) => (got += d));
      sock.on("close", () => resolve(got.split("\r\n")[0] ?? ""));
      setTimeout(() => {
        sock.destroy();
        resolve(got ? got.split("\r\n")[0]! : "open");
      }, wait);
    });
  }

  it("destroyUpgradeTimeout: an upgrade for another path is ended after that many ms", async () => {
    const server = track(new Server(0, { destroyUpgradeTimeout: 100 }));
    const port = await listening(server.httpServer as HttpServer);
    const started = Date.now();
    expect(await strayUpgrade(port, 3000)).toBe("HTTP/1.1 400 Bad Request");
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it("destroyUpgrade: false leaves such upgrades to whoever else listens", async () => {
    const server = track(new Server(0, { destroyUpgrade: false, destroyUpgradeTimeout: 50 }));
    // The app's own upgrade listener, which here answers nothing: the socket is its to end.
    const strays: Array<{ destroy(): void }> = [];
    server.httpServer.on("upgrade", (_req, socket) => strays.push(socket));
    const port = await listening(server.httpServer as HttpServer);
    // Asserting silence: 400 ms, eight times destroyUpgradeTimeout, and nobody ended the upgrade.
    expect(await strayUpgrade(port, 400)).toBe("open");
    expect(strays).toHaveLength(1);
    for (const s of strays) s.destroy();
  });
});
