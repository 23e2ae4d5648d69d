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
 * drain metrics. `--timeout=0` is the reconnect storm for comparison
 * (everyone closed at once, as `io.close()`).
 *
 *   node --import tsx bench/drain.ts                       # 5,000 clients, T = 10 s
 *   node --import tsx bench/drain.ts --clients=1000 --timeout=10000 --interval=1000
 *
 * Never fails on speed. `runDrainBench()` is also what test/drain runs, small.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { io as ioc, type Socket as ClientSocket } from "socket.io-client";
import { exited, freePort, type RedisServer, startRedis, waitForLine } from "../test/redis/harness.ts";
import { cpuMicros } from "./proc.ts";

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
  log?: (line: string) => void;
}

export interface DrainBenchResult {
  clients: number;
  timeoutMs: number;
  retries: number;
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
  /** CPU ms used from the drain's start until every client moved: node A, node B, this process (the clients). */
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
      // A busy node (1,000s of reconnections arriving) may answer a check late: 3 misses before it is taken out.
      "  timeout check 2s",
      ...servers.map((s) => `  server ${s.name} 127.0.0.1:${s.port} check inter 200 fall 3 rise 1${disabled.includes(s.name) ? " disabled" : ""}`),
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

/** CPU time (user + system) of a process so far, in ms, from /proc (0 where there is none). */
function cpuMs(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    return cpuMicros(pid) / 1000;
  } catch {
    return 0; // the process is gone
  }
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

interface Tracked {
  socket: ClientSocket;
  node: string;
  firstNode: string;
  disconnectedAt: number | null;
  downtimes: number[];
  reconnectedToBAt: number | null;
  recovered: boolean;
  attemptAt: number;
  latencies: number[];
}

export async function runDrainBench(opts: DrainBenchOptions): Promise<DrainBenchResult> {
  const log = opts.log ?? (() => {});
  const settle = opts.settle ?? 15_000;
  const retries = opts.retries ?? 0;
  let redis: RedisServer | undefined;
  let a: NodeProc | undefined;
  let b: NodeProc | undefined;
  let lb: Balancer | undefined;
  const tracked: Tracked[] = [];
  let sendTimer: ReturnType<typeof setInterval> | undefined;
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
    log(`nodes A :${a.port}, B :${b.port}, haproxy ${lb.url}; connecting ${opts.clients} clients to A`);

    let connectErrors = 0;
    const errorKinds: Record<string, number> = {};
    let disconnectedNow = 0;
    let peakDisconnected = 0;
    let drainStart = 0;
    const url = lb.url;
    // Connected in batches, so the handshakes do not all hit at once.
    const batch = 200;
    for (let i = 0; i < opts.clients; i += batch) {
      const group = Array.from({ length: Math.min(batch, opts.clients - i) }, () => {
        const socket = ioc(url, {
          transports: ["websocket"],
          forceNew: true,
          reconnectionDelayMax: 5000,
          ...(retries > 0 ? { retries, ackTimeout: 10_000 } : {}),
        });
        const t: Tracked = { socket, node: "", firstNode: "", disconnectedAt: null, downtimes: [], reconnectedToBAt: null, recovered: false, attemptAt: 0, latencies: [] };
        tracked.push(t);
        socket.on("welcome", (w: { node: string; recovered: boolean }) => {
          t.node = w.node;
          if (!t.firstNode) t.firstNode = w.node;
          if (t.disconnectedAt !== null && t.attemptAt > 0) t.latencies.push(performance.now() - t.attemptAt);
          if (t.disconnectedAt !== null) {
            t.downtimes.push(performance.now() - t.disconnectedAt);
            t.disconnectedAt = null;
            disconnectedNow--;
          }
          if (w.node === "B" && t.firstNode === "A" && t.reconnectedToBAt === null) {
            t.reconnectedToBAt = performance.now() - drainStart;
            t.recovered = w.recovered;
          }
        });
        socket.on("disconnect", () => {
          t.disconnectedAt = performance.now();
          disconnectedNow++;
          peakDisconnected = Math.max(peakDisconnected, disconnectedNow);
        });
        socket.io.on("reconnect_attempt", () => (t.attemptAt = performance.now()));
        socket.io.on("reconnect_error", (err: Error & { description?: unknown }) => {
          connectErrors++;
          const d = err.description as { message?: string; status?: number; context?: { statusCode?: number } } | number | undefined;
          const detail = typeof d === "object" && d !== null ? (d.message ?? d.context?.statusCode ?? "") : (d ?? "");
          const key = `${err.message} ${detail}`.trim();
          errorKinds[key] = (errorKinds[key] ?? 0) + 1;
        });
        return new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error("client did not connect")), 30_000);
          socket.once("welcome", () => {
            clearTimeout(timer);
            resolve();
          });
        });
      });
      await Promise.all(group);
    }
    const onA = tracked.filter((t) => t.firstNode === "A").length;
    log(`${onA} clients on A`);

    // Acked messages from every client, throughout.
    let sent = 0;
    let acked = 0;
    let failed = 0;
    let seq = 0;
    const pending = new Set<number>();
    const tick = Math.max(10, Math.floor(opts.interval / 20));
    let cursor = 0;
    // Each tick, the next slice of clients sends: every client once per interval, spread evenly.
    sendTimer = setInterval(() => {
      const per = Math.ceil((tracked.length * tick) / opts.interval);
      for (let k = 0; k < per; k++) {
        const t = tracked[cursor++ % tracked.length]!;
        const id = seq++;
        sent++;
        pending.add(id);
        const done = (err: Error | null) => {
          if (err) failed++;
          else acked++;
          pending.delete(id);
        };
        if (retries > 0) t.socket.emit("msg", id, done);
        else t.socket.timeout(30_000).emit("msg", id, done);
      }
    }, tick);
    await sleep(Math.max(1000, opts.interval * 2));

    // B joins the rotation, then A drains.
    await lb.admin("enable server be/B");
    await until("B up", 10_000, () => serverUp(lb!, "B"));
    log(`B in rotation; draining A over ${opts.timeout} ms`);
    const cpu0 = { a: cpuMs(a.child.pid), b: cpuMs(b.child.pid), clients: cpuMs(process.pid) };
    drainStart = performance.now();
    const report = await fetch(`http://127.0.0.1:${a.port}/drain?timeout=${opts.timeout}`, { method: "POST" }).then((r) => r.json());
    log(`A drained in ${Math.round(performance.now() - drainStart)} ms`);
    await until("every client of A on B", settle, () => tracked.every((t) => t.firstNode !== "A" || t.reconnectedToBAt !== null)).catch(
      (err) => log(String(err)),
    );
    const cpu = {
      a: Math.round(cpuMs(a.child.pid) - cpu0.a),
      b: Math.round(cpuMs(b.child.pid) - cpu0.b),
      clients: Math.round(cpuMs(process.pid) - cpu0.clients),
      wallMs: Math.round(performance.now() - drainStart),
    };
    // A few more messages after everyone moved, then stop and let the last acks arrive.
    await sleep(Math.max(1000, opts.interval));
    clearInterval(sendTimer);
    sendTimer = undefined;
    await until("the last acks", 35_000, () => pending.size === 0).catch(() => {});

    const moved = tracked.filter((t) => t.firstNode === "A" && t.reconnectedToBAt !== null);
    return {
      clients: opts.clients,
      timeoutMs: opts.timeout,
      retries,
      onA,
      reconnectedToB: moved.length,
      recovered: moved.filter((t) => t.recovered).length,
      reconnectAt: stats(moved.map((t) => t.reconnectedToBAt!)),
      downtime: stats(tracked.flatMap((t) => t.downtimes)),
      reconnectLatency: stats(tracked.flatMap((t) => t.latencies)),
      peakDisconnected,
      connectErrors,
      errorKinds,
      sent,
      acked,
      lost: sent - acked,
      drainReport: report,
      cpu,
    };
  } finally {
    if (sendTimer) clearInterval(sendTimer);
    for (const t of tracked) t.socket.disconnect();
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
  const rows: DrainBenchResult[] = [];
  for (const timeout of timeouts) {
    const r = await runDrainBench({ clients, timeout, interval, retries, log: (l) => console.error(`[T=${timeout}] ${l}`) });
    console.error(JSON.stringify(r));
    rows.push(r);
  }
  console.log(
    [
      "| drain | client retries | clients on A | reconnected to B | recovered (CSR) | reconnected at p50 / p99 / max (ms after drain start) | downtime p50 / p99 / max (ms) | reconnect attempt → welcome p50 / p99 (ms) | peak disconnected | failed reconnect attempts | messages sent / acked / lost |",
      "|---|---|---|---|---|---|---|---|---|---|---|",
      ...rows.map(
        (r) =>
          `| ${r.timeoutMs === 0 ? "T = 0 (all at once)" : `T = ${r.timeoutMs / 1000} s`} | ${r.retries} | ${r.onA} | ${r.reconnectedToB} | ${r.recovered} | ${r.reconnectAt.p50} / ${r.reconnectAt.p99} / ${r.reconnectAt.max} | ${r.downtime.p50} / ${r.downtime.p99} / ${r.downtime.max} | ${r.reconnectLatency.p50} / ${r.reconnectLatency.p99} | ${r.peakDisconnected} | ${r.connectErrors} | ${r.sent} / ${r.acked} / ${r.lost} |`,
      ),
    ].join("\n"),
  );
  process.exit(0);
}
