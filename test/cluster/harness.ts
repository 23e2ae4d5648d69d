/**
 * A cluster without sticky sessions, for tests and the bench: a private
 * redis-server, unio nodes as child processes (Node, Bun or Deno) and
 * HAProxy in front of them, balancing every HTTP request on its own
 * (`roundrobin`, no cookie, no source hash) or, for comparison, sticky
 * (`source`). Every wait is bounded.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { io as ioc, type ManagerOptions, type Socket as ClientSocket, type SocketOptions } from "socket.io-client";
import { once, waitFor } from "../helpers/wait.ts";
import { exited, type FixtureProcess, ROOT, runtimeCommand, startFixtureProcess } from "../helpers/fixture-process.ts";
import { freePort, type RedisServer, startAll, startRedis } from "../redis/harness.ts";

const fixture = (name: string) => `${ROOT}test/cluster/fixtures/${name}`;
export const HAPROXY = "/usr/sbin/haproxy";

export type Runtime = "node" | "bun" | "deno";

export interface Node extends FixtureProcess {
  name: string;
  runtime: Runtime;
}

export async function startNode(runtime: Runtime, name: string, redisUrl: string, env: Record<string, string> = {}): Promise<Node> {
  const node = await startFixtureProcess(runtimeCommand(runtime, fixture(`${runtime}.ts`)), {
    env: { REDIS_URL: redisUrl, NODE_NAME: name, PORT: "0", ...env },
    what: `${runtime} node ${name}`,
  });
  return Object.assign(node, { name, runtime });
}

export interface Balancer {
  port: number;
  url: string;
  stop(): Promise<void>;
}

export type Balance = "roundrobin" | "source" | "cookie";

/**
 * HAProxy in HTTP mode in front of `ports`. `roundrobin` picks a server for
 * every request, also on a kept-alive client connection: the non-sticky
 * case. `source` hashes the client address, `cookie` inserts a SERVERID
 * cookie on the first response (clients need `withCredentials: true`):
 * sticky. A node that stops
 * answering is taken out by the health check and refused connections are
 * redispatched, as in a production set-up.
 */
export async function startBalancer(ports: number[], balance: Balance = "roundrobin"): Promise<Balancer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "unio-haproxy-"));
  const cfg = join(dir, "haproxy.cfg");
  writeFileSync(
    cfg,
    [
      "global",
      "  maxconn 8000",
      "defaults",
      "  mode http",
      "  timeout connect 2s",
      "  timeout client 60s",
      "  timeout server 60s",
      "  timeout tunnel 60s",
      "  option redispatch",
      "  retries 2",
      "frontend fe",
      `  bind 127.0.0.1:${port}`,
      "  default_backend be",
      "backend be",
      `  balance ${balance === "cookie" ? "roundrobin" : balance}`,
      ...(balance === "cookie" ? ["  cookie SERVERID insert indirect nocache"] : []),
      ...ports.map((p, i) => `  server n${i} 127.0.0.1:${p} check inter 300 fall 1 rise 2${balance === "cookie" ? ` cookie n${i}` : ""}`),
      "",
    ].join("\n"),
  );
  const child = spawn(HAPROXY, ["-db", "-f", cfg], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-10_000);
  });
  // Ready once it accepts connections (or failed at once, having exited).
  await waitFor(
    async () =>
      child.exitCode !== null ||
      fetch(`http://127.0.0.1:${port}/`).then(
        () => true,
        () => false,
      ),
    { timeout: 10_000, interval: 100, what: `haproxy on port ${port}` },
  ).catch((err: Error) => {
    throw new Error(`${err.message}: ${stderr}`);
  });
  if (child.exitCode !== null) throw new Error(`haproxy exited: ${stderr}`);
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    async stop() {
      child.kill("SIGKILL");
      await exited(child, 5000);
    },
  };
}

export interface Cluster {
  redis: RedisServer;
  nodes: Node[];
  balancer: Balancer;
  url: string;
  stop(): Promise<void>;
}

export async function startCluster(
  runtimes: Runtime[],
  opts: { balance?: Balance; env?: Record<string, string> } = {},
): Promise<Cluster> {
  const redis = await startRedis();
  let nodes: Node[] = [];
  let balancer: Balancer;
  try {
    // Those started are killed if one fails.
    nodes = await startAll(runtimes.map((r, i) => startNode(r, `${r}-${i}`, redis.url, opts.env)));
    balancer = await startBalancer(
      nodes.map((n) => n.port),
      opts.balance,
    );
  } catch (err) {
    await Promise.all(nodes.map((n) => n.kill()));
    await redis.stop();
    throw err;
  }
  return {
    redis,
    nodes,
    balancer,
    url: balancer.url,
    async stop() {
      await balancer.stop();
      await Promise.all(nodes.map((n) => n.kill()));
      await redis.stop();
    },
  };
}

/** Redis's own counters (INFO stats): commands processed and bytes in and out. */
export async function redisCounters(port: number): Promise<{ commands: number; bytesIn: number; bytesOut: number }> {
  const { Redis } = await import("ioredis");
  const c = new Redis({ port, host: "127.0.0.1", lazyConnect: true });
  await c.connect();
  const info = await c.info("stats");
  c.disconnect();
  const get = (k: string) => Number(/^(\w+):(\d+)/m.exec(info.split("\n").find((l) => l.startsWith(k + ":")) ?? "")?.[2] ?? 0);
  return { commands: get("total_commands_processed"), bytesIn: get("total_net_input_bytes"), bytesOut: get("total_net_output_bytes") };
}

export interface Welcome {
  node: string;
  id: string;
  transport: string;
}

const open = new Set<ClientSocket>();

/** A socket.io-client through `url`, resolved with the node's "welcome" (the node that owns the session). */
export async function connect(
  url: string,
  opts: Partial<ManagerOptions & SocketOptions> = {},
  timeout = 10_000,
): Promise<{ socket: ClientSocket; welcome: Welcome }> {
  const socket = ioc(url, { forceNew: true, reconnection: false, ...opts });
  open.add(socket);
  const welcome = await once<Welcome>(socket, "welcome", { failOn: "connect_error", timeout, what: `a welcome through ${url}` });
  return { socket, welcome };
}

export function closeAll(): void {
  for (const s of open) s.disconnect();
  open.clear();
}
