/**
 * What wakes an object while its clients are idle, measured in workerd:
 * alarm invocations, incoming messages, alarm writes per heartbeat cycle,
 * with the runtime answering pongs (auto-response) and without. The README's
 * cost model is these figures scaled to the default pingInterval. Prints the
 * table; asserts the properties the model relies on.
 */
import { Socket as EioSocket } from "engine.io-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { once, sleep, waitFor } from "../helpers/wait.ts";
import { type RunningWorker, startWorker } from "./harness.ts";

let w: RunningWorker;
beforeAll(async () => {
  w = await startWorker(new URL("./engine-app.ts", import.meta.url).pathname, {
    ENGINE: "EngineObject",
    ENGINE_MANUAL: "EngineManual",
  });
});
afterAll(async () => {
  await w?.dispose();
});

async function open(query: string): Promise<EioSocket> {
  const s = new EioSocket(`${w.url}/?${query}`, { path: "/engine.io/", transports: ["websocket"] });
  await once(s, "open", { failOn: "error" });
  return s;
}

interface Measure {
  pingsPerSocket: number;
  alarmsPerCycle: number;
  messagesPerSocketCycle: number;
  alarmWritesPerCycle: number;
  closes: number;
}

async function measure(shard: string, manual: boolean, sockets: number, ms: number): Promise<Measure> {
  const q = `shard=${shard}${manual ? "&manual=1" : ""}`;
  const open_ = await Promise.all(Array.from({ length: sockets }, () => open(q)));
  let pings = 0;
  let closes = 0;
  for (const s of open_) {
    s.on("ping", () => pings++);
    s.on("close", () => closes++);
  }
  // Past the first cycle: every socket had its first ping.
  await waitFor(() => pings >= sockets, { what: `a first ping on each of ${sockets} sockets` });
  const statsUrl = `${w.url}/__test/stats?${q}`;
  const before = (await (await fetch(statsUrl)).json()) as Record<string, number>;
  pings = 0;
  // The measurement window: what the object does in `ms` of idle clients (a rate, so a fixed time).
  await sleep(ms);
  const after = (await (await fetch(statsUrl)).json()) as Record<string, number>;
  const closedEarly = closes;
  for (const s of open_) s.close();
  const cycles = pings / sockets; // one ping per socket per cycle
  const d = (k: string) => after[k]! - before[k]!;
  return {
    pingsPerSocket: cycles,
    alarmsPerCycle: d("alarms") / cycles,
    messagesPerSocketCycle: d("messages") / cycles / sockets,
    alarmWritesPerCycle: d("alarmWrites") / cycles,
    closes: closedEarly,
  };
}

describe("wake-ups per heartbeat cycle (pingInterval 500 ms, pingTimeout 400 ms)", () => {
  const rows: Array<[string, Measure]> = [];
  afterAll(() => {
    console.log("\nmode                         pings/socket  alarms/cycle  msgs/socket/cycle  setAlarm/cycle");
    for (const [name, m] of rows) {
      console.log(
        `${name.padEnd(28)} ${m.pingsPerSocket.toFixed(1).padStart(12)}  ${m.alarmsPerCycle.toFixed(2).padStart(12)}  ${m.messagesPerSocketCycle.toFixed(2).padStart(17)}  ${m.alarmWritesPerCycle.toFixed(2).padStart(14)}`,
      );
    }
  });

  it("one socket, auto-response on: no message wakes the object, two alarms per cycle", async () => {
    const m = await measure("cost-1a", false, 1, 4000);
    rows.push(["1 socket, auto-response", m]);
    expect(m.closes).toBe(0);
    expect(m.pingsPerSocket).toBeGreaterThanOrEqual(5);
    expect(m.messagesPerSocketCycle).toBe(0);
    expect(m.alarmsPerCycle).toBeLessThanOrEqual(2.5);
  });

  it("one socket, auto-response off: the pong is a message each cycle", async () => {
    const m = await measure("cost-1m", true, 1, 4000);
    rows.push(["1 socket, pongs as messages", m]);
    expect(m.closes).toBe(0);
    expect(m.messagesPerSocketCycle).toBeGreaterThanOrEqual(0.8);
    expect(m.alarmsPerCycle).toBeLessThanOrEqual(2.5);
  });

  it("twenty sockets share the object's alarm: far fewer wakes than sockets", async () => {
    const m = await measure("cost-20a", false, 20, 4000);
    rows.push(["20 sockets, auto-response", m]);
    expect(m.closes).toBe(0);
    expect(m.messagesPerSocketCycle).toBe(0);
    expect(m.alarmsPerCycle).toBeLessThan(8);
  });

  it("twenty sockets, auto-response off", async () => {
    const m = await measure("cost-20m", true, 20, 4000);
    rows.push(["20 sockets, pongs as messages", m]);
    expect(m.closes).toBe(0);
    expect(m.messagesPerSocketCycle).toBeGreaterThanOrEqual(0.8);
  });
});
