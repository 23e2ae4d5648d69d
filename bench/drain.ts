/**
 * `io.drain()` measured: two unio nodes (A, B) sharing a Redis Streams
 * adapter with connection state recovery, behind HAProxy (round robin, an
 * HTTP health check on /healthz, 503s retried on the other node). N
 * socket.io-clients (WebSocket) connect while only A is in rotation, then B
 * joins and A drains over T seconds. Every client sends an acked message
 * every `interval` ms throughout.
 *
 * Reported: clients on A, how many reconnected to B and when (time from the
 * drain's start, p50/p99/max), how long each was disconnected (p50/p99/max),
 * how many sessions B recovered (connection state recovery), the most
 * clients disconnected at once, messages sent / acked / lost (lost = sent
 * but never acked), failed reconnection attempts (connect_error), and A's
 * drain metrics, and the CPU the nodes and the clients used from the
 * drain's start until every client moved. `--timeout=0` is the reconnect
 * storm for comparison (everyone closed at once, as `io.close()`).
 *
 * The clients run in load-generator processes (drain-clients.ts, one per
 * 1,250 clients by default, `--processes=N`), each reporting its raw
 * numbers to this one, which merges them: one process driving 5,000
 * clients was CPU-bound, and its own lag counted as the clients' downtime.
 *
 *   node --import tsx bench/drain.ts                       # 5,000 clients, T = 10 s, then T = 0
 *   node --import tsx bench/drain.ts --clients=1000 --timeout=10000 --interval=1000 --retries=3
 *
 * Never fails on speed. `runDrainBench()` is also what test/drain runs, small.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { exited, freePort, type RedisServer, startRedis, waitForLine } from "../test/redis/harness.ts";
import type { Command, GeneratorResult, Report } from "./drain-clients.ts";
import { cpuMs } from "./proc.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const HAPROXY = "/usr/sbin/haproxy";

export interface DrainBenchOptions {
  clients: number;
  /** ms the drain is spread over (0: everything closed at once). */
  timeout: number;
  /** ms between two acked messages of a client. */
  interval: number;
  /**
   * socket.io-client's `retries` (0: off): with it, a message whose ack was
   * lost with the connection is sent again after the reconnection
   * (at-least-once delivery).
   */
  retries?: number;
  /** ms to wait for the last reconnection after the drain ended. */
  settle?: number;
  /** Load-generator processes the clients are spread over; default one per 1,250 clients. */
  processes?: number;
  log?: (line: string) => void;
}

export interface DrainBenchResult {
  clients: number;
  timeoutMs: number;
  retries: number;
  processes: number;
  onA: number;
  reconnectedToB: number;
  recovered: number;
  /** ms from the drain's start to each client's reconnection on B. */
  reconnectAt: Stats;
  /** ms each client spent disconnected. */
  downtime: Stats;
  /** ms from a reconnection attempt (after the client's backoff) to its welcome on B: the servers' share of the downtime. */
  reconnectLatency: Stats;
  /** Most clients disconnected at the same time. */
  peakDisconnected: number;
  connectErrors: number;
  /** Failed reconnection attempts by message. */
  errorKinds: Record<string, number>;
  sent: number;
  acked: number;
  lost: number;
  drainReport: unknown;
  /** CPU ms used from the drain's start until every client moved: node A, node B, the load generators together. */
  cpu: { a: number; b: number; clients: number; wallMs: number };
}

export interface Stats {
  p50: number;
  p99: number;
  max: number;
}

function stats(values: number[]): Stats {
  const v = [...values].sort((a, b) => a - b);
  const at = (q: number) => (v.length === 0 ? NaN : v[Math.min(v.length - 1, Math.floor(q * v.length))]!);
  return { p50: Math.round(at(0.5)), p99: Math.round(at(0.99)), max: Math.round(v[v.length - 1] ?? NaN) };
}

interface NodeProc {
  name: string;
  port: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

async function startNode(name: string, redisUrl: string): Promise<NodeProc> {
  // DRAIN_PROFILE=dir: a .cpuprofile of each node, written when it is stopped.
  const prof = process.env.DRAIN_PROFILE ? ["--cpu-prof", `--cpu-prof-dir=${process.env.DRAIN_PROFILE}`] : [];
  const child = spawn(process.execPath, [...prof, "--import", "tsx", join(root, "bench/servers/drain-node.ts")], {
    cwd: root,
    env: { ...process.env, REDIS_URL: redisUrl, NODE_NAME: name, PORT: "0" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stderr?.resume();
  const line = await waitForLine(child, (l) => /^\{"port":\d+\}$/.test(l), 30_000, `node ${name}`);
  child.stdout?.resume();
  return {
    name,
    port: JSON.parse(line).port,
    child,
    async stop() {
      // SIGTERM first: the node exits normally (a profile is written), SIGKILL if it does not.
      child.kill("SIGTERM");
      await exited(child, 3000);
      child.kill("SIGKILL");
      await exited(child, 5000);
    },
  };
}

interface Balancer {
  url: string;
  /** `enable server be/<name>` (or disable) through HAProxy's admin socket. */
  admin(command: string): Promise<string>;
  stop(): Promise<void>;
}

/**
 * HAProxy in front of the nodes: round robin, `GET /healthz` checked every
 * 200 ms (a draining node answers 503 and leaves the rotation), and a 503
 * answer (a handshake refused by a draining node) retried once on another
 * server (`retry-on 503`, `option redispatch`). Servers listed in `disabled`
 * start out of rotation.
 */
async function startBalancer(servers: Array<{ name: string; port: number }>, disabled: string[]): Promise<Balancer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "unio-drain-"));
  const sock = join(dir, "admin.sock");
  const cfg = join(dir, "haproxy.cfg");
  writeFileSync(
    cfg,
    [
      "global",
      "  maxconn 9000",
      `  stats socket ${sock} level admin`,
      "defaults",
      "  mode http",
      "  timeout connect 2s",
      "  timeout client 60s",
      "  timeout server 60s",
      "  timeout tunnel 120s",
      "  option redispatch 1",
      "  retries 2",
      "  retry-on conn-failure empty-response 503",
      "frontend fe",
      `  bind 127.0.0.1:${port}`,
      "  default_backend be",
      "backend be",
      "  balance roundrobin",
      "  option httpchk GET /healthz",
      // A busy node (1,000s of reconnections arriving, on a shared 2-core box) may answer a check
      // late; taking B out then leaves no server at all (HAProxy's own 503s). A draining node answers
      // 503 at once, so it still leaves within 10 checks (2 s).
      "  timeout check 5s",
      ...servers.map((s) => `  server ${s.name} 127.0.0.1:${s.port} check inter 200 fall 10 rise 1${disabled.includes(s.name) ? " disabled" : ""}`),
      "",
    ].join("\n"),
  );
  const child = spawn(HAPROXY, ["-db", "-f", cfg], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (c: Buffer) => (stderr = (stderr + c.toString()).slice(-10_000)));
  const admin = (command: string) =>
    new Promise<string>((resolve, reject) => {
      const s = netConnect(sock);
      let out = "";
      s.on("data", (d) => (out += d.toString()));
      s.on("end", () => resolve(out));
      s.on("error", reject);
      s.end(command + "\n");
    });
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`haproxy exited: ${stderr}`);
    const ok = await admin("show info").then(
      () => true,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`haproxy not ready: ${stderr}`);
    await sleep(100);
  }
  return {
    url: `http://127.0.0.1:${port}`,
    admin,
    async stop() {
      child.kill("SIGKILL");
      await exited(child, 5000);
    },
  };
}

/** Whether HAProxy sees `name` UP (its health check passed). */
async function serverUp(lb: Balancer, name: string): Promise<boolean> {
  const csv = await lb.admin("show stat");
  const row = csv.split("\n").find((l) => l.startsWith(`be,${name},`));
  return !!row && row.split(",")[17] === "UP";
}


function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function until(what: string, ms: number, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** A load-generator process (drain-clients.ts) and what it last reported. */
interface Generator {
  child: ChildProcess;
  moved: number;
  send(cmd: Command): void;
  /** The next report of `type` (an "error" report rejects). */
  next<T extends Report["type"]>(type: T, ms: number): Promise<Extract<Report, { type: T }>>;
}

function startGenerator(): Generator {
  const child = spawn(process.execPath, ["--import", "tsx", join(root, "bench/drain-clients.ts")], {
    cwd: root,
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const waiting: Array<{ type: string; resolve(r: Report): void; reject(e: Error): void }> = [];
  const g: Generator = {
    child,
    moved: 0,
    send: (cmd) => void child.send(cmd),
    next: (type, ms) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`load generator: no "${type}" within ${ms} ms`)), ms);
        waiting.push({
          type,
          resolve: (r) => {
            clearTimeout(timer);
            resolve(r as never);
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        });
      }),
  };
  child.on("message", (r: Report) => {
    if (r.type === "progress") g.moved = r.moved;
    for (const w of [...waiting]) {
      if (r.type !== "error" && w.type !== r.type) continue;
      waiting.splice(waiting.indexOf(w), 1);
      if (r.type === "error") w.reject(new Error(`load generator: ${r.message}`));
      else w.resolve(r);
    }
  });
  child.on("exit", (code) => {
    for (const w of waiting.splice(0)) w.reject(new Error(`load generator exited with ${code}`));
  });
  return g;
}

/** The most outages open at one time (an outage still open at the end counts until then). */
function peakOverlap(outages: Array<[number, number | null]>): number {
  const events: Array<[number, number]> = [];
  for (const [down, up] of outages) {
    events.push([down, 1]);
    if (up !== null) events.push([up, -1]);
  }
  // At equal times the ends go first: a client back at t is not down with one that dropped at t.
  events.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let now = 0;
  let peak = 0;
  for (const [, d] of events) peak = Math.max(peak, (now += d));
  return peak;
}

/** Clients per load-generator process at most: one process keeps up with about this many. */
export const CLIENTS_PER_GENERATOR = 1250;

export async function runDrainBench(opts: DrainBenchOptions): Promise<DrainBenchResult> {
  const log = opts.log ?? (() => {});
  const settle = opts.settle ?? 15_000;
  const retries = opts.retries ?? 0;
  const processes = Math.max(1, Math.min(opts.clients, opts.processes ?? Math.ceil(opts.clients / CLIENTS_PER_GENERATOR)));
  let redis: RedisServer | undefined;
  let a: NodeProc | undefined;
  let b: NodeProc | undefined;
  let lb: Balancer | undefined;
  const generators: Generator[] = [];
  try {
    redis = await startRedis();
    [a, b] = await Promise.all([startNode("A", redis.url), startNode("B", redis.url)]);
    lb = await startBalancer(
      [
        { name: "A", port: a.port },
        { name: "B", port: b.port },
      ],
      ["B"],
    );
    await until("A up", 10_000, () => serverUp(lb!, "A"));
    log(`nodes A :${a.port}, B :${b.port}, haproxy ${lb.url}; connecting ${opts.clients} clients to A from ${processes} processes`);

    for (let i = 0; i < processes; i++) generators.push(startGenerator());
    const onAs = await Promise.all(
      generators.map((g, i) => {
        // An even split; the first ones take the remainder.
        const clients = Math.floor(opts.clients / processes) + (i < opts.clients % processes ? 1 : 0);
        const connected = g.next("connected", 60_000 + clients * 60);
        g.send({ type: "connect", url: lb!.url, clients, retries, interval: opts.interval });
        return connected;
      }),
    );
    const onA = onAs.reduce((n, r) => n + r.onA, 0);
    log(`${onA} clients on A`);

    // Acked messages from every client, throughout.
    for (const g of generators) g.send({ type: "send" });
    await sleep(Math.max(1000, opts.interval * 2));

    // B joins the rotation, then A drains.
    await lb.admin("enable server be/B");
    await until("B up", 10_000, () => serverUp(lb!, "B"));
    log(`B in rotation; draining A over ${opts.timeout} ms`);
    const clientsCpu = () => generators.reduce((n, g) => n + cpuMs(g.child.pid), 0);
    const cpu0 = { a: cpuMs(a.child.pid), b: cpuMs(b.child.pid), clients: clientsCpu() };
    const drainStart = performance.now();
    for (const g of generators) g.send({ type: "drain", at: Date.now() });
    // The balancer's view of the nodes, as it changes (a node it takes out of rotation explains 503s).
    let states = "";
    const watch = setInterval(async () => {
      const now = `A ${(await serverUp(lb!, "A")) ? "UP" : "DOWN"}, B ${(await serverUp(lb!, "B")) ? "UP" : "DOWN"}`;
      if (now !== states) log(`+${Math.round(performance.now() - drainStart)} ms: haproxy sees ${(states = now)}`);
    }, 250);
    const report = await fetch(`http://127.0.0.1:${a.port}/drain?timeout=${opts.timeout}`, { method: "POST" })
      .then((r) => r.json());
    log(`A drained in ${Math.round(performance.now() - drainStart)} ms`);
    await until("every client of A on B", settle, () => generators.reduce((n, g) => n + g.moved, 0) >= onA).catch(
      (err) => log(String(err)),
    );
    clearInterval(watch);
    const cpu = {
      a: Math.round(cpuMs(a.child.pid) - cpu0.a),
      b: Math.round(cpuMs(b.child.pid) - cpu0.b),
      clients: Math.round(clientsCpu() - cpu0.clients),
      wallMs: Math.round(performance.now() - drainStart),
    };
    // A few more messages after everyone moved, then stop and let the last acks arrive.
    await sleep(Math.max(1000, opts.interval));
    const results = await Promise.all(
      generators.map((g) => {
        const done = g.next("result", 60_000);
        g.send({ type: "stop" });
        return done;
      }),
    );
    const all = <K extends keyof GeneratorResult>(k: K) => results.flatMap((r) => r[k] as unknown[]) as number[];
    const sum = (k: "recovered" | "connectErrors" | "sent" | "acked") => results.reduce((n, r) => n + r[k], 0);
    const errorKinds: Record<string, number> = {};
    for (const r of results) for (const [k, n] of Object.entries(r.errorKinds)) errorKinds[k] = (errorKinds[k] ?? 0) + n;
    const reconnectAt = all("reconnectAt");
    return {
      clients: opts.clients,
      timeoutMs: opts.timeout,
      retries,
      processes,
      onA,
      reconnectedToB: reconnectAt.length,
      recovered: sum("recovered"),
      reconnectAt: stats(reconnectAt),
      downtime: stats(all("downtimes")),
      reconnectLatency: stats(all("latencies")),
      peakDisconnected: peakOverlap(results.flatMap((r) => r.outages)),
      connectErrors: sum("connectErrors"),
      errorKinds,
      sent: sum("sent"),
      acked: sum("acked"),
      lost: sum("sent") - sum("acked"),
      drainReport: report,
      cpu,
    };
  } finally {
    for (const g of generators) g.child.kill("SIGKILL");
    await lb?.stop();
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.stop();
  }
}

function arg(name: string, fallback: number): number {
  const hit = process.argv.find((x) => x.startsWith(`--${name}=`));
  return hit ? Number(hit.split("=")[1]) : fallback;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const clients = arg("clients", 5000);
  const timeouts = process.argv.some((x) => x.startsWith("--timeout=")) ? [arg("timeout", 10_000)] : [10_000, 0];
  const interval = arg("interval", 1000);
  const retries = arg("retries", 0);
  const processes = process.argv.some((x) => x.startsWith("--processes=")) ? arg("processes", 1) : undefined;
  const rows: DrainBenchResult[] = [];
  for (const timeout of timeouts) {
    const r = await runDrainBench({ clients, timeout, interval, retries, processes, log: (l) => console.error(`[T=${timeout}] ${l}`) });
    console.error(JSON.stringify(r));
    rows.push(r);
  }
  console.log(
    [
      "| drain | client retries | clients on A | reconnected to B | recovered (CSR) | reconnected at p50 / p99 / max (ms after drain start) | downtime p50 / p99 / max (ms) | reconnect attempt → welcome p50 / p99 (ms) | peak disconnected | failed reconnect attempts | messages sent / acked / lost | CPU ms A / B / clients (wall ms) |",
      "|---|---|---|---|---|---|---|---|---|---|---|---|",
      ...rows.map(
        (r) =>
          `| ${r.timeoutMs === 0 ? "T = 0 (all at once)" : `T = ${r.timeoutMs / 1000} s`} | ${r.retries} | ${r.onA} | ${r.reconnectedToB} | ${r.recovered} | ${r.reconnectAt.p50} / ${r.reconnectAt.p99} / ${r.reconnectAt.max} | ${r.downtime.p50} / ${r.downtime.p99} / ${r.downtime.max} | ${r.reconnectLatency.p50} / ${r.reconnectLatency.p99} | ${r.peakDisconnected} | ${r.connectErrors} | ${r.sent} / ${r.acked} / ${r.lost} | ${r.cpu.a} / ${r.cpu.b} / ${r.cpu.clients} (${r.cpu.wallMs}) |`,
      ),
    ].join("\n"),
  );
  process.exit(0);
}
