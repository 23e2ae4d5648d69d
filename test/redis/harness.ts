/**
 * Test harness for the Redis adapters: a private redis-server per test
 * file, cluster nodes as child processes (unio on Node/Bun/Deno, or a
 * reference socket.io node), and socket.io-client helpers. Every wait is
 * bounded.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { connect as netConnect, createServer, type Socket as NetSocket } from "node:net";
import { io as ioc, type Socket as ClientSocket, type ManagerOptions, type SocketOptions } from "socket.io-client";
import { expect } from "vitest";
import { onceArgs, waitFor } from "../helpers/wait.ts";
import { exited, ROOT, runtimeCommand, startFixtureProcess, waitForLine } from "../helpers/fixture-process.ts";

const fixture = (name: string) => `${ROOT}test/redis/fixtures/${name}`;

export { exited, waitForLine };

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export interface RedisServer {
  port: number;
  url: string;
  stop(): Promise<void>;
  start(): Promise<void>;
}

/** `redis-server --port P --bind 127.0.0.1 --save '' --appendonly no` on a free port. */
export async function startRedis(): Promise<RedisServer> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    await waitForLine(child, (l) => l.includes("Ready to accept connections"), 10_000, "redis-server");
    child.stdout?.resume();
  };
  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    start,
    async stop() {
      if (!child) return;
      const c = child;
      child = undefined;
      c.kill("SIGKILL");
      await exited(c, 5000);
    },
  };
}

export type Runtime = "node" | "bun" | "deno" | "reference" | "reference-sharded" | "reference-streams";

export interface ClusterNode {
  name: string;
  runtime: Runtime;
  port: number;
  url: string;
  child: ChildProcess;
  /** What the node wrote to stderr (for failure messages). */
  stderr(): string;
  kill(signal?: NodeJS.Signals): Promise<void>;
  signal(signal: NodeJS.Signals): void;
}

/** The Redis clients a fixture node can be built on (UNIO_CLIENT). */
export type ClientFlavour = "ioredis" | "ioredis-v5" | "node-redis" | "node-redis-v4" | "node-redis-v5";

export interface NodeOptions {
  runtime?: Runtime;
  name: string;
  redisUrl: string;
  /** unio/redis's adapters, or (sio-*) the official @socket.io packages through socket.io-adapter's contract. */
  adapter?: "pubsub" | "sharded" | "streams" | "sio-pubsub" | "sio-sharded" | "sio-streams";
  /** "ioredis" and "node-redis" are the current majors (6); the others come from npm alias devDependencies. */
  client?: ClientFlavour;
  requestsTimeout?: number;
  csr?: boolean;
}

function command(runtime: Runtime): string[] {
  switch (runtime) {
    case "node":
    case "bun":
    case "deno":
      return runtimeCommand(runtime, fixture(`${runtime}.ts`));
    case "reference":
    case "reference-sharded":
    case "reference-streams":
      return [process.execPath, fixture("reference.cjs")];
  }
}

/** Starts a cluster node; resolves once it printed {"port":N} (it is then subscribed). */
export async function startNode(opts: NodeOptions): Promise<ClusterNode> {
  const runtime = opts.runtime ?? "node";
  const env: Record<string, string> = {
    REDIS_URL: opts.redisUrl,
    NODE_NAME: opts.name,
    UNIO_ADAPTER: opts.adapter ?? (runtime === "reference-sharded" ? "sharded" : runtime === "reference-streams" ? "streams" : "pubsub"),
    UNIO_CLIENT: opts.client ?? "ioredis",
    REQUESTS_TIMEOUT: String(opts.requestsTimeout ?? 5000),
    PORT: "0",
  };
  if (opts.csr) env.CSR = "1";
  const node = await startFixtureProcess(command(runtime), { env, what: `${runtime} node ${opts.name}` });
  return {
    name: opts.name,
    runtime,
    port: node.port,
    url: node.url,
    child: node.child,
    stderr: node.stderr,
    signal: (s) => {
      node.child.kill(s);
    },
    kill: (signal = "SIGKILL") => node.kill(signal),
  };
}

/**
 * Starts every node at once; when one fails, those that started are killed
 * before its error is thrown, so no child process outlives a failed set-up.
 */
export async function startAll<N extends { kill(): Promise<void> }>(starts: Array<Promise<N>>): Promise<N[]> {
  const settled = await Promise.allSettled(starts);
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (!failed) return settled.map((r) => (r as PromiseFulfilledResult<N>).value);
  await Promise.all(settled.map((r) => (r.status === "fulfilled" ? r.value.kill() : undefined)));
  throw failed.reason;
}

export interface RedisCluster {
  redis: RedisServer;
  /** In the order of the specs. */
  nodes: ClusterNode[];
  /** Closes every client of this harness, kills the nodes, stops the redis-server it started. */
  stop(): Promise<void>;
}

/**
 * A private redis-server (or `opts.redis`, one already running, which
 * `stop()` then leaves running) and one node per spec on it. `stop()` also
 * ends a node a test left stopped (SIGSTOP) or killed.
 */
export async function startRedisCluster(
  specs: Array<Omit<NodeOptions, "redisUrl">>,
  opts: { redis?: RedisServer } = {},
): Promise<RedisCluster> {
  const redis = opts.redis ?? (await startRedis());
  let nodes: ClusterNode[];
  try {
    nodes = await startAll(specs.map((spec) => startNode({ ...spec, redisUrl: redis.url })));
  } catch (err) {
    if (!opts.redis) await redis.stop();
    throw err;
  }
  return {
    redis,
    nodes,
    async stop() {
      closeAllClients();
      await Promise.all(
        nodes.map((n) => {
          n.signal("SIGCONT");
          return n.kill();
        }),
      );
      if (!opts.redis) await redis.stop();
    },
  };
}

export interface Client {
  socket: ClientSocket;
  id: string;
  node: string;
  close(): void;
}

const openClients = new Set<ClientSocket>();

/** Connects a socket.io-client over WebSocket and waits for the node's "welcome". */
export async function connect(
  url: string,
  opts: Partial<ManagerOptions & SocketOptions> = {},
  timeout = 10_000,
): Promise<Client> {
  const socket = ioc(url, { transports: ["websocket"], forceNew: true, reconnection: false, ...opts });
  openClients.add(socket);
  const welcome = await new Promise<{ node: string; id: string }>((resolve, reject) => {
    const timer = setTimeout(() => {
      // A socket that never got its welcome is ended, not left connecting.
      openClients.delete(socket);
      socket.disconnect();
      reject(new Error(`no welcome from ${url}`));
    }, timeout);
    socket.once("welcome", (w: { node: string; id: string }) => {
      clearTimeout(timer);
      resolve(w);
    });
    socket.once("connect_error", (err: Error) => {
      clearTimeout(timer);
      reject(err);
    });
  });
  return {
    socket,
    id: welcome.id,
    node: welcome.node,
    close: () => {
      openClients.delete(socket);
      socket.disconnect();
    },
  };
}

export function closeAllClients(): void {
  for (const s of openClients) s.disconnect();
  openClients.clear();
}

/** Calls a `ctl:*` handler on the client's node and returns its answer. */
export function ctl<T = any>(client: Client, name: string, arg?: unknown, timeout = 15_000): Promise<T> {
  const s = client.socket.timeout(timeout);
  return (arg === undefined ? s.emitWithAck(`ctl:${name}`) : s.emitWithAck(`ctl:${name}`, arg)) as Promise<T>;
}

/** The args of the next `event` on a cluster client (or a bare client socket); rejects after `timeout` ms. */
export function next<T extends unknown[] = any[]>(client: Client | ClientSocket, event: string, timeout = 10_000): Promise<T> {
  return onceArgs<T>("socket" in client ? client.socket : client, event, { timeout });
}

/**
 * Waits until the cluster no longer lists socket `id` (asked through `via`):
 * its node saw its connection drop (a recoverable socket leaves its rooms then).
 */
export async function goneFromCluster(via: Client, id: string): Promise<void> {
  await waitFor(
    async () => {
      const r = await ctl(via, "fetchSockets", {});
      return Array.isArray(r.sockets) && !r.sockets.some((s: { id: string }) => s.id === id);
    },
    { interval: 25, what: `socket ${id} gone from the cluster` },
  );
}

/**
 * A marker sent to `client` alone through `from` (its own room): packets
 * travel in order, so once the marker arrived, whatever came before it has.
 */
export async function marker(client: Client, from: Client): Promise<void> {
  const got = next(client, "marker");
  await ctl(from, "broadcast", { rooms: [client.id], event: "marker" });
  await got;
}

/** Proves `client` got nothing recorded in `seen`: a marker sent after it through `from` arrived first. */
export async function assertNotReceived(seen: unknown[][], client: Client, from: Client): Promise<void> {
  await marker(client, from);
  expect(seen).toEqual([]);
}

/** Records every `event` a client receives, in order. */
export function record(client: Client, event: string): unknown[][] {
  const seen: unknown[][] = [];
  client.socket.on(event, (...args: unknown[]) => seen.push(args));
  return seen;
}

export interface Proxy {
  port: number;
  url: string;
  /** Where new connections go. */
  setTarget(port: number): void;
  /** Cuts every open connection (the client sees a transport close and reconnects). */
  dropAll(): void;
  close(): Promise<void>;
}

/** A TCP proxy standing in for a load balancer in front of the cluster. */
export async function startProxy(targetPort: number): Promise<Proxy> {
  let target = targetPort;
  const open = new Set<NetSocket>();
  const server = createServer((inbound) => {
    const outbound = netConnect(target, "127.0.0.1");
    open.add(inbound);
    open.add(outbound);
    const cleanup = () => {
      inbound.destroy();
      outbound.destroy();
      open.delete(inbound);
      open.delete(outbound);
    };
    inbound.on("error", cleanup).on("close", cleanup);
    outbound.on("error", cleanup).on("close", cleanup);
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    setTarget: (p) => {
      target = p;
    },
    dropAll: () => {
      for (const s of open) s.destroy();
      open.clear();
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of open) s.destroy();
        server.close(() => r());
      }),
  };
}

/**
 * A client behind a fresh proxy pointing at `node`, reconnecting slowly enough
 * to miss packets. The proxy is pushed on `proxies` for the caller to close.
 */
export async function behindProxy(node: ClusterNode, proxies: Proxy[]): Promise<{ client: Client; proxy: Proxy }> {
  const proxy = await startProxy(node.port);
  proxies.push(proxy);
  const client = await connect(proxy.url, { reconnection: true, reconnectionDelay: 1200, reconnectionDelayMax: 1200, randomizationFactor: 0 });
  return { client, proxy };
}

/**
 * Connection state recovery from `from` to `to` (whatever adapter the nodes
 * share): the client keeps its id, gets the packets it missed for its rooms
 * (binary included) and nothing else, and its rooms came along.
 */
export async function expectRecoveryAcrossNodes(from: ClusterNode, to: ClusterNode, proxies: Proxy[]): Promise<void> {
  const { client, proxy } = await behindProxy(from, proxies);
  expect(client.node).toBe(from.name);
  const room = `csr-${from.name}-${to.name}`;
  await ctl(client, "join", room);
  const sender = await connect(to.url);

  // A first packet gives the client an offset to resume from.
  const first = next(client, "m");
  await ctl(sender, "broadcast", { rooms: [room], event: "m", args: ["before"] });
  expect((await first)[0]).toBe("before");

  const seen = record(client, "m");
  const welcomeAgain = next(client, "welcome", 10_000);
  proxy.setTarget(to.port);
  proxy.dropAll();
  // The node saw the drop: what is sent now is missed, and kept for the recovery.
  await goneFromCluster(sender, client.id);
  await ctl(sender, "broadcast", { rooms: [room], event: "m", args: ["missed-1", new Uint8Array([9])] });
  await ctl(sender, "broadcast", { rooms: ["elsewhere"], event: "m", args: ["not-for-me"] });
  await ctl(sender, "broadcast", { event: "m", args: ["missed-2"] });

  const [welcome] = await welcomeAgain;
  expect(welcome).toMatchObject({ node: to.name, id: client.id, recovered: true });
  expect(client.socket.recovered).toBe(true);
  expect(client.socket.id).toBe(client.id);
  await waitFor(() => seen.length >= 2, { timeout: 3000, what: "missed packets" });
  // Once a later packet arrived, a stray replay (the "elsewhere" one) would have too.
  await marker(client, sender);
  expect(seen.map((args) => args[0])).toEqual(["missed-1", "missed-2"]);
  expect([...(seen[0]![1] as Uint8Array)]).toEqual([9]);

  // Its rooms came along: a room broadcast from the old node reaches it on the new one.
  const after = next(client, "m");
  const oldNodeClient = await connect(from.url);
  await ctl(oldNodeClient, "broadcast", { rooms: [room], event: "m", args: ["after"] });
  expect((await after)[0]).toBe("after");
}
