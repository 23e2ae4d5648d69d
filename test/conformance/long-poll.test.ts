/**
 * A long-poll is held until the server has something to say, however long
 * that is within pingInterval: Bun cuts requests idle for 10 s by default,
 * so the Bun shim must lift that for held GETs. Checked on every process
 * runtime with a ping interval past those 10 s; the three run at once.
 * And a client that abandons a held GET ends its session at once (the
 * reference's "poll connection closed prematurely"), not at the ping timeout.
 */
import { describe, expect, it } from "vitest";
import { startFixture } from "./harness.ts";
import { processRuntimes } from "./runtimes.ts";

const PING_INTERVAL = 11_500;
const only = process.env.UNIO_RUNTIMES?.split(",");
const runtimes = processRuntimes("test/conformance/fixtures").filter((r) => !only || only.includes(r.name));

describe("long-polling", () => {
  it.concurrent.each(runtimes)(
    "$name: a GET is held past 10 s of silence and answered with the ping",
    async (runtime) => {
      const fx = await startFixture(runtime, { FIXTURE_PING_INTERVAL: String(PING_INTERVAL) });
      try {
        const base = `${fx.url}/engine.io/?EIO=4&transport=polling`;
        const open = await (await fetch(base)).text();
        const { sid, pingInterval } = JSON.parse(open.slice(1)) as { sid: string; pingInterval: number };
        expect(pingInterval).toBe(PING_INTERVAL);
        const t0 = Date.now();
        const res = await fetch(`${base}&sid=${sid}`);
        const body = await res.text();
        const held = Date.now() - t0;
        expect(res.status).toBe(200);
        expect(body).toBe("2");
        expect(held).toBeGreaterThan(10_500);
        // The session is alive: the pong is accepted and a message goes through.
        const post = await fetch(`${base}&sid=${sid}`, { method: "POST", body: "3\x1e4hello" });
        expect(await post.text()).toBe("ok");
        expect(await (await fetch(`${base}&sid=${sid}`)).text()).toBe("4hello");
      } finally {
        await fx.stop();
      }
    },
    30_000,
  );

  it.concurrent.each(runtimes)(
    "$name: a held GET its client abandons ends the session at once, long before the ping timeout",
    async (runtime) => {
      const fx = await startFixture(runtime, { FIXTURE_PING_INTERVAL: String(PING_INTERVAL) });
      try {
        const base = `${fx.url}/engine.io/?EIO=4&transport=polling`;
        const { sid } = JSON.parse((await (await fetch(base)).text()).slice(1)) as { sid: string };
        const noop = () => fetch(`${base}&sid=${sid}`, { method: "POST", body: "6" }).then((r) => r.status);
        expect(await noop()).toBe(200);
        const ac = new AbortController();
        const held = fetch(`${base}&sid=${sid}`, { signal: ac.signal }).catch((e: Error) => e);
        await new Promise((r) => setTimeout(r, 300));
        ac.abort();
        expect(await held).toBeInstanceOf(Error);
        // The session is gone within a second or two (pingInterval + pingTimeout is over 30 s here).
        const t0 = Date.now();
        while ((await noop()) === 200) {
          expect(Date.now() - t0).toBeLessThan(3000);
          await new Promise((r) => setTimeout(r, 50));
        }
        expect(await noop()).toBe(400);
      } finally {
        await fx.stop();
      }
    },
    30_000,
  );
});
