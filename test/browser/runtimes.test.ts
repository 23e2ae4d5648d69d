/**
 * The same chat app (examples/chat/app.ts) from its Bun and Deno entry
 * points (examples/bun/chat.ts, examples/deno/chat.ts), in Chromium: the
 * page and the client bundle load, the client upgrades to websocket, two
 * people chat and see acks, and a binary attachment makes the round trip.
 * (Node is covered in depth by chat.test.ts.)
 */
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { join, openChat, send, waitForDelivered, waitForMessage, waitForOnline, waitForStatus } from "./chat-page.ts";
import { launchBrowser, selectedRuntimes, startChat, type RunningServer } from "./harness.ts";

const runtimes = selectedRuntimes().filter((r) => r !== "node");

describe.runIf(runtimes.length > 0)("chat demo on other runtimes", () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchBrowser();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
  });

  for (const runtime of runtimes) {
    describe(runtime, () => {
      let server: RunningServer;
      beforeAll(async () => {
        server = await startChat(runtime);
      }, 60_000);
      afterAll(async () => {
        await server?.stop();
      });

      it("two pages chat over websocket after the upgrade, with acks and binary", async () => {
        const alice = await openChat(browser, server.url);
        const bob = await openChat(browser, server.url);
        try {
          expect(alice.requests.some((u) => new URL(u).pathname === "/socket.io/socket.io.js")).toBe(true);
          await join(alice.page, "alice");
          await join(bob.page, "bob");
          await waitForStatus(alice.page, "connected · websocket");
          await waitForStatus(bob.page, "connected · websocket");
          expect(alice.websockets[0]).toMatch(/transport=websocket&sid=/);
          await waitForOnline(alice.page, ["alice", "bob"]);

          await bob.page.locator("#message-input").pressSequentially("hm", { delay: 20 });
          await alice.page.locator("#typing", { hasText: "bob is typing…" }).waitFor();
          await send(bob.page, `hello from ${runtime}`);
          await waitForMessage(alice.page, "bob", `hello from ${runtime}`);
          await waitForDelivered(bob.page, `hello from ${runtime}`);

          const echoed = await alice.page.evaluate(
            () =>
              new Promise<number[]>((resolve, reject) =>
                (window as any).chat.socket
                  .timeout(5000)
                  .emit("echo", new Blob([new Uint8Array([1, 2, 3, 250])]), (err: unknown, data: ArrayBuffer) =>
                    err ? reject(err) : resolve(Array.from(new Uint8Array(data))),
                  ),
              ),
          );
          expect(echoed).toEqual([1, 2, 3, 250]);
          expect(alice.errors).toEqual([]);
          expect(bob.errors).toEqual([]);
        } finally {
          await Promise.all([alice.close(), bob.close()]);
        }
      }, 60_000);
    });
  }
});
