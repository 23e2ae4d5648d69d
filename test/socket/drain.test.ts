/**
 * `io.drain()` on fake connections and a FakeClock: the spread of closes
 * over the timeout, the 503 for new handshakes (engine level, polling and
 * WebSocket), acks that hold a client's close back (never past the
 * deadline), the close of the server at the end, metrics, and session
 * persistence with connection state recovery.
 */
import { describe, expect, it } from "vitest";
import { Engine } from "../../src/engine/engine.ts";
import { FakeClock } from "../../src/engine/clock.ts";
import { PacketType } from "../../src/protocol/socket-io.ts";
import { Server } from "../../src/socket/server.ts";
import { bodyText, engineUrl, get, handshake, MemoryRequest, MemoryWs, openWs, upgradeRequest } from "../helpers/memory.ts";
import { connectTo, createServer, type FakeEngineSocket, flush, lastSocket } from "./fake-engine.ts";

/** Resolves-or-not bookkeeping for a Promise the FakeClock drives. */
function settled(p: Promise<unknown>): { done: boolean } {
  const s = { done: false };
  void p.then(() => (s.done = true));
  return s;
}

/** Opens `n` connections to "/" and records the clock time each one closes at. */
async function connectMany(io: Server, clock: FakeClock, n: number): Promise<{ conns: FakeEngineSocket[]; closedAt: Map<FakeEngineSocket, number> }> {
  const conns: FakeEngineSocket[] = [];
  const closedAt = new Map<FakeEngineSocket, number>();
  for (let i = 0; i < n; i++) {
    const conn = await connectTo(io);
    conn.on("close", () => closedAt.set(conn, clock.now()));
    conns.push(conn);
  }
  return { conns, closedAt };
}

describe("io.drain(): spreading", () => {
  it("100 clients over 10 s are closed one by one at even intervals, without DISCONNECT, then the server closes and the Promise resolves", async () => {
    const { io, clock } = createServer({ metrics: true });
    const { conns, closedAt } = await connectMany(io, clock, 100);
    const reasons: string[] = [];
    for (const s of io.of("/").sockets.values()) s.on("disconnect", (r: string) => reasons.push(r));
    for (const c of conns) c.clear();
    const t0 = clock.now();
    const done = settled(io.drain({ timeout: 10_000 }));
    expect(io.draining).toBe(true);
    expect(io.engine.draining).toBe(true);
    // The first connection goes at once, the others in their slots.
    expect(closedAt.size).toBe(1);
    for (let step = 1; step <= 99; step++) {
      clock.advance(100);
      expect(closedAt.size).toBe(step + 1);
    }
    // Connection i closed at i·100 ms exactly (the FakeClock fires each tick on time).
    conns.forEach((c, i) => expect(closedAt.get(c)! - t0).toBe(i * 100));
    // Closed gracefully at the Engine.IO level, and no Socket.IO DISCONNECT (which stops the client reconnecting).
    for (const c of conns) {
      expect(c.closedWith).toEqual({ discard: false });
      expect(c.packets().filter((p) => p.type === PacketType.DISCONNECT)).toEqual([]);
    }
    expect(reasons).toEqual(Array(100).fill("server shutting down"));
    await flush();
    expect(done.done).toBe(true);
    expect(io.engine.clientsCount).toBe(0);
    const m = io.metrics();
    expect(m.drain).toEqual({ draining: true, drained: 100, atDeadline: 0 });
    expect(m.disconnects["server shutting down"]).toBe(100);
    expect(io.metrics({ format: "prometheus" })).toContain('unio_drained_total{when="spread"} 100');
    // One timer for the whole drain (the shared scheduler), none left behind.
    expect(clock.pendingTimers).toBe(0);
  });

  it("5,000 clients over 10 s: ticks are batched (at least 10 ms apart), the spread stays even", async () => {
    const { io, clock } = createServer();
    const { conns, closedAt } = await connectMany(io, clock, 5000);
    const t0 = clock.now();
    const done = settled(io.drain({ timeout: 10_000 }));
    let ticks = 0;
    while (closedAt.size < 5000 && ticks < 2000) {
      clock.advance(10);
      ticks++;
    }
    expect(closedAt.size).toBe(5000);
    // Slot i is at i·2 ms; with 10 ms ticks each connection closes within 10 ms after its slot.
    conns.forEach((c, i) => {
      const late = closedAt.get(c)! - t0 - i * 2;
      expect(late).toBeGreaterThanOrEqual(0);
      expect(late).toBeLessThan(10);
    });
    // Every 1-second window closes about a tenth of them.
    const perSecond = Array(10).fill(0);
    for (const t of closedAt.values()) perSecond[Math.min(9, Math.floor((t - t0) / 1000))]++;
    for (const k of perSecond) expect(Math.abs(k - 500)).toBeLessThanOrEqual(5);
    await flush();
    expect(done.done).toBe(true);
  });

  it("with no client the server closes at once; a second drain() returns the same Promise", async () => {
    const { io } = createServer();
    const a = io.drain({ timeout: 5000 });
    expect(io.drain()).toBe(a);
    await a;
    expect(io.draining).toBe(true);
  });

  it("io.close() during a drain closes everything and resolves the drain", async () => {
    const { io, clock } = createServer();
    const { closedAt } = await connectMany(io, clock, 10);
    const p = io.drain({ timeout: 10_000 });
    const done = settled(p);
    clock.advance(2000);
    expect(closedAt.size).toBe(3);
    await io.close();
    await flush();
    expect(done.done).toBe(true);
    expect(closedAt.size).toBe(10);
  });

  it("a connection that joined no namespace is closed in its slot too", async () => {
    const { io, clock } = createServer();
    const { openConnection } = await import("./fake-engine.ts");
    const bare = openConnection(io);
    const done = settled(io.drain({ timeout: 1000 }));
    expect(bare.readyState).toBe("closed");
    clock.advance(0);
    await flush();
    expect(done.done).toBe(true);
  });
});

describe("io.drain(): acks", () => {
  it("a client the server awaits an ack from is closed once it answers, the others keep their slots", async () => {
    const { io, clock } = createServer({ metrics: true });
    const { conns, closedAt } = await connectMany(io, clock, 10);
    const sockets = [...io.of("/").sockets.values()];
    const answers: unknown[] = [];
    sockets[0]!.emit("job", (a: unknown) => answers.push(a));
    const id = conns[0]!.packets().find((p) => p.type === PacketType.EVENT)!.id!;
    const t0 = clock.now();
    const done = settled(io.drain({ timeout: 1000 }));
    // Slot 0 came, but an ack is awaited: still open while the others go.
    clock.advance(500);
    expect(conns[0]!.readyState).toBe("open");
    expect(closedAt.size).toBe(5);
    conns[0]!.receive(`3${id}["ok"]`);
    await flush();
    expect(answers).toEqual(["ok"]);
    clock.advance(100); // the next tick sees it settled
    expect(closedAt.get(conns[0]!)! - t0).toBe(600);
    clock.advance(400);
    await flush();
    expect(done.done).toBe(true);
    expect(io.metrics().drain).toEqual({ draining: true, drained: 10, atDeadline: 0 });
  });

  it("an ack with a timeout() that expires releases the client before the deadline", async () => {
    const { io, clock } = createServer();
    const { conns } = await connectMany(io, clock, 2);
    const errors: unknown[] = [];
    lastSocket(io).timeout(300).emit("job", (err: unknown) => errors.push(err));
    const t0 = clock.now();
    const closedAt: number[] = [];
    conns[1]!.on("close", () => closedAt.push(clock.now() - t0));
    void io.drain({ timeout: 10_000 });
    clock.advance(5000); // slot of the second connection; its ack expired at 300 ms already
    expect(closedAt).toEqual([5000]);
    expect(errors).toHaveLength(1);
  });

  it("an ack never answered holds the client until the deadline, never later", async () => {
    const { io, clock } = createServer({ metrics: true });
    const { conns, closedAt } = await connectMany(io, clock, 4);
    lastSocket(io).emit("job", () => {}); // no timeout: would wait for ever
    const t0 = clock.now();
    const done = settled(io.drain({ timeout: 2000 }));
    clock.advance(1999);
    expect(closedAt.size).toBe(3);
    expect(conns[3]!.readyState).toBe("open");
    clock.advance(1);
    expect(closedAt.get(conns[3]!)! - t0).toBe(2000);
    await flush();
    expect(done.done).toBe(true);
    expect(io.metrics().drain).toEqual({ draining: true, drained: 4, atDeadline: 1 });
  });
});

describe("io.drain(): connection state recovery", () => {
  it("each drained socket's session is persisted (recoverable reason), with its rooms and data", async () => {
    const { io, clock } = createServer({ connectionStateRecovery: {} });
    await connectMany(io, clock, 3);
    const persisted: Array<{ sid: string; rooms: string[]; data: unknown }> = [];
    const adapter = io.of("/").adapter as unknown as { persistSession(s: any): void };
    const original = adapter.persistSession.bind(adapter);
    adapter.persistSession = (s) => {
      persisted.push(s);
      original(s);
    };
    const sids: string[] = [];
    for (const s of io.of("/").sockets.values()) {
      s.join("room-a");
      s.data = { user: s.id };
      sids.push(s.id);
    }
    void io.drain({ timeout: 300 });
    clock.advance(300);
    expect(persisted.map((p) => p.sid)).toEqual(sids);
    for (const p of persisted) {
      expect(p.rooms).toContain("room-a");
      expect(p.data).toEqual({ user: p.sid });
    }
  });
});

describe("io.drain(): new handshakes (engine)", () => {
  it("polling and WebSocket handshakes get 503 + Retry-After + 'Server is draining'; open sessions keep working", async () => {
    const clock = new FakeClock();
    const io = new Server({ clock, metrics: true, path: "/engine.io" });
    const engine = io.engine;
    const before = await handshake(engine);
    const drained = io.drain({ timeout: 30_000 });
    const res = await engine.handleRequest(new MemoryRequest(engineUrl()));
    expect(res.status).toBe(503);
    expect(res.headers["retry-after"]).toBe("30");
    expect(JSON.parse(bodyText(res))).toEqual({ code: 3, message: "Server is draining" });
    const up = await upgradeRequest(engine);
    expect(up.kind).toBe("reject");
    if (up.kind === "reject") expect(up.response.status).toBe(503);
    expect(io.metrics().refused).toMatchObject({ draining: 2, maxConnections: 0 });
    // The open session was closed gracefully in slot 0: no GET was held, so the close packet waits for the next one,
    // and the drain waits for that (closing the engine first would answer that GET 400, a "transport error").
    expect(before.socket.readyState).toBe("closing");
    const poll = get(engine, before.sid);
    expect(bodyText(await poll.promise)).toBe("6\x1e1");
    expect(before.socket.readyState).toBe("closed");
    clock.advance(100); // the drain's next tick sees it gone
    await drained;
    expect(engine.clientsCount).toBe(0);
  });

  it("engine.drain(): requests of existing sessions (polls, upgrades) still work; Retry-After counts down", async () => {
    const clock = new FakeClock();
    const engine = new Engine({ clock });
    const polling = await handshake(engine);
    engine.drain(10_000);
    expect(engine.draining).toBe(true);
    // A poll of the existing session is served.
    const poll = get(engine, polling.sid);
    polling.socket.send("hello");
    const answer = await poll.promise;
    expect(answer.status).toBe(200);
    expect(bodyText(answer)).toBe("4hello");
    // Its upgrade is accepted.
    const up = await upgradeRequest(engine, { sid: polling.sid });
    expect(up.kind).toBe("accept");
    clock.advance(7_500);
    const res = await engine.handleRequest(new MemoryRequest(engineUrl()));
    expect(res.status).toBe(503);
    expect(res.headers["retry-after"]).toBe("3");
    clock.advance(60_000);
    const late = await engine.handleRequest(new MemoryRequest(engineUrl()));
    expect(late.headers["retry-after"]).toBe("1");
    engine.close();
  });

  it("a WebSocket handshake checked before the drain but opened after it is closed with 1013", async () => {
    const clock = new FakeClock();
    const engine = new Engine({ clock });
    const up = await upgradeRequest(engine);
    expect(up.kind).toBe("accept");
    engine.drain(1000);
    const ws = new MemoryWs();
    if (up.kind === "accept") ws.handler = up.open(ws);
    expect(ws.closed).toBe(true);
    expect(ws.closeCode).toBe(1013);
    expect(engine.clientsCount).toBe(0);
    // Sanity: without a drain the same sequence opens a session.
    const other = new Engine({ clock: new FakeClock() });
    await openWs(other);
    expect(other.clientsCount).toBe(1);
    other.close();
  });
});
