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
import { becomeClusterPrimary, env, heartbeat, installScaleApp, redisPair } from "./scale-app.ts";

async function redisAdapter(url: string): Promise<unknown> {
  const { pub, sub } = await redisPair(url);
  const { createAdapter } = await import("../../src/adapters/redis.ts");
  return createAdapter(pub as never, sub as never);
}

async function main(): Promise<void> {
  if (await becomeClusterPrimary()) return;
  const url = env("REDIS_URL");
  const adapter = url ? await redisAdapter(url) : undefined;
  const io = new Server({ ...heartbeat(), ...(adapter ? { adapter: adapter as never } : {}) });
  if (adapter) await (io.of("/").adapter as unknown as { whenReady(): Promise<void> }).whenReady();
  installScaleApp(io);
  const port = portFromEnv();
  const reusePort = env("REUSE_PORT") === "1";
  const runtime = runtimeName();
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
