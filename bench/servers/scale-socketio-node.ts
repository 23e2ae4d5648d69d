/**
 * socket.io 4.8 on Node for the scale benchmark: the heartbeat from
 * scale-app.ts; CLUSTER_WORKERS=N runs a node:cluster primary whose workers
 * share the port (WebSocket-only clients need no sticky sessions), and
 * REDIS_URL joins them with @socket.io/redis-adapter.
 */
import cluster from "node:cluster";
import { createServer } from "node:http";
import { Server } from "socket.io";
import { HOST, portFromEnv, ready } from "./lifecycle.ts";
import { env, heartbeat, installScaleApp } from "./scale-app.ts";

async function main(): Promise<void> {
  const workers = Number(env("CLUSTER_WORKERS") ?? 0);
  if (workers > 0 && cluster.isPrimary) {
    for (let i = 0; i < workers; i++) cluster.fork();
    const stop = () => {
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill("SIGKILL");
      process.exit(0);
    };
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
    return;
  }
  const http = createServer();
  const io = new Server(http, { serveClient: false, ...heartbeat() });
  const url = env("REDIS_URL");
  if (url) {
    const { Redis } = await import("ioredis");
    const { createAdapter } = await import("@socket.io/redis-adapter");
    const pub = new Redis(url);
    const sub = pub.duplicate();
    pub.on("error", () => {});
    sub.on("error", () => {});
    io.adapter(createAdapter(pub, sub));
  }
  installScaleApp(io as never);
  http.listen(portFromEnv(), HOST, () => ready((http.address() as { port: number }).port));
}

void main();
