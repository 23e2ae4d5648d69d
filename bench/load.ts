/**
 * The load generator: ONE process that drives one server with raw `ws`
 * clients speaking pre-encoded Engine.IO/Socket.IO frames, and raw HTTP
 * long-polling clients on a keep-alive agent. It never uses a Socket.IO
 * client library, so its own cost is the same whatever server it drives.
 *
 *   node --import tsx bench/load.ts '<json LoadConfig>'
 *
 * It prints progress on stderr and one line `RESULT {json}` on stdout.
 * Server CPU and memory come from /proc/<pid> of the server process (the
 * pid the server printed), before and after each measured stretch.
 *
 * Scenarios ("phase" in the config):
 *   connections: memory per idle connection (VmRSS over a baseline) at each
 *                step of `steps`, and connections per second while ramping.
 *   throughput:  with `held` WebSocket clients connected, broadcast
 *                deliveries/s + CPU µs per delivery (every held client
 *                receives), acked echoes/s with p50/p99 and CPU µs per ack
 *                (`echo.clients` of the held clients echo, the rest stay
 *                connected and answer heartbeats), and acked echoes per
 *                second over long-polling.
 * This process holds at most `perProcess` WebSocket clients itself; beyond
 * that it starts idle-client generators (bench/load-group.ts, one per
 * `perProcess` more, each from its own 127.0.0.x address) that hold the rest,
 * count the broadcasts they receive and report them on request. Their CPU
 * is counted as the generator's, not as other processes'.
 * Every loop is bounded by a count and a deadline; nothing here fails on speed.
 */
import { Agent, request } from "node:http";
import { performance } from "node:perf_hooks";
import { WebSocket } from "ws";
import { connectAll, type LoadGroup, reportAll, splitEvenly, startLoadgens } from "./load-group.ts";
import { CpuMeter, rssKiB, setClockTicks } from "./proc.ts";

export interface LoadConfig {
  phase: "connections" | "throughput";
  host: string;
  port: number;
  pid: number;
  clockTicks: number;
  /** Hard deadline for the whole process, ms. */
  deadlineMs: number;
  /** Most WebSocket clients one generator process holds; more go to helper processes. */
  perProcess: number;
  /** Throughput: WebSocket clients connected during broadcast and echo (default: the larger of their `clients`). */
  held?: number;
  connections?: {
    steps: number[];
    concurrency: number;
    settleMs: number;
    /** Source addresses 127.0.0.x to spread clients over when ports would run out (1 = default route). */
    sourceIps: number;
  };
  broadcast?: {
    clients: number;
    window: number;
    warmup: number;
    minBroadcasts: number;
    maxBroadcasts: number;
    minMs: number;
    maxMs: number;
  };
  /** `clients`: how many of the held clients echo (each with one echo in flight). */
  echo?: { clients: number; warmupMs: number; durationMs: number };
  polling?: { clients: number; warmupMs: number; durationMs: number };
}

export interface ConnectionsResult {
  baselineKiB: number;
  steps: { connections: number; rssKiB: number; kibPerConn: number }[];
  connectRate: number;
  connectFailures: number;
  error?: string;
}
export interface BroadcastResult {
  clients: number;
  broadcasts: number;
  deliveries: number;
  expected: number;
  seconds: number;
  deliveriesPerSec: number;
  cpuUsPerDelivery: number;
  serverCpuPct: number;
  loadgenCpuPct: number;
  /** CPU (% of one core) used by other processes on the machine meanwhile. */
  foreignCpuPct: number;
  error?: string;
}
export interface EchoResult {
  /** Clients echoing (WebSocket) or polling. */
  clients: number;
  /** WebSocket clients connected meanwhile (echoing or idle). */
  held?: number;
  acks: number;
  seconds: number;
  acksPerSec: number;
  p50Ms: number;
  p99Ms: number;
  cpuUsPerAck: number;
  serverCpuPct: number;
  loadgenCpuPct: number;
  foreignCpuPct: number;
  error?: string;
}
export interface LoadResult {
  connections?: ConnectionsResult;
  broadcast?: BroadcastResult;
  echo?: EchoResult;
  polling?: EchoResult;
  errors: string[];
}

// ── pre-encoded frames ─────────────────────────────────────────────────────

/** ~100 bytes of JSON, the same for every message (encoded once). */
export const PAYLOAD = JSON.stringify({ room: "lobby", user: "bench-user-0001", text: "x".repeat(48), n: 12345 });
const BCAST_FRAME = `42["bcast",${PAYLOAD}]`;
const ECHO_TAIL = `["echo",${PAYLOAD}]`;
const C_0 = 0x30; // "0"
const C_2 = 0x32; // "2"
const C_3 = 0x33; // "3"
const C_4 = 0x34; // "4"

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const log = (msg: string) => process.stderr.write(`  [load] ${msg}\n`);

function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}

// ── raw WebSocket client ───────────────────────────────────────────────────

/**
 * One Engine.IO/Socket.IO client over a raw `ws` socket: reads the `0{…}`
 * open packet, sends `40`, waits for `40{…}`, answers pings `2` with `3`.
 * After that every `4…` frame goes to `onMessage` as the raw Buffer.
 */
class WsClient {
  state = 0; // 0: want open, 1: want connect, 2: ready, 3: closed
  onMessage: ((data: Buffer) => void) | null = null;
  sentAt = 0;
  ackId = 0;

  constructor(readonly ws: WebSocket) {}

  send(frame: string): void {
    if (this.state === 2) this.ws.send(frame);
  }

  close(): void {
    this.state = 3;
    this.ws.terminate();
  }

  static connect(url: string, localAddress: string | undefined, timeoutMs: number): Promise<WsClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, {
        perMessageDeflate: false,
        skipUTF8Validation: true,
        handshakeTimeout: timeoutMs,
        ...(localAddress ? { localAddress } : {}),
      });
      const c = new WsClient(ws);
      const timer = setTimeout(() => fail(new Error("handshake timeout")), timeoutMs);
      const fail = (err: Error) => {
        clearTimeout(timer);
        if (c.state < 2) {
          c.state = 3;
          ws.terminate();
          reject(err);
        }
      };
      ws.on("error", fail);
      ws.on("close", () => {
        if (c.state < 2) fail(new Error("closed during handshake"));
        c.state = 3;
      });
      ws.on("message", (data: Buffer) => {
        const t = data[0];
        if (c.state === 2) {
          if (t === C_4) c.onMessage?.(data);
          else if (t === C_2 && data.length === 1) ws.send("3");
          return;
        }
        if (c.state === 0 && t === C_0) {
          c.state = 1;
          ws.send("40");
        } else if (c.state === 1 && t === C_4 && data[1] === C_0) {
          c.state = 2;
          clearTimeout(timer);
          resolve(c);
        } else if (t === C_2 && data.length === 1) {
          ws.send("3");
        } else if (c.state === 1 && t === C_4 && data[1] === 0x34 /* "44" CONNECT_ERROR */) {
          fail(new Error("connect error: " + data.toString()));
        }
      });
    });
  }
}

interface Ramp {
  clients: WsClient[];
  failures: number;
  seconds: number;
  firstError?: string;
}

/** Opens clients until `clients.length === target`, `concurrency` handshakes in flight. */
async function rampTo(
  clients: WsClient[],
  target: number,
  cfg: { host: string; port: number; concurrency: number; sourceIps: number },
  deadline: number,
): Promise<Ramp> {
  const url = `ws://${cfg.host}:${cfg.port}/socket.io/?EIO=4&transport=websocket`;
  const need = target - clients.length;
  const maxFailures = Math.max(20, Math.ceil(need * 0.02));
  let started = 0;
  let failures = 0;
  let firstError: string | undefined;
  const t0 = performance.now();
  const worker = async () => {
    while (started < need && failures <= maxFailures && Date.now() < deadline) {
      const i = clients.length + started++;
      const local = cfg.sourceIps > 1 ? `127.0.0.${1 + (i % cfg.sourceIps)}` : undefined;
      try {
        clients.push(await WsClient.connect(url, local, 10_000));
      } catch (err) {
        failures++;
        firstError ??= (err as Error).message;
        started--; // retry this slot, within the failure budget
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(cfg.concurrency, Math.max(1, need)) }, worker));
  return { clients, failures, seconds: (performance.now() - t0) / 1000, firstError };
}

// ── helper generators ──────────────────────────────────────────────────────

/**
 * The idle-client generators that hold the clients beyond this process's
 * `perProcess`: started once per run for the most the run needs, then told
 * how many to hold in all (a target, spread evenly over them).
 */
class Helpers {
  private group: LoadGroup | undefined;
  held = 0;
  constructor(private readonly cfg: LoadConfig) {}

  get pids(): number[] {
    return this.group?.gens.map((g) => g.pid) ?? [];
  }

  async start(most: number): Promise<void> {
    if (most <= 0 || this.group) return;
    this.group = await startLoadgens(this.cfg.port, most, this.cfg.perProcess);
    log(`${this.group.gens.length} helper generator(s) for up to ${most} clients`);
  }

  /** Holds `n` clients over the helpers; resolves when each has its share (or gave up). */
  async holdTo(n: number, deadline: number): Promise<Ramp> {
    if (!this.group || n <= 0) return { clients: [], failures: 0, seconds: 0 };
    const shares = splitEvenly(n, this.group.gens.length);
    const r = await connectAll(this.group.gens, shares, Math.max(1_000, deadline - Date.now() - 10_000));
    this.held = r.open;
    return { clients: [], failures: r.failures, seconds: r.ms / 1000, firstError: r.firstError };
  }

  /** Broadcast frames the helpers' clients received since the last call. */
  async received(): Promise<number> {
    return this.group ? (await reportAll(this.group.gens)).received : 0;
  }

  async stop(): Promise<void> {
    for (const g of this.group?.gens ?? []) await g.stop();
    this.group = undefined;
    this.held = 0;
  }
}

/** Opens `target` clients in all: up to `perProcess` here, the rest on the helpers, both at once. */
async function holdTo(cfg: LoadConfig, local: WsClient[], helpers: Helpers, target: number, concurrency: number, sourceIps: number, deadline: number) {
  const here = Math.min(target, cfg.perProcess);
  const [a, b] = await Promise.all([
    rampTo(local, here, { host: cfg.host, port: cfg.port, concurrency, sourceIps }, deadline),
    helpers.holdTo(target - here, deadline),
  ]);
  return {
    open: local.length + helpers.held,
    failures: a.failures + b.failures,
    seconds: Math.max(a.seconds, b.seconds),
    firstError: a.firstError ?? b.firstError,
  };
}

// ── scenarios ──────────────────────────────────────────────────────────────

async function connectionsScenario(cfg: LoadConfig, helpers: Helpers, deadline: number): Promise<ConnectionsResult> {
  const c = cfg.connections!;
  const gc = async () => {
    try {
      process.kill(cfg.pid, "SIGUSR2");
    } catch {
      // the server is gone; the RSS read below reports it
    }
    await sleep(c.settleMs);
  };
  await sleep(500);
  await gc();
  const baselineKiB = rssKiB(cfg.pid);
  log(`baseline RSS ${baselineKiB} KiB`);
  const clients: WsClient[] = [];
  const out: ConnectionsResult = { baselineKiB, steps: [], connectRate: NaN, connectFailures: 0 };
  let rampSeconds = 0;
  try {
    await helpers.start(Math.max(...c.steps) - cfg.perProcess);
    for (const step of c.steps) {
      const r = await holdTo(cfg, clients, helpers, step, c.concurrency, c.sourceIps, deadline);
      rampSeconds += r.seconds;
      out.connectFailures += r.failures;
      out.connectRate = r.open / rampSeconds;
      if (r.open < step) {
        out.error = `reached ${r.open}/${step} connections (${r.failures} failures: ${r.firstError ?? "deadline"})`;
        log(out.error);
        break;
      }
      await gc();
      const rss = rssKiB(cfg.pid);
      const kibPerConn = (rss - baselineKiB) / r.open;
      out.steps.push({ connections: r.open, rssKiB: rss, kibPerConn });
      log(`${r.open} conns: RSS ${rss} KiB, ${kibPerConn.toFixed(1)} KiB/conn, ${(r.open / rampSeconds).toFixed(0)} conn/s`);
    }
  } finally {
    for (const cl of clients) cl.close();
    await helpers.stop();
  }
  await sleep(200);
  return out;
}

/**
 * Broadcasts paced on this process's clients (`n`); the helpers' clients
 * (`remote`) are counted at the end of each round, which lasts until they
 * too got every broadcast.
 */
async function broadcastScenario(cfg: LoadConfig, clients: WsClient[], helpers: Helpers, deadline: number): Promise<BroadcastResult> {
  const b = cfg.broadcast!;
  const n = clients.length;
  const remote = helpers.held;
  let remoteGot = 0;
  let delivered = 0;
  let sent = 0;
  let limitReached = false;
  let threshold = Infinity;
  let tStart = 0;
  let minBroadcasts = b.warmup;
  let maxBroadcasts = b.warmup;
  let minMs = 0;
  let maxMs = 60_000;
  let finish: (() => void) | null = null;
  const sender = clients[0]!;

  // Sends while fewer than `window` broadcasts are incomplete; deliveries are
  // counted across all clients, so a broadcast counts as done after N of them.
  const pump = () => {
    const elapsed = performance.now() - tStart;
    if (!limitReached && sent >= maxBroadcasts) limitReached = true;
    if (!limitReached && sent >= minBroadcasts && elapsed >= minMs) limitReached = true;
    if (!limitReached && elapsed >= maxMs) limitReached = true;
    while (!limitReached && sent - Math.floor(delivered / n) < b.window && sent < maxBroadcasts) {
      sender.send(BCAST_FRAME);
      sent++;
    }
    threshold = limitReached ? sent * n : (sent - b.window + 1) * n;
    if (limitReached && delivered >= sent * n) finish?.();
  };
  const onMessage = (data: Buffer) => {
    if (data[1] !== C_2) return; // 42… is the broadcast; anything else is not counted
    if (++delivered >= threshold) pump();
  };
  for (const cl of clients) cl.onMessage = onMessage;

  const round = async (label: string, minB: number, maxB: number, minT: number, maxT: number) => {
    await helpers.received(); // resets their counters
    delivered = 0;
    sent = 0;
    limitReached = false;
    minBroadcasts = minB;
    maxBroadcasts = maxB;
    minMs = minT;
    maxMs = maxT;
    tStart = performance.now();
    const done = new Promise<void>((r) => (finish = r));
    pump();
    // Stall guard: no new delivery for 10 s (or the process deadline) ends the round.
    let last = -1;
    for (;;) {
      let timer: NodeJS.Timeout | undefined;
      const stalled = new Promise<"tick">((r) => (timer = setTimeout(() => r("tick"), 10_000)));
      const r = await Promise.race([done.then(() => "done" as const), stalled]);
      clearTimeout(timer);
      if (r === "done") break;
      if (delivered === last || Date.now() > deadline) {
        log(`${label}: stalled at ${delivered}/${sent * n} deliveries`);
        break;
      }
      last = delivered;
    }
    finish = null;
    // The helpers' share: wait until they got every broadcast (or made no progress for 10 s).
    remoteGot = 0;
    let lastProgress = Date.now();
    while (remote > 0 && remoteGot < sent * remote && Date.now() - lastProgress < 10_000 && Date.now() < deadline) {
      const got = await helpers.received();
      if (got > 0) lastProgress = Date.now();
      remoteGot += got;
      if (remoteGot < sent * remote) await sleep(20);
    }
    if (remoteGot < sent * remote) log(`${label}: helpers stalled at ${remoteGot}/${sent * remote} deliveries`);
    return (performance.now() - tStart) / 1000;
  };

  log(`broadcast: ${n + remote} clients (${remote} on helpers), warmup ${b.warmup}`);
  await round("warmup", b.warmup, b.warmup, 0, 30_000);
  await sleep(200);
  const meter = new CpuMeter(cfg.pid, helpers.pids);
  const seconds = await round("measure", b.minBroadcasts, b.maxBroadcasts, b.minMs, b.maxMs);
  const cpu = meter.read();
  for (const cl of clients) cl.onMessage = null;
  delivered += remoteGot;
  const expected = sent * (n + remote);
  const res: BroadcastResult = {
    clients: n + remote,
    broadcasts: sent,
    deliveries: delivered,
    expected,
    seconds,
    deliveriesPerSec: delivered / seconds,
    cpuUsPerDelivery: cpu.serverMicros / delivered,
    serverCpuPct: cpu.serverPct,
    loadgenCpuPct: cpu.selfPct,
    foreignCpuPct: cpu.foreignPct,
  };
  if (delivered < expected) res.error = `${expected - delivered} of ${expected} deliveries missing`;
  log(
    `broadcast: ${sent} x ${n + remote} = ${delivered} deliveries in ${seconds.toFixed(2)} s, ` +
      `${res.deliveriesPerSec.toFixed(0)}/s, ${res.cpuUsPerDelivery.toFixed(2)} µs CPU/delivery ` +
      `(CPU: server ${cpu.serverPct.toFixed(0)}%, generator ${cpu.selfPct.toFixed(0)}%, others ${cpu.foreignPct.toFixed(0)}%)`,
  );
  return res;
}

/** Shared bookkeeping of the two echo scenarios (WebSocket and polling). */
class EchoStats {
  measuring = false;
  stopping = false;
  acks = 0;
  rtts: number[] = [];
  inFlight = 0;
  lastAt = 0;
  idle: (() => void) | null = null;

  record(sentAt: number): void {
    const now = performance.now();
    this.inFlight--;
    if (this.measuring) {
      this.acks++;
      this.rtts.push(now - sentAt);
      this.lastAt = now;
    }
    if (this.stopping && this.inFlight === 0) this.idle?.();
  }

  /** Runs warmup then the measured stretch; returns the figures. */
  async run(
    cfg: LoadConfig,
    clients: number,
    warmupMs: number,
    durationMs: number,
    deadline: number,
    label: string,
    helpers?: Helpers,
  ): Promise<EchoResult> {
    await sleep(warmupMs);
    const meter = new CpuMeter(cfg.pid, helpers?.pids);
    const t0 = performance.now();
    this.lastAt = t0;
    this.measuring = true;
    await sleep(Math.max(0, Math.min(durationMs, deadline - Date.now() - 5_000)));
    this.stopping = true;
    if (this.inFlight > 0) {
      await Promise.race([new Promise<void>((r) => (this.idle = r)), sleep(5_000)]);
    }
    const cpu = meter.read();
    const seconds = (this.lastAt - t0) / 1000;
    const sorted = Float64Array.from(this.rtts).sort();
    const res: EchoResult = {
      clients,
      acks: this.acks,
      seconds,
      acksPerSec: this.acks / seconds,
      p50Ms: percentile(sorted, 0.5),
      p99Ms: percentile(sorted, 0.99),
      cpuUsPerAck: cpu.serverMicros / this.acks,
      serverCpuPct: cpu.serverPct,
      loadgenCpuPct: cpu.selfPct,
      foreignCpuPct: cpu.foreignPct,
    };
    if (this.inFlight > 0) res.error = `${this.inFlight} echoes unanswered`;
    if (this.acks === 0) res.error = "no acks";
    log(
      `${label}: ${clients} clients, ${this.acks} acks in ${seconds.toFixed(2)} s, ${res.acksPerSec.toFixed(0)}/s, ` +
        `p50 ${res.p50Ms.toFixed(2)} ms, p99 ${res.p99Ms.toFixed(2)} ms, ${res.cpuUsPerAck.toFixed(1)} µs CPU/ack ` +
        `(CPU: server ${cpu.serverPct.toFixed(0)}%, generator ${cpu.selfPct.toFixed(0)}%, others ${cpu.foreignPct.toFixed(0)}%)`,
    );
    return res;
  }
}

async function echoScenario(cfg: LoadConfig, all: WsClient[], helpers: Helpers, deadline: number): Promise<EchoResult> {
  const e = cfg.echo!;
  const clients = all.slice(0, Math.min(e.clients, all.length));
  const stats = new EchoStats();
  const fire = (c: WsClient) => {
    c.ackId = (c.ackId + 1) % 1_000_000;
    c.sentAt = performance.now();
    stats.inFlight++;
    c.send(`42${c.ackId}${ECHO_TAIL}`);
  };
  for (const c of clients) {
    c.onMessage = (data: Buffer) => {
      if (data[1] !== C_3) return; // 43<id>[…] is the ack
      stats.record(c.sentAt);
      if (!stats.stopping) fire(c);
    };
  }
  for (const c of clients) fire(c);
  try {
    const res = await stats.run(cfg, clients.length, e.warmupMs, e.durationMs, deadline, `echo (${all.length + helpers.held} held)`, helpers);
    return { ...res, held: all.length + helpers.held };
  } finally {
    for (const c of clients) c.onMessage = null;
  }
}

// ── long-polling ───────────────────────────────────────────────────────────

interface HttpReply {
  status: number;
  body: string;
}

function http(agent: Agent, cfg: LoadConfig, method: "GET" | "POST", path: string, body?: string): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = {};
    if (body !== undefined) {
      headers["content-type"] = "text/plain;charset=UTF-8";
      headers["content-length"] = Buffer.byteLength(body);
    }
    const req = request({ host: cfg.host, port: cfg.port, method, path, agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on("error", reject);
    });
    req.setTimeout(60_000, () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end(body);
  });
}

/**
 * One long-polling client: handshake GET, POST `40`, then a GET always held
 * while echoes are POSTed one at a time; each `43<id>[…]` in a poll ends one.
 */
class PollClient {
  sid = "";
  connected = false;
  closed = false;
  sentAt = 0;
  ackId = 0;
  onConnect: (() => void) | null = null;
  constructor(
    readonly agent: Agent,
    readonly cfg: LoadConfig,
    readonly stats: EchoStats,
  ) {}

  get base(): string {
    return `/socket.io/?EIO=4&transport=polling&sid=${encodeURIComponent(this.sid)}`;
  }

  async open(): Promise<void> {
    const r = await http(this.agent, this.cfg, "GET", "/socket.io/?EIO=4&transport=polling");
    if (r.status !== 200 || r.body[0] !== "0") throw new Error(`handshake ${r.status}: ${r.body.slice(0, 80)}`);
    this.sid = (JSON.parse(r.body.split("\x1e")[0]!.slice(1)) as { sid: string }).sid;
    const connected = new Promise<void>((resolve, reject) => {
      this.onConnect = resolve;
      setTimeout(() => reject(new Error("no CONNECT answer")), 10_000).unref();
    });
    void this.pollLoop();
    await this.post("40");
    await connected;
  }

  async post(payload: string): Promise<void> {
    const r = await http(this.agent, this.cfg, "POST", this.base, payload);
    if (r.status !== 200) throw new Error(`POST ${r.status}: ${r.body.slice(0, 80)}`);
  }

  fire(): void {
    this.ackId = (this.ackId + 1) % 1_000_000;
    this.sentAt = performance.now();
    this.stats.inFlight++;
    this.post(`42${this.ackId}${ECHO_TAIL}`).catch(() => {
      this.stats.inFlight--;
      this.closed = true;
    });
  }

  async pollLoop(): Promise<void> {
    // Bounded: each iteration is one GET; the runner's deadline ends the process anyway.
    for (let i = 0; i < 10_000_000 && !this.closed; i++) {
      let r: HttpReply;
      try {
        r = await http(this.agent, this.cfg, "GET", this.base);
      } catch {
        this.closed = true;
        return;
      }
      if (r.status !== 200) {
        this.closed = true;
        return;
      }
      for (const p of r.body.split("\x1e")) {
        if (p === "2") void this.post("3").catch(() => {});
        else if (p === "1") this.closed = true;
        else if (p.startsWith("40")) {
          this.connected = true;
          this.onConnect?.();
        } else if (p.startsWith("43")) {
          this.stats.record(this.sentAt);
          if (!this.stats.stopping) this.fire();
        }
      }
    }
  }
}

async function pollingScenario(cfg: LoadConfig, deadline: number): Promise<EchoResult> {
  const p = cfg.polling!;
  // Two sockets per client: the held GET and the POST.
  const agent = new Agent({ keepAlive: true, maxSockets: p.clients * 2 + 4 });
  const stats = new EchoStats();
  const clients: PollClient[] = [];
  try {
    for (let i = 0; i < p.clients && Date.now() < deadline; i++) {
      const c = new PollClient(agent, cfg, stats);
      await c.open();
      clients.push(c);
    }
    for (const c of clients) c.fire();
    return await stats.run(cfg, clients.length, p.warmupMs, p.durationMs, deadline, "polling");
  } finally {
    for (const c of clients) c.closed = true;
    agent.destroy();
  }
}

// ── main ───────────────────────────────────────────────────────────────────

async function main(): Promise<void> {
  const cfg = JSON.parse(process.argv[2] ?? "{}") as LoadConfig;
  if (!cfg.port || !cfg.pid) throw new Error("usage: load.ts '<json config with port and pid>'");
  setClockTicks(cfg.clockTicks);
  const deadline = Date.now() + cfg.deadlineMs;
  const result: LoadResult = { errors: [] };
  // The last word: whatever happens, the process ends by its deadline with what it has.
  const killer = setTimeout(() => {
    result.errors.push("load generator deadline reached");
    process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
    process.exit(2);
  }, cfg.deadlineMs + 5_000);
  killer.unref();

  const attempt = async <T>(name: string, fn: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await fn();
    } catch (err) {
      result.errors.push(`${name}: ${(err as Error).message}`);
      log(`${name} failed: ${(err as Error).message}`);
      return undefined;
    }
  };

  const helpers = new Helpers(cfg);
  if (cfg.phase === "connections") {
    result.connections = await attempt("connections", () => connectionsScenario(cfg, helpers, deadline));
  } else {
    const clients: WsClient[] = [];
    const want = cfg.held ?? Math.max(cfg.broadcast?.clients ?? 0, cfg.echo?.clients ?? 0);
    try {
      if (want > 0) {
        await helpers.start(want - cfg.perProcess);
        const r = await holdTo(cfg, clients, helpers, want, 64, 1, deadline);
        if (r.open < want) result.errors.push(`connected ${r.open}/${want}: ${r.firstError}`);
        log(`${r.open} websocket clients connected in ${r.seconds.toFixed(2)} s (${helpers.held} on helpers)`);
      }
      if (cfg.broadcast && clients.length > 0) {
        result.broadcast = await attempt("broadcast", () => broadcastScenario(cfg, clients, helpers, deadline));
        await sleep(300);
      }
      if (cfg.echo && clients.length > 0) {
        result.echo = await attempt("echo", () => echoScenario(cfg, clients, helpers, deadline));
      }
    } finally {
      for (const c of clients) c.close();
      await helpers.stop();
    }
    if (cfg.polling) {
      await sleep(300);
      result.polling = await attempt("polling", () => pollingScenario(cfg, deadline));
    }
  }
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  clearTimeout(killer);
  // Held sockets (polls the server still keeps) must not keep us alive.
  setTimeout(() => process.exit(0), 100).unref();
}

main().catch((err) => {
  process.stdout.write(`RESULT ${JSON.stringify({ errors: [String((err as Error)?.stack ?? err)] })}\n`);
  process.exit(1);
});
