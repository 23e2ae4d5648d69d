/**
 * The chat demo (examples/chat on Node) in a real Chromium: the official
 * browser client, loaded from unio's /socket.io/socket.io.js, over every
 * transport, through a server restart and a network drop.
 */
import { copyFileSync, mkdirSync, statSync } from "node:fs";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  join,
  openChat,
  send,
  textOf,
  waitForDelivered,
  waitForMessage,
  waitForOnline,
  waitForStatus,
  WAIT,
  type ChatPage,
} from "./chat-page.ts";
import { launchBrowser, root, startChat, startProxy, type RunningServer } from "./harness.ts";

let server: RunningServer;
let browser: Browser;
const open: ChatPage[] = [];

async function page(base: string, opts?: Parameters<typeof openChat>[2]): Promise<ChatPage> {
  const p = await openChat(browser, base, opts);
  open.push(p);
  return p;
}

/** A small PNG drawn by the browser itself, as a file a user would pick. */
async function drawPng(p: Page): Promise<Buffer> {
  const dataUrl = await p.evaluate(() => {
    const c = document.createElement("canvas");
    c.width = 160;
    c.height = 90;
    const g = c.getContext("2d")!;
    const grad = g.createLinearGradient(0, 0, 160, 90);
    grad.addColorStop(0, "#5b5bd6");
    grad.addColorStop(1, "#f0a35b");
    g.fillStyle = grad;
    g.fillRect(0, 0, 160, 90);
    g.fillStyle = "#fff";
    g.font = "bold 28px sans-serif";
    g.fillText("unio", 46, 56);
    return c.toDataURL("image/png");
  });
  return Buffer.from(dataUrl.split(",")[1]!, "base64");
}

beforeAll(async () => {
  [server, browser] = await Promise.all([startChat("node"), launchBrowser()]);
}, 60_000);

afterAll(async () => {
  await Promise.allSettled(open.map((p) => p.close()));
  await browser?.close();
  await server?.stop();
});

describe("chat demo in Chromium (Node)", () => {
  it("two people chat: online list, typing indicator, delivered acks, rooms, and a screenshot", async () => {
    const alice = await page(server.url);
    const bob = await page(server.url);
    await join(alice.page, "alice");
    await join(bob.page, "bob");

    // Both see each other online, and the room counts.
    await waitForOnline(alice.page, ["alice", "bob"]);
    await waitForOnline(bob.page, ["alice", "bob"]);
    expect(await textOf(alice.page, '#rooms li[data-room="general"] .n')).toBe("2");
    await alice.page.getByText("bob joined #general").waitFor();

    // Typing shows on the other page, and clears when the message arrives.
    await bob.page.locator("#message-input").pressSequentially("Hey", { delay: 20 });
    await alice.page.locator("#typing", { hasText: "bob is typing…" }).waitFor();
    await bob.page.locator("#message-input").fill("");

    await send(alice.page, "Hi Bob! Have you tried unio yet?");
    await waitForMessage(bob.page, "alice", "Hi Bob! Have you tried unio yet?");
    await waitForDelivered(alice.page, "Hi Bob! Have you tried unio yet?");

    await send(bob.page, "Yes, the same app runs on Node, Bun and Deno.");
    await waitForMessage(alice.page, "bob", "Yes, the same app runs on Node, Bun and Deno.");
    await waitForDelivered(bob.page, "Yes, the same app runs on Node, Bun and Deno.");
    await alice.page.locator("#typing:empty").waitFor({ state: "attached" });

    // An image travels as a binary attachment and shows on the other page.
    await alice.page.locator("#image-input").setInputFiles({
      name: "unio.png",
      mimeType: "image/png",
      buffer: await drawPng(alice.page),
    });
    const received = bob.page.locator('.msg:not(.mine)[data-author="alice"] img');
    await received.waitFor();
    await bob.page.waitForFunction(
      () => (document.querySelector('.msg:not(.mine)[data-author="alice"] img') as HTMLImageElement)?.naturalWidth === 160,
      null,
      { timeout: WAIT },
    );
    await alice.page.locator(".msg.mine:has(img) .state[data-state=delivered]").waitFor();

    await send(alice.page, "Nice. And my messages show when they are delivered.");
    await waitForMessage(bob.page, "alice", "Nice. And my messages show when they are delivered.");
    await waitForDelivered(alice.page, "Nice. And my messages show when they are delivered.");

    // Bob starts typing again: the screenshot shows the indicator.
    await bob.page.locator("#message-input").pressSequentially("Let me try it", { delay: 20 });
    await alice.page.locator("#typing", { hasText: "bob is typing…" }).waitFor();

    mkdirSync(`${root}test-output`, { recursive: true });
    await alice.page.screenshot({ path: `${root}test-output/chat.png`, timeout: WAIT });
    expect(statSync(`${root}test-output/chat.png`).size).toBeGreaterThan(10_000);
    // The README's copy is refreshed on request only, so a test run leaves the tree clean.
    if (process.env.UNIO_UPDATE_DOCS) {
      mkdirSync(`${root}docs`, { recursive: true });
      copyFileSync(`${root}test-output/chat.png`, `${root}docs/chat.png`);
    }

    // Rooms: bob moves to #random; alice sees him go and does not get his messages there.
    await bob.page.locator('#rooms li[data-room="random"] button').click();
    await bob.page.waitForFunction(() => document.getElementById("room-title")?.textContent === "random", null, {
      timeout: WAIT,
    });
    await waitForOnline(alice.page, ["alice"]);
    await alice.page.getByText("bob moved to #random").waitFor();
    await send(bob.page, "anyone in random?");
    await waitForDelivered(bob.page, "anyone in random?");
    await send(alice.page, "still in general");
    await waitForDelivered(alice.page, "still in general");
    expect(await alice.page.locator(".msg", { hasText: "anyone in random?" }).count()).toBe(0);

    expect(alice.errors).toEqual([]);
    expect(bob.errors).toEqual([]);
    await Promise.all([alice.close(), bob.close()]);
  }, 60_000);

  it("loads the client from /socket.io/socket.io.js, connects with the default transports and upgrades to websocket", async () => {
    const p = await page(server.url);
    // The page asked unio for the bundle and got it.
    const script = p.requests.find((u) => new URL(u).pathname === "/socket.io/socket.io.js");
    expect(script).toBeDefined();
    const res = await p.page.evaluate(async () => {
      const r = await fetch("/socket.io/socket.io.js");
      return { status: r.status, type: r.headers.get("content-type"), etag: r.headers.get("etag") };
    });
    expect(res).toEqual({ status: 200, type: "application/javascript; charset=utf-8", etag: '"4.8.4"' });
    expect(await p.page.evaluate(() => typeof (window as unknown as { io: unknown }).io)).toBe("function");

    await join(p.page, "carol", "transports");
    await waitForStatus(p.page, "connected · websocket");
    // Default transports: a polling handshake first, then a WebSocket carrying that session's id.
    const handshake = p.requests.find((u) => u.includes("transport=polling") && !u.includes("sid="));
    expect(handshake).toBeDefined();
    expect(p.websockets.length).toBeGreaterThanOrEqual(1);
    expect(p.websockets[0]).toMatch(/transport=websocket&sid=/);
    expect(await p.page.evaluate(() => (window as any).chat.socket.io.engine.transport.name)).toBe("websocket");

    // And it still works after the upgrade: an ack comes back.
    await send(p.page, "upgraded");
    await waitForDelivered(p.page, "upgraded");
    expect(p.errors).toEqual([]);
    await p.close();
  }, 30_000);

  for (const only of ["polling", "websocket"] as const) {
    it(`${only}-only clients chat`, async () => {
      const a = await page(server.url, { transports: only });
      const b = await page(server.url, { transports: only });
      const room = `${only}-only`;
      await join(a.page, "dave", room);
      await join(b.page, "erin", room);
      await waitForStatus(a.page, `connected · ${only}`);
      await waitForStatus(b.page, `connected · ${only}`);
      await waitForOnline(a.page, ["dave", "erin"]);

      await send(a.page, `hello over ${only}`);
      await waitForMessage(b.page, "dave", `hello over ${only}`);
      await waitForDelivered(a.page, `hello over ${only}`);
      await send(b.page, `reply over ${only}`);
      await waitForMessage(a.page, "erin", `reply over ${only}`);
      await waitForDelivered(b.page, `reply over ${only}`);

      for (const p of [a, b]) {
        if (only === "polling") expect(p.websockets).toEqual([]);
        else expect(p.requests.filter((u) => u.includes("transport=polling"))).toEqual([]);
        expect(await p.page.evaluate(() => (window as any).chat.socket.io.engine.transport.name)).toBe(only);
        expect(p.errors).toEqual([]);
      }
      await Promise.all([a.close(), b.close()]);
    }, 30_000);
  }

  for (const transport of ["websocket", "polling"] as const) {
    it(`binary round trips over ${transport}: ArrayBuffer, Blob, typed array`, async () => {
      const p = await page(server.url, { transports: transport });
      await waitForStatus(p.page, `connected · ${transport}`);
      const result = await p.page.evaluate(async () => {
        const socket = (window as any).chat.socket;
        const ab = new Uint8Array([0, 1, 2, 127, 128, 253, 254, 255]).buffer;
        const blob = new Blob([new Uint8Array([10, 20, 30, 40, 50])], { type: "application/octet-stream" });
        const big = new Uint8Array(200_000);
        for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
        // emitWithAck gives only the first ack argument; the callback form gets them all.
        const [a, b, c, nested] = await new Promise<any[]>((resolve, reject) =>
          socket
            .timeout(5000)
            .emit("echo", ab, blob, big, { label: "nested", bytes: new Uint8Array([9, 8, 7]).buffer }, (err: unknown, ...args: any[]) =>
              err ? reject(err) : resolve(args),
            ),
        );
        const bytes = (x: ArrayBuffer) => Array.from(new Uint8Array(x));
        const cView = new Uint8Array(c);
        let cOk = cView.length === big.length;
        for (let i = 0; cOk && i < big.length; i++) cOk = cView[i] === big[i];
        return {
          kinds: [a, b, c, nested.bytes].map((x) => Object.prototype.toString.call(x)),
          a: bytes(a),
          b: bytes(b),
          cOk,
          nested: { label: nested.label, bytes: bytes(nested.bytes) },
        };
      });
      expect(result.kinds).toEqual(Array(4).fill("[object ArrayBuffer]"));
      expect(result.a).toEqual([0, 1, 2, 127, 128, 253, 254, 255]);
      expect(result.b).toEqual([10, 20, 30, 40, 50]);
      expect(result.cOk).toBe(true);
      expect(result.nested).toEqual({ label: "nested", bytes: [9, 8, 7] });
      expect(await p.page.evaluate(() => (window as any).chat.socket.io.engine.transport.name)).toBe(transport);
      expect(p.errors).toEqual([]);
      await p.close();
    }, 30_000);
  }

  it("the page reconnects by itself after the server restarts", async () => {
    const own = await startChat("node");
    try {
      const alice = await page(own.url);
      const bob = await page(own.url);
      await join(alice.page, "alice");
      await join(bob.page, "bob");
      await waitForOnline(alice.page, ["alice", "bob"]);
      await waitForStatus(alice.page, "connected · websocket");

      await own.kill();
      await waitForStatus(alice.page, /reconnecting/);
      await waitForStatus(bob.page, /reconnecting/);

      const again = await startChat("node", { port: own.port });
      try {
        // Nobody touches the pages: the client's own reconnection brings them back.
        await waitForStatus(alice.page, /^connected/, 20_000);
        await waitForStatus(bob.page, /^connected/, 20_000);
        await alice.page.locator("#toast", { hasText: "Reconnected" }).waitFor();
        // The new server knows nothing: the page joined again by itself, same nickname and room.
        expect(await alice.page.evaluate(() => (window as any).chat.socket.recovered)).toBe(false);
        await waitForOnline(alice.page, ["alice", "bob"]);
        await waitForOnline(bob.page, ["alice", "bob"]);
        await send(bob.page, "back after the restart");
        await waitForMessage(alice.page, "bob", "back after the restart");
        await waitForDelivered(bob.page, "back after the restart");
        for (const p of [alice, bob]) expect(p.errors.filter((e) => e.startsWith("pageerror"))).toEqual([]);
        await Promise.all([alice.close(), bob.close()]);
      } finally {
        await again.stop();
      }
    } finally {
      await own.stop();
    }
  }, 60_000);

  it("recovers its session after a network drop (connection state recovery): same id, missed messages delivered", async () => {
    const proxy = await startProxy(server.port);
    try {
      // Alice reaches the server through a proxy whose "network" the test can cut; Bob connects directly.
      const alice = await page(proxy.url);
      const bob = await page(server.url);
      await join(alice.page, "alice", "recovery");
      await join(bob.page, "bob", "recovery");
      await waitForOnline(bob.page, ["alice", "bob"]);
      await waitForStatus(alice.page, "connected · websocket");
      const idBefore = await alice.page.evaluate(() => (window as any).chat.socket.id as string);

      proxy.drop();
      await waitForStatus(alice.page, /reconnecting/);
      // While Alice is offline, Bob talks.
      await send(bob.page, "sent while alice was offline");
      await waitForDelivered(bob.page, "sent while alice was offline");
      await waitForOnline(bob.page, ["bob"]);
      proxy.restore();

      await waitForStatus(alice.page, /^connected/, 20_000);
      await waitForMessage(alice.page, "bob", "sent while alice was offline");
      await alice.page.locator("#toast", { hasText: "caught up on missed messages" }).waitFor();
      const after = await alice.page.evaluate(() => {
        const s = (window as any).chat.socket;
        return { id: s.id as string, recovered: s.recovered as boolean };
      });
      expect(after).toEqual({ id: idBefore, recovered: true });
      // The message appears once, not twice.
      expect(await alice.page.locator(".msg", { hasText: "sent while alice was offline" }).count()).toBe(1);
      await waitForOnline(bob.page, ["alice", "bob"]);
      // And the recovered session keeps working both ways.
      await send(alice.page, "I am back");
      await waitForMessage(bob.page, "alice", "I am back");
      await waitForDelivered(alice.page, "I am back");
      expect(alice.errors.filter((e) => e.startsWith("pageerror"))).toEqual([]);
      expect(bob.errors).toEqual([]);
      await Promise.all([alice.close(), bob.close()]);
    } finally {
      await proxy.close();
    }
  }, 60_000);
});
