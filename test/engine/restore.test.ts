/**
 * The engine hooks a hibernating runtime needs: session snapshots and
 * restore, pongs answered by the runtime, and coalesced timer wake-ups.
 */
import { describe, expect, it } from "vitest";
import { FakeClock } from "../../src/testing.ts";
import { Scheduler, type TimerTarget } from "../../src/engine/scheduler.ts";
import type { EngineSession } from "../../src/engine/session.ts";
import { createEngine, MemoryWs, openWs } from "../helpers/memory.ts";

describe("session snapshot and restore", () => {
  it("a restored session keeps its sid, pings, and carries messages", async () => {
    const { engine } = createEngine({ pingInterval: 1000, pingTimeout: 500 });
    const { ws } = await openWs(engine, { foo: "bar" });
    const sid = JSON.parse((ws.sent[0] as string).slice(1)).sid;
    const snap = (engine.clients.get(sid) as EngineSession).snapshot();
    expect(snap).toMatchObject({ sid, remoteAddress: "127.0.0.1", supportsBinary: true });
    expect(snap!.url).toContain("foo=bar");

    // A new engine (the woken object) takes over the same socket.
    const { engine: woken, clock } = createEngine({ pingInterval: 1000, pingTimeout: 500 });
    const conn = new MemoryWs();
    const { socket, handler } = woken.restore(JSON.parse(JSON.stringify(snap)), conn);
    conn.handler = handler;
    expect(socket.id).toBe(sid);
    expect(woken.clients.get(sid)).toBe(socket);
    expect(conn.sent).toEqual([]); // no second handshake

    const got: unknown[] = [];
    socket.on("message", (d) => got.push(d));
    conn.receive("4hi");
    expect(got).toEqual(["hi"]);

    clock.advance(0);
    expect(conn.sent).toEqual(["2"]); // restored sessions ping at once: the last ping time was lost
    conn.receive("3");
    clock.advance(1000);
    expect(conn.sent).toEqual(["2", "2"]);
  });

  it("a ping unanswered before the restore keeps its PONG deadline: no pong closes the session then, one keeps it", async () => {
    const { engine } = createEngine({ pingInterval: 1000, pingTimeout: 500 });
    const { ws } = await openWs(engine);
    const snap = JSON.parse(JSON.stringify((engine.clients.get(JSON.parse((ws.sent[0] as string).slice(1)).sid) as EngineSession).snapshot()));
    for (const answered of [false, true]) {
      const { engine: woken, clock } = createEngine({ pingInterval: 1000, pingTimeout: 500 });
      const conn = new MemoryWs() as MemoryWs & { lastAutoPong(): number | null };
      // The ping went out 300 ms before the restore; its deadline is 200 ms away.
      const sentAt = clock.now() - 300;
      conn.lastAutoPong = () => (answered ? sentAt + 50 : null);
      const { socket, handler } = woken.restore(snap, conn, 0, { sentAt, delay: 200 });
      conn.handler = handler;
      const closes: string[] = [];
      socket.on("close", (r) => closes.push(r));
      clock.advance(199);
      expect(conn.sent).toEqual([]); // no second ping
      expect(closes).toEqual([]);
      clock.advance(1);
      if (!answered) {
        expect(closes).toEqual(["ping timeout"]); // at the deadline the ping had before the restore
        continue;
      }
      expect(closes).toEqual([]);
      // The next ping is due pingInterval after the pong: 1000 - (300 - 50) - 200 ms from now.
      clock.advance(549);
      expect(conn.sent).toEqual([]);
      clock.advance(1);
      expect(conn.sent).toEqual(["2"]);
    }
  });

  it("polling sessions have no snapshot (a held GET cannot outlive the object)", async () => {
    const { engine } = createEngine();
    const { handshake } = await import("../helpers/memory.ts");
    const hs = await handshake(engine);
    expect((hs.socket as EngineSession).snapshot()).toBeNull();
  });
});

describe("pongs answered by the runtime", () => {
  it("an auto-answered pong after the ping keeps the session; none closes it", async () => {
    const { engine, clock } = createEngine({ pingInterval: 1000, pingTimeout: 500 });
    const { ws } = await openWs(engine);
    let autoPongAt: number | null = null;
    (ws as MemoryWs & { lastAutoPong(): number | null }).lastAutoPong = () => autoPongAt;
    const sid = JSON.parse((ws.sent[0] as string).slice(1)).sid;
    const closes: string[] = [];
    engine.clients.get(sid)!.on("close", (r) => closes.push(r));

    clock.advance(1000); // ping
    autoPongAt = clock.now() + 10; // the runtime answered the client's "3"
    clock.advance(500);
    expect(closes).toEqual([]);

    clock.advance(1000); // next ping; this time no pong, auto or not
    clock.advance(500);
    expect(closes).toEqual(["ping timeout"]);
  });
});

describe("scheduler granularity", () => {
  it("deadlines close together share one wake-up, none runs early", () => {
    const clock = new FakeClock(0);
    const scheduler = new Scheduler(clock, 1000);
    const ran: Array<[number, number]> = [];
    const target: TimerTarget = { onTimer: (k) => ran.push([k, clock.now()]) };
    scheduler.schedule(target, 1, 100);
    clock.advance(200);
    scheduler.schedule(target, 2, 300); // due at 500
    scheduler.schedule(target, 3, 700); // due at 900
    expect(clock.pendingTimers).toBe(1);
    clock.advance(799);
    expect(ran).toEqual([]);
    clock.advance(1);
    expect(ran).toEqual([
      [1, 1000],
      [2, 1000],
      [3, 1000],
    ]);
  });
});
