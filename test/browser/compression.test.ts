/**
 * Compression with a real browser (Chromium, which always sends
 * Accept-Encoding and always offers permessage-deflate): large messages
 * over polling arrive through gzip responses, and over WebSocket through
 * compressed frames both ways, on the Node shim.
 */
import { createServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Server } from "../../src/index.ts";
import { attach } from "../../src/runtimes/node.ts";
import { launchBrowser, watchErrors } from "./harness.ts";

/** The parts of ws's server-side socket read here: the negotiated extension and byte counts. */
interface WsWire {
  extensions: string;
  _socket: { bytesRead: number; bytesWritten: number };
}

describe("compression in Chromium (Node)", () => {
  let browser: Browser;
  let http: HttpServer;
  let io: Server;
  let url: string;
  const encodings: Array<string | undefined> = [];
  const sockets: WsWire[] = [];

  beforeAll(async () => {
    browser = await launchBrowser();
    io = new Server({ perMessageDeflate: true });
    io.on("connection", (socket) => {
      const conn = (socket.conn as unknown as { transport: { conn?: WsWire } }).transport.conn;
      if (conn) sockets.push(conn);
      socket.on("big", (n: number, ack: (s: string) => void) => ack("z".repeat(n)));
      socket.on("echo", (text: string, ack: (s: string) => void) => ack(text));
    });
    http = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/html" });
      res.end('<!doctype html><script src="/socket.io/socket.io.js"></script>');
    });
    attach(io, http);
    // What the server answered to each polling request, seen as it goes out (after attach(), which takes over `request`).
    http.prependListener("request", (_req, res) => {
      const writeHead = res.writeHead;
      res.writeHead = function (this: typeof res, ...args: Parameters<typeof writeHead>) {
        const h = args[args.length - 1];
        if (h && typeof h === "object") encodings.push((h as Record<string, string>)["content-encoding"]);
        return writeHead.apply(this, args);
      } as typeof writeHead;
    });
    await new Promise<void>((r) => http.listen(0, "127.0.0.1", () => r()));
    url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/`;
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await io?.close();
    http?.closeAllConnections();
    await new Promise<void>((r) => (http ? http.close(() => r()) : r()));
  });

  async function page() {
    const p = await browser.newPage();
    const errors = watchErrors(p);
    await p.goto(url);
    await p.waitForFunction(() => typeof (window as { io?: unknown }).io === "function");
    return { p, errors };
  }

  it("a large message over polling comes in a gzip response and decodes whole", async () => {
    const { p, errors } = await page();
    try {
      encodings.length = 0;
      const length = await p.evaluate(async () => {
        const s = (window as any).io({ transports: ["polling"] });
        await new Promise((r) => s.once("connect", r));
        const text: string = await s.timeout(5000).emitWithAck("big", 50_000);
        s.disconnect();
        return text === "z".repeat(50_000) ? text.length : -1;
      });
      expect(length).toBe(50_000);
      expect(encodings).toContain("gzip");
      expect(errors).toEqual([]);
    } finally {
      await p.close();
    }
  }, 30_000);

  it("over WebSocket, permessage-deflate is negotiated and large frames are compressed both ways", async () => {
    const { p, errors } = await page();
    try {
      sockets.length = 0;
      await p.evaluate(async () => {
        const s = (window as any).io({ transports: ["websocket"] });
        (window as any).s = s;
        await new Promise((r) => s.once("connect", r));
      });
      expect(sockets).toHaveLength(1);
      const ws = sockets[0]!;
      expect(ws.extensions).toContain("permessage-deflate");
      const before = { read: ws._socket.bytesRead, written: ws._socket.bytesWritten };
      const ok = await p.evaluate(async () => {
        const s = (window as any).s;
        const text = "chat message ".repeat(4000);
        const back: string = await s.timeout(5000).emitWithAck("echo", text);
        s.disconnect();
        return back === text;
      });
      expect(ok).toBe(true);
      // 52,000 characters each way; compressed, a few hundred bytes.
      expect(ws._socket.bytesRead - before.read).toBeLessThan(2000);
      expect(ws._socket.bytesWritten - before.written).toBeLessThan(2000);
      expect(errors).toEqual([]);
    } finally {
      await p.close();
    }
  }, 30_000);
});
