/**
 * A unio node for bench/drain.ts (and test/drain): the Redis Streams adapter
 * (ioredis) with connection state recovery, on a Node http server that also
 * answers
 *
 *   GET  /healthz          200, or 503 while draining (the balancer's check)
 *   POST /drain?timeout=ms starts `io.drain()`; answers once it resolved
 *
 * Clients get "welcome" { node, id, recovered } on every connection and can
 * emit "msg" (seq, ack): the ack answers with the node's name. Prints
 * {"port":N} once listening.
 *
 * Environment: REDIS_URL, NODE_NAME, PORT (0: any).
 */
import { createServer } from "node:http";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { Redis } from "ioredis";
import { createStreamsAdapter } from "../../src/adapters/redis.ts";
import { attach, Server } from "../../src/runtimes/node.ts";

const name = process.env.NODE_NAME ?? "node";
const redis = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
redis.on("error", () => {});

const io = new Server({
  adapter: createStreamsAdapter(redis, { blockTimeInMs: 1000 }),
  connectionStateRecovery: { maxDisconnectionDuration: 60_000 },
  transports: ["websocket", "polling"],
  metrics: true,
});

io.on("connection", (socket) => {
  socket.emit("welcome", { node: name, id: socket.id, recovered: socket.recovered });
  socket.on("msg", (seq: number, ack?: (node: string, seq: number) => void) => {
    if (typeof ack === "function") ack(name, seq);
  });
});

const http = createServer((req, res) => {
  const url = new URL(req.url ?? "/", "http://x");
  if (url.pathname === "/healthz") {
    res.writeHead(io.draining ? 503 : 200, { "content-type": "text/plain" }).end(io.draining ? "draining" : "ok");
    return;
  }
  if (url.pathname === "/drain" && req.method === "POST") {
    const timeout = Number(url.searchParams.get("timeout") ?? 10_000);
    const started = Date.now();
    const sockets = io.of("/").sockets.size;
    // How late this node's event loop ran during the drain (a starved node runs the drain's ticks late).
    const lag = monitorEventLoopDelay({ resolution: 10 });
    lag.enable();
    io.drain({ timeout }).then(
      () => {
        lag.disable();
        const m = io.metrics();
        const loopDelayMs = { p50: Math.round(lag.percentile(50) / 1e6), p99: Math.round(lag.percentile(99) / 1e6), max: Math.round(lag.max / 1e6) };
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ node: name, sockets, ms: Date.now() - started, drain: m.drain, refused: m.refused, loopDelayMs }));
      },
      (err) => res.writeHead(500).end(String(err)),
    );
    return;
  }
  if (url.pathname === "/metrics") {
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(io.metrics()));
    return;
  }
  res.writeHead(404).end();
});
attach(io, http);
process.on("SIGTERM", () => process.exit(0));
// Thousands of clients reconnect within seconds during a drain: with Node's default accept
// backlog (511) the kernel drops their SYNs, and the balancer's connects (and health checks) time out.
http.listen({ port: Number(process.env.PORT ?? 0), host: "127.0.0.1", backlog: 4096 }, () => {
  console.log(JSON.stringify({ port: (http.address() as { port: number }).port }));
});
