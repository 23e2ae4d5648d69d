/**
 * `npm run bench`: starts each server as its own process on a free port,
 * drives it with one load-generator process (bench/load.ts), and prints a
 * markdown table with ratios against socket.io and the bare ceiling of the
 * same runtime. Writes bench/RESULTS.md, bench/chart.svg and
 * bench/results.json (quick runs: RESULTS.quick.md, chart.quick.svg,
 * results.quick.json).
 *
 *   npm run bench                          # every server, full settings (~25-35 min on 2 cores)
 *   npm run bench -- --quick               # smoke run: fewer clients, shorter (~3 min)
 *   npm run bench -- --servers=node        # ids, runtimes or families, comma-separated
 *   npm run bench -- --scenarios=broadcast,echo
 *   npm run bench -- --list                # the servers and whether they can run here
 *   npm run bench -- --no-write            # print only
 *   npm run bench -- --render [--quick]    # rewrite RESULTS*.md and chart*.svg from results*.json
 *   npm run bench -- --repeat=3            # throughput runs per server and size (default 3, quick 1,
 *                                          # max 5); tables show the median and the min–max
 *   npm run bench -- --sizes=1000,18000    # WebSocket clients held in broadcast and echo runs
 *                                          # (default 1,000 and 18,000; quick 200 and 2,000)
 *   npm run bench -- --all-sizes           # every size for every server (default: sizes after the
 *                                          # first only for unio's Server, socket.io and the ceilings)
 *   npm run bench -- --scale               # idle connections at scale: 18k in one process, 100k over six
 *                                          # (bench/scale.ts has its options); writes bench/SCALE.md
 *   npm run bench -- --clients=1000         # one size of N clients, all N echoing (default: 100 echo at
 *                                          # every size; quick 20), e.g. to profile both at 100 and 1,000
 *   npm run bench -- --cpu-prof --servers=unio-node --scenarios=polling
 *                                          # servers write V8 CPU profiles (.cpuprofile) to
 *                                          # bench/profiles/<id>-<scenarios>/; summarise them
 *                                          # with `node --import tsx bench/profile-summary.ts DIR`
 *
 * The same through the environment: BENCH_QUICK=1, BENCH_SERVERS=…,
 * BENCH_SCENARIOS=…, BENCH_REPEAT=…, BENCH_SIZES=…. Linux only (CPU and memory come from /proc).
 * Beyond 4,500 clients (quick: 1,500) the load generator spreads them over
 * helper processes (bench/load-group.ts): one process may hold at most
 * 20,000 open files here.
 * Benchmarks never fail on speed: the exit code is 0 unless the runner
 * itself breaks.
 */
import { type ChildProcess, execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { performance } from "node:perf_hooks";
import { isMainRow, referencesOf, ROOT, SERVERS, type ServerSpec, selectServers } from "./catalog.ts";
import type { BroadcastResult, LoadConfig, LoadResult } from "./load.ts";
import { openFileLimits } from "./proc.ts";
import { killAll, killGroup, spawnGroup } from "./scale-procs.ts";
import { chartSvg, figuresTables, ratioTable, type Row, type SizeRuns, sizeLabel, stat } from "./report.ts";

// ── options ────────────────────────────────────────────────────────────────

const SCENARIOS = ["broadcast", "echo", "connections", "polling"] as const;
type Scenario = (typeof SCENARIOS)[number];

interface Options {
  quick: boolean;
  servers: ServerSpec[];
  scenarios: Set<Scenario>;
  write: boolean;
  list: boolean;
  /** Re-renders RESULTS*.md and chart*.svg from results*.json without measuring. */
  render: boolean;
  /** Servers run with --cpu-prof (Node, Bun, Deno); profiles land in bench/profiles/<id>-<scenarios>/. */
  cpuProf: boolean;
  /** Throughput runs per server and size; the tables show their median and min–max. */
  repeat: number;
  /** `--clients=N`: one size of N clients, all of them echoing; undefined keeps the defaults. */
  clients: number | undefined;
  /** `--sizes=a,b`: WebSocket clients held in broadcast and echo runs; undefined keeps the defaults. */
  sizes: number[] | undefined;
  /** Every size for every server, not only the main rows. */
  allSizes: boolean;
}

function parseOptions(argv: string[]): Options {
  const flag = (name: string) => argv.includes(`--${name}`);
  const value = (name: string) => {
    const eq = argv.find((a) => a.startsWith(`--${name}=`));
    if (eq) return eq.slice(name.length + 3);
    const i = argv.indexOf(`--${name}`);
    return i !== -1 && argv[i + 1] && !argv[i + 1]!.startsWith("--") ? argv[i + 1] : undefined;
  };
  const env = process.env;
  const quick = flag("quick") || (env.BENCH_QUICK !== undefined && env.BENCH_QUICK !== "" && env.BENCH_QUICK !== "0");
  const scenarioList = (value("scenarios") ?? env.BENCH_SCENARIOS ?? "").split(",").filter(Boolean);
  const bad = scenarioList.filter((s) => !SCENARIOS.includes(s as Scenario));
  if (bad.length) throw new Error(`unknown scenario(s): ${bad.join(", ")}; known: ${SCENARIOS.join(", ")}`);
  return {
    quick,
    servers: selectServers(value("servers") ?? env.BENCH_SERVERS),
    scenarios: new Set((scenarioList.length ? scenarioList : SCENARIOS) as Scenario[]),
    write: !flag("no-write"),
    list: flag("list"),
    render: flag("render"),
    cpuProf: flag("cpu-prof"),
    // Full runs measure throughput three times: the tables show the median and the spread.
    repeat: Math.min(5, Math.max(1, Math.floor(Number(value("repeat") ?? env.BENCH_REPEAT ?? (quick ? 1 : 3))) || 1)),
    clients: clientsOption(value("clients") ?? env.BENCH_CLIENTS),
    sizes: (value("sizes") ?? env.BENCH_SIZES)?.split(",").filter(Boolean).map((v) => clientsOption(v)!),
    allSizes: flag("all-sizes"),
  };
}

function clientsOption(v: string | undefined): number | undefined {
  if (v === undefined || v === "") return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 2) throw new Error(`--clients wants an integer of at least 2, got ${v}`);
  return n;
}

/** The broadcast and echo runs at one number of held clients. */
interface SizeSettings {
  clients: number;
  broadcast: NonNullable<LoadConfig["broadcast"]>;
  echo: NonNullable<LoadConfig["echo"]>;
}

interface Settings {
  /** Broadcast and echo at each size; the first runs for every server, the others for the main rows (isMainRow). */
  sizes: SizeSettings[];
  /** Most WebSocket clients per load-generator process (more go to helper processes). */
  perProcess: number;
  polling: NonNullable<LoadConfig["polling"]>;
  connections: NonNullable<LoadConfig["connections"]>;
}

/**
 * One size's settings. Big sizes send fewer broadcasts (each is N deliveries)
 * for longer. Echo: 100 of the held clients (quick: 20) echo at every size, so
 * the sizes differ only in the connections held (and their heartbeats).
 */
function sizeSettings(clients: number, quick: boolean): SizeSettings {
  const big = clients > (quick ? 1_000 : 5_000);
  const echo = { clients: Math.min(clients, quick ? 20 : 100), warmupMs: quick ? 300 : 1_000, durationMs: quick ? 1_000 : 3_000 };
  if (quick) {
    return big
      ? { clients, broadcast: { clients, window: 8, warmup: 5, minBroadcasts: 10, maxBroadcasts: 1_000, minMs: 500, maxMs: 3_000 }, echo }
      : { clients, broadcast: { clients, window: 8, warmup: 20, minBroadcasts: 50, maxBroadcasts: 5_000, minMs: 500, maxMs: 3_000 }, echo };
  }
  return big
    ? { clients, broadcast: { clients, window: 8, warmup: 10, minBroadcasts: 30, maxBroadcasts: 2_000, minMs: 3_000, maxMs: 20_000 }, echo }
    : { clients, broadcast: { clients, window: 8, warmup: 50, minBroadcasts: 200, maxBroadcasts: 20_000, minMs: 2_000, maxMs: 15_000 }, echo };
}

function settingsFor(quick: boolean, sizes: number[] | undefined): Settings {
  return {
    sizes: (sizes ?? (quick ? [200, 2_000] : [1_000, 18_000])).map((n) => sizeSettings(n, quick)),
    perProcess: quick ? 1_500 : 4_500,
    polling: quick ? { clients: 10, warmupMs: 300, durationMs: 1_000 } : { clients: 50, warmupMs: 1_000, durationMs: 3_000 },
    connections: { steps: quick ? [1_000, 2_000] : [1_000, 18_000], concurrency: 64, settleMs: quick ? 1_000 : 1_500, sourceIps: 1 },
  };
}

/** Fits the connection steps into the open-file limit; notes what it changed. */
function fitToFdLimit(s: Settings, notes: string[]): void {
  const { hard } = openFileLimits();
  const room = hard - 200; // the server's sockets plus runtime overhead (the clients are spread over generator processes)
  const steps = s.connections.steps.filter((n) => n <= room);
  if (steps.length < s.connections.steps.length) {
    notes.push(
      `open-file hard limit is ${hard}: connection steps above ${room} were dropped ` +
        `(raise it with \`ulimit -n\` to measure ${s.connections.steps.join(" and ")}).`,
    );
    s.connections.steps = steps.length ? steps : [Math.max(100, room)];
  }
  // Ephemeral ports (net.ipv4.ip_local_port_range) bound the connections from one source address.
  let ports = 28_000;
  try {
    const [lo, hi] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
    if (lo && hi) ports = hi - lo + 1;
  } catch {
    // keep the Linux default
  }
  const max = Math.max(...s.connections.steps);
  if (max > ports * 0.8) s.connections.sourceIps = Math.ceil(max / (ports * 0.8));
}

// ── processes ──────────────────────────────────────────────────────────────

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    child.once("exit", () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

async function stop(child: ChildProcess): Promise<void> {
  killGroup(child, "SIGTERM");
  if (!(await waitExit(child, 3_000))) {
    killGroup(child, "SIGKILL");
    await waitExit(child, 2_000);
  }
}

interface Running {
  child: ChildProcess;
  port: number;
  pid: number;
  stderr: () => string;
}

/** Starts a server and waits for its `{"port":N,"pid":P}` line. */
function startServer(spec: ServerSpec, profileDir?: string): Promise<Running> {
  // Node and Bun take the flags before the script / `run`; Deno after `run`.
  const prof = profileDir ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : [];
  const command =
    spec.runtime === "deno"
      ? [spec.command[0]!, spec.command[1]!, ...prof, ...spec.command.slice(2)]
      : [spec.command[0]!, ...prof, ...spec.command.slice(1)];
  const child = spawnGroup(command, { ...process.env, PORT: "0" });
  let err = "";
  let out = "";
  child.stderr!.on("data", (d: Buffer) => {
    err = (err + d.toString()).slice(-4_000);
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop(child);
      reject(new Error(`no {"port"} line within 60 s; stderr: ${err.trim().slice(-600)}`));
    }, 60_000);
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      clearTimeout(timer);
      reject(new Error(`exited (${code ?? signal}) before listening; stderr: ${err.trim().slice(-1_200)}`));
    };
    child.once("exit", onExit);
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      for (const line of out.split("\n")) {
        if (!line.startsWith("{")) continue;
        try {
          const msg = JSON.parse(line) as { port?: number; pid?: number };
          if (typeof msg.port === "number" && msg.port > 0) {
            clearTimeout(timer);
            child.off("exit", onExit);
            resolve({ child, port: msg.port, pid: msg.pid ?? child.pid!, stderr: () => err });
            return;
          }
        } catch {
          // a partial line: wait for more
        }
      }
    });
  });
}

/** Runs the load generator once and returns what it measured. */
async function runLoad(config: LoadConfig): Promise<LoadResult> {
  const child = spawnGroup([process.execPath, "--import", "tsx", `${ROOT}bench/load.ts`, JSON.stringify(config)], process.env);
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => process.stderr.write(d));
  const finished = await waitExit(child, config.deadlineMs + 20_000);
  if (!finished) {
    await stop(child);
    return { errors: ["load generator did not finish in time"] };
  }
  const line = out.split("\n").find((l) => l.startsWith("RESULT "));
  if (!line) return { errors: [`load generator printed no RESULT (exit ${child.exitCode ?? child.signalCode})`] };
  return JSON.parse(line.slice("RESULT ".length)) as LoadResult;
}

// ── one server ─────────────────────────────────────────────────────────────

const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** The sizes a server runs at: every size for the main rows (or with --all-sizes), the first otherwise. */
function sizesFor(spec: ServerSpec, opts: Options, s: Settings): SizeSettings[] {
  return opts.allSizes || isMainRow(spec) ? s.sizes : s.sizes.slice(0, 1);
}

async function measure(spec: ServerSpec, opts: Options, s: Settings): Promise<Row> {
  const row: Row = { id: spec.id, label: spec.label, runtime: spec.runtime, family: spec.family, status: "ok", errors: [], sizes: [], polling: [] };
  const why = spec.unavailable();
  if (why) return { ...row, status: "skipped", note: why };

  const phases: Array<{ name: string; config: Omit<LoadConfig, "port" | "pid"> }> = [];
  const base = { host: "127.0.0.1", clockTicks: CLOCK_TICKS, perProcess: s.perProcess };
  if (opts.scenarios.has("connections")) {
    // A fresh server, so the baseline RSS is that of an idle process.
    const most = Math.max(...s.connections.steps);
    phases.push({
      name: "connections",
      config: { ...base, phase: "connections", deadlineMs: opts.quick ? 60_000 : most > 5_000 ? 240_000 : 150_000, connections: s.connections },
    });
  }
  const sizes = sizesFor(spec, opts, s);
  // Repeats outermost, so a disturbance of the machine hits one run of each size rather than every run of one.
  for (let i = 0; i < opts.repeat; i++) {
    sizes.forEach((z, k) => {
      const config: Omit<LoadConfig, "port" | "pid"> = {
        ...base,
        phase: "throughput",
        held: z.clients,
        deadlineMs: opts.quick ? 60_000 : z.clients > 5_000 ? 180_000 : 120_000,
      };
      if (opts.scenarios.has("broadcast")) config.broadcast = z.broadcast;
      if (opts.scenarios.has("echo")) config.echo = z.echo;
      // Long-polling does not depend on the WebSocket clients held: once per repeat, with the first size.
      if (opts.scenarios.has("polling") && k === 0) config.polling = s.polling;
      if (config.broadcast || config.echo || config.polling) phases.push({ name: `throughput @${sizeLabel(z.clients)} #${i + 1}`, config });
    });
  }

  for (const phase of phases) {
    let server: Running;
    try {
      const what = phase.name === "connections" ? "connections" : [...opts.scenarios].filter((x) => x !== "connections").join("+");
      const dir = `${ROOT}bench/profiles/${spec.id}-${what}${opts.clients ? `-${opts.clients}` : ""}`;
      server = await startServer(spec, opts.cpuProf ? dir : undefined);
    } catch (err) {
      row.errors.push(`${phase.name}: server did not start: ${(err as Error).message}`);
      continue;
    }
    process.stderr.write(`  [run] ${spec.id} (${phase.name}) listening on ${server.port}, pid ${server.pid}\n`);
    try {
      const r = await runLoad({ ...phase.config, port: server.port, pid: server.pid } as LoadConfig);
      row.errors.push(...r.errors.map((e) => `${phase.name}: ${e}`));
      if (r.connections) row.connections = r.connections;
      if (r.broadcast || r.echo) {
        const held = phase.config.held!;
        let at = row.sizes.find((x) => x.clients === held);
        if (!at) row.sizes.push((at = { clients: held, broadcast: [], echo: [] } satisfies SizeRuns));
        if (r.broadcast) at.broadcast.push(r.broadcast);
        if (r.echo) at.echo.push(r.echo);
      }
      if (r.polling) row.polling.push(r.polling);
      for (const part of [r.connections, r.broadcast, r.echo, r.polling]) {
        if (part?.error) row.errors.push(`${phase.name}: ${part.error}`);
      }
      if (server.child.exitCode !== null || server.child.signalCode !== null) {
        row.errors.push(`${phase.name}: server exited during the run; stderr: ${server.stderr().trim().slice(-600)}`);
      }
    } finally {
      await stop(server.child);
    }
  }
  row.sizes.sort((a, b) => a.clients - b.clients);
  const measured = row.connections || row.sizes.length > 0 || row.polling.length > 0;
  row.status = !measured ? "failed" : row.errors.length ? "partial" : "ok";
  return row;
}

// ── environment facts for RESULTS.md ───────────────────────────────────────

function pkgVersion(name: string): string {
  try {
    return (JSON.parse(readFileSync(`${ROOT}node_modules/${name}/package.json`, "utf8")) as { version: string }).version;
  } catch {
    return "not installed";
  }
}

function binVersion(name: string, args: string[]): string {
  const path = `${ROOT}node_modules/.bin/${name}`;
  if (!existsSync(path)) return "not installed";
  try {
    return execFileSync(path, args, { encoding: "utf8", timeout: 10_000 }).split("\n")[0]!.trim();
  } catch {
    return "unknown";
  }
}

/** The commit checked out, read from .git without running git. */
function gitCommit(): string {
  try {
    const head = readFileSync(`${ROOT}.git/HEAD`, "utf8").trim();
    if (!head.startsWith("ref: ")) return head.slice(0, 12);
    const ref = head.slice(5);
    if (existsSync(`${ROOT}.git/${ref}`)) return readFileSync(`${ROOT}.git/${ref}`, "utf8").trim().slice(0, 12);
    const packed = readFileSync(`${ROOT}.git/packed-refs`, "utf8");
    const line = packed.split("\n").find((l) => l.endsWith(` ${ref}`));
    return line ? line.slice(0, 12) : "unknown";
  } catch {
    return "unknown";
  }
}

function environment(): { machine: string; versions: string } {
  const cpus = os.cpus();
  const machine = `${os.type()} ${os.release()} ${os.arch()}, ${cpus.length} × ${cpus[0]?.model.trim() ?? "unknown CPU"}, ${(
    os.totalmem() / 2 ** 30
  ).toFixed(0)} GiB RAM`;
  const versions = [
    `Node ${process.version}`,
    `Bun ${binVersion("bun", ["--version"])}`,
    binVersion("deno", ["--version"]).replace(/^deno/, "Deno"),
    `socket.io ${pkgVersion("socket.io")} (engine.io ${pkgVersion("engine.io")})`,
    `@socket.io/bun-engine ${pkgVersion("@socket.io/bun-engine")}`,
    `ws ${pkgVersion("ws")}`,
    `unio ${pkgVersion("..")} @ ${gitCommit()}`,
  ].join(", ");
  return { machine, versions };
}

// ── main ───────────────────────────────────────────────────────────────────

function describeSettings(s: Settings, opts: { quick: boolean; repeat: number }): string {
  const sizes = s.sizes.map((z) => z.clients.toLocaleString("en-US"));
  const bLines = s.sizes.map((z) => {
    const b = z.broadcast;
    return (
      `  - ${z.clients.toLocaleString("en-US")} clients: at least ${b.minBroadcasts} broadcasts and ${b.minMs / 1000} s (at most ${b.maxBroadcasts} / ` +
      `${b.maxMs / 1000} s) after ${b.warmup} warm-up broadcasts; ${z.echo.clients} of them echo.`
    );
  });
  const w = s.sizes[0]!.broadcast.window;
  const e = s.sizes[0]!.echo;
  return [
    `- WebSocket runs at ${sizes.join(" and ")} clients held (the sizes after the first for unio's Server, socket.io and the`,
    `  bare ceilings only). Each run is a fresh server and a fresh set of clients; one load-generator process holds up to`,
    `  ${s.perProcess.toLocaleString("en-US")} clients and starts helper processes (bench/scale-load.ts, one more 127.0.0.x source address each)`,
    `  for the rest: a process here may hold at most 20,000 open files. The helpers' CPU counts as the generator's.`,
    `- Broadcast: one client sends \`bcast\` with a ~100-byte JSON payload, the server does \`io.emit("msg", payload)\` to every`,
    `  held client; at most ${w} broadcasts incomplete at once (paced on the first process's clients; a run ends when every`,
    `  client in every process got every broadcast). CPU µs/delivery = server utime+stime (/proc/<pid>/stat, whole process)`,
    `  ÷ deliveries.`,
    ...bLines,
    `- Echo: of the held clients, ${e.clients} each keep one \`echo\` with an ack in flight for ${e.durationMs / 1000} s (after ${e.warmupMs / 1000} s`,
    `  warm-up) while the others stay connected and answer heartbeats, so the sizes differ only in the connections held;`,
    `  round trip measured by the client; CPU µs/ack as above.`,
    `- Memory: a fresh server; VmRSS after a forced GC (SIGUSR2 → gc) with N idle connected clients, minus the idle`,
    `  baseline, ÷ N, at N = ${s.connections.steps.join(" and ")} (one run). conn/s: WebSocket upgrade + Engine.IO open + Socket.IO`,
    `  CONNECT, ${s.connections.concurrency} handshakes in flight per generator process, over the whole ramp.` +
      (s.connections.steps.length > 1
        ? `\n  KiB/conn ${s.connections.steps[0]}→${s.connections.steps.at(-1)}: the RSS growth between the two steps ÷ the` +
          `\n  connections added, i.e. the cost of one more connection without the one-off costs (compiled code, pools,` +
          `\n  heap reservations) that inflate the figure at the first step.`
        : ""),
    `- Long-polling: ${s.polling.clients} HTTP long-polling clients (keep-alive agent, one held GET each) doing acked echoes`,
    `  one at a time for ${s.polling.durationMs / 1000} s; a message = one POSTed echo answered in a poll (in the first size's runs).`,
    `- Load generators: Node, raw \`ws\` + \`node:http\`, pre-encoded frames; servers run one at a time, each as its own`,
    `  process on 127.0.0.1.`,
    `- Every throughput figure is the **median of ${opts.repeat} run(s)** (fresh server each), with the min–max in brackets;`,
    `  ratios are of medians.${opts.quick ? " **Quick mode** (smoke run): fewer clients, shorter runs." : ""}`,
    `- Every server implements the same app (bench/servers/): Socket.IO servers with \`socket.on("bcast", p => io.emit("msg", p))\``,
    `  and \`socket.on("echo", (p, ack) => ack(p))\`; the bare ceilings and the "Engine only" rows answer the same frames as`,
    `  strings (bench/servers/wire.ts). Node servers run TypeScript through tsx (esbuild with keepNames).`,
  ].join("\n");
}

async function main(): Promise<void> {
  if (process.argv.includes("--scale")) {
    // Idle connections at scale: its own module and options (bench/scale.ts).
    const { runScale } = await import("./scale.ts");
    return runScale(process.argv.slice(2));
  }
  const opts = parseOptions(process.argv.slice(2));
  if (opts.list) {
    for (const s of SERVERS) console.log(`${s.id.padEnd(15)} ${s.runtime.padEnd(5)} ${s.family.padEnd(12)} ${s.unavailable() ?? "ok"}`);
    return;
  }
  if (opts.render) {
    const file = `${ROOT}bench/results${opts.quick ? ".quick" : ""}.json`;
    const saved = JSON.parse(readFileSync(file, "utf8")) as SavedRun & { partial?: boolean };
    if (saved.partial) throw new Error(`${file} holds a partial run; nothing to render`);
    if (!Array.isArray(saved.settings.sizes)) throw new Error(`${file} was written before runs at several sizes: run the benchmark again`);
    render(saved, opts.write);
    return;
  }
  if (process.platform !== "linux") throw new Error("the benchmark reads /proc: Linux only");
  const settings = settingsFor(opts.quick, opts.clients !== undefined ? [opts.clients] : opts.sizes);
  if (opts.clients !== undefined) settings.sizes[0]!.echo.clients = opts.clients;
  const notes: string[] = [];
  if (opts.scenarios.has("connections")) fitToFdLimit(settings, notes);

  const load1 = os.loadavg()[0]!;
  if (load1 > 0.5) {
    process.stderr.write(`note: load average ${load1.toFixed(2)} before the run: other processes may disturb the figures\n`);
  }
  const t0 = performance.now();
  const rows: Row[] = [];
  const suffix = opts.quick ? ".quick" : "";
  const started = new Date();
  for (const spec of opts.servers) {
    process.stderr.write(`\n== ${spec.label} [${spec.id}]\n`);
    const ts = performance.now();
    const row = await measure(spec, opts, settings);
    rows.push(row);
    if (row.status === "skipped") process.stderr.write(`  skipped: ${row.note}\n`);
    for (const e of row.errors) process.stderr.write(`  ! ${e}\n`);
    process.stderr.write(`  (${((performance.now() - ts) / 1000).toFixed(0)} s)\n`);
    // Partial results survive a crash of a later server.
    if (opts.write) writeFileSync(`${ROOT}bench/results${suffix}.json`, JSON.stringify({ partial: true, settings, rows }, null, 2) + "\n");
  }
  const { machine, versions } = environment();
  const run: SavedRun = {
    started: started.toISOString(),
    seconds: (performance.now() - t0) / 1000,
    quick: opts.quick,
    repeat: opts.repeat,
    cores: os.cpus().length,
    machine,
    versions,
    settings,
    notes,
    rows,
  };
  if (opts.write) writeFileSync(`${ROOT}bench/results${suffix}.json`, JSON.stringify(run, null, 2) + "\n");
  render(run, opts.write);
}

/** Everything a run measured, as bench/results*.json keeps it (and `--render` reads it back). */
interface SavedRun {
  started: string;
  seconds: number;
  quick: boolean;
  repeat: number;
  cores: number;
  machine: string;
  versions: string;
  settings: Settings;
  notes: string[];
  rows: Row[];
}

/** Prints the tables and writes RESULTS*.md and chart*.svg. */
function render(run: SavedRun, write: boolean): void {
  const { rows, settings } = run;
  const notes = [...run.notes];
  const suffix = run.quick ? ".quick" : "";
  const steps = settings.connections.steps;
  const byId = new Map(rows.map((r) => [r.id, r]));
  const pickRef = (which: "socketio" | "ceiling") => (r: Row) => {
    const spec = SERVERS.find((s) => s.id === r.id);
    const ref = spec ? referencesOf(spec)[which] : undefined;
    return ref ? byId.get(ref.id) : undefined;
  };
  const sizes = settings.sizes.map((z) => z.clients);
  const figures = figuresTables(rows, sizes, steps);
  const vsSocketIo = ratioTable(rows, sizes, steps, pickRef("socketio"), (r) => r.family === "unio" || r.family === "unio-engine");
  const vsCeiling = ratioTable(rows, sizes, steps, pickRef("ceiling"), (r) => r.family !== "ceiling");

  const skipped = rows.filter((r) => r.status === "skipped").map((r) => `- ${r.label}: skipped (${r.note}).`);
  const problems = rows.flatMap((r) => r.errors.map((e) => `- ${r.label}: ${e}`));
  // A generator process near a full core caps deliveries/s; with helpers, the figure is the sum over the processes.
  const saturated = (b: BroadcastResult) => b.loadgenCpuPct > 90 * Math.ceil(b.clients / settings.perProcess);
  const saturation = rows.filter((r) => r.sizes.some((z) => z.broadcast.some(saturated))).map((r) => r.label);
  if (saturation.length) {
    notes.push(
      `The load generator was CPU-bound (>90% of a core per generator process) during broadcasts for: ${saturation.join(", ")}. ` +
        `Deliveries/s there measure the generator as much as the server; CPU µs/delivery does not depend on it.`,
    );
  }
  type Cpu = { serverCpuPct: number; loadgenCpuPct: number; foreignCpuPct: number };
  // Medians over the runs of each party's share.
  const pctOf = (xs: Cpu[] | undefined) => {
    const m = (f: (x: Cpu) => number) => stat((xs ?? []).map(f))?.median.toFixed(0);
    return xs?.length ? `${m((x) => x.serverCpuPct)}% / ${m((x) => x.loadgenCpuPct)}% / ${m((x) => x.foreignCpuPct)}%` : "–";
  };
  const at = (r: Row, n: number) => r.sizes.find((z) => z.clients === n);
  const cpuTable = [
    `| server | ${sizes.map((n) => `broadcast @${sizeLabel(n)}`).join(" | ")} | ${sizes.map((n) => `echo @${sizeLabel(n)}`).join(" | ")} | polling |`,
    `| --- | ${sizes.map(() => "---:").join(" | ")} | ${sizes.map(() => "---:").join(" | ")} | ---: |`,
    ...rows
      .filter((r) => r.status !== "skipped")
      .map(
        (r) =>
          `| ${r.label} | ${sizes.map((n) => pctOf(at(r, n)?.broadcast)).join(" | ")} | ${sizes.map((n) => pctOf(at(r, n)?.echo)).join(" | ")} | ${pctOf(r.polling)} |`,
      ),
  ].join("\n");
  const measuredParts: Cpu[] = rows.flatMap((r) => [...r.sizes.flatMap((z) => [...z.broadcast, ...z.echo]), ...r.polling]);
  const busy = measuredParts.filter((x) => x.foreignCpuPct > 20);
  if (busy.length) {
    const worst = Math.max(...busy.map((x) => x.foreignCpuPct));
    notes.push(
      `Other processes on the machine used more than 20% of a core during ${busy.length} of ${measuredParts.length} ` +
        `measurements (up to ${worst.toFixed(0)}%; third figure in the CPU table): those figures are noisy. ` +
        `Run again on a quiet machine, or with a higher \`--repeat\`.`,
    );
  }
  const md = [
    `# unio benchmark results${run.quick ? " (quick mode)" : ""}`,
    "",
    `Measured ${run.started} by \`npm run bench${run.quick ? " -- --quick" : ""}\` in ${run.seconds.toFixed(0)} s.`,
    "",
    `- Machine: ${run.machine}`,
    `- Versions: ${run.versions}`,
    "",
    "![benchmark chart](chart" + suffix + ".svg)",
    "",
    "## Figures",
    "",
    `Medians of ${run.repeat} run(s), min–max in brackets (memory and conn/s: one run).`,
    "",
    figures,
    "",
    "## Ratios against socket.io (same runtime)",
    "",
    "Of the medians, lower is better; beside unio's Server rows the target of issue 21 (✓ met, ✗ missed).",
    "",
    vsSocketIo ?? "_No pair measured (needs a unio row and a socket.io row of the same runtime; Deno has no socket.io row)._",
    "",
    "## Ratios against the bare ceiling (same runtime)",
    "",
    "Of the medians, lower is better; targets as above.",
    "",
    vsCeiling ?? "_No pair measured._",
    "",
    "## How it was measured",
    "",
    describeSettings(settings, run),
    "",
    "## CPU during the measured stretches",
    "",
    "Server / load generator(s) / every other process on the machine, in % of one core (the machine has " +
      `${run.cores} cores), medians of the runs. A busy generator caps the per-second figures; CPU µs per message does not depend on it.`,
    "",
    cpuTable,
    "",
    ...(notes.length || skipped.length || problems.length ? ["## Notes", "", ...notes.map((n) => `- ${n}`), ...skipped, ...problems, ""] : []),
  ].join("\n");

  console.log("\n" + figures);
  if (vsSocketIo) console.log("\nRatios against socket.io (same runtime):\n\n" + vsSocketIo);
  if (vsCeiling) console.log("\nRatios against the bare ceiling (same runtime):\n\n" + vsCeiling);
  for (const n of [...notes.map((n) => `- ${n}`), ...skipped, ...problems]) console.log(n);
  if (write) {
    writeFileSync(`${ROOT}bench/RESULTS${suffix}.md`, md + "\n");
    writeFileSync(
      `${ROOT}bench/chart${suffix}.svg`,
      chartSvg(rows, sizes, steps, `${run.started.slice(0, 10)} · ${run.machine} · ${run.quick ? "quick mode" : "full run"}`),
    );
    console.log(`\nwrote bench/RESULTS${suffix}.md and bench/chart${suffix}.svg (the run took ${run.seconds.toFixed(0)} s)`);
  }
}

main()
  .catch((err) => {
    process.stderr.write(`bench: ${(err as Error)?.stack ?? err}\n`);
    process.exitCode = 1;
  })
  .finally(killAll);
