/**
 * The default heartbeat (pingInterval 25 s, pingTimeout 20 s, so the
 * default 40 ms timer step) with 1,000 sockets in one Durable Object on
 * workerd: the first ping, the next ping after each pong, the ping timeout,
 * connectTimeout (1.5 s) and an ack timeout (700 ms) fire within 100 ms of
 * when a deadline fires on Node at the median (p95: 150 ms, p99: 250 ms),
 * measured as in deadline-1000.test.ts
 * (workerd's own times; a Node timer's lateness over the same seconds as
 * the reference; raw clients in child processes, openings paced).
 *
 * About a minute of wall time, nearly all of it idle: the second ping is
 * due 50 s after the handshake. The object is free to hibernate between its
 * alarms, and locally workerd does evict it when nothing is due for ~10 s:
 * the deadlines after that come from a rebuilt object.
 */
import { expect, it } from "vitest";
import { waitFor } from "../helpers/wait.ts";
import type { Timeline } from "./deadline-app.ts";
import { useDeadlineWorker } from "./deadline-worker.ts";
import { expectOnTime, fig } from "./lateness.ts";
import { forkRawClients } from "./raw-clients.ts";

// DefaultsObject in deadline-app.ts.
const PING_INTERVAL = 25_000;
const PING_TIMEOUT = 20_000;
const CONNECT_TIMEOUT = 1500;
const ACK_TIMEOUT = 700;

const w = useDeadlineWorker();

it("1,000 sockets, the default heartbeat: every deadline within 100 ms of Node", { timeout: 180_000 }, async () => {
  const query = "defaults=1&shard=thousand-defaults";
  // 800 Socket.IO clients that answer pings and ask a question the server's ack times out on,
  // 100 that never CONNECT (connectTimeout), 100 that CONNECT and never answer a ping (ping
  // timeout, 45 s after the handshake). Waves of 4 + 1 + 1 leaving the object idle half the time.
  const waves = { gap: 20, duty: 0.5, detail: true };
  const talk = forkRawClients({ url: w.url, query, n: 800, wave: 4, connect: true, pong: true, emit: `42["ask",${ACK_TIMEOUT}]`, ...waves });
  const mute = forkRawClients({ url: w.url, query, n: 100, wave: 1, connect: false, pong: true, ...waves });
  const silent = forkRawClients({ url: w.url, query, n: 100, wave: 1, connect: true, pong: false, ...waves });
  w.children.push(talk, mute, silent);
  talk.probe();
  const opened = await Promise.all([talk.opened, mute.opened, silent.opened]);
  console.log(`1000 sockets opened in ${Math.max(...opened.map((o) => o.ms))} ms`);
  expect(opened.reduce((n, o) => n + o.opened, 0)).toBe(1000);
  // Every talking socket pinged twice (the second ping 50 s after its handshake), every silent one closed.
  await waitFor(
    async () => {
      const [tr, sr] = await Promise.all([talk.report(), silent.report()]);
      return tr.sockets!.every((r) => r.pings.length >= 2) && sr.closed === 100;
    },
    { timeout: 90_000, interval: 1000, what: "two pings on every talking socket and every silent one closed" },
  );
  const [tr, mr, sr] = await Promise.all([talk.report(), mute.report(), silent.report()]);
  const stats = (await (await fetch(`${w.url}/__test/stats?${query}`)).json()) as Record<string, number>;
  const sids = [...tr.sockets!, ...mr.sockets!, ...sr.sockets!].map((r) => r.sid);
  const tl = (await (await fetch(`${w.url}/__test/timeline`, { method: "POST", body: JSON.stringify(sids) })).json()) as Timeline[];
  const acks = (await (await fetch(`${w.url}/__test/acks`)).json()) as Array<[number, number, string | null, string]>;
  const talking = tl.slice(0, 800);
  const muted = tl.slice(800, 900);
  const silents = tl.slice(900);

  // Lateness of each deadline, ms, on workerd's clock (times in the timeline are ms after the handshake).
  const firstPing = [...talking, ...silents].map((x) => x.pings[0]![0] - PING_INTERVAL);
  const nextPing = talking.flatMap((x) => x.pings.slice(1).map(([sent, pong], k) => (pong === null || pong < x.pings[k]![0] ? -Infinity : sent - (pong + PING_INTERVAL))));
  const pingTimeout = silents.map((x) => x.close![1] - (x.pings[0]![0] + PING_TIMEOUT));
  const connectTimeout = muted.map((x) => x.close![1] - CONNECT_TIMEOUT);
  const ackTimeout = acks.map(([ms, after]) => after - ms);
  const figures: Array<[string, number[]]> = [
    ["first ping (25 s after the handshake)", firstPing],
    ["next ping (25 s after the runtime answered the pong)", nextPing],
    ["ping timeout (20 s after the unanswered ping)", pingTimeout],
    ["connectTimeout (1.5 s after the handshake)", connectTimeout],
    [`ack timeout (${ACK_TIMEOUT} ms after the emit)`, ackTimeout],
  ];
  console.log(
    [
      `1000 sockets, default heartbeat, lateness in ms (workerd's clock; the object was built ${stats.rebuilds > 0 ? "again from its WebSockets (hibernated)" : "once"}):`,
      ...figures.map(([what, xs]) => `  ${what}: ${fig(xs)}`),
      `  Node's own timer in the client process, same seconds: ${fig(tr.nodeTimerLate!)}`,
    ].join("\n"),
  );

  expect(talking.every((x) => x.close === undefined)).toBe(true);
  expect(silents.every((x) => x.close?.[0] === "ping timeout" && (x.close[2] === null || x.close[2] < x.pings[0]![0]))).toBe(true);
  expect(muted.every((x) => x.close?.[0] === "forced close")).toBe(true);
  expect(new Set(acks.map((a) => a[3]))).toEqual(new Set(tr.sockets!.map((r) => r.sid)));
  expect(nextPing.length).toBeGreaterThanOrEqual(800);
  expectOnTime(figures, tr.nodeTimerLate!);
});
