/**
 * The scale benchmark's app (bench/scale.ts), for every server with the
 * socket.io v4 API. Idle connections do nothing; a client drives the two
 * measurements through events with acks:
 *
 *   "scale-bcast", ack  -> io.emit("scale", t) where t = Date.now() just before the
 *                          emit; ack(t). The load generators time the last delivery
 *                          against t. With a Redis adapter the emit spans the cluster.
 *   "scale-mem", ack    -> a full GC, then ack(memory): rss, heapUsed, heapTotal,
 *                          external (bytes) of this process, as the runtime reports them.
 *
 * Settings come from the environment (Node, Bun and Deno alike):
 *   SCALE_PING_INTERVAL  ms (default 5000), SCALE_PING_TIMEOUT ms (default 20000)
 *   REDIS_URL            joins the processes through unio/redis (or socket.io's
 *                        @socket.io/redis-adapter for socket.io servers)
 *   REUSE_PORT=1         Bun.serve / Deno.serve with reusePort (several processes, one port)
 *   CLUSTER_WORKERS=N    Node: a node:cluster primary with N workers sharing the port
 */
import { fullGc, runtimeName } from "./lifecycle.ts";

interface DenoLike {
  env: { get(k: string): string | undefined };
  memoryUsage(): { rss: number; heapUsed: number; heapTotal: number; external: number };
}
interface ProcessLike {
  env: Record<string, string | undefined>;
  memoryUsage(): { rss: number; heapUsed: number; heapTotal: number; external: number };
}
const g = globalThis as unknown as { Deno?: DenoLike; process?: ProcessLike };

/** An environment variable on any runtime. */
export function env(name: string): string | undefined {
  return g.Deno ? g.Deno.env.get(name) : g.process?.env[name];
}

/**
 * With CLUSTER_WORKERS=N on Node, makes this process a node:cluster primary
 * that forks N workers sharing its port and kills them when it is stopped:
 * true in the primary, which serves nothing itself (it hands connections to
 * the workers, round-robin); false in a worker or without the setting.
 */
export async function becomeClusterPrimary(): Promise<boolean> {
  const workers = Number(env("CLUSTER_WORKERS") ?? 0);
  if (workers <= 0 || runtimeName() !== "node") return false;
  const cluster = (await import("node:cluster")).default;
  if (!cluster.isPrimary) return false;
  // The workers accept on the shared socket themselves (the kernel spreads the connections)
  // rather than the primary accepting each one and handing it over IPC: at 100,000 handshakes
  // the primary's round robin is one process doing a share of every connection's work.
  // WebSocket-only clients need no stickiness, so nothing depends on which worker accepts.
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  for (let i = 0; i < workers; i++) cluster.fork();
  const stop = () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill("SIGKILL");
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  return true;
}

/** An ioredis publisher and subscriber for REDIS_URL's adapter (errors are the adapter's to see: kept quiet here). */
export async function redisPair(url: string): Promise<{ pub: import("ioredis").Redis; sub: import("ioredis").Redis }> {
  const { Redis } = await import("ioredis");
  const pub = new Redis(url);
  const sub = pub.duplicate();
  pub.on("error", () => {});
  sub.on("error", () => {});
  return { pub, sub };
}

/** The heartbeat settings every scale server uses (stated in bench/SCALE.md). */
export function heartbeat(): { pingInterval: number; pingTimeout: number } {
  return {
    pingInterval: Number(env("SCALE_PING_INTERVAL") ?? 5_000),
    pingTimeout: Number(env("SCALE_PING_TIMEOUT") ?? 20_000),
  };
}

export function memory(): { rss: number; heapUsed: number; heapTotal: number; external: number } {
  fullGc();
  const m = g.Deno ? g.Deno.memoryUsage() : g.process!.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external };
}

interface IoLike {
  on(event: "connection", listener: (socket: SocketLike) => void): unknown;
  emit(event: string, ...args: unknown[]): unknown;
}
interface SocketLike {
  on(event: string, listener: (...args: any[]) => void): unknown;
}

export function installScaleApp(io: IoLike): void {
  io.on("connection", (socket) => {
    socket.on("scale-bcast", (ack?: (t: number) => void) => {
      const t = Date.now();
      io.emit("scale", t);
      if (typeof ack === "function") ack(t);
    });
    socket.on("scale-mem", (ack?: (m: unknown) => void) => {
      if (typeof ack === "function") ack(memory());
    });
  });
}
