/**
 * The shared scheduler: one runtime timer for every deadline of an engine.
 */
import { describe, expect, it } from "vitest";
import { FakeClock } from "../../src/testing.ts";
import { Scheduler, type TimerTarget } from "../../src/engine/scheduler.ts";
import { bodyText, createEngine, get, handshake, openWs, post, tick } from "../helpers/memory.ts";

describe("Scheduler", () => {
  it("calls targets in deadline order across different delays, each at its own time", () => {
    const clock = new FakeClock(0);
    const scheduler = new Scheduler(clock);
    const fired: Array<[string, number]> = [];
    const target = (name: string): TimerTarget => ({ onTimer: (kind) => fired.push([`${name}${kind}`, clock.now()]) });
    scheduler.schedule(target("a"), 1, 300);
    scheduler.schedule(target("b"), 2, 100);
    scheduler.schedule(target("c"), 3, 200);
    scheduler.schedule(target("d"), 4, 100);
    expect(clock.pendingTimers).toBe(1);
    clock.advance(1000);
    expect(fired).toEqual([
      ["b2", 100],
      ["d4", 100],
      ["c3", 200],
      ["a1", 300],
    ]);
    expect(clock.pendingTimers).toBe(0);
  });

  it("does not call cancelled entries", () => {
    const clock = new FakeClock(0);
    const scheduler = new Scheduler(clock);
    const fired: number[] = [];
    const t: TimerTarget = { onTimer: (k) => fired.push(k) };
    const e1 = scheduler.schedule(t, 1, 100);
    scheduler.schedule(t, 2, 100);
    e1.cancel();
    expect(scheduler.size).toBe(1);
    clock.advance(100);
    expect(fired).toEqual([2]);
    expect(scheduler.size).toBe(0);
  });

  it("re-arms for an earlier deadline scheduled later", () => {
    const clock = new FakeClock(0);
    const scheduler = new Scheduler(clock);
    const fired: number[] = [];
    const t: TimerTarget = { onTimer: (k) => fired.push(clock.now()) };
    scheduler.schedule(t, 0, 1000);
    scheduler.schedule(t, 0, 10);
    expect(clock.pendingTimers).toBe(1);
    clock.advance(10);
    expect(fired).toEqual([10]);
    expect(clock.pendingTimers).toBe(1);
  });

  it("entries scheduled from inside a callback run too, and one throwing callback does not stop the others", () => {
    const clock = new FakeClock(0);
    const scheduler = new Scheduler(clock);
    const fired: string[] = [];
    scheduler.schedule({ onTimer: () => { throw new Error("user code"); } }, 0, 10);
    scheduler.schedule(
      {
        onTimer: () => {
          fired.push("first");
          scheduler.schedule({ onTimer: () => fired.push("nested") }, 0, 50);
        },
      },
      0,
      10,
    );
    expect(() => clock.advance(10)).toThrow("user code");
    expect(fired).toEqual(["first"]);
    expect(clock.pendingTimers).toBe(1);
    clock.advance(50);
    expect(fired).toEqual(["first", "nested"]);
  });
});

describe("one clock timer per engine", () => {
  it("keeps at most one timer armed with 100 sessions through pings, pongs, upgrades and closes", async () => {
    const { engine, clock, sockets } = createEngine({ pingInterval: 1000, pingTimeout: 500, upgradeTimeout: 700 });
    const sids: string[] = [];
    for (let i = 0; i < 100; i++) {
      sids.push((await handshake(engine)).sid);
      clock.advance(1); // spread the deadlines
      expect(clock.pendingTimers).toBeLessThanOrEqual(1);
    }
    // A few upgrades in flight add upgradeTimeout deadlines.
    for (let i = 0; i < 5; i++) await openWs(engine, { sid: sids[i]! });
    expect(clock.pendingTimers).toBe(1);

    // Every session gets its ping; half of them answer.
    let pinged = 0;
    const gets = sids.map((sid) => get(engine, sid));
    for (let step = 0; step < 10; step++) {
      clock.advance(100);
      await tick();
      expect(clock.pendingTimers).toBeLessThanOrEqual(1);
    }
    for (const g of gets) if (bodyText(await g.promise) === "2") pinged++;
    expect(pinged).toBe(100);
    expect(clock.pendingTimers).toBe(1);
    for (let i = 0; i < 100; i += 2) await post(engine, sids[i]!, "3");
    expect(clock.pendingTimers).toBe(1);

    clock.advance(500);
    await tick();
    expect(clock.pendingTimers).toBeLessThanOrEqual(1);
    const open = sockets.filter((s) => s.readyState === "open");
    expect(open).toHaveLength(50);
    expect(engine.clientsCount).toBe(50);

    engine.close();
    expect(clock.pendingTimers).toBe(0);
  });

  it("leaves no timer behind once every session closed", async () => {
    const { engine, clock, sockets } = createEngine({ pingInterval: 1000, pingTimeout: 500 });
    for (let i = 0; i < 10; i++) await handshake(engine);
    for (const s of sockets) s.close(true);
    expect(engine.scheduler.size).toBe(0); // every entry of a closed session is cancelled
    clock.advance(2000); // at most the stale wake-up fires, and finds nothing
    expect(clock.pendingTimers).toBe(0);
  });
});

describe("Scheduler and an early runtime timer", () => {
  /**
   * Node's setTimeout counts from the event loop's cached time, so it can
   * fire while Date.now() still reads a few ms before the deadline. The
   * entries it was armed for run in that firing, as socket.io's own
   * setTimeout-based heartbeat would: not a timer tick later.
   */
  it("runs the entries the timer was armed for, even if the clock reads earlier", () => {
    let now = 0;
    const timers: Array<{ fn: () => void; ms: number }> = [];
    const clock = {
      now: () => now,
      wallNow: () => 1_700_000_000_000 + now,
      setTimer: (fn: () => void, ms: number) => timers.push({ fn, ms }),
      clearTimer: () => {},
    };
    const scheduler = new Scheduler(clock);
    const fired: number[] = [];
    scheduler.schedule({ onTimer: (k) => fired.push(k) }, 1, 300);
    scheduler.schedule({ onTimer: (k) => fired.push(k) }, 2, 305);
    expect(timers.map((t) => t.ms)).toEqual([300]);
    now = 297; // the runtime says 300 ms passed; Date.now says 297
    timers[0]!.fn();
    expect(fired).toEqual([1]);
    // The later entry is not pulled forward: it gets its own timer.
    expect(timers.length).toBe(2);
    expect(timers[1]!.ms).toBe(8);
  });
});
