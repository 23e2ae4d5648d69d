/**
 * The engine's production controls with in-memory requests and a FakeClock:
 * handshake limits (maxConnections, handshakeRateLimit and its fixed-size
 * address table), `bufferedAmount` and the low-water-mark "drain", and the
 * counters behind `metrics()`.
 */
import { describe, expect, it } from "vitest";
import { AddressWindows } from "../../src/engine/limits.ts";
import {
  bodyText,
  createEngine,
  get,
  handshake,
  MemoryRequest,
  MemoryWs,
  engineUrl,
  openWs,
  post,
  tick,
  upgradeRequest,
} from "../helpers/memory.ts";

function handshakeFrom(engine: ReturnType<typeof createEngine>["engine"], remoteAddress: string) {
  return engine.handleRequest(new MemoryRequest(engineUrl(), { remoteAddress }));
}

describe("maxConnections", () => {
  it("refuses a polling handshake over the limit with 503, the error JSON and Retry-After; open sessions go on", async () => {
    const { engine, sockets } = createEngine({ maxConnections: 2 });
    const a = await handshake(engine);
    await handshake(engine);
    const refused = await handshakeFrom(engine, "10.0.0.9");
    expect(refused.status).toBe(503);
    expect(refused.headers["retry-after"]).toBe("5");
    expect(refused.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(bodyText(refused))).toEqual({ code: 3, message: "Too many connections" });
    expect(engine.clientsCount).toBe(2);
    // The sessions already open are untouched: a POST and a GET still work.
    expect(bodyText(await post(engine, a.sid, "4hi"))).toBe("ok");
    sockets[0]!.send("back");
    expect(bodyText(await get(engine, a.sid).promise)).toBe("4back");
  });

  it("refuses a WebSocket-only handshake the same way, and admits again once a session closes", async () => {
    const { engine, sockets } = createEngine({ maxConnections: 1 });
    await openWs(engine);
    const refused = await upgradeRequest(engine);
    expect(refused.kind).toBe("reject");
    if (refused.kind !== "reject") return;
    expect(refused.response.status).toBe(503);
    expect(refused.response.headers["retry-after"]).toBe("5");
    expect(JSON.parse(bodyText(refused.response))).toEqual({ code: 3, message: "Too many connections" });
    sockets[0]!.close(true);
    expect((await upgradeRequest(engine)).kind).toBe("accept");
  });

  it("WebSocket handshakes admitted together: the one that opens over the limit is closed with 1013", async () => {
    const { engine, sockets } = createEngine({ maxConnections: 1, metrics: true });
    // Both pass the check before the runtime opens either (Bun opens sockets asynchronously).
    const [first, second] = await Promise.all([upgradeRequest(engine), upgradeRequest(engine)]);
    if (first.kind !== "accept" || second.kind !== "accept") throw new Error("expected both accepted");
    const a = new MemoryWs();
    a.handler = first.open(a);
    const b = new MemoryWs();
    b.handler = second.open(b);
    expect(engine.clientsCount).toBe(1);
    expect(sockets).toHaveLength(1);
    expect(a.closed).toBe(false);
    expect(b.closed).toBe(true);
    expect(b.closeCode).toBe(1013);
    expect(b.sent).toEqual([]);
    // Frames the runtime still delivers to the closed one go nowhere.
    b.handler.onMessage("40");
    expect(engine.counters!.refusedMaxConnections).toBe(1);
  });

  it("never refuses requests of an open session (its polls, posts and upgrade)", async () => {
    const { engine } = createEngine({ maxConnections: 1 });
    const { sid } = await handshake(engine);
    expect((await upgradeRequest(engine, { sid })).kind).toBe("accept");
    expect(bodyText(await post(engine, sid, "4x"))).toBe("ok");
  });

  it("reports the refusal as a connection_error", async () => {
    const { engine } = createEngine({ maxConnections: 1 });
    const errors: unknown[] = [];
    engine.on("connection_error", (e) => errors.push(e.context));
    await handshake(engine);
    await handshakeFrom(engine, "1.2.3.4");
    expect(errors).toEqual([{ name: "TOO_MANY_CONNECTIONS" }]);
  });
});

describe("handshakeRateLimit", () => {
  it("gives an address `max` handshakes per window, then 429 with the seconds left; the next window admits again", async () => {
    const { engine, clock } = createEngine({ handshakeRateLimit: { max: 3, windowMs: 10_000 } });
    for (let i = 0; i < 3; i++) expect((await handshakeFrom(engine, "10.0.0.1")).status).toBe(200);
    clock.advance(2_500);
    const refused = await handshakeFrom(engine, "10.0.0.1");
    expect(refused.status).toBe(429);
    expect(refused.headers["retry-after"]).toBe("8"); // 7.5 s left, rounded up
    expect(JSON.parse(bodyText(refused))).toEqual({ code: 3, message: "Too many requests" });
    // Another address is not affected.
    expect((await handshakeFrom(engine, "10.0.0.2")).status).toBe(200);
    clock.advance(7_500);
    expect((await handshakeFrom(engine, "10.0.0.1")).status).toBe(200);
  });

  it("counts WebSocket-only handshakes too", async () => {
    const { engine } = createEngine({ handshakeRateLimit: { max: 1, windowMs: 1000 } });
    expect((await upgradeRequest(engine, {}, { remoteAddress: "::1" })).kind).toBe("accept");
    const second = await upgradeRequest(engine, {}, { remoteAddress: "::1" });
    expect(second.kind === "reject" && second.response.status).toBe(429);
    expect(second.kind === "reject" && second.response.headers["retry-after"]).toBe("1");
  });

  it("addressOf picks the address behind a proxy", async () => {
    const { engine } = createEngine({
      handshakeRateLimit: { max: 1, windowMs: 60_000, addressOf: (req) => req.headers["x-client-ip"] ?? req.remoteAddress },
    });
    const from = (ip: string) => engine.handleRequest(new MemoryRequest(engineUrl(), { remoteAddress: "10.1.1.1", headers: { "x-client-ip": ip } }));
    expect((await from("203.0.113.1")).status).toBe(200);
    expect((await from("203.0.113.2")).status).toBe(200);
    expect((await from("203.0.113.1")).status).toBe(429);
  });

  it("does not limit requests whose address the runtime cannot tell", async () => {
    const { engine } = createEngine({ handshakeRateLimit: { max: 1, windowMs: 60_000 } });
    for (let i = 0; i < 5; i++) expect((await handshakeFrom(engine, "")).status).toBe(200);
  });
});

describe("AddressWindows (the fixed-size address table)", () => {
  it("keeps its size under a flood of distinct addresses, and a flooding address stays limited while it keeps hitting", () => {
    const table = new AddressWindows({ max: 5, windowMs: 1000, tableSize: 64 });
    expect(table.size).toBe(64);
    for (let i = 0; i < 5; i++) expect(table.hit("203.0.113.7", 0)).toBe(0);
    expect(table.hit("203.0.113.7", 10)).toBe(990);
    // 100,000 spoofed addresses: the table does not grow.
    for (let i = 0; i < 100_000; i++) table.hit(`198.51.${(i >> 8) & 255}.${i & 255}#${i}`, 20);
    expect(table.size).toBe(64);
  });

  it("a full table admits a new address by replacing the oldest window; that address is then limited as usual", () => {
    const table = new AddressWindows({ max: 1, windowMs: 100, tableSize: 16 });
    // Every slot holds a live window started at t=0.
    for (let i = 0; i < 200; i++) table.hit(`a${i}`, 0);
    expect(table.hit("late", 50)).toBe(0);
    expect(table.hit("late", 60)).toBe(90);
    expect(table.hit("late", 149)).toBe(1);
    expect(table.hit("late", 150)).toBe(0);
  });
});

describe("bufferedAmount and bufferedLowWaterMark", () => {
  it("polling: counts what waits for the next GET; the GET empties it", async () => {
    const { engine, sockets } = createEngine();
    const { sid } = await handshake(engine);
    const s = sockets[0]!;
    expect(s.bufferedAmount).toBe(0);
    s.send("x".repeat(100));
    s.send("y".repeat(50));
    expect(s.bufferedAmount).toBe(152); // "4" + data, per packet
    await get(engine, sid).promise;
    expect(s.bufferedAmount).toBe(0);
  });

  it("websocket: adds the runtime's unsent bytes", async () => {
    const { engine, sockets } = createEngine();
    const { ws } = await openWs(engine);
    ws.bufferedAmount = 4096;
    expect(sockets[0]!.bufferedAmount).toBe(4096);
  });

  it("websocket: emits drain once the runtime's buffer falls back under the mark, polled on the shared scheduler", async () => {
    const { engine, sockets, clock } = createEngine({ bufferedLowWaterMark: 1000, maxBufferedBytes: 1e9 });
    const { ws } = await openWs(engine);
    const s = sockets[0]!;
    let drains = 0;
    s.on("drain", () => drains++);
    ws.bufferedAmount = 5000; // the client stopped reading
    s.send("a");
    const timers = clock.pendingTimers;
    clock.advance(200);
    expect(drains).toBe(0);
    ws.bufferedAmount = 900; // under the mark
    clock.advance(50);
    expect(drains).toBe(1);
    clock.advance(1000);
    expect(drains).toBe(1);
    // One runtime timer for everything, as before.
    expect(timers).toBeLessThanOrEqual(1);
  });

  it("without the option nothing is polled and no extra drain comes", async () => {
    const { engine, sockets, clock } = createEngine({ maxBufferedBytes: 1e9 });
    const { ws } = await openWs(engine);
    const before = engine.scheduler.size;
    let drains = 0;
    sockets[0]!.on("drain", () => drains++);
    ws.bufferedAmount = 5000;
    sockets[0]!.send("a");
    expect(engine.scheduler.size).toBe(before);
    ws.bufferedAmount = 0;
    clock.advance(1000);
    expect(drains).toBe(0);
  });
});

describe("counters (metrics: true)", () => {
  it("counts handshakes, refusals, packets, bytes, upgrades and closes", async () => {
    const { engine, sockets } = createEngine({ metrics: true, maxConnections: 2 });
    const { sid } = await handshake(engine);
    await post(engine, sid, "4hello");
    await tick();
    sockets[0]!.send("abc");
    await get(engine, sid).promise;
    const { ws } = await openWs(engine);
    await handshakeFrom(engine, "9.9.9.9");
    ws.clientClose();
    const c = engine.counters!;
    expect(c.handshakesPolling).toBe(1);
    expect(c.handshakesWebsocket).toBe(1);
    expect(c.refusedMaxConnections).toBe(1);
    expect(c.packetsIn).toBe(1);
    expect(c.bytesIn).toBe(6);
    // open packet (polling), "4abc", open packet (websocket)
    expect(c.packetsOut).toBe(3);
    expect(c.closes["transport close"]).toBe(1);
  });

  it("are absent without the option", () => {
    const { engine } = createEngine();
    expect(engine.counters).toBeNull();
  });
});
