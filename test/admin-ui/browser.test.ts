/**
 * The Admin UI page itself (the Vue app shipped in @socket.io/admin-ui's
 * ui/dist) in Debian's Chromium, against an instrumented unio server on
 * Node: logging in, the dashboard, the socket list, and the disconnect
 * button of a socket row, whose effect the real app client sees. Every run
 * writes test-output/admin-ui.png (UNIO_UPDATE_DOCS=1 copies it to docs/).
 */
import { copyFileSync, mkdirSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { instrument } from "@socket.io/admin-ui";
import bcrypt from "bcryptjs";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Server } from "../../src/index.ts";
import { attach } from "../../src/runtimes/node.ts";
import { launchBrowser, root } from "../browser/harness.ts";
import { app } from "./app.ts";
import { connectApp, nextEvent } from "./helpers.ts";

const UI = new URL("../../node_modules/@socket.io/admin-ui/ui/dist/", import.meta.url);
const TYPES: Record<string, string> = {
  html: "text/html",
  js: "application/javascript",
  css: "text/css",
  svg: "image/svg+xml",
  png: "image/png",
  map: "application/json",
};
const WAIT = 10_000;

let http: HttpServer;
let io: Server;
let url: string;
let browser: Browser;

beforeAll(async () => {
  // The UI's files under /ui/, the Socket.IO server beside them.
  http = createServer(async (req, res) => {
    const name = (req.url ?? "/").split("?")[0]!.replace(/^\/ui\/?/, "") || "index.html";
    if (name.includes("..")) return void res.writeHead(404).end();
    try {
      const body = await readFile(new URL(name, UI));
      res.writeHead(200, { "content-type": TYPES[name.split(".").pop()!] ?? "application/octet-stream" }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  io = new Server();
  app(io);
  instrument(io as any, {
    auth: { type: "basic", username: "admin", password: bcrypt.hashSync("letmein", 4) },
    mode: "development",
  });
  attach(io, http);
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", () => r()));
  url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await io?.close();
  http?.closeAllConnections();
  await new Promise<void>((r) => (http ? http.close(() => r()) : r()));
});

async function openPage(): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  // Fonts and icons come from CDNs, out of reach here: refuse them at once.
  await page.route(/fonts\.googleapis|cdn\.jsdelivr/, (r) => r.abort());
  // What the page keeps from an earlier visit: the server's URL.
  await page.addInitScript((u) => localStorage.setItem("server_url", u), url);
  await page.goto(`${url}/ui/`);
  return page;
}

describe("the Admin UI page against unio", () => {
  it("logs in, shows the dashboard and the sockets, and disconnects a socket from its row", async () => {
    const alice = await connectApp(url, { transports: ["websocket"], auth: { user: "alice" } });
    const bob = await connectApp(url, { transports: ["polling"], auth: { user: "bob" } });
    const page = await openPage();
    try {
      // The page tries without credentials first, and asks for them.
      await page.getByText("Invalid credentials").waitFor({ timeout: WAIT });
      await page.getByLabel("Username").fill("admin");
      await page.getByLabel("Password").fill("letmein");
      await page.getByRole("button", { name: "Connect" }).click();
      await page.getByText(/^connected$/i).first().waitFor({ timeout: WAIT });

      // Dashboard: the namespaces with their socket counts, the server healthy.
      const namespaces = page.locator(".v-card", { hasText: "Namespaces" });
      await expect.poll(() => namespaces.innerText(), { timeout: WAIT }).toMatch(/\/\s+2\b/);
      expect(await namespaces.innerText()).toMatch(/\/admin\s+1\b/);
      await expect.poll(() => page.locator(".v-card", { hasText: "Servers" }).first().innerText(), { timeout: WAIT }).toMatch(/HEALTHY\s+1\b/);
      mkdirSync(`${root}test-output`, { recursive: true });
      await page.waitForTimeout(1500); // the charts' animation
      await page.screenshot({ path: `${root}test-output/admin-ui.png` });
      expect(statSync(`${root}test-output/admin-ui.png`).size).toBeGreaterThan(10_000);
      if (process.env.UNIO_UPDATE_DOCS) copyFileSync(`${root}test-output/admin-ui.png`, `${root}docs/admin-ui.png`);

      // Sockets: one row per app socket, with its address and transport.
      await page.getByText("Sockets", { exact: true }).first().click();
      const aliceRow = page.locator("tr", { hasText: alice.id! });
      const bobRow = page.locator("tr", { hasText: bob.id! });
      await aliceRow.waitFor({ timeout: WAIT });
      await bobRow.waitFor({ timeout: WAIT });
      expect(await aliceRow.innerText()).toMatch(/127\.0\.0\.1\s+WebSocket/);
      expect(await bobRow.innerText()).toMatch(/127\.0\.0\.1\s+HTTP long-polling/);

      // The row's button disconnects that socket (the click also opens the socket's page):
      // bob's client is told by the server, and his page shows him disconnected.
      const bobId = bob.id!;
      const bobGone = nextEvent(bob, "disconnect", WAIT);
      await bobRow.getByRole("button").click();
      expect((await bobGone)[0]).toBe("io server disconnect");
      const details = page.locator(".v-card", { hasText: "Details" });
      await expect.poll(() => details.innerText(), { timeout: WAIT }).toMatch(/Namespace\s+\/\s+ID\s+\S+\s+Data[\s\S]*"user": "bob"[\s\S]*Status\s+disconnected/i);
      expect(await details.innerText()).toContain(bobId);
      // Back to the list: bob's row is gone, alice is still there.
      await page.getByRole("link", { name: "Sockets" }).first().click();
      await aliceRow.waitFor({ timeout: WAIT });
      await expect.poll(() => page.locator("tr", { hasText: bobId }).count(), { timeout: WAIT }).toBe(0);
      expect(alice.connected).toBe(true);
    } catch (err) {
      await page.screenshot({ path: `${root}test-output/admin-ui-failure.png` }).catch(() => {});
      throw err;
    } finally {
      await page.close();
      alice.disconnect();
      bob.disconnect();
    }
  });
});
