/**
 * Nothing stays reachable once its time has passed: the shared scheduler
 * must not keep the targets of fired or cancelled entries (closed
 * sessions, settled acks) alive. Before the fix, each delay queue kept every
 * passed entry until more than 1,024 had gone through it, so a quiet server
 * held up to ~1,000 closed sessions per distinct delay forever (the soak
 * showed the heap not returning to its idle size).
 *
 * Checked with WeakRefs and a forced GC, in this process.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import { io as ioClient } from "socket.io-client";
import { Server } from "../../src/index.ts";
import { FakeClock } from "../../src/testing.ts";
import { Scheduler, type TimerTarget } from "../../src/engine/scheduler.ts";
import { startNode } from "../helpers/node.ts";
import { once, waitFor } from "../helpers/wait.ts";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

/**
 * How many of `refs` a full GC collects. GCs until all are gone (a WeakRef
 * lets go only in a later turn of the event loop), or for 2 s: then the
 * count falls short and the caller's assertion fails.
 */
async function collected(refs: WeakRef<object>[]): Promise<number> {
  const gone = () => refs.filter((r) => r.deref() === undefined).length;
  await waitFor(
    () => {
      gc();
      return gone() === refs.length;
    },
    { timeout: 2000, what: "every target collected" },
  ).catch(() => {});
  return gone();
}

/** Schedules 100 targets with `delay`, each holding some memory; only WeakRefs to them escape. */
function scheduleMany(scheduler: Scheduler, delay: number, cancel: boolean): WeakRef<object>[] {
  const refs: WeakRef<object>[] = [];
  for (let i = 0; i < 100; i++) {
    const target: TimerTarget & { payload: unknown } = { payload: new Array(1000).fill(i), onTimer() {} };
    refs.push(new WeakRef(target));
    const entry = scheduler.schedule(target, 0, delay);
    if (cancel) entry.cancel();
  }
  return refs;
}

describe("the scheduler drops what it no longer needs", () => {
  it.each([
    ["fired", false],
    ["cancelled", true],
  ] as const)("targets of %s entries become collectable while their queue is still in use", async (_label, cancel) => {
    const clock = new FakeClock(0);
    const scheduler = new Scheduler(clock);
    const refs = scheduleMany(scheduler, 50, cancel);
    // A later entry with the same delay keeps that queue alive (a live session's next ping).
    clock.advance(25);
    scheduler.schedule({ onTimer() {} }, 0, 50);
    clock.advance(35);
    expect(scheduler.size).toBe(1);
    expect(await collected(refs)).toBe(100);
  });

  it("targets of cancelled entries become collectable at once, long before their deadline", async () => {
    const clock = new FakeClock(0);
    const scheduler = new Scheduler(clock);
    const refs = scheduleMany(scheduler, 25_000, true);
    scheduler.schedule({ onTimer() {} }, 0, 25_000);
    clock.advance(10);
    expect(await collected(refs)).toBe(100);
  });
});

describe("closed connections are not retained by the server", () => {
  it("50 Socket.IO clients that came and went, beside one that stays, leave no Socket or session reachable", async () => {
    // Heartbeat deadlines far away: closed sessions must not wait for them to be released.
    const io = new Server({ pingInterval: 20_000, pingTimeout: 20_000 });
    const run = await startNode(io);
    const refs: WeakRef<object>[] = [];
    // The one that stays keeps the heartbeat queues in use, as on any live server.
    const stays = ioClient(run.url, { transports: ["websocket"], reconnection: false, forceNew: true });
    await once(stays, "connect");
    let acksEnded = 0;
    io.on("connection", (socket) => {
      refs.push(new WeakRef(socket), new WeakRef(socket.conn));
      socket.timeout(100).emit("question", () => acksEnded++);
    });
    try {
      for (let i = 0; i < 50; i++) {
        const c = ioClient(run.url, { transports: i % 2 ? ["websocket"] : ["polling"], reconnection: false, forceNew: true });
        await once(c, "connect");
        c.close();
      }
      // Every ack has timed out (100 ms) and every session closed; the heartbeats' deadlines are still 20 s away.
      await waitFor(() => acksEnded === 50 && io.engine.clientsCount === 1, { what: "50 acks ended, 49 sessions closed" });
      expect(io.engine.clientsCount).toBe(1);
      expect(await collected(refs)).toBe(refs.length);
    } finally {
      stays.close();
      await run.close();
    }
  });
});
