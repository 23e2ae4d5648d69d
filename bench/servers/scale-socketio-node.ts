/**
 * socket.io 4.8 on Node for the scale benchmark: the heartbeat from
 * scale-app.ts; CLUSTER_WORKERS=N runs a node:cluster primary whose workers
 * share the port (WebSocket-only clients need no sticky sessions), and
 * REDIS_URL joins them with @socket.io/redis-adapter.
 */
import { createServer } from "node:http";
import { Server } from "socket.io";
import { HOST, portFromEnv, ready } from "./lifecycle.ts";
import { becomeClusterPrimary, env, heartbeat, installScaleApp, redisPair } from "./scale-app.ts";

async function main(): Promise<void> {
  if (await becomeClusterPrimary()) return;
  const http = createServer();
  const io = new Server(http, { serveClient: false, ...heartbeat() });
  const url = env("REDIS_URL");
  if (url) {
    const { pub, sub } = await redisPair(url);
    const { createAdapter } = await import("@socket.io/redis-adapter");
    io.adapter(createAdapter(pub, sub));
  }
  installScaleApp(io as never);
  http.listen(portFromEnv(), HOST, () => ready((http.address() as { port: number }).port));
}

void main();
