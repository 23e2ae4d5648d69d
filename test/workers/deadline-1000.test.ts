/**
 * 1,000 sockets in one Durable Object on workerd: every deadline they have
 * (first ping, the next ping after each pong, ping timeout, connectTimeout,
 * ack timeout) fires within 100 ms of when a deadline fires on Node on this
 * machine at the same moment.
 *
 * Why it is built this way (each was a cause of the old test's misses):
 * - The 1,000 raw WebSockets live in two child processes (raw-clients.ts),
 *   not in the test's process beside Miniflare, and open in waves, each once
 *   the one before has its handshakes: a burst of 1,000 handshakes takes
 *   workerd seconds to deliver on a loaded machine, and a session whose open
 *   packet reaches its client after pingInterval + pingTimeout is rightly
 *   closed before the client could answer.
 * - Times are workerd's own (deadline-app.ts's timeline): each ping is
 *   checked against the time the runtime answered the pong before it
 *   (`getWebSocketAutoResponseTimestamp`), each close against the ping
 *   before it. The load generator's time is not in the figure.
 * - "Within 100 ms of Node": on a shared 2-core machine no process's timer
 *   is on time when the machine is busy, so the reference is measured, not
 *   assumed: one of the client processes, a Node process carrying the same
 *   traffic a Node server would, samples how late its own timer fires over
 *   the same seconds. The median of every deadline's lateness on workerd
 *   must be within 100 ms of Node's, p95 within 150 ms, p99 within 250 ms
 *   (lateness.ts).
 * - pingInterval 1 s (the hostile table's settings), not 300 ms: 1,000
 *   sockets at 300 ms are 6,700 frames a second through one isolate, a
 *   throughput test; at 1 s the sockets' pings still fall in every phase of
 *   the interval (the waves are spread over it). 1 and 100 sockets at 300 ms
 *   are in deadline.test.ts.
 */
import { expect, it } from "vitest";
import { sleep, waitFor } from "../helpers/wait.ts";
import type { Timeline } from "./deadline-app.ts";
import { useDeadlineWorker } from "./deadline-worker.ts";
import { expectOnTime, fig } from "./lateness.ts";
import { forkRawClients } from "./raw-clients.ts";

// HardObject in deadline-app.ts.
const PING_INTERVAL = 1000;
const PING_TIMEOUT = 1000;
const CONNECT_TIMEOUT = 2000;
const ACK_TIMEOUT = 700;

const w = useDeadlineWorker();

it("1,000 sockets in one object: ping, ping timeout, connect timeout and ack timeout within 100 ms of Node", { timeout: 120_000 }, async () => {
  const query = "hard=1&shard=thousand";
  // 900 Socket.IO clients that each ask a question the server's ack times out on, and 100 that
  // never CONNECT (closed at connectTimeout); both answer pings. 4 + 1 sockets a wave, at least
  // 20 ms apart and with the object idle half the time (duty): 4 s of openings or more, spread
  // over every phase of the 1 s interval.
  const waves = { gap: 20, duty: 0.5, pong: true, detail: true };
  const talk = forkRawClients({ url: w.url, query, n: 900, wave: 4, connect: true, emit: `42["ask",${ACK_TIMEOUT}]`, ...waves });
  const mute = forkRawClients({ url: w.url, query, n: 100, wave: 1, connect: false, ...waves });
  w.children.push(talk, mute);
  talk.probe();
  const [t, m] = await Promise.all([talk.opened, mute.opened]);
  console.log(`1000 sockets opened: ${t.opened} + ${m.opened} in ${Math.max(t.ms, m.ms)} ms, handshake p50 ${t.handshakeP50} max ${t.handshakeMax} ms`);
  expect(t.opened + m.opened).toBe(1000);
  // The scenario, not a wait for an outcome: three heartbeat cycles, then the clients fall silent
  // one after another over 3 s, as they opened (900 closes at once are, like 1,000 handshakes at
  // once, a throughput figure: workerd hands the object one webSocketClose event per close).
  await sleep(3 * PING_INTERVAL);
  talk.silent(3000);
  const stats = async () => (await (await fetch(`${w.url}/__test/stats?${query}`)).json()) as Record<string, number>;
  await waitFor(async () => (await stats()).sessions === 0, { timeout: 30_000, what: "every session closed" });
  const [tr, mr] = await Promise.all([talk.report(), mute.report()]);
  const s = await stats();

  const sids = [...tr.sockets!, ...mr.sockets!].map((r) => r.sid);
  const tl = (await (await fetch(`${w.url}/__test/timeline`, { method: "POST", body: JSON.stringify(sids) })).json()) as Timeline[];
  const acks = (await (await fetch(`${w.url}/__test/acks`)).json()) as Array<[number, number, string | null, string]>;
  const talking = tl.slice(0, 900);
  const muted = tl.slice(900);

  // Lateness of each deadline, ms, on workerd's clock (times in the timeline are ms after the handshake).
  const firstPing = tl.map((x) => x.pings[0]![0] - PING_INTERVAL);
  const nextPing: number[] = [];
  let pingWithoutPong = 0;
  for (const x of tl) {
    for (let k = 1; k < x.pings.length; k++) {
      const [sent, pong] = x.pings[k]!;
      // A ping only follows a pong the runtime answered after the ping before it.
      if (pong === null || pong < x.pings[k - 1]![0]) pingWithoutPong++;
      else nextPing.push(sent - (pong + PING_INTERVAL));
    }
  }
  const pingTimeout: number[] = [];
  let closedDespitePong = 0;
  for (const x of talking) {
    const [sent] = x.pings[x.pings.length - 1]!;
    const [, at, pong] = x.close!;
    if (pong !== null && pong >= sent) closedDespitePong++;
    pingTimeout.push(at - (sent + PING_TIMEOUT));
  }
  const connectTimeout = muted.map((x) => x.close![1] - CONNECT_TIMEOUT);
  const ackTimeout = acks.map(([ms, after]) => after - ms);

  // What the clients saw: each ping's arrival after the pong they sent (their own clock, their own load).
  const seen = tr.sockets!.flatMap((r) => r.pings.slice(1).map((p, k) => p - r.pongs[k]! - PING_INTERVAL));
  const figures: Array<[string, number[]]> = [
    ["first ping (1000 after the handshake)", firstPing],
    ["next ping (1000 after the runtime answered the pong)", nextPing],
    ["ping timeout (1000 after the unanswered ping)", pingTimeout],
    ["connectTimeout (2000 after the handshake)", connectTimeout],
    [`ack timeout (${ACK_TIMEOUT} after the emit)`, ackTimeout],
  ];
  console.log(
    [
      `1000 sockets, lateness in ms (workerd's clock; alarms ${s.alarms}, delivered ${s.alarmLateMean} ms late on average, ${s.alarmLateMax} at worst):`,
      ...figures.map(([what, xs]) => `  ${what}: ${fig(xs)}`),
      `  Node's own timer in the client process, same seconds: ${fig(tr.nodeTimerLate!)}`,
      `  clients saw the next ping after their pong (their clock, incl. both deliveries): ${fig(seen)}`,
    ].join("\n"),
  );

  // Every deadline happened, for the reason it was set, and only then.
  expect(tl.every((x) => x !== null)).toBe(true);
  expect(talking.every((x) => x.close?.[0] === "ping timeout")).toBe(true);
  expect(muted.every((x) => x.close?.[0] === "forced close")).toBe(true);
  // One ack timeout per asking socket.
  expect(new Set(acks.map((a) => a[3]))).toEqual(new Set(tr.sockets!.map((r) => r.sid)));
  expect(acks.every(([, , err]) => /timed out/.test(err ?? ""))).toBe(true);
  expect(pingWithoutPong).toBe(0);
  expect(closedDespitePong).toBe(0);
  // The sockets lived through the three cycles: about three pings after a pong each.
  expect(nextPing.length).toBeGreaterThan(2 * 900);
  expectOnTime(figures, tr.nodeTimerLate!);
});
