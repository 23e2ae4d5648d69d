/**
 * The official engine.io-client 3.x against a bare Engine with `allowEIO3`
 * on Node: the Engine.IO layer of socket.io-client 2, on its own.
 */
import { createRequire } from "node:module";
import { afterEach, describe, expect, it } from "vitest";
import { Engine, type EngineOptions, type EngineSocket } from "../../src/index.ts";
import { type Running, startNode } from "../helpers/node.ts";
import { once, waitFor } from "../helpers/wait.ts";

// engine.io-client 3 is CommonJS without types: the surface used here.
interface V3Client {
  id: string;
  transport: { name: string };
  on(ev: string, fn: (...a: any[]) => void): V3Client;
  once(ev: string, fn: (...a: any[]) => void): V3Client;
  off(ev: string, fn: (...a: any[]) => void): V3Client;
  send(data: string | Buffer): void;
  close(): void;
}
const V3Socket = createRequire(import.meta.url)("engine.io-client-v3") as new (url: string, opts: object) => V3Client;

const running: Running[] = [];
const clients: V3Client[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const r of running.splice(0)) await r.close();
});

async function start(opts: EngineOptions = {}) {
  const engine = new Engine({ allowEIO3: true, ...opts });
  const sockets: EngineSocket[] = [];
  engine.on("connection", (s) => {
    sockets.push(s);
    s.on("message", (data) => s.send(data));
  });
  const srv = await startNode(engine);
  running.push(srv);
  return { engine, srv, sockets };
}

function client(url: string, opts: object): V3Client {
  const c = new V3Socket(url, opts);
  clients.push(c);
  return c;
}

const next = <T>(c: V3Client, ev: string) => once<T>(c, ev);

describe.each([
  ["polling", ["polling"], "polling"],
  ["websocket", ["websocket"], "websocket"],
  ["polling upgraded to websocket", ["polling", "websocket"], "websocket"],
] as const)("engine.io-client 3 over %s", (_, transports, finalTransport) => {
  it("opens a v3 session and echoes text and binary", async () => {
    const { srv, sockets } = await start();
    const c = client(srv.url, { transports: [...transports] });
    await next(c, "open");
    expect(sockets[0]!.protocol).toBe(3);
    expect(sockets[0]!.id).toBe(c.id);
    if (finalTransport === "websocket" && c.transport.name !== "websocket") await next(c, "upgrade");
    c.send("héllo 😀");
    expect(await next(c, "message")).toBe("héllo 😀");
    c.send(Buffer.from([1, 2, 3]));
    const bin = await next<Buffer | ArrayBuffer>(c, "message");
    expect([...new Uint8Array(bin as ArrayBuffer)]).toEqual([1, 2, 3]);
    expect(sockets[0]!.transport.name).toBe(finalTransport);
  });

  it("closes from the client (transport close) and from the server", async () => {
    const { srv, sockets } = await start();
    const c = client(srv.url, { transports: [...transports] });
    await next(c, "open");
    const reason = new Promise<string>((resolve) => sockets[0]!.on("close", resolve));
    c.close();
    expect(await reason).toBe("transport close");

    const d = client(srv.url, { transports: [...transports] });
    await next(d, "open");
    const closed = next<string>(d, "close");
    sockets[1]!.close();
    expect(await closed).toBe("transport close");
  });

  it("keeps the session alive with its pings across several intervals", async () => {
    const { srv, sockets } = await start({ pingInterval: 100, pingTimeout: 100 });
    const c = client(srv.url, { transports: [...transports] });
    await next(c, "open");
    let beats = 0;
    sockets[0]!.on("heartbeat", () => beats++);
    let gone = false;
    sockets[0]!.on("close", () => (gone = true));
    // Seven heartbeats span more than three times pingInterval + pingTimeout.
    await waitFor(() => beats >= 7 || gone, { what: "seven heartbeats" });
    expect(sockets[0]!.readyState).toBe("open");
    expect(beats).toBeGreaterThanOrEqual(7);
  });
});
