/**
 * The start-up examples of socket.io's documentation ("Server
 * Initialization" and the socket.io package README), with only the import
 * changed from "socket.io" to "unio/node": standalone, port first, an HTTP,
 * HTTPS and HTTP/2 server, Express, Koa and Fastify, the callable CommonJS
 * form. Each is checked the way a user would: the official client connects
 * (polling, then the upgrade to WebSocket), an acked event comes back, and the
 * framework's own routes still answer.
 */
import { execFile } from "node:child_process";
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { createServer, type Server as HttpServer } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { createSecureServer } from "node:http2";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import express from "express";
import Fastify from "fastify";
import Koa from "koa";
import { io as ioc, type Socket as ClientSocket } from "socket.io-client";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { Server } from "../../src/runtimes/node.ts";
import { waitFor } from "../helpers/wait.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

let tls: { key: Buffer; cert: Buffer };
beforeAll(async () => {
  // A throwaway self-signed certificate for the HTTPS and HTTP/2 examples.
  const dir = join(root, "test-output", "tls");
  await mkdir(dir, { recursive: true });
  await promisify(execFile)("openssl", [
    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
    "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"),
  ]);
  tls = { key: readFileSync(join(dir, "key.pem")), cert: readFileSync(join(dir, "cert.pem")) };
}, 30_000);

/** The docs' `io.on("connection", ...)`, answering one acked event. */
function app(io: Server): Server {
  io.on("connection", (socket) => {
    socket.on("hello", (v: string, ack: (a: string) => void) => ack(`hi ${v} over ${socket.conn.transport.name}`));
  });
  cleanups.push(async () => {
    (io.httpServer as HttpServer | undefined)?.closeAllConnections?.();
    await io.close().catch(() => {});
  });
  return io;
}

function listening(srv: { listening: boolean; once(ev: string, fn: () => void): unknown; address(): unknown }): Promise<number> {
  return new Promise((resolve) => {
    const port = () => (srv.address() as AddressInfo).port;
    if (srv.listening) return resolve(port());
    srv.once("listening", () => resolve(port()));
  });
}

/** Connects like a browser would (polling, then the upgrade unless one transport is forced), sends "hello". */
async function converse(url: string, opts: Parameters<typeof ioc>[1] = {}): Promise<string> {
  const socket: ClientSocket = ioc(url, { forceNew: true, reconnection: false, ...opts });
  cleanups.push(() => socket.disconnect());
  await new Promise<void>((resolve, reject) => {
    socket.once("connect_error", reject);
    if (opts.transports?.length === 1) socket.once("connect", () => resolve());
    else socket.io.engine.once("upgrade", () => resolve());
  });
  return socket.timeout(3000).emitWithAck("hello", "docs");
}

describe("socket.io's documented start-ups, import changed to unio/node", () => {
  it("Standalone: new Server(options) then io.listen(port)", async () => {
    const io = app(new Server({ cors: { origin: "*" } }));
    io.listen(0);
    const port = await listening(io.httpServer as HttpServer);
    expect(await converse(`http://127.0.0.1:${port}`)).toBe("hi docs over websocket");
  });

  it("Standalone: new Server(port, options); io.httpServer is the implicit HTTP server", async () => {
    const io = app(new Server(0, { pingInterval: 10_000 }));
    expect(io.httpServer).toBeDefined();
    const port = await listening(io.httpServer as HttpServer);
    expect(await converse(`http://127.0.0.1:${port}`)).toBe("hi docs over websocket");
  });

  it("With an HTTP server: new Server(httpServer, options); httpServer.listen(port)", async () => {
    const httpServer = createServer();
    app(new Server(httpServer, {}));
    httpServer.listen(0);
    expect(await converse(`http://127.0.0.1:${await listening(httpServer)}`)).toBe("hi docs over websocket");
  });

  it("With an HTTPS server", async () => {
    const httpsServer = createHttpsServer(tls);
    app(new Server(httpsServer));
    httpsServer.listen(0);
    const port = await listening(httpsServer);
    expect(await converse(`https://127.0.0.1:${port}`, { rejectUnauthorized: false })).toBe("hi docs over websocket");
  });

  it("With an HTTP/2 server (allowHTTP1, as the docs say, for the WebSocket upgrade)", async () => {
    const h2 = createSecureServer({ allowHTTP1: true, ...tls });
    app(new Server(h2 as never));
    h2.listen(0);
    const port = await listening(h2);
    expect(await converse(`https://127.0.0.1:${port}`, { rejectUnauthorized: false })).toBe("hi docs over websocket");
  });

  it("With Express: new Server(createServer(app)); its routes keep working", async () => {
    const web = express();
    web.get("/", (_req, res) => void res.send("express home"));
    const httpServer = createServer(web);
    app(new Server(httpServer));
    httpServer.listen(0);
    const port = await listening(httpServer);
    expect(await converse(`http://127.0.0.1:${port}`)).toBe("hi docs over websocket");
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe("express home");
  });

  it("With Koa: new Server(createServer(app.callback()))", async () => {
    const web = new Koa();
    web.use((ctx) => {
      ctx.body = "koa home";
    });
    const httpServer = createServer(web.callback());
    app(new Server(httpServer));
    httpServer.listen(0);
    const port = await listening(httpServer);
    expect(await converse(`http://127.0.0.1:${port}`)).toBe("hi docs over websocket");
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe("koa home");
  });

  it("With Fastify: new Server(fastify.server); fastify.close() closes the sessions too", async () => {
    const web = Fastify();
    web.get("/", async () => "fastify home");
    const io = app(new Server(web.server));
    await web.listen({ port: 0, host: "127.0.0.1" });
    const port = (web.server.address() as AddressInfo).port;
    expect(await converse(`http://127.0.0.1:${port}`, { transports: ["polling"] })).toBe("hi docs over polling");
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe("fastify home");
    const closing = web.close();
    web.server.closeAllConnections();
    await closing;
    await waitFor(() => io.engine.clientsCount === 0, { what: "the sessions to close with fastify" });
  });

  it('The README\'s "How to use": require("unio/node")(server), CommonJS, as require("socket.io")(server)', async () => {
    const require = createRequire(import.meta.url);
    // The published CommonJS entry (npm test builds dist/ first).
    const createIo = require(join(root, "cjs", "node.cjs")) as (srv?: unknown, opts?: unknown) => Server;
    const server = createServer();
    const io = app(createIo(server));
    server.listen(0);
    expect(await converse(`http://127.0.0.1:${await listening(server)}`)).toBe("hi docs over websocket");
    // Standalone, the README way: require("socket.io")(); io.listen(3000)
    const standalone = app(createIo());
    standalone.listen(0);
    const port = await listening(standalone.httpServer as HttpServer);
    expect(await converse(`http://127.0.0.1:${port}`)).toBe("hi docs over websocket");
  });
});
