/**
 * The two deadlines deadline.test.ts times for one socket only, for 100 in
 * one Durable Object on workerd, their phases spread:
 *
 * - upgradeTimeout: 100 polling sessions, each probed by a WebSocket that
 *   answers the probe and never sends UPGRADE. Each probe is closed
 *   upgradeTimeout after the object accepted it, on workerd's clock
 *   (deadline-app.ts's timeline), within lateness.ts's bounds against a
 *   Node timer measured over the same seconds, and every polling session
 *   carries on (pinged and answering after its probe is gone).
 * - Recovery expiry (maxDisconnectionDuration): 100 Socket.IO clients drop
 *   one after another, the object is evicted once they are gone, each comes back
 *   at its own offset from the expiry: recovered exactly while its time
 *   away, by the object's clock, is within the limit, and the tries
 *   straddle the limit closely on both sides.
 *
 * Heavy (100 clients): run it through the lock (see the project's briefs).
 */
import { io as connect, type Socket as ClientSocket } from "socket.io-client";
import { expect, it } from "vitest";
import { once, sleep, waitFor } from "../helpers/wait.ts";
import type { Timeline } from "./deadline-app.ts";
import { useDeadlineWorker } from "./deadline-worker.ts";
import { expectOnTime, fig } from "./lateness.ts";
import { forkRawClients } from "./raw-clients.ts";

// HardObject in deadline-app.ts (the hostile table's settings).
const PING_INTERVAL = 1000;
const UPGRADE_TIMEOUT = 700;
// RecoverObject.
const MAX_DISCONNECTION = 2000;

const w = useDeadlineWorker();

async function timelines(sids: string[]): Promise<Timeline[]> {
  return (await (await fetch(`${w.url}/__test/timeline`, { method: "POST", body: JSON.stringify(sids) })).json()) as Timeline[];
}

it("upgradeTimeout: 100 polling sessions whose probe never sends UPGRADE: each probe closed on time, every session polls on", { timeout: 90_000 }, async () => {
  const query = "hard=1&shard=upgrade-100";
  // Two sessions a wave, 40 ms apart at least, the object idle half the time: the probes open
  // over 2 s or more, at every phase of the alarm's steps and of the 1 s heartbeat.
  const polls = forkRawClients({
    url: w.url,
    query,
    n: 100,
    wave: 2,
    gap: 40,
    duty: 0.5,
    connect: true,
    pong: true,
    detail: true,
    transport: "polling",
    probe: true,
  });
  w.children.push(polls);
  polls.probe();
  const o = await polls.opened;
  console.log(`100 polling sessions opened in ${o.ms} ms, handshake p50 ${o.handshakeP50} max ${o.handshakeMax} ms`);
  expect(o.opened).toBe(100);
  // Carrying on: every session pinged (and answering) twice after its probe's close frame arrived.
  await waitFor(
    async () => (await polls.report()).sockets!.every((r) => r.probe?.closed != null && r.pings.filter((p) => p > r.probe!.closed!).length >= 2),
    { timeout: 30_000, what: "every probe closed and its session pinged twice since" },
  );
  const r = await polls.report();
  const tl = await timelines(r.sockets!.map((s) => s.sid));
  const stats = (await (await fetch(`${w.url}/__test/stats?${query}`)).json()) as Record<string, number>;

  // Lateness on workerd's clock: the close after the object accepted the probe, less upgradeTimeout.
  const late = tl.map((x) => x.probe!.closed! - x.probe!.opened - UPGRADE_TIMEOUT);
  // What the clients saw: the close frame after the probe's answer (their clock, a delivery later).
  const seen = r.sockets!.map((s) => s.probe!.closed! - s.probe!.answered!);
  console.log(
    [
      `100 upgrade probes, lateness in ms (workerd's clock; alarms ${stats.alarms}, delivered ${stats.alarmLateMean} ms late on average, ${stats.alarmLateMax} at worst):`,
      `  upgradeTimeout (${UPGRADE_TIMEOUT} after the object accepted the probe): ${fig(late)}`,
      `  Node's own timer in the client process, same seconds: ${fig(r.nodeTimerLate!)}`,
      `  clients saw the close frame after "3probe" (their clock): ${fig(seen)}`,
    ].join("\n"),
  );

  // Every probe was answered, then closed by the server, and the session it probed lives on.
  expect(r.sockets!.every((s) => s.probe!.answered !== null)).toBe(true);
  expect(tl.every((x) => x.probe?.closed !== undefined)).toBe(true);
  expect(tl.every((x) => x.close === undefined)).toBe(true);
  expect(r.closed).toBe(0);
  expect(stats.sessions).toBe(100);
  // The ping after the probe is on time too (the heartbeat was not disturbed by the probes' close).
  const pingGaps = r.sockets!.flatMap((s) => s.pings.slice(1).map((p, k) => p - s.pongs[k]!));
  expect(Math.min(...pingGaps)).toBeGreaterThanOrEqual(PING_INTERVAL - 10);
  expectOnTime([[`upgradeTimeout (${UPGRADE_TIMEOUT})`, late]], r.nodeTimerLate!);
  await polls.close();
});

it("recovery expiry: 100 clients away for spread times, across an eviction: recovered exactly while away ≤ maxDisconnectionDuration", { timeout: 60_000 }, async () => {
  const shard = "recover-100";
  const n = 100;
  const clients: ClientSocket[] = [];
  for (let i = 0; i < n; i++) {
    clients.push(connect(w.url, { transports: ["websocket"], query: { recover: "1", shard }, auth: { tag: `r${i}` }, forceNew: true, reconnection: false }));
  }
  try {
    await Promise.all(clients.map(async (c) => Promise.all([once(c, "state", { timeout: 30_000 }), once(c, "hello", { timeout: 30_000 })])));
    // The network drops for one client after another, 5 ms apart (each first gets a broadcast,
    // so the offset it presents is fresh).
    await Promise.all(
      clients.map(async (c, i) => {
        // Pacing, not waiting for an outcome: client i drops i * 5 ms after the first.
        await sleep(i * 5);
        await c.timeout(10_000).emitWithAck("fresh");
        c.io.engine.close();
      }),
    );
    const tags = clients.map((_, i) => `r${i}`).join(",");
    const gone = async () => (await (await fetch(`${w.url}/__test/disconnected?recover=1&tags=${tags}`)).json()) as Array<number | null>;
    await waitFor(async () => (await gone()).every((t) => t !== null), { what: "the server to see every client go" });
    const since = (await gone()) as number[];
    // Once the object has seen every client go (as a real eviction comes when the object is idle),
    // it is evicted: what it kept for the recoveries is in its SQLite. Before the first return.
    expect((await fetch(`${w.url}/__test/evict?recover=1&shard=${shard}`)).status).toBe(200);
    const evictedAt = Date.now();
    // Each comes back at its own offset from its expiry, -400 to +392 ms in 8 ms steps, in an
    // order unrelated to the drops': the returns spread over about 2 s.
    const offset = (i: number) => -400 + 8 * ((i * 37) % n);
    const results = await Promise.all(
      clients.map(async (c, i) => {
        // Pacing, not waiting for an outcome: the client comes back at its offset from the expiry.
        await sleep(since[i]! + MAX_DISCONNECTION + offset(i) - Date.now());
        const state = once<{ recovered: boolean; after: number }>(c, "state", { timeout: 30_000 });
        c.connect();
        const s = await state;
        return { ...s, client: c.recovered, offset: offset(i) };
      }),
    );
    const recovered = results.filter((r) => r.recovered).map((r) => r.after);
    const fresh = results.filter((r) => !r.recovered).map((r) => r.after);
    // How far off its planned return each client came back, on workerd's clock (the return's lateness).
    const drift = results.map((r) => r.after - (MAX_DISCONNECTION + r.offset));
    console.log(
      [
        `recovery expiry (${MAX_DISCONNECTION} ms), 100 clients, time away on workerd's clock:`,
        `  recovered: ${fig(recovered)}`,
        `  new session: ${fig(fresh)}`,
        `  back later than planned by: ${fig(drift)}`,
      ].join("\n"),
    );
    // The object was evicted while the clients were away, before any came back.
    expect(evictedAt).toBeLessThan(Math.min(...since.map((t, i) => t + MAX_DISCONNECTION + offset(i))));
    // The server's own measure decides: recovered exactly while the time away is within the limit,
    // and the client agrees (its own `recovered`).
    for (const r of results) expect(r.recovered, `back after ${r.after} ms`).toBe(r.after <= MAX_DISCONNECTION);
    expect(results.map((r) => r.client)).toEqual(results.map((r) => r.recovered));
    // The tries straddle the limit closely: the flip is seen within 100 ms on each side.
    expect(Math.max(...recovered)).toBeGreaterThanOrEqual(MAX_DISCONNECTION - 100);
    expect(Math.min(...fresh)).toBeLessThanOrEqual(MAX_DISCONNECTION + 100);
  } finally {
    for (const c of clients) c.disconnect();
  }
});
