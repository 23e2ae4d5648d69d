/**
 * Soak: load, churn and back to idle, on every runtime (issue #9).
 *
 *   npm run soak                               # all runtimes, 10,000 clients, 40 s of churn each
 *   npm run soak -- --runtimes node --clients 2000 --seconds 20
 *
 * For each runtime it starts the hardening fixture (test/hardening/fixtures)
 * as a child process, then from this process:
 *   1. measures the idle server after a full GC (heap, RSS, live timers,
 *      scheduler entries, listeners, handles where the runtime reports them);
 *   2. opens N WebSocket Socket.IO connections (hand-written protocol over
 *      `ws`, so the client side stays cheap) and measures again;
 *   3. for the given time: broadcasts (io.emit to all) several times a
 *      second, acked echoes from random clients, and churn: every tick some
 *      clients leave (clean close or an abrupt TCP reset) and as many join;
 *   4. checks that every long-lived client got every broadcast and every ack;
 *   5. closes everyone, waits for the server to be idle, GCs, and measures.
 * It prints one markdown table (paste it into the README) and exits 1 when
 * anything was lost, leaked or thrown. Loopback only; every loop is bounded.
 */
import { spawnSync, spawn } from "node:child_process";
import { get as httpGet } from "node:http";
import { fileURLToPath } from "node:url";
import { WebSocket } from "ws";
import { type RunningFixture, startFixture } from "../conformance/harness.ts";
import { HARDENING_RUNTIMES, type RuntimeSpec } from "../hardening/runtimes.ts";
import type { Stats } from "../hardening/helpers.ts";
import { sleep, waitFor } from "../helpers/wait.ts";

// ── options ────────────────────────────────────────────────────────────────
const args = process.argv.slice(2);
const opt = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i !== -1 && args[i + 1] ? args[i + 1]! : (process.env[`SOAK_${name.toUpperCase()}`] ?? fallback);
};
const CLIENTS = Number(opt("clients", "10000"));
const SECONDS = Number(opt("seconds", "40"));
const RUNTIMES = opt("runtimes", "node,bun,deno").split(",");
const TICK_MS = 250;
const CHURN_PER_TICK = Math.max(1, Math.round(CLIENTS * 0.0025)); // 0.25% of the clients per tick
const RESET_SHARE = 0.2; // of the churned clients, this share vanishes with a TCP reset
const BROADCAST_EVERY_TICKS = 1; // 4 broadcasts a second
const ACKS_PER_TICK = 20;
const PAYLOAD = "n".repeat(200);

// ── file descriptors: 10,000 sockets need more than the usual 1,024 ────────
function fdLimits(): { soft: number; hard: number } {
  const r = spawnSync("bash", ["-c", "echo $(ulimit -Sn) $(ulimit -Hn)"], { encoding: "utf8" });
  const [soft, hard] = r.stdout.trim().split(" ").map((v) => (v === "unlimited" ? Infinity : Number(v)));
  return { soft: soft!, hard: hard! };
}
// ── the client side ────────────────────────────────────────────────────────
class Client {
  ws!: WebSocket;
  news = 0;
  acked = 0;
  sentAcks = 0;
  connected = false;
  closedByUs = false;
  unexpectedClose = false;
  #ackId = 0;
  #pending = new Set<number>();

  constructor(readonly port: number) {}

  open(): Promise<void> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${this.port}/socket.io/?EIO=4&transport=websocket`, { perMessageDeflate: false });
      this.ws = ws;
      const timer = setTimeout(() => reject(new Error("connect timeout")), 20_000);
      ws.on("message", (data: Buffer, isBinary: boolean) => {
        if (isBinary) return;
        const s = data.toString();
        if (s === "2") return void ws.send("3");
        if (s.startsWith('42["news"')) return void this.news++;
        if (s.startsWith("43")) {
          const id = Number(/^43(\d+)/.exec(s)?.[1]);
          if (this.#pending.delete(id)) this.acked++;
          return;
        }
        if (s[0] === "0") return void ws.send("40");
        if (s.startsWith('40{"sid"')) {
          clearTimeout(timer);
          this.connected = true;
          resolve();
        }
      });
      ws.on("error", (err) => {
        clearTimeout(timer);
        if (!this.connected) reject(err);
      });
      ws.on("close", () => {
        clearTimeout(timer);
        if (this.connected && !this.closedByUs) this.unexpectedClose = true;
        this.connected = false;
      });
    });
  }

  emit(text: string): void {
    if (this.connected) this.ws.send(text);
  }

  echo(): void {
    if (!this.connected) return;
    const id = ++this.#ackId;
    this.#pending.add(id);
    this.sentAcks++;
    this.ws.send(`42${id}["echo","${id}"]`);
  }

  get missingAcks(): number {
    return this.#pending.size;
  }

  leave(reset: boolean): void {
    this.closedByUs = true;
    if (reset) this.ws.terminate();
    else this.ws.close();
  }
}

// ── server side observations ───────────────────────────────────────────────
/** A control request on its own connection (no keep-alive pool), so the server's handle count is comparable. */
function control<T>(fx: RunningFixture, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const req = httpGet(`${fx.url}/__hardening/${what}`, { agent: false, timeout: 30_000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => resolve(JSON.parse(body) as T));
    });
    req.on("error", reject);
    req.on("timeout", () => req.destroy(new Error("control request timed out")));
  });
}
const gcStats = (fx: RunningFixture) => control<Stats & { gc: boolean }>(fx, "gc");

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
const delta = (bytes: number) => `${bytes >= 0 ? "+" : ""}${(bytes / 1024 / 1024).toFixed(1)} MB`;

async function openMany(port: number, n: number, concurrency: number): Promise<{ clients: Client[]; failures: number }> {
  const clients: Client[] = [];
  let failures = 0;
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      const c = new Client(port);
      try {
        await c.open();
        clients.push(c);
      } catch {
        failures++;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { clients, failures };
}

interface Result {
  runtime: string;
  peakClients: number;
  connectSeconds: number;
  connectFailures: number;
  churnCycles: number;
  churnFailures: number;
  broadcasts: number;
  newsDelivered: number;
  missedNews: number;
  acks: number;
  missingAcks: number;
  unexpectedCloses: number;
  base: Stats;
  peak: Stats;
  final: Stats;
  second: Stats;
  idleSeconds: number;
  timersSeconds: number;
  failures: string[];
}

async function soak(runtime: RuntimeSpec): Promise<Result> {
  const fx = await startFixture(runtime, {
    H_PING_INTERVAL: "10000",
    H_PING_TIMEOUT: "5000",
    H_CONNECT_TIMEOUT: "20000",
    H_MAX_BUFFERED_BYTES: String(16 * 1024 * 1024),
  });
  const failures: string[] = [];
  try {
    // A quiet half second before the idle baseline.
    await sleep(500);
    const base = await gcStats(fx);
    log(runtime.name, `idle: heap ${mb(base.heapUsed)}, rss ${mb(base.rss)}, timers ${base.timers}`);

    // Ramp up.
    const t0 = Date.now();
    const { clients, failures: connectFailures } = await openMany(fx.port, CLIENTS, 200);
    const connectSeconds = (Date.now() - t0) / 1000;
    const peakNow = await control<Stats>(fx, "stats");
    log(runtime.name, `${clients.length} connected in ${connectSeconds.toFixed(1)} s (${connectFailures} failed); server sees ${peakNow.clientsCount}`);
    const peak = await gcStats(fx);

    // Long-lived clients: never churned, so they must see every broadcast and ack.
    const stable = clients.slice(0, Math.floor(clients.length / 2));
    let churnable = clients.slice(stable.length);
    const broadcaster = stable[0]!;
    const newsBefore = stable.map((c) => c.news);
    let broadcasts = 0;
    let churnCycles = 0;
    let churnFailures = 0;
    const churnOps: Promise<void>[] = [];
    const ticks = Math.floor((SECONDS * 1000) / TICK_MS);
    const left: Client[] = [];
    for (let tick = 0; tick < ticks; tick++) {
      const tickStart = Date.now();
      if (tick % BROADCAST_EVERY_TICKS === 0) {
        broadcaster.emit(`42["broadcast","${PAYLOAD}"]`);
        broadcasts++;
      }
      for (let i = 0; i < ACKS_PER_TICK; i++) stable[Math.floor(Math.random() * stable.length)]!.echo();
      // Churn: some leave (cleanly or by reset), as many join.
      for (let i = 0; i < CHURN_PER_TICK && churnable.length > 0; i++) {
        const victim = churnable.splice(Math.floor(Math.random() * churnable.length), 1)[0]!;
        victim.leave(Math.random() < RESET_SHARE);
        left.push(victim);
        const fresh = new Client(fx.port);
        churnOps.push(
          fresh.open().then(
            () => {
              churnable.push(fresh);
              churnCycles++;
            },
            () => void churnFailures++,
          ),
        );
      }
      const wait = TICK_MS - (Date.now() - tickStart);
      if (wait > 0) await sleep(wait); // pacing: one tick every TICK_MS
      if (tick % 20 === 0) {
        const s = await control<Stats>(fx, "stats");
        log(runtime.name, `t=${((tick * TICK_MS) / 1000).toFixed(0)}s sessions ${s.clientsCount}, heap ${mb(s.heapUsed)}, rss ${mb(s.rss)}, broadcasts ${broadcasts}, churn ${churnCycles}`);
      }
    }
    await Promise.all(churnOps);

    // Delivery: every long-lived client gets every broadcast, every ack comes back.
    const deadline = Date.now() + 20_000;
    const missed = () => stable.reduce((n, c, i) => n + Math.max(0, broadcasts - (c.news - newsBefore[i]!)), 0);
    const missingAcks = () => stable.reduce((n, c) => n + c.missingAcks, 0);
    // Past the deadline what is still missing is reported below.
    await waitFor(() => missed() === 0 && missingAcks() === 0, { timeout: Math.max(0, deadline - Date.now()), interval: 200 }).catch(() => {});
    const newsDelivered = [...stable, ...churnable, ...left].reduce((n, c) => n + c.news, 0);
    const acks = stable.reduce((n, c) => n + c.acked, 0);
    const unexpectedCloses = [...stable, ...churnable].filter((c) => c.unexpectedClose).length;

    // Everyone leaves; the server must go back to idle.
    const tIdle = Date.now();
    for (const c of [...stable, ...churnable]) c.leave(false);
    let s = await control<Stats>(fx, "stats");
    // Reset clients end by ping timeout (10 s + 5 s here).
    // Past the deadline what is left is reported below.
    await waitFor(async () => ((s = await control<Stats>(fx, "stats")).clientsCount === 0 && s.sockets === 0), { timeout: 30_000, interval: 250 }).catch(() => {});
    const idleSeconds = (Date.now() - tIdle) / 1000;
    // Cancelled deadlines leave the scheduler lazily: its one runtime timer fires at the
    // latest pending deadline (pingInterval + pingTimeout at most) and is not re-armed.
    await waitFor(async () => ((s = await control<Stats>(fx, "stats")).timers <= base.timers && s.scheduler === 0), { timeout: 20_000, interval: 250 }).catch(() => {});
    const timersSeconds = (Date.now() - tIdle) / 1000;
    const final = await gcStats(fx);

    // A second, short round: what a runtime keeps after the first (allocator pages,
    // buffers) must be reused, not added to: RSS plateaus when nothing leaks.
    const again = await openMany(fx.port, CLIENTS, 200);
    for (let i = 0; i < 8; i++) {
      again.clients[0]?.emit(`42["broadcast","${PAYLOAD}"]`);
      await sleep(TICK_MS); // pacing
    }
    for (const c of again.clients) c.leave(false);
    s = await control<Stats>(fx, "stats");
    await waitFor(
      async () => ((s = await control<Stats>(fx, "stats")).clientsCount === 0 && s.timers <= base.timers && s.scheduler === 0),
      { timeout: 20_000, interval: 250 },
    ).catch(() => {});
    const second = await gcStats(fx);
    if (final.handleTypes) log(runtime.name, `handles idle ${JSON.stringify(base.handleTypes)} after ${JSON.stringify(final.handleTypes)}`);

    const check = (ok: boolean, what: string) => void (ok || failures.push(what));
    check(connectFailures === 0, `${connectFailures} connections failed`);
    check(churnFailures === 0, `${churnFailures} churn reconnections failed`);
    check(missed() === 0, `${missed()} broadcasts missed by long-lived clients`);
    check(missingAcks() === 0, `${missingAcks()} acks missing`);
    check(unexpectedCloses === 0, `${unexpectedCloses} clients closed unexpectedly`);
    check(final.clientsCount === 0 && final.sockets === 0 && final.rooms === 0, `not idle: ${final.clientsCount} sessions, ${final.sockets} sockets, ${final.rooms} rooms`);
    check(final.scheduler === 0, `${final.scheduler} scheduler entries left`);
    check(final.timers <= base.timers, `${final.timers} live timers left (idle had ${base.timers})`);
    check(final.listeners === base.listeners, `listeners ${base.listeners} -> ${final.listeners}`);
    check(final.handles === null || base.handles === null || final.handles <= base.handles + 1, `handles ${base.handles} -> ${final.handles}`);
    check(final.heapUsed - base.heapUsed < 16 * 1024 * 1024, `heap did not return: ${delta(final.heapUsed - base.heapUsed)}`);
    check(final.uncaught === 0, `${final.uncaught} uncaught errors: ${final.uncaughtMessages.join(" | ")}`);
    check(again.failures === 0, `${again.failures} connections of the second round failed`);
    check(second.clientsCount === 0 && second.scheduler === 0, `not idle after the second round: ${second.clientsCount} sessions`);
    check(second.heapUsed - base.heapUsed < 16 * 1024 * 1024, `heap did not return after the second round: ${delta(second.heapUsed - base.heapUsed)}`);
    check(second.rss - final.rss < 64 * 1024 * 1024, `RSS grew by ${delta(second.rss - final.rss)} in the second round`);
    check(second.uncaught === 0, `${second.uncaught} uncaught errors in the second round`);

    return {
      runtime: runtime.name,
      peakClients: peakNow.clientsCount,
      connectSeconds,
      connectFailures,
      churnCycles,
      churnFailures,
      broadcasts,
      newsDelivered,
      missedNews: missed(),
      acks,
      missingAcks: missingAcks(),
      unexpectedCloses,
      base,
      peak,
      final,
      second,
      idleSeconds,
      timersSeconds,
      failures,
    };
  } finally {
    await fx.stop();
  }
}

function log(runtime: string, line: string): void {
  console.error(`[soak ${runtime}] ${line}`);
}

function table(results: Result[]): string {
  const rows: Array<[string, (r: Result) => string]> = [
    ["WebSocket connections held", (r) => `${r.peakClients.toLocaleString("en-US")}`],
    ["time to connect them", (r) => `${r.connectSeconds.toFixed(1)} s`],
    ["churn cycles (leave + join)", (r) => `${r.churnCycles.toLocaleString("en-US")} (${Math.round(RESET_SHARE * 100)}% by TCP reset)`],
    ["broadcasts (io.emit to all)", (r) => `${r.broadcasts}`],
    ["broadcast messages delivered", (r) => r.newsDelivered.toLocaleString("en-US")],
    ["broadcasts missed by long-lived clients", (r) => `${r.missedNews}`],
    ["acked echoes / acks missing", (r) => `${r.acks.toLocaleString("en-US")} / ${r.missingAcks}`],
    ["failed connects / unexpected disconnects", (r) => `${r.connectFailures + r.churnFailures} / ${r.unexpectedCloses}`],
    ["server heap: idle → loaded → idle again", (r) => `${mb(r.base.heapUsed)} → ${mb(r.peak.heapUsed)} → ${mb(r.final.heapUsed)}`],
    ["server RSS: idle → loaded → idle again", (r) => `${mb(r.base.rss)} → ${mb(r.peak.rss)} → ${mb(r.final.rss)}`],
    ["after a second round of N clients: heap / RSS", (r) => `${mb(r.second.heapUsed)} / ${mb(r.second.rss)}`],
    ["heap per connection (loaded)", (r) => `${((r.peak.heapUsed - r.base.heapUsed) / Math.max(1, r.peakClients) / 1024).toFixed(1)} KB`],
    ["no session left / no timer left, after the last client left", (r) => `${r.idleSeconds.toFixed(1)} s / ${r.timersSeconds.toFixed(1)} s`],
    ["sessions / sockets / rooms left", (r) => `${r.final.clientsCount} / ${r.final.sockets} / ${r.final.rooms}`],
    ["timers / scheduler entries: idle → after", (r) => `${r.base.timers} / ${r.base.scheduler} → ${r.final.timers} / ${r.final.scheduler}`],
    ["listeners on long-lived emitters: idle → after", (r) => `${r.base.listeners} → ${r.final.listeners}`],
    ["active handles: idle → after", (r) => (r.base.handles === null ? "n/a" : `${r.base.handles} → ${r.final.handles}`)],
    ["uncaught errors", (r) => `${r.final.uncaught}`],
    ["verdict", (r) => (r.failures.length ? `FAIL: ${r.failures.join("; ")}` : "pass")],
  ];
  let out = `| ${CLIENTS.toLocaleString("en-US")} clients, ${SECONDS} s of churn | ${results.map((r) => r.runtime).join(" | ")} |\n`;
  out += `|---|${results.map(() => "---").join("|")}|\n`;
  for (const [label, f] of rows) out += `| ${label} | ${results.map(f).join(" | ")} |\n`;
  return out;
}

async function main(): Promise<void> {
  const { soft, hard } = fdLimits();
  const started = Date.now();
  log("all", `${CLIENTS} clients, ${SECONDS} s churn, runtimes ${RUNTIMES.join(",")}; fd limit ${soft} (hard ${hard})`);
  const results: Result[] = [];
  for (const spec of HARDENING_RUNTIMES.filter((r) => RUNTIMES.includes(r.name))) {
    results.push(await soak(spec));
  }
  console.log(table(results));
  console.log(
    `Measured ${new Date().toISOString().slice(0, 10)} on ${process.platform}/${process.arch}, ${(await import("node:os")).cpus().length} CPUs; ` +
      `server heap after a forced full GC; total ${((Date.now() - started) / 1000).toFixed(0)} s; fd limit ${soft}.`,
  );
  const failed = results.filter((r) => r.failures.length);
  process.exit(failed.length ? 1 : 0);
}

// ── entry: re-run with a raised fd limit when needed, then soak ─────────────
const needFds = CLIENTS + 1000;
if (!process.env.SOAK_CHILD) {
  const { soft, hard } = fdLimits();
  if (soft < needFds) {
    if (hard < needFds) {
      console.error(`soak: ${CLIENTS} clients need ${needFds} file descriptors; the hard limit is ${hard}. Use --clients ${Math.max(100, hard - 1000)}.`);
      process.exit(2);
    }
    // Re-run under a shell that raised the soft limit (fixtures inherit it).
    const self = fileURLToPath(import.meta.url);
    const child = spawn(
      "bash",
      ["-c", `ulimit -n ${Number.isFinite(hard) ? hard : 65536} && exec "$0" "$@"`, process.execPath, "--import", "tsx", self, ...args],
      { stdio: "inherit", env: { ...process.env, SOAK_CHILD: "1" } },
    );
    child.on("exit", (code) => process.exit(code ?? 1));
  } else {
    await main();
  }
} else {
  await main();
}
