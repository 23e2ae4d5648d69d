/**
 * Cost and scale of one Durable Object on workerd (Miniflare) with N
 * hibernatable Socket.IO sockets and the defaults (pingInterval 25 s,
 * pingTimeout 20 s): wake-ups and storage writes per heartbeat cycle,
 * pings and pongs, late or missed deadlines, and workerd's memory per
 * socket; then the same with `timerGranularity: 1000`.
 *
 *   node --import tsx bench/workers-scale.ts [--sockets=10000] [--cycles=2] [--only=defaults|coarse] [--deflate=0]
 *
 * N raw WebSockets (test/workers/raw-clients.ts: Engine.IO handshake,
 * Socket.IO CONNECT, a pong for every ping) are spread over client
 * processes of at most 5,000 sockets each (a process may hold 20,000 open
 * files). Once all are open, the object's counters (bench/workers-scale-app.ts)
 * are read, the clients run for `cycles` heartbeat cycles, and read again:
 * figures per cycle are the difference divided by the cycles the clients
 * counted (pings per socket). A ping is late when it reached its client more
 * than 100 ms after pingInterval from the pong the client sent (the client's
 * clock; the clients do little at 25 s, so their time is near exact; a
 * ping may come up to one timer step late after the object was rebuilt,
 * see host.ts #pingDelay). The clients offer permessage-deflate as browsers
 * do, unless `--deflate=0`: workerd accepts and keeps a compressor per socket.
 * Memory: workerd's VmRSS (all its threads, the whole process) with the
 * object created and no socket, and with N sockets.
 *
 * Prints a markdown table. A benchmark: it never fails on speed. Heavy:
 * run it alone (`flock` on a shared machine).
 */
import { execSync } from "node:child_process";
import { cpus, loadavg } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { startWorker } from "../test/workers/harness.ts";
import { forkRawClients, type RawClients, type RawClientsReport } from "../test/workers/raw-clients.ts";
import { cpuMicros, rssKiB } from "./proc.ts";

const arg = (name: string, fallback: string) => {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3) : fallback;
};
const SOCKETS = Number(arg("sockets", "10000"));
const CYCLES = Number(arg("cycles", "2"));
const ONLY = arg("only", "");
/** Whether the clients offer permessage-deflate (browsers do; workerd then keeps a compressor per socket). */
const DEFLATE = arg("deflate", "1") !== "0";
const PER_PROCESS = 5000;
const WARM = 100;
const PING_INTERVAL = 25_000;
const LATE = 100;

type Stats = Record<string, number>;

interface Row {
  config: string;
  sockets: number;
  openSeconds: number;
  cycles: number;
  perCycle: Record<string, number>;
  pings: number;
  pongs: number;
  late: number;
  lateP50: number;
  lateP99: number;
  lateMax: number;
  closed: number;
  alarmLateMean: number;
  alarmLateMax: number;
  baseKiB: number;
  withKiB: number;
  withAfterKiB: number;
  bytesPerSocket: number;
  cpuMsPerCycle: number;
  rebuilds: number;
  load: string;
}

const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(" ");

function workerdPid(): number {
  // Miniflare starts workerd as a child of this process.
  const out = execSync(`pgrep -P ${process.pid} workerd || true`).toString().trim().split("\n").filter(Boolean);
  if (out.length !== 1) throw new Error(`expected one workerd child, found ${out.length}`);
  return Number(out[0]);
}

function sum(reports: RawClientsReport[], key: "pings" | "pongs" | "closed" | "open"): number {
  return reports.reduce((n, r) => n + r[key], 0);
}

async function run(kind: "defaults" | "coarse"): Promise<Row> {
  const w = await startWorker(new URL("./workers-scale-app.ts", import.meta.url).pathname, {
    DEFAULTS: "DefaultsObject",
    COARSE: "CoarseObject",
  });
  const pid = workerdPid();
  const stats = async () => (await (await fetch(`${w.url}/__bench/stats?kind=${kind}`)).json()) as Stats;
  const children: RawClients[] = [];
  try {
    // 100 sockets first: the object, its code and the isolate's fixed costs are in the baseline.
    const warm = forkRawClients({ url: w.url, query: `kind=${kind}`, n: WARM, wave: 50, gap: 0, connect: true, pong: true, detail: false, deflate: DEFLATE });
    children.push(warm);
    await warm.opened;
    await sleep(1000);
    const baseKiB = rssKiB(pid);

    const t0 = Date.now();
    for (let left = SOCKETS; left > 0; left -= PER_PROCESS) {
      children.push(
        forkRawClients({
          url: w.url,
          query: `kind=${kind}`,
          n: Math.min(PER_PROCESS, left),
          // At 25 s a handshake delivered a few seconds late loses nothing: open as fast as workerd takes them.
          wave: 50,
          gap: 0,
          connect: true,
          pong: true,
          detail: true,
          deflate: DEFLATE,
        }),
      );
    }
    const opened = (await Promise.all(children.map((c) => c.opened))).slice(1);
    const openSeconds = (Date.now() - t0) / 1000;
    const ok = opened.reduce((n, o) => n + o.opened, 0);
    process.stderr.write(`${kind}: ${ok}/${SOCKETS} open in ${openSeconds.toFixed(1)} s (load ${load()})\n`);
    await sleep(1000);
    const withKiB = rssKiB(pid);

    const s0 = await stats();
    const r0 = await Promise.all(children.map((c) => c.report()));
    const cpu0 = cpuMicros(pid);
    const windowStart = Date.now();
    // The measured window: `CYCLES` heartbeat cycles of idle clients (a rate, so a fixed time).
    await sleep(CYCLES * PING_INTERVAL + 2000);
    const s1 = await stats();
    const r1 = await Promise.all(children.map((c) => c.report()));
    const cpuMs = (cpuMicros(pid) - cpu0) / 1000;
    const loadNow = load();

    const pings = sum(r1, "pings") - sum(r0, "pings");
    const pongs = sum(r1, "pongs") - sum(r0, "pongs");
    const withAfterKiB = rssKiB(pid);
    const cycles = pings / (ok + WARM);
    const d = (k: string) => (s1[k] ?? 0) - (s0[k] ?? 0);
    const perCycle: Record<string, number> = {};
    for (const k of ["constructed", "alarms", "messages", "fetches", "pingsSent", "setAlarm", "deleteAlarm", "put", "delete", "sqlWrites", "attachmentsWritten"]) {
      perCycle[k] = d(k) / cycles;
    }
    perCycle.wakeups = (d("alarms") + d("messages") + d("fetches")) / cycles;

    // Each ping in the window against the pong before it, on the client's clock.
    const lateness: number[] = [];
    for (const r of r1) {
      for (const s of r.sockets ?? []) {
        // Each ping after the first is due pingInterval after the pong before it. (The first is due
        // after the handshake, which the client saw as late as workerd delivered it while opening N.)
        for (let k = 1; k < s.pings.length; k++) {
          if (s.pings[k]! < windowStart) continue;
          lateness.push(s.pings[k]! - s.pongs[k - 1]! - PING_INTERVAL);
        }
      }
    }
    lateness.sort((a, b) => a - b);
    const q = (f: number) => lateness[Math.min(lateness.length - 1, Math.floor(lateness.length * f))] ?? NaN;
    return {
      config: kind === "defaults" ? "defaults (timer step 40 ms)" : "timerGranularity: 1000",
      sockets: ok,
      openSeconds,
      cycles,
      perCycle,
      pings,
      pongs,
      late: lateness.filter((x) => x > LATE).length,
      lateP50: q(0.5),
      lateP99: q(0.99),
      lateMax: lateness[lateness.length - 1] ?? NaN,
      closed: sum(r1, "closed"),
      alarmLateMean: (d("alarmLateSum") / d("alarms")) || 0,
      alarmLateMax: s1.alarmLateMax ?? NaN,
      baseKiB,
      withKiB,
      withAfterKiB,
      bytesPerSocket: Math.round(((withKiB - baseKiB) * 1024) / ok),
      cpuMsPerCycle: cpuMs / cycles,
      rebuilds: d("constructed"),
      load: loadNow,
    };
  } finally {
    await Promise.all(children.map((c) => c.close()));
    await w.dispose();
  }
}

function table(rows: Row[]): string {
  const f = (x: number, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : "—");
  const cols: Array<[string, (r: Row) => string]> = [
    ["sockets in one object", (r) => String(r.sockets)],
    ["opened in (s)", (r) => f(r.openSeconds)],
    ["heartbeat cycles measured", (r) => f(r.cycles, 2)],
    ["wake-ups per cycle (alarms + messages + requests)", (r) => f(r.perCycle.wakeups!)],
    ["… alarm invocations per cycle", (r) => f(r.perCycle.alarms!)],
    ["… of which woke a hibernated object (constructions)", (r) => f(r.perCycle.constructed!)],
    ["… webSocketMessage events per cycle", (r) => f(r.perCycle.messages!)],
    ["… requests (fetch) per cycle", (r) => f(r.perCycle.fetches!)],
    ["storage writes per cycle: setAlarm", (r) => f(r.perCycle.setAlarm!)],
    ["… deleteAlarm / put / delete", (r) => `${f(r.perCycle.deleteAlarm!)} / ${f(r.perCycle.put!)} / ${f(r.perCycle.delete!)}`],
    ["… SQL rows written", (r) => f(r.perCycle.sqlWrites!)],
    ["attachments rewritten per cycle (memory, not billed)", (r) => f(r.perCycle.attachmentsWritten!)],
    ["pings sent per cycle (server)", (r) => f(r.perCycle.pingsSent!)],
    ["pings / pongs at the clients in the window (incl. the warm-up sockets)", (r) => `${r.pings} / ${r.pongs}`],
    [`pings later than ${LATE} ms (client clock)`, (r) => String(r.late)],
    ["ping lateness after the pong, p50 / p99 / max (ms)", (r) => `${f(r.lateP50, 0)} / ${f(r.lateP99, 0)} / ${f(r.lateMax, 0)}`],
    ["alarm delivery late, mean / max (ms)", (r) => `${f(r.alarmLateMean, 0)} / ${f(r.alarmLateMax, 0)}`],
    ["sockets closed (missed heartbeats)", (r) => String(r.closed)],
    ["workerd CPU per cycle (ms)", (r) => f(r.cpuMsPerCycle, 0)],
    [`workerd RSS with ${WARM} sockets / with all / at the window's end (MiB)`, (r) => `${f(r.baseKiB / 1024)} / ${f(r.withKiB / 1024)} / ${f(r.withAfterKiB / 1024)}`],
    ["memory per socket (bytes of RSS)", (r) => String(r.bytesPerSocket)],
    ["object hibernated and rebuilt in the window", (r) => `${r.rebuilds} times`],
    ["load average (1/5/15 min) at the end", (r) => r.load],
  ];
  const lines = [`| figure | ${rows.map((r) => r.config).join(" | ")} |`, `|---|${rows.map(() => "---:").join("|")}|`];
  for (const [name, get] of cols) lines.push(`| ${name} | ${rows.map(get).join(" | ")} |`);
  return lines.join("\n");
}

const rows: Row[] = [];
process.stderr.write(`workers-scale: ${SOCKETS} sockets, ${CYCLES} cycles, deflate offered: ${DEFLATE}, ${cpus().length} cores, load ${load()}\n`);
for (const kind of ["defaults", "coarse"] as const) {
  if (ONLY && ONLY !== kind) continue;
  rows.push(await run(kind));
}
console.log(table(rows));
process.exit(0);
