/**
 * Deadlines whose runtime timer has not run yet when a request comes in:
 * the timer lost a race (I/O handled before timers in one turn of the event
 * loop, a loaded loop, a Durable Object's alarm rounded up and delivered
 * late). The request must see what exact timers would have done: socket.io's
 * protocol suite polls exactly pingInterval + pingTimeout after the
 * handshake and expects the session gone.
 */
import { describe, expect, it, vi } from "vitest";
import type { Clock } from "../../src/engine/clock.ts";
import { Engine } from "../../src/engine/engine.ts";
import { Scheduler } from "../../src/engine/scheduler.ts";
import type { EngineCloseReason, EngineSocket } from "../../src/index.ts";
import { bodyText, get, handshake, openWs, post, tick } from "../helpers/memory.ts";

/** A clock whose time moves when told and whose timers run only when told: a timer that is late. */
class LaggingClock implements Clock {
  t = 0;
  timers = new Map<number, { at: number; fn: () => void }>();
  #next = 1;
  armed = 0;
  cleared = 0;
  now(): number {
    return this.t;
  }
  wallNow(): number {
    return 1_700_000_000_000 + this.t;
  }
  setTimer(fn: () => void, ms: number): unknown {
    this.armed++;
    const id = this.#next++;
    this.timers.set(id, { at: this.t + ms, fn });
    return id;
  }
  clearTimer(handle: unknown): void {
    this.cleared++;
    this.timers.delete(handle as number);
  }
  /** Runs the timers due by now, as a runtime finally getting to them. */
  fireDue(): void {
    for (const [id, timer] of [...this.timers]) {
      if (timer.at > this.t) continue;
      this.timers.delete(id);
      timer.fn();
    }
  }
}

function setup() {
  const clock = new LaggingClock();
  const engine = new Engine({ clock, pingInterval: 300, pingTimeout: 200 });
  const sockets: EngineSocket[] = [];
  engine.on("connection", (s) => sockets.push(s));
  return { clock, engine, sockets };
}

function closes(socket: EngineSocket): EngineCloseReason[] {
  const got: EngineCloseReason[] = [];
  socket.on("close", (reason) => got.push(reason));
  return got;
}

async function expectGone(engine: Engine, sid: string) {
  const res = await get(engine, sid).promise;
  expect(res.status).toBe(400);
  expect(JSON.parse(bodyText(res))).toEqual({ code: 1, message: "Session ID unknown" });
}

describe("a request after a deadline whose timer has not run", () => {
  it("polling: a poll at pingInterval + pingTimeout finds the session closed by ping timeout", async () => {
    const { clock, engine, sockets } = setup();
    const { sid } = await handshake(engine);
    const reasons = closes(sockets[0]!);
    clock.t = 300;
    clock.fireDue(); // the ping, on time
    clock.t = 500; // the PONG deadline's timer has not run
    expect(reasons).toEqual([]);
    await expectGone(engine, sid);
    expect(reasons).toEqual(["ping timeout"]);
  });

  it("polling: a ping queued late with no GET held keeps the deadline of its due time", async () => {
    const { clock, engine, sockets } = setup();
    const { sid } = await handshake(engine);
    const reasons = closes(sockets[0]!);
    clock.t = 330;
    clock.fireDue(); // the ping's timer ran 30 ms late; nobody could see the ping before the next poll
    clock.t = 499;
    const g = get(engine, sid);
    expect(bodyText(await g.promise)).toBe("2");
    clock.t = 500;
    await expectGone(engine, sid);
    expect(reasons).toEqual(["ping timeout"]);
  });

  it("polling: a pong within pingTimeout of the ping's due time keeps the session, however late the timer", async () => {
    const { clock, engine, sockets } = setup();
    const { sid } = await handshake(engine);
    const reasons = closes(sockets[0]!);
    clock.t = 330;
    clock.fireDue();
    clock.t = 340;
    expect(bodyText(await get(engine, sid).promise)).toBe("2");
    clock.t = 499;
    expect((await post(engine, sid, "3")).status).toBe(200);
    clock.t = 2000;
    clock.fireDue();
    expect(reasons).toEqual([]);
    expect(engine.clients.has(sid)).toBe(true);
  });

  it("polling with a GET held: the client sees the ping when the late timer writes it, and gets pingTimeout from then", async () => {
    const { clock, engine, sockets } = setup();
    const { sid } = await handshake(engine);
    const reasons = closes(sockets[0]!);
    const held = get(engine, sid);
    await tick();
    clock.t = 330;
    clock.fireDue();
    expect(bodyText(await held.promise)).toBe("2");
    clock.t = 529;
    expect((await post(engine, sid, "3")).status).toBe(200);
    expect(reasons).toEqual([]);
  });

  it("polling: lateness past half the pingTimeout (a stalled host) is not charged to the client", async () => {
    const { clock, engine, sockets } = setup();
    const { sid } = await handshake(engine);
    const reasons = closes(sockets[0]!);
    clock.t = 450;
    clock.fireDue(); // 150 ms late, over 100
    clock.t = 460;
    expect(bodyText(await get(engine, sid).promise)).toBe("2");
    clock.t = 640;
    expect((await post(engine, sid, "3")).status).toBe(200);
    expect(reasons).toEqual([]);
  });

  it("polling: a request long after both deadlines (no timer ran at all, a stalled host) gets the ping and pingTimeout to answer", async () => {
    const { clock, engine, sockets } = setup();
    const { sid } = await handshake(engine);
    const reasons = closes(sockets[0]!);
    clock.t = 5000;
    // The ping runs first, 4.7 s late: more than half the pingTimeout, so its deadline counts
    // from now; the client, which could not have seen a ping before, gets it with this poll.
    const res = await get(engine, sid).promise;
    expect(bodyText(res)).toBe("2");
    clock.t = 5200;
    await expectGone(engine, sid);
    expect(reasons).toEqual(["ping timeout"]);
  });

  it("WebSocket: the ping goes out when the timer runs, and the deadline counts from then", async () => {
    const { clock, engine } = setup();
    const { ws } = await openWs(engine);
    clock.t = 330;
    clock.fireDue();
    expect(ws.frames.at(-1)).toBe("2");
    clock.t = 529;
    clock.fireDue();
    expect(ws.closed).toBe(false);
    clock.t = 530;
    clock.fireDue();
    expect(ws.closed).toBe(true);
  });

  it("a POST after the deadline is refused too, and the held GET gets the close packet", async () => {
    const { clock, engine } = setup();
    const { sid } = await handshake(engine);
    clock.t = 300;
    clock.fireDue();
    expect(bodyText(await get(engine, sid).promise)).toBe("2");
    const held = get(engine, sid);
    await tick();
    clock.t = 500;
    const res = await post(engine, sid, "4late");
    expect(res.status).toBe(400);
    await tick();
    expect(bodyText(await held.promise)).toBe("1");
  });
});

describe("Scheduler.runDue", () => {
  it("runs what is due by the clock, in order, and re-arms the timer for the rest", () => {
    const clock = new LaggingClock();
    const scheduler = new Scheduler(clock);
    const fired: number[] = [];
    const target = { onTimer: (k: number) => fired.push(k) };
    scheduler.schedule(target, 2, 200);
    scheduler.schedule(target, 1, 100);
    scheduler.schedule(target, 3, 300);
    clock.t = 250;
    scheduler.runDue();
    expect(fired).toEqual([1, 2]);
    expect(clock.timers.size).toBe(1);
    expect([...clock.timers.values()][0]!.at).toBe(300);
    clock.t = 300;
    clock.fireDue();
    expect(fired).toEqual([1, 2, 3]);
  });

  it("a throwing callback neither stops the others nor throws into the caller (the request): it is rethrown outside", () => {
    const clock = new LaggingClock();
    const scheduler = new Scheduler(clock);
    const fired: number[] = [];
    scheduler.schedule({ onTimer: () => { throw new Error("user code"); } }, 1, 100);
    scheduler.schedule({ onTimer: (k) => fired.push(k) }, 2, 100);
    let rethrow: (() => void) | undefined;
    const spy = vi.spyOn(globalThis, "queueMicrotask").mockImplementation((fn) => {
      rethrow = fn;
    });
    try {
      clock.t = 100;
      expect(() => scheduler.runDue()).not.toThrow();
    } finally {
      spy.mockRestore();
    }
    expect(fired).toEqual([2]);
    expect(rethrow).toThrow("user code");
  });

  it("leaves the runtime timer alone when nothing is due (the cost of a request: a look at each queue's head)", () => {
    const clock = new LaggingClock();
    const scheduler = new Scheduler(clock);
    scheduler.schedule({ onTimer: () => {} }, 1, 100);
    const { armed, cleared } = clock;
    clock.t = 99;
    for (let i = 0; i < 10; i++) scheduler.runDue();
    expect([clock.armed, clock.cleared]).toEqual([armed, cleared]);
  });
});
