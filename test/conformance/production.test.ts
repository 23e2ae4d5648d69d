/**
 * Production controls on every runtime (Node, Bun, Deno, Workers), with
 * official clients and raw HTTP/WebSocket: `ackTimeout`, `maxConnections`
 * and `handshakeRateLimit` (a handshake flood from one address leaves other
 * addresses alone), `eventRateLimit` (an event flood from one socket leaves
 * other sockets alone, memory stays flat), backpressure
 * (`conn.bufferedAmount`, "drain", volatile with `bufferedLowWaterMark`, a
 * client that stops reading), and `io.metrics()`. Not run against the
 * reference server: socket.io has none of these.
 */
import { request } from "node:http";
import { io as ioc, type Socket as ClientSocket } from "socket.io-client";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import type { MetricsSnapshot } from "../../src/index.ts";
import { treeRss } from "../helpers/http-bytes.ts";
import { once, sleep, waitFor, within } from "../helpers/wait.ts";
import { type RunningFixture, startFixture } from "./harness.ts";
import { itWhen, RUNTIMES, selectedRuntimes } from "./runtimes.ts";

const ACK_TIMEOUT = 600;
const LOW_WATER = 64 * 1024;
const HANDSHAKES_PER_MINUTE = 30;
const ENV = {
  FIXTURE_PRODUCTION: JSON.stringify({
    ackTimeout: ACK_TIMEOUT,
    metrics: true,
    eventRateLimit: { rate: 20, burst: 20 },
    handshakeRateLimit: { max: HANDSHAKES_PER_MINUTE, windowMs: 60_000 },
    bufferedLowWaterMark: LOW_WATER,
    maxBufferedBytes: 96 * 1024 * 1024,
    // A client that stops reading does not answer pings either: give it time to catch up.
    pingInterval: 2000,
    pingTimeout: 20_000,
  }),
  FIXTURE_ENGINE_PRODUCTION: JSON.stringify({ maxConnections: 3 }),
};


/** A raw HTTP GET from a chosen local address (127.0.0.2 is another client to the server). */
function getFrom(url: string, localAddress: string): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { localAddress, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** A raw Socket.IO client over WebSocket that can stop reading (pauses its TCP socket). */
async function rawSocketIo(fx: RunningFixture): Promise<{ ws: WebSocket; id: string; frames: string[] }> {
  const ws = new WebSocket(`ws://127.0.0.1:${fx.port}/socket.io/?EIO=4&transport=websocket`);
  const frames: string[] = [];
  const id = await within(
    new Promise<string>((resolve, reject) => {
      ws.on("error", reject);
      ws.on("message", (data) => {
        const text = data.toString();
        if (text === "2") return ws.send("3"); // keep the heartbeat while reading
        frames.push(text);
        if (text.startsWith("0{")) ws.send("40");
        else if (text.startsWith("40{")) resolve(JSON.parse(text.slice(2)).sid as string);
      });
    }),
    { what: "the CONNECT reply" },
  );
  return { ws, id, frames };
}

describe.each(selectedRuntimes(RUNTIMES, []))("production controls on $name", (runtime) => {
  const wsBuffered = runtime.capabilities.wsBufferedAmount !== false;
  const processRss = runtime.capabilities.rssFollowsFloods !== true;
  let fx: RunningFixture;
  const clients: ClientSocket[] = [];

  beforeAll(async () => {
    fx = await startFixture(runtime, ENV);
  });
  afterAll(async () => {
    await fx?.stop();
  });
  afterEach(() => {
    while (clients.length) clients.pop()!.disconnect();
  });

  async function client(nsp = "/", transports: Array<"websocket" | "polling"> = ["websocket"]): Promise<ClientSocket> {
    const c = ioc(`${fx.url}${nsp}`, { forceNew: true, reconnection: false, transports });
    clients.push(c);
    await once(c, "connect", { failOn: "connect_error" });
    return c;
  }

  const metrics = async (c: ClientSocket): Promise<MetricsSnapshot> => (await c.timeout(3000).emitWithAck("metrics")) as MetricsSnapshot;

  describe("ackTimeout", () => {
    it("a socket emitWithAck without timeout() rejects with 'operation has timed out' when the client stays silent", async () => {
      const c = await client();
      c.on("silent-q", () => {});
      const t0 = Date.now();
      const result = await c.timeout(5000).emitWithAck("ask-default", "silent-q");
      expect(result).toEqual({ ok: false, error: "operation has timed out" });
      expect(Date.now() - t0).toBeGreaterThanOrEqual(ACK_TIMEOUT - 50);
    });

    it("an answer in time resolves it", async () => {
      const c = await client();
      c.on("q", (ack: (v: number) => void) => ack(42));
      expect(await c.timeout(5000).emitWithAck("ask-default", "q")).toEqual({ ok: true, value: 42 });
    });

    it("a room broadcast with ack and no timeout() ends at the deadline with the answers received", async () => {
      const asker = await client();
      const answering = await client();
      const silent = await client();
      await answering.timeout(3000).emitWithAck("join", "ack-room");
      await silent.timeout(3000).emitWithAck("join", "ack-room");
      answering.on("q", (ack: (v: string) => void) => ack("here"));
      silent.on("q", () => {});
      const result = await asker.timeout(5000).emitWithAck("ask-room-default", { room: "ack-room", event: "q" });
      expect(result).toEqual({ ok: false, error: "operation has timed out", responses: ["here"] });
      const m = await metrics(asker);
      expect(m.acks.timedOut).toBeGreaterThanOrEqual(2);
    });
  });

  describe("handshake limits", () => {
    it("maxConnections: the 4th Engine.IO session gets 503 + Retry-After (polling and WebSocket-only); a closed one frees a place", async () => {
      const base = `${fx.url}/engine.io/?EIO=4&transport=polling`;
      const sids: string[] = [];
      for (let i = 0; i < 3; i++) {
        const res = await fetch(base);
        expect(res.status).toBe(200);
        sids.push(JSON.parse((await res.text()).slice(1)).sid);
      }
      const full = await fetch(base);
      expect(full.status).toBe(503);
      expect(full.headers.get("retry-after")).toBe("5");
      expect(await full.json()).toEqual({ code: 3, message: "Too many connections" });
      const wsStatus = await new Promise<number>((resolve) => {
        const ws = new WebSocket(`ws://127.0.0.1:${fx.port}/engine.io/?EIO=4&transport=websocket`);
        ws.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
        ws.on("open", () => {
          ws.close();
          resolve(101);
        });
        ws.on("error", () => {});
      });
      expect(wsStatus).toBe(503);
      // The client closes one session: a place is free again.
      const post = await fetch(`${base}&sid=${sids[0]}`, { method: "POST", body: "1" });
      expect(post.status).toBe(200);
      await waitFor(async () => (await fetch(base)).status === 200, { what: "a handshake admitted again" });
    });

    it("a handshake flood from one address gets 429 + Retry-After past the limit; another address connects and works", async () => {
      const url = `${fx.url}/socket.io/?EIO=4&transport=polling`;
      const statuses: number[] = [];
      let refused: { headers: Record<string, unknown>; body: string } | undefined;
      for (let i = 0; i < HANDSHAKES_PER_MINUTE + 20; i++) {
        const res = await getFrom(url, "127.0.0.2");
        statuses.push(res.status);
        if (res.status === 429) refused ??= res;
      }
      expect(statuses.filter((s) => s === 200)).toHaveLength(HANDSHAKES_PER_MINUTE);
      expect(statuses.filter((s) => s === 429)).toHaveLength(20);
      const retryAfter = Number(refused!.headers["retry-after"]);
      expect(retryAfter).toBeGreaterThan(0);
      expect(retryAfter).toBeLessThanOrEqual(60);
      expect(JSON.parse(refused!.body)).toEqual({ code: 3, message: "Too many requests" });
      // A client on another address is unaffected, on either transport.
      const bystander = await client("/", ["polling"]);
      expect(await bystander.timeout(3000).emitWithAck("echo", "still here")).toBe("still here");
      const m = await metrics(bystander);
      expect(m.refused.rateLimit).toBeGreaterThanOrEqual(20);
    });
  });

  describe("eventRateLimit", () => {
    it("an event flood from one socket is cut to the bucket and reported once; other sockets are unaffected; memory stays flat", async () => {
      const flooder = await client();
      // A second namespace on the flooder's own connection, with its own bucket: its answers
      // travel behind every flood frame, so one round trip proves the server took them all in.
      // (The Manager opens it itself: a second connect() would send a second CONNECT, which ends the connection.)
      const sibling = flooder.io.socket("/custom");
      clients.push(sibling);
      await once(sibling, "connect", { failOn: "connect_error" });
      const bystander = await client();
      const limited = once<string>(flooder, "limited", { what: 'the "limited" notice' });
      const flood = async () => {
        for (let round = 0; round < 10; round++) {
          for (let i = 0; i < 2000; i++) flooder.emit("count", "x".repeat(100));
          await sleep(20); // pacing the flood (scenario time)
        }
        await sibling.timeout(15_000).emitWithAck("echo", "sync");
      };
      const t0 = Date.now();
      // The first flood warms the runtime up (heap growth, buffers); a second one must not add as much again.
      await flood();
      const rssBefore = treeRss(fx.pid);
      // The bystander's events all arrive while the second flood goes on.
      const echoes = (async () => {
        const out: unknown[] = [];
        for (let i = 0; i < 5; i++) out.push(await bystander.timeout(10_000).emitWithAck("echo", i));
        return out;
      })();
      const [, answered] = await Promise.all([flood(), echoes]);
      const elapsed = (Date.now() - t0) / 1000;
      const grown = treeRss(fx.pid) - rssBefore;
      expect(answered).toEqual([0, 1, 2, 3, 4]);
      expect(await limited).toBe("count");
      // The bucket: 20 at once, then 20 a second for as long as the flood lasted.
      const delivered = (await sibling.timeout(3000).emitWithAck("counted-of", flooder.id)) as number;
      expect(delivered).toBeGreaterThanOrEqual(20);
      expect(delivered).toBeLessThanOrEqual(20 + Math.ceil(20 * elapsed) + 1);
      expect(flooder.connected).toBe(true);
      const m = await metrics(bystander);
      expect(m.eventsRateLimited).toBeGreaterThanOrEqual(40_000 - delivered);
      // 20,000 dropped events of 110 bytes: nothing of them is kept. Not asserted in workerd,
      // whose own RSS grows by 20-30 MB with any such flood, limited or not (its message queue
      // in front of the object, measured with an event no one listens to and no limit).
      if (processRss) expect(grown).toBeLessThan(32 * 1024 * 1024);
    }, 60_000);
  });

  describe("backpressure", () => {
    it("a polling client that stops polling: bufferedAmount counts what waits for it; its next GET drains it", async () => {
      const observer = await client("/observer");
      const watcher = await client();
      const slow = await client("/", ["polling"]);
      // All of it is queued in one tick, before the pending GET can carry it.
      const drained = once<string>(observer, "drained", { match: (id: string) => id === slow.id, what: '"drain" of the polling client' });
      const filled = (await watcher.timeout(3000).emitWithAck("fill", { target: slow.id, count: 50, size: 4000 })) as {
        bufferedAmount: number;
      };
      expect(filled.bufferedAmount).toBeGreaterThan(LOW_WATER);
      await drained;
      const after = (await watcher.timeout(3000).emitWithAck("buffered", { target: slow.id })) as { bufferedAmount: number };
      expect(after.bufferedAmount).toBeLessThanOrEqual(LOW_WATER);
    });

    itWhen(wsBuffered)(
      "a WebSocket client that stops reading: bufferedAmount grows past the mark, volatile emits to it are dropped, and 'drain' comes once it reads again",
      async () => {
        const observer = await client("/observer");
        const watcher = await client();
        const { ws, id } = await rawSocketIo(fx);
        try {
          const drained = once<string>(observer, "drained", {
            match: (sid: string) => sid === id,
            timeout: 20_000,
            what: '"drain" of the WebSocket client',
          });
          (ws as unknown as { _socket: { pause(): void } })._socket.pause();
          // 2 MB at a time for a client that reads nothing, until the runtime holds 8 MB the
          // kernel's socket buffers could not take (some runtimes count a write as buffered
          // only until the kernel takes it, so a little would pass under the mark again).
          let buffered = 0;
          for (let i = 0; i < 30 && buffered <= 8 * 1024 * 1024; i++) {
            const r = (await watcher.timeout(5000).emitWithAck("fill", { target: id, count: 100, size: 20_000 })) as {
              bufferedAmount: number;
              open: boolean;
            };
            expect(r.open).toBe(true);
            buffered = r.bufferedAmount;
          }
          expect(buffered).toBeGreaterThan(LOW_WATER);
          const flood = (await watcher.timeout(3000).emitWithAck("volatile-flood", { target: id, count: 10 })) as { dropped: number };
          expect(flood.dropped).toBe(10);
          (ws as unknown as { _socket: { resume(): void } })._socket.resume();
          expect(await drained).toBe(id);
        } finally {
          ws.terminate();
        }
      },
      30_000,
    );

    it("volatile with the mark: a client that keeps up gets every volatile emit of a tick (socket.io would drop all but the first)", async () => {
      const watcher = await client();
      const reader = await client();
      let ticks = 0;
      reader.on("tick", () => ticks++);
      const flood = (await watcher.timeout(3000).emitWithAck("volatile-flood", { target: reader.id, count: 10 })) as {
        dropped: number;
      };
      expect(flood.dropped).toBe(0);
      await waitFor(() => ticks >= 10, { what: "10 ticks" });
      expect(ticks).toBe(10);
    });
    it("volatile room broadcasts with the mark: members that keep up get all of a tick's", async () => {
      const watcher = await client();
      const readers = [await client(), await client()];
      const ticks = [0, 0];
      for (const [i, r] of readers.entries()) {
        await r.timeout(3000).emitWithAck("join", "vroom");
        r.on("tick", () => ticks[i]!++);
      }
      const flood = (await watcher.timeout(3000).emitWithAck("volatile-room", { room: "vroom", count: 10 })) as { dropped: number };
      expect(flood.dropped).toBe(0);
      await waitFor(() => ticks[0]! >= 10 && ticks[1]! >= 10, { what: "10 ticks each" });
      expect(ticks).toEqual([10, 10]);
    });
  });

  describe("metrics", () => {
    it("io.metrics() reports connections, handshakes, packets and bytes; the Prometheus text has them", async () => {
      const a = await client();
      await client("/custom", ["polling"]);
      const m = await metrics(a);
      expect(m.counting).toBe(true);
      expect(m.connections.websocket).toBeGreaterThanOrEqual(1);
      expect(m.connections.polling).toBeGreaterThanOrEqual(1);
      expect(m.sockets["/custom"]).toBeGreaterThanOrEqual(1);
      expect(m.handshakes.websocket + m.handshakes.polling).toBeGreaterThanOrEqual(2);
      expect(m.packets.in).toBeGreaterThan(0);
      expect(m.packets.out).toBeGreaterThan(0);
      expect(m.bytes.out).toBeGreaterThan(m.packets.out);
      expect(m.connects).toBeGreaterThanOrEqual(2);
      const text = (await a.timeout(3000).emitWithAck("metrics-text")) as string;
      expect(text).toMatch(/^# HELP unio_connections /);
      expect(text).toMatch(/\nunio_connections\{transport="websocket"\} [1-9]\d*\n/);
      expect(text).toMatch(/\nunio_sockets\{namespace="\/custom"\} [1-9]\d*\n/);
      expect(text).toMatch(/\nunio_packets_total\{direction="in"\} [1-9]\d*\n/);
    });
  });
});
