/**
 * Several nodes without sticky sessions, measured: three unio nodes (Redis
 * adapter) behind HAProxy, driven by polling-only socket.io-clients that send
 * acked messages at a steady rate, in two set-ups:
 *
 *   router  `balance roundrobin`, no affinity, with `createSessionRouter`:
 *           each request lands anywhere, 2 in 3 are forwarded through Redis
 *   sticky  the same proxy with a SERVERID cookie (affinity), no router
 *
 * and reports messages lost (must be 0), the ack round trip, the Redis
 * commands and bytes per message (INFO stats), plus the extra latency of one
 * forwarded request measured alone (a POST sent to its owner, then to
 * another node, one at a time).
 *
 *   node --import tsx bench/cluster-no-sticky.ts                # 300 clients, 60 s per set-up
 *   node --import tsx bench/cluster-no-sticky.ts --clients=100 --duration=10 --interval=1000
 *
 * Never fails on speed; prints a markdown table.
 */
import { readdirSync, readFileSync } from "node:fs";
import { type Balance, type Cluster, redisCounters, startCluster, startNode } from "../test/cluster/harness.ts";
import { runLoad } from "../test/cluster/load.ts";
import { startRedis } from "../test/redis/harness.ts";
import { cpuMs } from "./proc.ts";

function arg(name: string, fallback: number): number {
  const hit = process.argv.find((a) => a.startsWith(`--${name}=`));
  return hit ? Number(hit.split("=")[1]) : fallback;
}

const clients = arg("clients", 300);
const duration = arg("duration", 60) * 1000;
const interval = arg("interval", 1000);

interface Row {
  setup: string;
  clients: number;
  sent: number;
  lost: number;
  errors: number;
  p50: number;
  p99: number;
  mean: number;
  cmdsPerMsg: number;
  bytesPerMsg: number;
  /** CPU ms of the three nodes and redis-server together, per message. */
  cpuPerMsg: number;
}


function redisPid(port: number): number | undefined {
  // The harness's redis-server is the one listening on `port`: find it by its command line.
  for (const dir of readdirSync("/proc")) {
    if (!/^\d+$/.test(dir)) continue;
    try {
      const cmd = readFileSync(`/proc/${dir}/cmdline`, "utf8");
      if (cmd.startsWith("redis-server") && cmd.includes(String(port))) return Number(dir);
    } catch {}
  }
  return undefined;
}

// socket.io's default heartbeat, not the tests' 2 s: the measured set-up is a production one.
const HEARTBEAT = { PING_INTERVAL: "25000", PING_TIMEOUT: "20000" };

async function measure(setup: string, balance: Balance, env: Record<string, string>): Promise<Row> {
  const cluster: Cluster = await startCluster(["node", "node", "node"], { balance, env: { ...HEARTBEAT, ...env } });
  try {
    const pids: Array<number | undefined> = [...cluster.nodes.map((n) => n.child.pid), redisPid(cluster.redis.port)];
    const cpuBefore = pids.reduce<number>((a, p) => a + cpuMs(p), 0);
    const before = await redisCounters(cluster.redis.port);
    const r = await runLoad(cluster.url, { clients, duration, interval, withCredentials: balance === "cookie" });
    const after = await redisCounters(cluster.redis.port);
    const cpu = pids.reduce<number>((a, p) => a + cpuMs(p), 0) - cpuBefore;
    const n = r.acked || 1;
    return {
      setup,
      clients: r.clients,
      sent: r.sent,
      lost: r.lost,
      errors: r.errors,
      p50: r.p50,
      p99: r.p99,
      mean: r.mean,
      cmdsPerMsg: (after.commands - before.commands) / n,
      bytesPerMsg: (after.bytesIn - before.bytesIn + after.bytesOut - before.bytesOut) / n,
      cpuPerMsg: cpu / n,
    };
  } finally {
    await cluster.stop();
  }
}

/** Median ms of `n` sequential POSTs of one message for a session on A, sent to `target`. */
async function postLatency(owner: string, target: string, n: number): Promise<number> {
  const path = "/socket.io/?EIO=4&transport=polling";
  const hs = await (await fetch(owner + path)).text();
  const sid = JSON.parse(hs.slice(1)).sid as string;
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    // A pong is the smallest packet that changes nothing: the session ignores an unsolicited one.
    await (await fetch(`${target}${path}&sid=${sid}`, { method: "POST", body: "3" })).text();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(n / 2)]!;
}

async function forwardCost(): Promise<{ local: number; forwarded: number }> {
  const redis = await startRedis();
  const env = HEARTBEAT;
  const [a, b] = await Promise.all([startNode("node", "a", redis.url, env), startNode("node", "b", redis.url, env)]);
  try {
    await postLatency(a.url, a.url, 200); // warm-up
    await postLatency(a.url, b.url, 200);
    return { local: await postLatency(a.url, a.url, 1000), forwarded: await postLatency(a.url, b.url, 1000) };
  } finally {
    await Promise.all([a.kill(), b.kill()]);
    await redis.stop();
  }
}

const ms = (v: number) => v.toFixed(1);
const rows = [
  await measure("round-robin + session router", "roundrobin", {}),
  await measure("sticky (cookie), no router", "cookie", { ROUTER: "0" }),
];
const cost = await forwardCost();

console.log(`\n${clients} polling-only clients, one acked message each per ${interval} ms, ${duration / 1000} s, 3 Node nodes behind HAProxy\n`);
console.log("| set-up | messages | lost | client errors | ack p50 ms | ack p99 ms | ack mean ms | Redis commands / msg | Redis bytes / msg | CPU ms / msg (nodes + Redis) |");
console.log("|---|---|---|---|---|---|---|---|---|---|");
for (const r of rows) {
  console.log(`| ${r.setup} | ${r.sent} | ${r.lost} | ${r.errors} | ${ms(r.p50)} | ${ms(r.p99)} | ${ms(r.mean)} | ${r.cmdsPerMsg.toFixed(2)} | ${Math.round(r.bytesPerMsg)} | ${r.cpuPerMsg.toFixed(2)} |`);
}
console.log(`\nOne polling POST, median of 1000: to its owner ${ms(cost.local)} ms, through another node ${ms(cost.forwarded)} ms (+${ms(cost.forwarded - cost.local)} ms per forwarded request)`);
