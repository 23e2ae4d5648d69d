/**
 * Integration on Node with the official engine.io-client against serve(),
 * attach() and the express middleware.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Socket, type SocketOptions } from "engine.io-client";
import express from "express";
import { afterEach, describe, expect, it } from "vitest";
import { Engine, type EngineOptions, type EngineSocket } from "../../src/index.ts";
import { middleware } from "../../src/runtimes/node.ts";
import { type Running, startAttached, startNode } from "../helpers/node.ts";
import { once, sleep, waitFor } from "../helpers/wait.ts";

const running: Running[] = [];
const clients: Socket[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const r of running.splice(0)) await r.close();
});

async function start(opts: EngineOptions = {}) {
  const engine = new Engine(opts);
  const sockets: EngineSocket[] = [];
  engine.on("connection", (s) => sockets.push(s));
  const srv = await startNode(engine);
  running.push(srv);
  return { engine, srv, sockets };
}

function client(url: string, opts: Partial<SocketOptions> = {}): Socket {
  const c = new Socket(url, opts);
  clients.push(c);
  return c;
}

const opened = (c: Socket) => once<void>(c, "open", { failOn: "error" });
const nextMessage = (c: Socket) => once<unknown>(c, "message");
const closed = (c: Socket) => once<string>(c, "close");

function bytesOf(data: unknown): number[] {
  if (data instanceof ArrayBuffer) return [...new Uint8Array(data)];
  if (ArrayBuffer.isView(data)) return [...new Uint8Array(data.buffer, data.byteOffset, data.byteLength)];
  throw new Error(`not binary: ${typeof data}`);
}

/** Echo server: text and binary come back as they went. */
function echo() {
  return (s: EngineSocket) => s.on("message", (m) => s.send(m));
}

describe("engine.io-client over each transport", () => {
  it.each([
    ["polling only", ["polling"]],
    ["websocket only", ["websocket"]],
  ] as const)("%s: text and binary both ways", async (_label, transports) => {
    const { engine, srv, sockets } = await start();
    engine.on("connection", echo());
    const c = client(srv.url, { transports: [...transports] });
    await opened(c);
    expect(c.transport.name).toBe(transports[0]);
    await waitFor(() => sockets.length === 1);
    expect(sockets[0]!.transport.name).toBe(transports[0]);
    expect(sockets[0]!.id).toBe(c.id);

    const received: unknown[] = [];
    sockets[0]!.on("message", (m) => received.push(m));
    c.send("héllo €😀");
    expect(await nextMessage(c)).toBe("héllo €😀");
    c.send(new Uint8Array([0, 1, 2, 254, 255]));
    expect(bytesOf(await nextMessage(c))).toEqual([0, 1, 2, 254, 255]);
    expect(received[0]).toBe("héllo €😀");
    expect(received[1]).toBeInstanceOf(Uint8Array);
    expect([...(received[1] as Uint8Array)]).toEqual([0, 1, 2, 254, 255]);
  });

  it("polling upgraded to websocket, and messages keep flowing both ways", async () => {
    const { engine, srv, sockets } = await start();
    engine.on("connection", echo());
    const c = client(srv.url, { transports: ["polling", "websocket"] });
    const upgraded = new Promise<string>((resolve) => c.once("upgrade", (t) => resolve(t.name)));
    await opened(c);
    expect(c.transport.name).toBe("polling");
    expect(await upgraded).toBe("websocket");
    await waitFor(() => sockets[0]?.transport.name === "websocket", { what: "server-side upgrade" });
    c.send("after upgrade");
    expect(await nextMessage(c)).toBe("after upgrade");
    c.send(new Uint8Array([9, 9]));
    expect(bytesOf(await nextMessage(c))).toEqual([9, 9]);
  });

  it("nothing is lost or duplicated while the upgrade happens under load", async () => {
    const { srv, sockets, engine } = await start();
    const serverGot: string[] = [];
    engine.on("connection", (s) => {
      s.on("message", (m) => serverGot.push(m as string));
      // Stream messages to the client from the start, across the upgrade.
      let i = 0;
      const timer = setInterval(() => {
        if (s.readyState !== "open" || i === 60) return clearInterval(timer);
        s.send(`s${i++}`);
      }, 2);
    });
    const c = client(srv.url, { transports: ["polling", "websocket"] });
    const clientGot: string[] = [];
    c.on("message", (m) => clientGot.push(m as string));
    await opened(c);
    for (let i = 0; i < 60; i++) {
      c.send(`c${i}`);
      // Pacing, not waiting: the sends are spread so that the upgrade happens among them.
      await sleep(2);
    }
    await waitFor(() => clientGot.length >= 60 && serverGot.length >= 60, { what: "all messages" });
    // A last message each way: once it arrived, a duplicate of an earlier one would have too.
    c.send("c-end");
    sockets[0]!.send("s-end");
    await waitFor(() => clientGot.includes("s-end") && serverGot.includes("c-end"), { what: "the end markers" });
    expect(sockets[0]!.transport.name).toBe("websocket");
    expect(clientGot).toEqual([...Array.from({ length: 60 }, (_, i) => `s${i}`), "s-end"]);
    expect(serverGot).toEqual([...Array.from({ length: 60 }, (_, i) => `c${i}`), "c-end"]);
  });

  it("100 messages arrive in order over polling, each way", async () => {
    const { srv, sockets } = await start();
    const c = client(srv.url, { transports: ["polling"] });
    await opened(c);
    await waitFor(() => sockets.length === 1);
    const s = sockets[0]!;
    const serverGot: string[] = [];
    s.on("message", (m) => serverGot.push(m as string));
    const clientGot: string[] = [];
    c.on("message", (m) => clientGot.push(m as string));
    for (let i = 0; i < 100; i++) {
      c.send(`up-${i}`);
      s.send(`down-${i}`);
    }
    await waitFor(() => serverGot.length === 100 && clientGot.length === 100, { what: "100 messages" });
    expect(serverGot).toEqual(Array.from({ length: 100 }, (_, i) => `up-${i}`));
    expect(clientGot).toEqual(Array.from({ length: 100 }, (_, i) => `down-${i}`));
  });

  it.each([["polling"], ["websocket"]])("an idle %s session is kept alive by heartbeats", async (transport) => {
    const { srv, sockets } = await start({ pingInterval: 50, pingTimeout: 60 });
    const c = client(srv.url, { transports: [transport] });
    let pings = 0;
    c.on("ping", () => pings++);
    let closeReason: string | undefined;
    c.on("close", (r) => (closeReason = r));
    await opened(c);
    await waitFor(() => sockets.length === 1);
    let heartbeats = 0;
    sockets[0]!.on("heartbeat", () => heartbeats++);
    // Eight pings span more than three times pingInterval + pingTimeout with no traffic but heartbeats.
    await waitFor(() => (pings >= 8 && heartbeats >= 8) || closeReason, { what: "eight pings and heartbeats" });
    expect(closeReason).toBeUndefined();
    expect(sockets[0]!.readyState).toBe("open");
    expect(pings).toBeGreaterThanOrEqual(8);
    expect(heartbeats).toBeGreaterThanOrEqual(8);
  });

  it("a client that stops answering pings is closed with 'ping timeout'", async () => {
    const { srv, sockets } = await start({ pingInterval: 30, pingTimeout: 30 });
    const c = client(srv.url, { transports: ["websocket"] });
    await opened(c);
    await waitFor(() => sockets.length === 1);
    const reason = new Promise<string>((resolve) => sockets[0]!.once("close", resolve));
    // Silence the client's pong: its transport drops every outgoing packet.
    const transport = c.transport as unknown as { write(packets: unknown[]): void };
    transport.write = () => {};
    expect(await reason).toBe("ping timeout");
  });

  it.each([["polling"], ["websocket"]])("a server-side close over %s is 'transport close' for the client", async (transport) => {
    const { srv, sockets } = await start();
    const c = client(srv.url, { transports: [transport] });
    await opened(c);
    await waitFor(() => sockets.length === 1);
    const reason = closed(c);
    sockets[0]!.close();
    expect(await reason).toBe("transport close");
  });

  it.each([["upgrading"], ["upgrade"]] as const)(
    "a server-side close from the %s event is 'transport close' for the client",
    async (event) => {
      const { engine, srv } = await start();
      const serverReasons: string[] = [];
      engine.on("connection", (s) => {
        s.on(event, () => s.close());
        s.on("close", (r) => serverReasons.push(r));
      });
      const c = client(srv.url, { transports: ["polling", "websocket"] });
      const reason = closed(c);
      await opened(c);
      expect(await reason).toBe("transport close");
      expect(serverReasons).toEqual(["forced close"]);
      expect(engine.clientsCount).toBe(0);
    },
  );

  it("a client close is 'transport close' on the server", async () => {
    const { srv, sockets } = await start();
    const c = client(srv.url, { transports: ["polling"] });
    await opened(c);
    await waitFor(() => sockets.length === 1);
    const reason = new Promise<string>((resolve) => sockets[0]!.once("close", resolve));
    c.close();
    expect(await reason).toBe("transport close");
  });

  it.each([["polling"], ["websocket"]])("allowRequest refusing: the %s client errors and no session opens", async (transport) => {
    const { srv, sockets, engine } = await start({ allowRequest: (_req, cb) => cb("nope", false) });
    const c = client(srv.url, { transports: [transport], reconnection: false } as Partial<SocketOptions>);
    const error = new Promise<unknown>((resolve) => c.once("error", resolve));
    const reason = closed(c);
    expect(await error).toBeTruthy();
    expect(await reason).toBe("transport error");
    expect(sockets).toHaveLength(0);
    expect(engine.clientsCount).toBe(0);
  });

  it.each([["polling"], ["websocket"]])("forceBase64 over %s: binary still arrives as bytes both ways", async (transport) => {
    const { engine, srv, sockets } = await start();
    engine.on("connection", echo());
    const c = client(srv.url, { transports: [transport], forceBase64: true });
    await opened(c);
    await waitFor(() => sockets.length === 1);
    const got: unknown[] = [];
    sockets[0]!.on("message", (m) => got.push(m));
    c.send(new Uint8Array([5, 6, 7]));
    expect(bytesOf(await nextMessage(c))).toEqual([5, 6, 7]);
    expect(got[0]).toBeInstanceOf(Uint8Array);
  });

  it("engine.close() ends every client's session, whatever its transport", async () => {
    const { engine, srv, sockets } = await start();
    const a = client(srv.url, { transports: ["polling"] });
    const b = client(srv.url, { transports: ["websocket"] });
    await Promise.all([opened(a), opened(b)]);
    await waitFor(() => sockets.length === 2);
    // close(true) answers a held GET with `1`; with no GET held the session just goes
    // (the client then learns it from a 400), as the reference does.
    const polling = sockets.find((s) => s.transport.name === "polling")!;
    await waitFor(() => polling.transport.writable, { what: "held GET" });
    const reasons = Promise.all([closed(a), closed(b)]);
    engine.close();
    expect(await reasons).toEqual(["transport close", "transport close"]);
    expect(engine.clientsCount).toBe(0);
  });

  it("a large binary message survives polling (base64) and websocket", async () => {
    const { engine, srv } = await start({ maxHttpBufferSize: 2e6 });
    engine.on("connection", echo());
    const big = new Uint8Array(300_000).map((_, i) => (i * 7) & 255);
    for (const transport of ["polling", "websocket"]) {
      const c = client(srv.url, { transports: [transport] });
      await opened(c);
      c.send(big);
      const back = bytesOf(await nextMessage(c));
      expect(back.length).toBe(big.length);
      expect(back).toEqual([...big]);
    }
  });

  it("initialPacket reaches the client right after open", async () => {
    const { srv } = await start({ initialPacket: "welcome" });
    const c = client(srv.url, { transports: ["polling"] });
    const first = nextMessage(c);
    await opened(c);
    expect(await first).toBe("welcome");
  });
});

describe("attach() and middleware()", () => {
  it("attach() to an existing http.Server keeps the app's own routes working", async () => {
    const engine = new Engine();
    const sockets: EngineSocket[] = [];
    engine.on("connection", (s) => {
      sockets.push(s);
      s.on("message", (m) => s.send(m));
    });
    const srv = await startAttached(engine, (req, res) => {
      res.writeHead(200, { "content-type": "text/plain" }).end(`app saw ${req.url}`);
    });
    running.push(srv);
    const app = await fetch(`${srv.url}/hello?x=1`);
    expect(app.status).toBe(200);
    expect(await app.text()).toBe("app saw /hello?x=1");
    const c = client(srv.url, { transports: ["polling", "websocket"] });
    const upgraded = new Promise<void>((resolve) => c.once("upgrade", () => resolve()));
    await opened(c);
    await upgraded;
    c.send("ping me");
    expect(await nextMessage(c)).toBe("ping me");
    expect(await (await fetch(`${srv.url}/still-here`)).text()).toBe("app saw /still-here");
  });

  it("express app.use(middleware(engine)): polling, upgrade, and next() for other routes", async () => {
    const engine = new Engine();
    const sockets: EngineSocket[] = [];
    engine.on("connection", (s) => {
      sockets.push(s);
      s.on("message", (m) => s.send(m));
    });
    const app = express();
    app.use(middleware(engine));
    app.get("/hello", (_req, res) => {
      res.send("express says hi");
    });
    const server = createServer(app);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    const url = `http://127.0.0.1:${port}`;
    running.push({
      server,
      port,
      url,
      wsUrl: `ws://127.0.0.1:${port}`,
      async close() {
        engine.close();
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      },
    });

    const hello = await fetch(`${url}/hello`);
    expect(await hello.text()).toBe("express says hi");
    const missing = await fetch(`${url}/nothing-here`);
    expect(missing.status).toBe(404); // express's own 404, reached through next()
    await missing.text();

    const c = client(url, { transports: ["polling", "websocket"] });
    const upgraded = new Promise<string>((resolve) => c.once("upgrade", (t) => resolve(t.name)));
    await opened(c);
    expect(await upgraded).toBe("websocket");
    await waitFor(() => sockets[0]?.transport.name === "websocket");
    c.send("through express");
    expect(await nextMessage(c)).toBe("through express");
  });

  it("express middleware: a WebSocket-only client before any HTTP request is told to retry (503), then connects", async () => {
    // Documented limitation of middleware(): Node hands upgrades to the http.Server,
    // not to express, so the upgrade hook is installed by the first request seen.
    const engine = new Engine();
    const app = express();
    app.use(middleware(engine));
    const server = createServer(app);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    const url = `http://127.0.0.1:${port}`;
    running.push({
      server,
      port,
      url,
      wsUrl: `ws://127.0.0.1:${port}`,
      async close() {
        engine.close();
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      },
    });
    const first = client(url, { transports: ["websocket"] });
    const err = await new Promise<unknown>((resolve) => first.once("error", resolve));
    const description = (err as { description?: { message?: string } }).description;
    expect(String(description?.message ?? description)).toMatch(/503/);
    const second = client(url, { transports: ["websocket"] });
    await opened(second);
    expect(second.transport.name).toBe("websocket");
  });
});
