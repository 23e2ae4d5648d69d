/**
 * socket.io-client 2.x in a real browser (Chromium) against `allowEIO3` on
 * Node. In a browser the v2 client has XHR2, so over polling it sends and
 * reads Engine.IO v3 *binary* payloads (`application/octet-stream`), which
 * the Node build of the client never does (it always asks for `b64`).
 */
import { readFileSync } from "node:fs";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Server } from "../../src/index.ts";
import { type Running, startAttached } from "../helpers/node.ts";
import { launchBrowser, root, watchErrors } from "./harness.ts";

const bundle = readFileSync(`${root}node_modules/socket.io-client-v2/dist/socket.io.js`, "utf8");
const PAGE = `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><script src="/v2.js"></script><body>v2</body>`;

describe("socket.io-client 2 in Chromium", () => {
  let browser: Browser;
  let run: Running;
  let io: Server;
  const postTypes: string[] = [];

  beforeAll(async () => {
    io = new Server({ allowEIO3: true });
    io.engine.on("headers", (_headers, req) => {
      if (req.method === "POST") postTypes.push(req.headers["content-type"] ?? "");
    });
    io.on("connection", (socket) => {
      socket.on("echo", (...args: unknown[]) => {
        const ack = args.pop() as (...a: unknown[]) => void;
        ack(...args);
      });
      socket.on("gift", (ack: (b: Uint8Array) => void) => ack(new Uint8Array([7, 8, 9])));
    });
    run = await startAttached(io, (req, res) => {
      if (req.url === "/v2.js") res.writeHead(200, { "content-type": "application/javascript" }).end(bundle);
      else if (req.url === "/") res.writeHead(200, { "content-type": "text/html" }).end(PAGE);
      else res.writeHead(404).end();
    });
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await run?.close();
  });

  async function open(): Promise<{ page: Page; errors: string[]; responseTypes: string[] }> {
    const page = await browser.newPage();
    const errors = watchErrors(page);
    const responseTypes: string[] = [];
    page.on("response", (r) => {
      if (r.url().includes("/socket.io/") && r.request().method() === "GET") responseTypes.push(r.headers()["content-type"] ?? "");
    });
    await page.goto(run.url + "/");
    return { page, errors, responseTypes };
  }

  it.each([
    ["polling", ["polling"], false],
    ["websocket", ["websocket"], false],
    ["polling upgraded to websocket", ["polling", "websocket"], false],
    ["JSONP polling", ["polling"], true],
  ] as const)("over %s: events, acks and binary both ways", async (name, transports, forceJSONP) => {
    const { page, errors, responseTypes } = await open();
    postTypes.length = 0;
    const result = await page.evaluate(async ({ transports, forceJSONP }) => {
      const w = window as unknown as { io: (url: string, o: object) => any };
      const socket = w.io(location.origin, { transports, forceJSONP, forceNew: true, reconnection: false });
      await new Promise<void>((resolve, reject) => {
        socket.on("connect", () => resolve());
        socket.on("error", (e: unknown) => reject(new Error(String(e))));
      });
      const ask = (...args: unknown[]) => new Promise<unknown[]>((resolve) => socket.emit(...args, (...r: unknown[]) => resolve(r)));
      const [text, bin] = await ask("echo", "héllo", new Uint8Array([1, 2, 3]).buffer);
      const [gift] = await ask("gift");
      const out = {
        id: socket.id as string,
        text,
        bin: Array.from(new Uint8Array(bin as ArrayBuffer)),
        gift: Array.from(new Uint8Array(gift as ArrayBuffer)),
        transport: socket.io.engine.transport.name as string,
      };
      socket.close();
      return out;
    }, { transports: [...transports], forceJSONP });
    expect(result.text).toBe("héllo");
    expect(result.bin).toEqual([1, 2, 3]);
    expect(result.gift).toEqual([7, 8, 9]);
    if (forceJSONP) {
      // Scripts in, forms out.
      expect(responseTypes.length).toBeGreaterThan(0);
      expect(new Set(responseTypes)).toEqual(new Set(["text/javascript; charset=UTF-8"]));
      expect(new Set(postTypes)).toEqual(new Set(["application/x-www-form-urlencoded"]));
    } else if (name === "polling") {
      // XHR2: binary goes both ways as v3 binary payloads.
      expect(postTypes).toContain("application/octet-stream");
      expect(responseTypes).toContain("application/octet-stream");
    }
    expect(errors).toEqual([]);
    await page.close();
  });
});
