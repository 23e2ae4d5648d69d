/**
 * One load-generator process of bench/drain.ts: a share of the
 * socket.io-clients (WebSocket), driven over IPC by the parent, which
 * merges what every generator saw. One process could not drive 5,000
 * clients (it was CPU-bound, so its own delays showed up as downtime), nor
 * hold many more than 19,000 sockets (the open-files limit).
 *
 *   parent ─▶ { type: "connect", url, clients, retries, interval }
 *          ◀─ { type: "connected", onA }                 every client welcomed
 *   parent ─▶ { type: "send" }                           acked messages start
 *   parent ─▶ { type: "drain", at }                      A's drain started (wall clock)
 *          ◀─ { type: "progress", moved }                every 200 ms from then
 *   parent ─▶ { type: "stop" }                           stop sending, wait for the last acks
 *          ◀─ { type: "result", ...GeneratorResult }     then the process exits
 *
 * Times that cross processes are wall-clock ms (Date.now(): one clock on
 * one machine); durations within a client are measured on performance.now().
 */
import { io as ioc, type Socket as ClientSocket } from "socket.io-client";

export interface ConnectCommand {
  type: "connect";
  url: string;
  clients: number;
  retries: number;
  interval: number;
}

export type Command = ConnectCommand | { type: "send" } | { type: "drain"; at: number } | { type: "stop" };

/** What one generator saw, raw: the parent merges the distributions. */
export interface GeneratorResult {
  onA: number;
  /** Per client that moved from A to B: ms from the drain's start to its welcome on B. */
  reconnectAt: number[];
  recovered: number;
  /** Every disconnection's length, ms. */
  downtimes: number[];
  /** Reconnection attempt (after the client's backoff) to welcome, ms. */
  latencies: number[];
  /** Every disconnection as [down, up] on the wall clock (up: null if it never came back). */
  outages: Array<[number, number | null]>;
  connectErrors: number;
  errorKinds: Record<string, number>;
  sent: number;
  acked: number;
}

export type Report =
  | { type: "connected"; onA: number }
  | { type: "progress"; moved: number }
  | ({ type: "result" } & GeneratorResult)
  | { type: "error"; message: string };

interface Tracked {
  socket: ClientSocket;
  firstNode: string;
  /** performance.now() and wall clock of the current disconnection; null while connected. */
  downAt: number | null;
  downWall: number;
  reconnectedToB: boolean;
  attemptAt: number;
}

const report = (r: Report): void => void process.send!(r);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const tracked: Tracked[] = [];
const result: GeneratorResult = {
  onA: 0,
  reconnectAt: [],
  recovered: 0,
  downtimes: [],
  latencies: [],
  outages: [],
  connectErrors: 0,
  errorKinds: {},
  sent: 0,
  acked: 0,
};
let config: ConnectCommand;
let drainAt = 0;
let sendTimer: ReturnType<typeof setInterval> | undefined;
let progressTimer: ReturnType<typeof setInterval> | undefined;
const pending = new Set<number>();

function track(url: string, retries: number): Promise<void> {
  const socket = ioc(url, {
    transports: ["websocket"],
    forceNew: true,
    reconnectionDelayMax: 5000,
    ...(retries > 0 ? { retries, ackTimeout: 10_000 } : {}),
  });
  const t: Tracked = { socket, firstNode: "", downAt: null, downWall: 0, reconnectedToB: false, attemptAt: 0 };
  tracked.push(t);
  socket.on("welcome", (w: { node: string; recovered: boolean }) => {
    if (!t.firstNode) t.firstNode = w.node;
    if (t.downAt !== null) {
      const now = performance.now();
      if (t.attemptAt > 0) result.latencies.push(now - t.attemptAt);
      result.downtimes.push(now - t.downAt);
      result.outages.push([t.downWall, Date.now()]);
      t.downAt = null;
    }
    if (w.node === "B" && t.firstNode === "A" && !t.reconnectedToB) {
      t.reconnectedToB = true;
      result.reconnectAt.push(Date.now() - drainAt);
      if (w.recovered) result.recovered++;
    }
  });
  socket.on("disconnect", () => {
    t.downAt = performance.now();
    t.downWall = Date.now();
  });
  socket.io.on("reconnect_attempt", () => (t.attemptAt = performance.now()));
  socket.io.on("reconnect_error", (err: Error & { description?: unknown }) => {
    result.connectErrors++;
    const d = err.description as { message?: string; context?: { statusCode?: number } } | number | undefined;
    const detail = typeof d === "object" && d !== null ? (d.message ?? d.context?.statusCode ?? "") : (d ?? "");
    const key = `${err.message} ${detail}`.trim();
    result.errorKinds[key] = (result.errorKinds[key] ?? 0) + 1;
  });
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("client did not connect")), 30_000);
    socket.once("welcome", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

async function connectAll(cmd: ConnectCommand): Promise<void> {
  config = cmd;
  // In batches, so the handshakes do not all hit at once.
  const batch = 100;
  for (let i = 0; i < cmd.clients; i += batch) {
    await Promise.all(Array.from({ length: Math.min(batch, cmd.clients - i) }, () => track(cmd.url, cmd.retries)));
  }
  result.onA = tracked.filter((t) => t.firstNode === "A").length;
  report({ type: "connected", onA: result.onA });
}

/** Every client sends an acked message once per interval, the sends spread evenly over it. */
function startSending(): void {
  const { interval, retries } = config;
  const tick = Math.max(10, Math.floor(interval / 20));
  let cursor = 0;
  let seq = 0;
  sendTimer = setInterval(() => {
    const per = Math.ceil((tracked.length * tick) / interval);
    for (let k = 0; k < per; k++) {
      const t = tracked[cursor++ % tracked.length]!;
      const id = seq++;
      result.sent++;
      pending.add(id);
      const done = (err: Error | null) => {
        if (!err) result.acked++;
        pending.delete(id);
      };
      if (retries > 0) t.socket.emit("msg", id, done);
      else t.socket.timeout(30_000).emit("msg", id, done);
    }
  }, tick);
}

async function stop(): Promise<void> {
  if (sendTimer) clearInterval(sendTimer);
  if (progressTimer) clearInterval(progressTimer);
  const deadline = Date.now() + 35_000;
  while (pending.size > 0 && Date.now() < deadline) await sleep(50);
  for (const t of tracked) if (t.downAt !== null) result.outages.push([t.downWall, null]);
  process.send!({ type: "result", ...result } satisfies Report, () => {
    for (const t of tracked) t.socket.disconnect();
    process.exit(0);
  });
}

process.on("message", (cmd: Command) => {
  const fail = (err: unknown) => report({ type: "error", message: String(err) });
  if (cmd.type === "connect") connectAll(cmd).catch(fail);
  else if (cmd.type === "send") startSending();
  else if (cmd.type === "drain") {
    drainAt = cmd.at;
    progressTimer = setInterval(() => report({ type: "progress", moved: result.reconnectAt.length }), 200);
  } else if (cmd.type === "stop") stop().catch(fail);
});
// The parent is gone: so is this generator.
process.on("disconnect", () => process.exit(0));
