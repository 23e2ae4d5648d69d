/**
 * Session state machine, driven through Engine.handleRequest with in-memory
 * requests and a FakeClock: no network, no sleeping.
 */
import { describe, expect, it } from "vitest";
import type { EngineCloseReason, EngineSocket } from "../../src/index.ts";
import {
  bodyText,
  createEngine,
  engineUrl,
  get,
  handshake,
  MemoryRequest,
  post,
  tick,
} from "../helpers/memory.ts";

function closeRecorder(socket: EngineSocket) {
  const closes: Array<{ reason: EngineCloseReason; description: unknown }> = [];
  socket.on("close", (reason, description) => closes.push({ reason, description }));
  return closes;
}

function messages(socket: EngineSocket) {
  const got: Array<string | Uint8Array> = [];
  socket.on("message", (m) => got.push(m));
  return got;
}

async function expectUnknownSid(engine: ReturnType<typeof createEngine>["engine"], sid: string) {
  const res = await engine.handleRequest(new MemoryRequest(engineUrl({ sid })));
  expect(res.status).toBe(400);
  expect(JSON.parse(bodyText(res))).toEqual({ code: 1, message: "Session ID unknown" });
}

describe("handshake", () => {
  it("answers the first GET with the open packet, keys in the reference's order", async () => {
    const { engine, sockets } = createEngine();
    const { response, openJson, sid } = await handshake(engine);
    expect(response.status).toBe(200);
    expect(response.headers["content-type"]).toBe("text/plain; charset=UTF-8");
    expect(response.headers["cache-control"]).toBe("no-store");
    expect(bodyText(response)).toBe(
      `0{"sid":"${sid}","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`,
    );
    expect(Object.keys(JSON.parse(openJson))).toEqual(["sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"]);
    expect(sid).toMatch(/^[A-Za-z0-9_-]{20}$/);
    expect(sockets).toHaveLength(1);
    expect(sockets[0]!.id).toBe(sid);
    expect(sockets[0]!.readyState).toBe("open");
    expect(sockets[0]!.transport.name).toBe("polling");
    expect(engine.clients.get(sid)).toBe(sockets[0]);
    expect(engine.clientsCount).toBe(1);
  });

  it("advertises the configured timings and payload limit", async () => {
    const { engine } = createEngine({ pingInterval: 300, pingTimeout: 200, maxHttpBufferSize: 1234 });
    const { open } = await handshake(engine);
    expect(open).toMatchObject({ pingInterval: 300, pingTimeout: 200, maxPayload: 1234, upgrades: ["websocket"] });
  });

  it("advertises no upgrades when websocket is disabled or allowUpgrades is false", async () => {
    const pollingOnly = createEngine({ transports: ["polling"] });
    expect((await handshake(pollingOnly.engine)).open.upgrades).toEqual([]);
    const noUpgrades = createEngine({ allowUpgrades: false });
    expect((await handshake(noUpgrades.engine)).open.upgrades).toEqual([]);
  });

  it("puts initialPacket right after the open packet, in the same response", async () => {
    const { engine } = createEngine({ initialPacket: "welcome" });
    const { response } = await handshake(engine);
    const parts = bodyText(response).split("\x1e");
    expect(parts).toHaveLength(2);
    expect(parts[0]![0]).toBe("0");
    expect(parts[1]).toBe("4welcome");
  });

  it("gives every session its own id", async () => {
    const { engine } = createEngine();
    const ids = new Set<string>();
    for (let i = 0; i < 50; i++) ids.add((await handshake(engine)).sid);
    expect(ids.size).toBe(50);
  });

  it("uses a custom generateId, and refuses with code 3 when it throws", async () => {
    const ok = createEngine({ generateId: () => "custom-id" });
    expect((await handshake(ok.engine)).sid).toBe("custom-id");
    const bad = createEngine({
      generateId: () => {
        throw new Error("boom");
      },
    });
    const errors: unknown[] = [];
    bad.engine.on("connection_error", (e) => errors.push(e.context));
    const res = await bad.engine.handleRequest(new MemoryRequest(engineUrl()));
    expect(res.status).toBe(400);
    expect(JSON.parse(bodyText(res))).toEqual({ code: 3, message: "Bad request" });
    expect(errors).toEqual([expect.objectContaining({ name: "ID_GENERATION_ERROR" })]);
    expect(bad.engine.clientsCount).toBe(0);
  });

  it("emits initial_headers once and headers on every polling response; both may add headers", async () => {
    const { engine } = createEngine();
    let initial = 0;
    engine.on("initial_headers", (h) => {
      initial++;
      h["x-initial"] = "1";
    });
    engine.on("headers", (h) => {
      h["x-every"] = "1";
    });
    const { sid, response } = await handshake(engine);
    expect(response.headers["x-initial"]).toBe("1");
    expect(response.headers["x-every"]).toBe("1");
    const res = await post(engine, sid, "4x");
    expect(res.headers["x-every"]).toBe("1");
    expect(res.headers["x-initial"]).toBeUndefined();
    expect(initial).toBe(1);
  });
});

describe("polling reads and writes", () => {
  it("holds a GET until something is written", async () => {
    const { engine, sockets } = createEngine();
    const { sid } = await handshake(engine);
    const g = get(engine, sid);
    await tick();
    expect(g.settled).toBe(false);
    sockets[0]!.send("hello");
    const res = await g.promise;
    expect(res.status).toBe(200);
    expect(res.headers["cache-control"]).toBe("no-store");
    expect(res.headers["content-type"]).toBe("text/plain; charset=UTF-8");
    expect(bodyText(res)).toBe("4hello");
  });

  it("batches every send of one tick into a single response separated by \\x1e", async () => {
    const { engine, sockets } = createEngine();
    const { sid } = await handshake(engine);
    const g = get(engine, sid);
    await tick();
    sockets[0]!.send("a");
    sockets[0]!.send("b");
    sockets[0]!.send("c");
    expect(bodyText(await g.promise)).toBe("4a\x1e4b\x1e4c");
  });

  it("keeps sends made with no GET pending and delivers them all, in order, on the next GET", async () => {
    const { engine, sockets } = createEngine();
    const { sid } = await handshake(engine);
    sockets[0]!.send("1");
    await tick();
    sockets[0]!.send("2");
    await tick();
    sockets[0]!.send("3");
    const g = get(engine, sid);
    expect(bodyText(await g.promise)).toBe("41\x1e42\x1e43");
    const g2 = get(engine, sid);
    await tick();
    expect(g2.settled).toBe(false);
  });

  it("writes binary as b<base64> in the polling payload, mixed with text", async () => {
    const { engine, sockets } = createEngine();
    const { sid } = await handshake(engine);
    const g = get(engine, sid);
    await tick();
    sockets[0]!.send(new Uint8Array([1, 2, 3]));
    sockets[0]!.send("t");
    sockets[0]!.send(new Uint8Array([255, 0]));
    expect(bodyText(await g.promise)).toBe("bAQID\x1e4t\x1eb/wA=");
  });

  it("keeps UTF-8 text intact", async () => {
    const { engine, sockets } = createEngine();
    const { sid } = await handshake(engine);
    const got = messages(sockets[0]!);
    await post(engine, sid, "4héllo €😀");
    expect(got).toEqual(["héllo €😀"]);
    const g = get(engine, sid);
    sockets[0]!.send("ünï😀");
    expect(bodyText(await g.promise)).toBe("4ünï😀");
  });

  it("delivers the packets of a POST in order, text and binary, then answers ok", async () => {
    const { engine, sockets } = createEngine();
    const { sid } = await handshake(engine);
    const got = messages(sockets[0]!);
    const res = await post(engine, sid, "4one\x1ebAQID\x1e4three");
    expect(res.status).toBe(200);
    expect(bodyText(res)).toBe("ok");
    expect(res.headers["content-type"]).toBe("text/html");
    expect(res.headers["cache-control"]).toBe("no-store");
    expect(got).toEqual(["one", new Uint8Array([1, 2, 3]), "three"]);
    expect(got[1]).toBeInstanceOf(Uint8Array);
  });

  it("runs the send callback once the data has been written out", async () => {
    const { engine, sockets } = createEngine();
    const { sid } = await handshake(engine);
    let called = 0;
    sockets[0]!.send("x", undefined, () => called++);
    await tick();
    expect(called).toBe(0); // no GET yet: nothing written
    const g = get(engine, sid);
    await g.promise;
    expect(called).toBe(1);
  });

  it("answers a method other than GET and POST with 500 and leaves the session alone", async () => {
    const { engine, sockets } = createEngine();
    const { sid } = await handshake(engine);
    const res = await engine.handleRequest(new MemoryRequest(engineUrl({ sid }), { method: "PUT" }));
    expect(res.status).toBe(500);
    expect(sockets[0]!.readyState).toBe("open");
    expect(engine.clients.has(sid)).toBe(true);
  });

  it("answers 413 to a POST over maxHttpBufferSize without closing the session (as the reference)", async () => {
    const { engine, sockets } = createEngine({ maxHttpBufferSize: 10 });
    const { sid } = await handshake(engine);
    const got = messages(sockets[0]!);
    const res = await post(engine, sid, "4" + "x".repeat(20));
    expect(res.status).toBe(413);
    expect(got).toEqual([]);
    expect(sockets[0]!.readyState).toBe("open");
    expect((await post(engine, sid, "4ok")).status).toBe(200);
    expect(got).toEqual(["ok"]);
  });
});

describe("heartbeat", () => {
  it("sends a PING every pingInterval and closes with 'ping timeout' without a PONG", async () => {
    const { engine, clock, sockets } = createEngine({ pingInterval: 1000, pingTimeout: 500 });
    const { sid } = await handshake(engine);
    const closes = closeRecorder(sockets[0]!);
    const g = get(engine, sid);
    clock.advance(999);
    await tick();
    expect(g.settled).toBe(false);
    clock.advance(1);
    expect(bodyText(await g.promise)).toBe("2");
    const g2 = get(engine, sid);
    clock.advance(499);
    await tick();
    expect(closes).toEqual([]);
    clock.advance(1);
    expect(closes).toEqual([{ reason: "ping timeout", description: undefined }]);
    // The held GET learns about it, and the session is gone.
    expect(bodyText(await g2.promise)).toBe("1");
    expect(engine.clients.has(sid)).toBe(false);
    await expectUnknownSid(engine, sid);
  });

  it("keeps its deadlines when the wall clock steps: they run on the monotonic clock", async () => {
    const { engine, clock, sockets } = createEngine({ pingInterval: 1000, pingTimeout: 500 });
    await handshake(engine);
    const closesA = closeRecorder(sockets[0]!);
    clock.advance(200);
    // NTP steps the system clock back an hour; a session opens; then the clock jumps two hours ahead.
    clock.setWallTime(clock.wallNow() - 3_600_000);
    await handshake(engine);
    const closesB = closeRecorder(sockets[1]!);
    clock.setWallTime(clock.wallNow() + 7_200_000);
    clock.advance(1299);
    expect(closesA).toEqual([]);
    clock.advance(1);
    expect(closesA.map((c) => c.reason)).toEqual(["ping timeout"]);
    clock.advance(199);
    expect(closesB).toEqual([]);
    clock.advance(1);
    expect(closesB.map((c) => c.reason)).toEqual(["ping timeout"]);
  });

  it("re-arms on PONG: the next PING is pingInterval after the PONG, and the session lives on", async () => {
    const { engine, clock, sockets } = createEngine({ pingInterval: 1000, pingTimeout: 500 });
    const { sid } = await handshake(engine);
    const closes = closeRecorder(sockets[0]!);
    let heartbeats = 0;
    sockets[0]!.on("heartbeat", () => heartbeats++);
    for (let round = 0; round < 5; round++) {
      const g = get(engine, sid);
      clock.advance(1000);
      expect(bodyText(await g.promise)).toBe("2");
      clock.advance(400); // pong late but within pingTimeout
      expect((await post(engine, sid, "3")).status).toBe(200);
    }
    expect(heartbeats).toBe(5);
    expect(closes).toEqual([]);
    // Not a fixed rate: the next ping is 1000 ms after the last pong.
    const g = get(engine, sid);
    clock.advance(999);
    await tick();
    expect(g.settled).toBe(false);
    clock.advance(1);
    expect(bodyText(await g.promise)).toBe("2");
  });

  it("does not count other traffic as a heartbeat", async () => {
    const { engine, clock, sockets } = createEngine({ pingInterval: 1000, pingTimeout: 500 });
    const { sid } = await handshake(engine);
    const closes = closeRecorder(sockets[0]!);
    clock.advance(1000); // ping queued
    for (let i = 0; i < 4; i++) {
      clock.advance(100);
      await post(engine, sid, "4busy");
    }
    clock.advance(100);
    expect(closes.map((c) => c.reason)).toEqual(["ping timeout"]);
  });

  it("closes with 'transport error' (invalid heartbeat direction) when the client sends a PING", async () => {
    const { engine, sockets } = createEngine();
    const { sid } = await handshake(engine);
    const closes = closeRecorder(sockets[0]!);
    const g = get(engine, sid);
    await post(engine, sid, "2");
    expect(closes).toHaveLength(1);
    expect(closes[0]!.reason).toBe("transport error");
    expect((closes[0]!.description as Error).message).toBe("invalid heartbeat direction");
    expect(bodyText(await g.promise)).toBe("1");
    await expectUnknownSid(engine, sid);
  });
});

describe("errors a client causes on its session", () => {
  it("overlapping GET: 400, the held GET gets the close packet, reason 'transport error'", async () => {
    const { engine, sockets } = createEngine();
    const { sid } = await handshake(engine);
    const closes = closeRecorder(sockets[0]!);
    const g1 = get(engine, sid);
    await tick();
    const g2 = await get(engine, sid).promise;
    expect(g2.status).toBe(400);
    expect(bodyText(await g1.promise)).toBe("1");
    expect(closes[0]!.reason).toBe("transport error");
    expect((closes[0]!.description as Error).message).toBe("overlap from client");
    await expectUnknownSid(engine, sid);
  });

  it("overlapping POST: 400 and the session closes with 'transport error'", async () => {
    const { engine, sockets } = createEngine();
    const { sid } = await handshake(engine);
    const closes = closeRecorder(sockets[0]!);
    const slow = new MemoryRequest(engineUrl({ sid }), { method: "POST", body: "4first" });
    const release = slow.holdBody();
    const p1 = engine.handleRequest(slow);
    await tick();
    const p2 = await post(engine, sid, "4second");
    expect(p2.status).toBe(400);
    expect(closes.map((c) => c.reason)).toEqual(["transport error"]);
    expect((closes[0]!.description as Error).message).toBe("data request overlap from client");
    release();
    await p1;
    await expectUnknownSid(engine, sid);
  });

  it("an application/octet-stream POST gets 400 and closes the session ('invalid content')", async () => {
    const { engine, sockets } = createEngine();
    const { sid } = await handshake(engine);
    const closes = closeRecorder(sockets[0]!);
    const got = messages(sockets[0]!);
    const res = await post(engine, sid, "4hi", { headers: { "content-type": "application/octet-stream" } });
    expect(res.status).toBe(400);
    expect(got).toEqual([]);
    expect(closes.map((c) => c.reason)).toEqual(["transport error"]);
    expect((closes[0]!.description as Error).message).toBe("invalid content");
  });

  it("a parse error closes with 'parse error'; earlier packets of the payload still arrive; later requests get code 1", async () => {
    const { engine, sockets } = createEngine();
    const { sid } = await handshake(engine);
    const closes = closeRecorder(sockets[0]!);
    const got = messages(sockets[0]!);
    const g = get(engine, sid);
    const res = await post(engine, sid, "4before\x1ex\x1e4after");
    expect(res.status).toBe(200); // the reference answers ok, the session is closed anyway
    expect(got).toEqual(["before"]);
    expect(closes.map((c) => c.reason)).toEqual(["parse error"]);
    expect(bodyText(await g.promise)).toBe("1");
    await expectUnknownSid(engine, sid);
    const late = await post(engine, sid, "4late");
    expect(late.status).toBe(400);
    expect(JSON.parse(bodyText(late)).code).toBe(1);
  });

  it("an empty POST body is a parse error", async () => {
    const { engine, sockets } = createEngine();
    const { sid } = await handshake(engine);
    const closes = closeRecorder(sockets[0]!);
    await post(engine, sid, "");
    expect(closes.map((c) => c.reason)).toEqual(["parse error"]);
  });

  it("client POST `1`: the held GET gets a noop, the POST gets ok, reason 'transport close'", async () => {
    const { engine, sockets } = createEngine();
    const { sid } = await handshake(engine);
    const closes = closeRecorder(sockets[0]!);
    const g = get(engine, sid);
    await tick();
    const res = await post(engine, sid, "1");
    expect(res.status).toBe(200);
    expect(bodyText(res)).toBe("ok");
    expect(bodyText(await g.promise)).toBe("6");
    expect(closes).toEqual([{ reason: "transport close", description: undefined }]);
    await expectUnknownSid(engine, sid);
  });

  it("a GET the client abandons is a transport error", async () => {
    const { engine, sockets } = createEngine();
    const { sid } = await handshake(engine);
    const closes = closeRecorder(sockets[0]!);
    const g = get(engine, sid);
    await tick();
    g.req.abort();
    expect(closes.map((c) => c.reason)).toEqual(["transport error"]);
    expect((closes[0]!.description as Error).message).toBe("poll connection closed prematurely");
  });

  it("ignores packets after the close packet in the same payload", async () => {
    const { engine, sockets } = createEngine();
    const { sid } = await handshake(engine);
    const got = messages(sockets[0]!);
    await post(engine, sid, "4a\x1e1\x1e4b");
    expect(got).toEqual(["a"]);
  });
});

describe("server-side close over polling", () => {
  it("graceful close with a GET pending: the GET carries `1`, reason 'forced close'", async () => {
    const { engine, sockets } = createEngine();
    const { sid } = await handshake(engine);
    const closes = closeRecorder(sockets[0]!);
    const g = get(engine, sid);
    await tick();
    sockets[0]!.close();
    expect(bodyText(await g.promise)).toBe("1");
    expect(closes.map((c) => c.reason)).toEqual(["forced close"]);
    expect(sockets[0]!.readyState).toBe("closed");
    await expectUnknownSid(engine, sid);
  });

  it("graceful close with no GET pending: the next GET gets exactly `6\\x1e1`", async () => {
    const { engine, sockets } = createEngine();
    const { sid } = await handshake(engine);
    const closes = closeRecorder(sockets[0]!);
    sockets[0]!.close();
    expect(sockets[0]!.readyState).toBe("closing");
    expect(closes).toEqual([]);
    sockets[0]!.send("dropped while closing");
    const g = get(engine, sid);
    expect(bodyText(await g.promise)).toBe("6\x1e1");
    expect(closes.map((c) => c.reason)).toEqual(["forced close"]);
    await expectUnknownSid(engine, sid);
  });

  it("graceful close flushes what was queued first, then closes on the next GET", async () => {
    const { engine, sockets } = createEngine();
    const { sid } = await handshake(engine);
    const closes = closeRecorder(sockets[0]!);
    sockets[0]!.send("last words");
    sockets[0]!.close();
    expect(bodyText(await get(engine, sid).promise)).toBe("4last words");
    expect(closes).toEqual([]);
    expect(bodyText(await get(engine, sid).promise)).toBe("6\x1e1");
    expect(closes.map((c) => c.reason)).toEqual(["forced close"]);
  });

  it("a graceful close that never sees a GET ends after 30 s", async () => {
    const { engine, clock, sockets } = createEngine();
    const { sid } = await handshake(engine);
    const closes = closeRecorder(sockets[0]!);
    sockets[0]!.close();
    clock.advance(29_999);
    expect(closes).toEqual([]);
    clock.advance(1);
    expect(closes.map((c) => c.reason)).toEqual(["forced close"]);
    await expectUnknownSid(engine, sid);
  });

  it("close(true) drops the buffer: the held GET gets only `1`", async () => {
    const { engine, sockets } = createEngine();
    const { sid } = await handshake(engine);
    const closes = closeRecorder(sockets[0]!);
    const g = get(engine, sid);
    await tick();
    sockets[0]!.send("never delivered");
    sockets[0]!.close(true);
    expect(bodyText(await g.promise)).toBe("1");
    expect(closes.map((c) => c.reason)).toEqual(["forced close"]);
    await expectUnknownSid(engine, sid);
  });

  it("close(true) with no GET pending removes the session at once", async () => {
    const { engine, sockets } = createEngine();
    const { sid } = await handshake(engine);
    const closes = closeRecorder(sockets[0]!);
    sockets[0]!.send("x");
    sockets[0]!.close(true);
    expect(closes.map((c) => c.reason)).toEqual(["forced close"]);
    await expectUnknownSid(engine, sid);
  });

  it("engine.close() closes every session", async () => {
    const { engine, clock, sockets } = createEngine();
    for (let i = 0; i < 3; i++) await handshake(engine);
    const reasons: string[] = [];
    for (const s of sockets) s.on("close", (r) => reasons.push(r));
    engine.close();
    expect(reasons).toEqual(["forced close", "forced close", "forced close"]);
    expect(engine.clientsCount).toBe(0);
    expect(clock.pendingTimers).toBe(0);
  });

  it("emits close exactly once, whatever happens afterwards", async () => {
    const { engine, clock, sockets } = createEngine({ pingInterval: 100, pingTimeout: 100 });
    const { sid } = await handshake(engine);
    const closes = closeRecorder(sockets[0]!);
    sockets[0]!.close(true);
    sockets[0]!.close();
    sockets[0]!.close(true);
    clock.advance(1000);
    await post(engine, sid, "1");
    expect(closes).toHaveLength(1);
  });
});

describe("write buffer cap (maxBufferedBytes)", () => {
  it("closes a polling session whose client does not read", async () => {
    const { engine, sockets } = createEngine({ maxBufferedBytes: 1000 });
    const { sid } = await handshake(engine);
    const closes = closeRecorder(sockets[0]!);
    sockets[0]!.send("x".repeat(600));
    await tick();
    expect(closes).toEqual([]);
    sockets[0]!.send("y".repeat(600));
    expect(closes.map((c) => c.reason)).toEqual(["transport error"]);
    await expectUnknownSid(engine, sid);
  });

  it("does not close a session that keeps reading, whatever the total", async () => {
    const { engine, sockets } = createEngine({ maxBufferedBytes: 1000 });
    const { sid } = await handshake(engine);
    const closes = closeRecorder(sockets[0]!);
    for (let i = 0; i < 10; i++) {
      const g = get(engine, sid);
      sockets[0]!.send("z".repeat(600));
      expect(bodyText(await g.promise)).toHaveLength(601);
    }
    expect(closes).toEqual([]);
  });
});
