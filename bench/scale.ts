/**
 * `npm run bench -- --scale`: idle Socket.IO connections at scale (not part
 * of `npm test`). Two parts:
 *
 * - single: one server process per runtime holding --connections (default
 *   18,000) idle connections with heartbeats: RSS and JS heap per connection,
 *   idle CPU over at least two heartbeat cycles, time to connect them all,
 *   and broadcasts to all (time from the emit until the last delivery).
 * - cluster: --cluster-connections (default 100,000) over --workers (default
 *   6) server processes on one port (node:cluster on Node, reusePort on Bun
 *   and Deno) joined by unio/redis against one redis-server: total RSS, per
 *   connection, idle CPU, time to connect, and an `io.emit` from one process
 *   to every client (time until the last delivery, Redis traffic).
 *
 *   npm run bench -- --scale                          # both parts, every server
 *   npm run bench -- --scale --part=single --servers=unio-node,socketio-node
 *   npm run bench -- --scale --part=cluster --servers=unio-node
 *   npm run bench -- --scale --render                 # rewrite SCALE.md's tables from scale-results.json
 *   npm run bench -- --scale --connections=1000 --ping-interval=5000 --no-write
 *   (more: --workers=6 --cluster-ping-interval=10000 --per-loadgen=15000 --broadcasts=3
 *    --connect-deadline=300 seconds, after which what is open is measured)
 *
 * Clients are raw `ws` sockets (bench/scale-load.ts) spread over load-generator
 * processes of at most --per-loadgen (default 15,000) sockets each, every
 * process on its own 127.0.0.x source address, since a process here may hold
 * at most 20,000 open files. Results merge into bench/scale-results.json and
 * the tables into bench/SCALE.md (between its markers). Never fails on speed.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import os from "node:os";
import { bunCommand, denoCommand, nodeCommand, ROOT } from "./catalog.ts";
import { cpuMicros, openFileLimits, rssKiB } from "./proc.ts";
import { connectAll, reportAll, startLoadgens } from "./load-group.ts";
import { Child, killAll } from "./scale-procs.ts";
import { type ClusterRow, renderScale, type SingleRow } from "./scale-report.ts";

type Mode = "sio" | "ceiling";
interface ScaleServer {
  id: string;
  label: string;
  command: string[];
  mode: Mode;
  /** Joined by a Redis adapter in the cluster part. */
  cluster: boolean;
  /** Shares one port across processes by node:cluster (else reusePort, one process each). */
  nodeCluster: boolean;
}

/** Deno's `reusePort` is behind --unstable-net. */
const withUnstableNet = (cmd: string[]) => [cmd[0]!, cmd[1]!, "--unstable-net", ...cmd.slice(2)];
const SCALE_SERVERS: ScaleServer[] = [
  { id: "unio-node", label: "unio (Node)", command: nodeCommand("scale-unio"), mode: "sio", cluster: true, nodeCluster: true },
  { id: "unio-bun", label: "unio (Bun)", command: bunCommand("scale-unio"), mode: "sio", cluster: true, nodeCluster: false },
  { id: "unio-deno", label: "unio (Deno)", command: withUnstableNet(denoCommand("scale-unio")), mode: "sio", cluster: true, nodeCluster: false },
  { id: "socketio-node", label: "socket.io 4.8 (Node)", command: nodeCommand("scale-socketio-node"), mode: "sio", cluster: true, nodeCluster: true },
  { id: "socketio-bun", label: "socket.io + bun-engine (Bun)", command: bunCommand("scale-socketio-bun"), mode: "sio", cluster: false, nodeCluster: false },
  { id: "ws-node", label: "bare ws (Node)", command: nodeCommand("ws-node"), mode: "ceiling", cluster: false, nodeCluster: false },
  { id: "bun-serve", label: "bare Bun.serve (Bun)", command: bunCommand("bun-serve"), mode: "ceiling", cluster: false, nodeCluster: false },
  { id: "deno-serve", label: "bare Deno.serve (Deno)", command: denoCommand("deno-serve"), mode: "ceiling", cluster: false, nodeCluster: false },
];

interface Options {
  parts: Set<"single" | "cluster">;
  servers: string[] | null;
  connections: number;
  clusterConnections: number;
  workers: number;
  pingInterval: number;
  clusterPingInterval: number;
  perLoadgen: number;
  broadcasts: number;
  /** Connecting stops after this long; what is open by then is measured (and the shortfall reported). */
  connectDeadlineMs: number;
  write: boolean;
}

function parse(argv: string[]): Options {
  const value = (name: string) => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const num = (name: string, dflt: number) => {
    const v = Number(value(name) ?? dflt);
    return Number.isFinite(v) && v > 0 ? Math.floor(v) : dflt;
  };
  const part = value("part");
  return {
    // --render: no run, only SCALE.md's tables rewritten from scale-results.json.
    parts: new Set(argv.includes("--render") ? [] : part === "single" || part === "cluster" ? [part] : ["single", "cluster"]),
    servers: value("servers")?.split(",").filter(Boolean) ?? null,
    connections: num("connections", 18_000),
    clusterConnections: num("cluster-connections", 100_000),
    workers: num("workers", 6),
    pingInterval: num("ping-interval", 5_000),
    clusterPingInterval: num("cluster-ping-interval", 10_000),
    perLoadgen: Math.min(num("per-loadgen", 15_000), openFileLimits().hard - 500),
    broadcasts: num("broadcasts", 3),
    connectDeadlineMs: num("connect-deadline", 300) * 1000,
    write: !argv.includes("--no-write"),
  };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const log = (msg: string) => process.stderr.write(`  [scale] ${msg}\n`);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)]! : NaN;
};

/** Aborts the run when the machine's used memory grows by more than 12 GiB. */
class MemoryGuard {
  private readonly used0 = os.totalmem() - os.freemem();
  peakGiB = 0;
  check(): void {
    const grown = (os.totalmem() - os.freemem() - this.used0) / 2 ** 30;
    this.peakGiB = Math.max(this.peakGiB, grown);
    if (grown > 12) throw new Error(`memory use grew by ${grown.toFixed(1)} GiB (> 12 GiB): run stopped`);
  }
  /** For connectAll's tick: past the limit, stops every process and exits. */
  readonly abortIfGrown = (): void => {
    try {
      this.check();
    } catch (err) {
      log((err as Error).message);
      killAll();
      process.exit(2);
    }
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** Starts the server processes; resolves with every serving process's pid (and the group leaders). */
async function startServers(
  s: ScaleServer,
  env: NodeJS.ProcessEnv,
  processes: number,
): Promise<{ children: Child[]; pids: number[]; port: number }> {
  const port = processes > 1 ? await freePort() : 0;
  const children: Child[] = [];
  const pids: number[] = [];
  let realPort = port;
  const lineOf = async (c: Child, i: number) => {
    const l = await c.next((x) => typeof x.port === "number", 60_000, `${s.id} server ${i}`);
    pids.push(Number(l.pid));
    realPort = Number(l.port);
  };
  const base = { ...env, PORT: String(port), SCALE_PING_TIMEOUT: "20000" };
  if (processes > 1 && s.nodeCluster) {
    const c = new Child(s.command, { ...base, CLUSTER_WORKERS: String(processes) });
    children.push(c);
    for (let i = 0; i < processes; i++) await lineOf(c, i);
    pids.push(c.pid); // the primary: it accepts and hands over connections, so its RSS counts
  } else {
    for (let i = 0; i < processes; i++) {
      const c = new Child(s.command, processes > 1 ? { ...base, REUSE_PORT: "1" } : base);
      children.push(c);
      await lineOf(c, i);
    }
  }
  return { children, pids, port: realPort };
}

const sumRssKiB = (pids: number[]) => pids.reduce((a, p) => a + rssKiB(p), 0);
const sumCpu = (pids: number[]) => pids.reduce((a, p) => a + cpuMicros(p), 0);

async function gcAll(servers: Child[], pids: number[], nodeCluster: boolean): Promise<void> {
  // Node cluster workers are not group leaders: signal each serving pid, never the primary.
  for (const p of nodeCluster ? pids.slice(0, -1) : pids) {
    try {
      process.kill(p, "SIGUSR2");
    } catch {
      // gone; the RSS read reports it
    }
  }
  void servers;
  await sleep(2_500);
}

/** One broadcast to all: from the emit until the last client got it (ms), and how many got it. */
async function broadcastOnce(gens: Child[], mode: Mode, expected: number): Promise<{ ms: number; received: number }> {
  await reportAll(gens); // reset the counters
  gens[0]!.send({ cmd: "trigger", mode });
  const emitted = await gens[0]!.next((l) => l.type === "emitted", 30_000, "trigger");
  const deadline = Date.now() + 30_000;
  let received = 0;
  let lastAt = 0;
  while (Date.now() < deadline) {
    await sleep(250);
    const r = await reportAll(gens);
    received += r.received;
    lastAt = Math.max(lastAt, r.lastAt);
    if (received >= expected) break;
  }
  return { ms: lastAt - Number(emitted.t), received };
}

async function idleCpu(pids: number[], ms: number): Promise<number> {
  const c0 = sumCpu(pids);
  const t0 = performance.now();
  await sleep(ms);
  return ((sumCpu(pids) - c0) / 1e3 / (performance.now() - t0)) * 100;
}

function redisStats(port: number): { netIn: number; netOut: number; commands: number } {
  const info = execFileSync("redis-cli", ["-p", String(port), "info", "stats"], { encoding: "utf8" });
  const get = (k: string) => Number(new RegExp(`^${k}:(\\d+)`, "m").exec(info)?.[1] ?? NaN);
  return { netIn: get("total_net_input_bytes"), netOut: get("total_net_output_bytes"), commands: get("total_commands_processed") };
}

async function single(s: ScaleServer, o: Options): Promise<SingleRow> {
  const row: SingleRow = { id: s.id, label: s.label, connections: o.connections, pingInterval: o.pingInterval, errors: [] };
  const guard = new MemoryGuard();
  const all: Child[] = [];
  try {
    const srv = await startServers(s, { ...process.env, SCALE_PING_INTERVAL: String(o.pingInterval) }, 1);
    all.push(...srv.children);
    await sleep(1_000);
    await gcAll(srv.children, srv.pids, false);
    const rss0 = sumRssKiB(srv.pids);
    const { gens, shares } = await startLoadgens(srv.port, o.connections, Math.min(o.perLoadgen, 6_000));
    all.push(...gens);
    let heap0: number | undefined;
    if (s.mode === "sio") {
      gens[0]!.send({ cmd: "connect", n: 1 });
      await gens[0]!.next((l) => l.type === "connected", 30_000, "control socket");
      heap0 = Number((await (gens[0]!.send({ cmd: "mem" }), gens[0]!.next((l) => l.type === "mem", 30_000, "mem"))).heapUsed);
    }
    const c = await connectAll(gens, shares, o.connectDeadlineMs, guard.abortIfGrown);
    row.connectMs = c.ms;
    row.open = c.open;
    if (c.failures) row.errors.push(`${c.failures} failed handshakes (first: ${c.firstError})`);
    if (c.open < row.connections) row.errors.push(`only ${c.open} connected within the connect deadline`);
    log(`${s.id}: ${c.open} open in ${(c.ms / 1000).toFixed(1)} s`);
    await gcAll(srv.children, srv.pids, false);
    row.rssKiB = sumRssKiB(srv.pids);
    row.kibPerConn = (row.rssKiB - rss0) / c.open;
    if (heap0 !== undefined) {
      gens[0]!.send({ cmd: "mem" });
      const m = await gens[0]!.next((l) => l.type === "mem", 60_000, "mem");
      row.heapKiBPerConn = (Number(m.heapUsed) - heap0) / 1024 / (c.open - 1);
    }
    const window = Math.max(10_000, Math.round(o.pingInterval * 2.2));
    row.idleCpuPct = await idleCpu(srv.pids, window);
    row.idleWindowMs = window;
    const times: number[] = [];
    for (let i = 0; i < o.broadcasts; i++) {
      const b = await broadcastOnce(gens, s.mode, c.open);
      if (b.received < c.open) row.errors.push(`broadcast ${i + 1}: ${b.received}/${c.open} delivered`);
      times.push(b.ms);
      await sleep(500);
    }
    row.broadcastMs = times;
    row.openAfter = (await reportAll(gens)).open;
    log(`${s.id}: ${row.kibPerConn.toFixed(2)} KiB/conn, heap ${row.heapKiBPerConn?.toFixed(2) ?? "–"}, idle ${row.idleCpuPct.toFixed(1)}%, bcast ${times.map((t) => t.toFixed(0)).join("/")} ms`);
  } catch (err) {
    row.errors.push((err as Error).message);
  } finally {
    for (const c of all) await c.stop();
  }
  return row;
}

async function clustered(s: ScaleServer, o: Options): Promise<ClusterRow> {
  const row: ClusterRow = { id: s.id, label: s.label, connections: o.clusterConnections, workers: o.workers, pingInterval: o.clusterPingInterval, errors: [] };
  const guard = new MemoryGuard();
  const all: Child[] = [];
  try {
    const redisPort = await freePort();
    const redis = new Child(["redis-server", "--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--loglevel", "warning"], process.env);
    all.push(redis);
    for (let i = 0; i < 50; i++) {
      await sleep(100);
      try {
        execFileSync("redis-cli", ["-p", String(redisPort), "ping"], { stdio: "ignore" });
        break;
      } catch {
        // not up yet
      }
    }
    const srv = await startServers(
      s,
      { ...process.env, SCALE_PING_INTERVAL: String(o.clusterPingInterval), REDIS_URL: `redis://127.0.0.1:${redisPort}` },
      o.workers,
    );
    all.push(...srv.children);
    await sleep(1_500);
    await gcAll(srv.children, srv.pids, s.nodeCluster);
    const rss0 = sumRssKiB(srv.pids);
    const { gens, shares } = await startLoadgens(srv.port, o.clusterConnections, o.perLoadgen);
    all.push(...gens);
    const c = await connectAll(gens, shares, o.connectDeadlineMs, guard.abortIfGrown);
    row.connectMs = c.ms;
    row.open = c.open;
    if (c.failures) row.errors.push(`${c.failures} failed handshakes (first: ${c.firstError})`);
    if (c.open < row.connections) row.errors.push(`only ${c.open} connected within the connect deadline`);
    log(`${s.id} x${o.workers}: ${c.open} open in ${(c.ms / 1000).toFixed(1)} s`);
    await gcAll(srv.children, srv.pids, s.nodeCluster);
    row.rssKiB = sumRssKiB(srv.pids);
    row.kibPerConn = (row.rssKiB - rss0) / c.open;
    row.idleWindowMs = Math.round(o.clusterPingInterval * 2.2);
    row.idleCpuPct = await idleCpu(srv.pids, row.idleWindowMs);
    const times: number[] = [];
    const r0 = redisStats(redisPort);
    for (let i = 0; i < o.broadcasts; i++) {
      const b = await broadcastOnce(gens, s.mode, c.open);
      if (b.received < c.open) row.errors.push(`broadcast ${i + 1}: ${b.received}/${c.open} delivered`);
      times.push(b.ms);
      await sleep(500);
    }
    const r1 = redisStats(redisPort);
    row.redisBytesPerBroadcast = (r1.netIn - r0.netIn + r1.netOut - r0.netOut) / o.broadcasts;
    row.redisCommandsPerBroadcast = (r1.commands - r0.commands) / o.broadcasts;
    row.broadcastMs = times;
    row.openAfter = (await reportAll(gens)).open;
    row.peakGrowthGiB = guard.peakGiB;
    log(`${s.id} x${o.workers}: ${(row.rssKiB / 2 ** 20).toFixed(2)} GiB, ${row.kibPerConn.toFixed(2)} KiB/conn, bcast ${times.map((t) => t.toFixed(0)).join("/")} ms`);
  } catch (err) {
    row.errors.push((err as Error).message);
  } finally {
    for (const c of all.reverse()) await c.stop();
  }
  return row;
}

interface Saved {
  single: SingleRow[];
  cluster: ClusterRow[];
  runs: string[];
}

export async function runScale(argv: string[]): Promise<void> {
  const o = parse(argv);
  const picked = SCALE_SERVERS.filter((s) => !o.servers || o.servers.includes(s.id));
  const file = `${ROOT}bench/scale-results.json`;
  const saved: Saved = existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as Saved) : { single: [], cluster: [], runs: [] };
  const stamp = `${new Date().toISOString()} load ${os.loadavg().map((l) => l.toFixed(2)).join(" ")} @ ${commit()}`;
  if (o.parts.size) saved.runs.push(stamp);
  const merge = <T extends { id: string; at?: string }>(list: T[], row: T) => {
    row.at = stamp;
    const i = list.findIndex((r) => r.id === row.id);
    if (i === -1) list.push(row);
    else list[i] = row;
  };
  const persist = () => o.write && writeFileSync(file, JSON.stringify(saved, null, 2) + "\n");
  if (o.parts.has("single")) {
    for (const s of picked) {
      process.stderr.write(`\n== ${s.label}: ${o.connections} idle connections, one process (load ${os.loadavg()[0]!.toFixed(2)})\n`);
      merge(saved.single, await single(s, o));
      persist();
    }
  }
  if (o.parts.has("cluster")) {
    for (const s of picked.filter((x) => x.cluster)) {
      process.stderr.write(`\n== ${s.label}: ${o.clusterConnections} connections over ${o.workers} processes + Redis (load ${os.loadavg()[0]!.toFixed(2)})\n`);
      merge(saved.cluster, await clustered(s, o));
      persist();
    }
  }
  const md = renderScale(saved.single, saved.cluster);
  console.log(md);
  if (o.write) {
    const target = `${ROOT}bench/SCALE.md`;
    const begin = "<!-- scale:begin -->";
    const end = "<!-- scale:end -->";
    const old = existsSync(target) ? readFileSync(target, "utf8") : `# Scale\n\n${begin}\n${end}\n`;
    const [head, rest] = old.split(begin);
    const tail = rest?.split(end)[1] ?? "\n";
    writeFileSync(target, `${head}${begin}\n${md}\n${end}${tail}`);
    log("wrote bench/scale-results.json and bench/SCALE.md");
  }
}

function commit(): string {
  try {
    return execFileSync("git", ["rev-parse", "--short=12", "HEAD"], { cwd: ROOT, encoding: "utf8" }).trim();
  } catch {
    return "unknown";
  }
}
