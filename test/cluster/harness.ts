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
import { fileURLToPath } from "node:url";
import { io as ioc, type ManagerOptions, type Socket as ClientSocket, type SocketOptions } from "socket.io-client";
import { once, waitFor } from "../helpers/wait.ts";
import { exited, freePort, type RedisServer, startAll, startRedis, waitForLine } from "../redis/harness.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const fixture = (name: string) => `${root}test/cluster/fixtures/${name}`;
const bin = (name: string) => `${root}node_modules/.bin/${name}`;
export const HAPROXY = "/usr/sbin/haproxy";

export type Runtime = "node" | "bun" | "deno";

export interface Node {
  name: string;
  runtime: Runtime;
  port: number;
  url: string;
  child: ChildProcess;
  stderr(): string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

function command(runtime: Runtime): string[] {
  switch (runtime) {
    case "node":
      return [process.execPath, "--import", "tsx", fixture("node.ts")];
    case "bun":
      return [bin("bun"), "run", fixture("bun.ts")];
    case "deno":
      return [bin("deno"), "run", "--allow-net", "--allow-env", "--allow-read", "--allow-sys", "--no-lock", fixture("deno.ts")];
  }
}

export async function startNode(runtime: Runtime, name: string, redisUrl: string, env: Record<string, string> = {}): Promise<Node> {
  const [cmd, ...args] = command(runtime);
  const child = spawn(cmd!, args, {
    cwd: root,
    env: { ...(process.env as Record<string, string>), REDIS_URL: redisUrl, NODE_NAME: name, PORT: "0", NO_COLOR: "1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-20_000);
  });
  const line = await waitForLine(child, (l) => /^\{"port":\d+\}$/.test(l), 30_000, `${runtime} node ${name}`);
  child.stdout?.resume();
  const port = JSON.parse(line).port as number;
  return {
    name,
    runtime,
    port,
    url: `http://127.0.0.1:${port}`,
    child,
    stderr: () => stderr,
    async kill(signal = "SIGKILL") {
      child.kill(signal);
      await exited(child, 5000);
    },
  };
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
