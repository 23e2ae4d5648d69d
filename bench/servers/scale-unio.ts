/**
 * unio for the scale benchmark, on Node, Bun or Deno (whichever runs it):
 * the Socket.IO `Server` with the heartbeat from scale-app.ts, optionally
 * joined to other processes by unio/redis (REDIS_URL), served through the
 * runtime's shim. Several processes share one port through node:cluster
 * (CLUSTER_WORKERS=N, Node) or reusePort (REUSE_PORT=1, Bun and Deno); each
 * process that serves prints its own `{"port","pid"}` line.
 */
import { Server } from "../../src/index.ts";
import { HOST, portFromEnv, ready, runtimeName } from "./lifecycle.ts";
import { env, heartbeat, installScaleApp } from "./scale-app.ts";

async function redisAdapter(url: string): Promise<unknown> {
  const { Redis } = await import("ioredis");
  const { createAdapter } = await import("../../src/adapters/redis.ts");
  const pub = new Redis(url);
  const sub = pub.duplicate();
  pub.on("error", () => {});
  sub.on("error", () => {});
  return createAdapter(pub as never, sub as never);
}

async function main(): Promise<void> {
  const runtime = runtimeName();
  const workers = Number(env("CLUSTER_WORKERS") ?? 0);
  if (runtime === "node" && workers > 0) {
    const cluster = (await import("node:cluster")).default;
    if (cluster.isPrimary) {
      // The primary only accepts and hands connections to the workers (round-robin).
      for (let i = 0; i < workers; i++) cluster.fork();
      const stop = () => {
        for (const w of Object.values(cluster.workers ?? {})) w?.process.kill("SIGKILL");
        process.exit(0);
      };
      process.on("SIGTERM", stop);
      process.on("SIGINT", stop);
      return;
    }
  }
  const url = env("REDIS_URL");
  const adapter = url ? await redisAdapter(url) : undefined;
  const io = new Server({ ...heartbeat(), ...(adapter ? { adapter: adapter as never } : {}) });
  if (adapter) await (io.of("/").adapter as unknown as { whenReady(): Promise<void> }).whenReady();
  installScaleApp(io);
  const port = portFromEnv();
  const reusePort = env("REUSE_PORT") === "1";
  if (runtime === "node") {
    const { serve } = await import("../../src/runtimes/node.ts");
    const server = serve(io, { port, hostname: HOST });
    server.once("listening", () => ready((server.address() as { port: number }).port));
  } else if (runtime === "bun") {
    const { handler } = await import("../../src/runtimes/bun.ts");
    const Bun = (globalThis as unknown as { Bun: { serve(o: Record<string, unknown>): { port: number } } }).Bun;
    const server = Bun.serve({ port, hostname: HOST, reusePort, ...handler(io) });
    ready(server.port);
  } else {
    const { handler } = await import("../../src/runtimes/deno.ts");
    const Deno = (globalThis as unknown as { Deno: { serve(o: Record<string, unknown>, h: unknown): unknown } }).Deno;
    Deno.serve({ port, hostname: HOST, reusePort, onListen: ({ port: p }: { port: number }) => ready(p) }, handler(io));
  }
}

void main();
