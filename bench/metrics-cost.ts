/**
 * The cost of `metrics: true`, measured in one process with in-memory
 * WebSockets (no network, no load generator), so the difference is not lost
 * in the noise of a shared machine as it is in `npm run bench`. Two servers,
 * identical but for the option, are driven alternately (several rounds, the
 * fastest kept for each) through the paths counting touches: broadcasts
 * (one packet to many sessions), direct emits, and incoming events.
 *
 *   node --import tsx bench/metrics-cost.ts [--rounds=7] [--clients=200]
 *
 * Prints a markdown table: CPU ns per delivered or received packet, off and
 * on, and the difference. Never fails on speed.
 */
import { Server } from "../src/index.ts";
import type { WsConnection, WsHandler } from "../src/engine/facade.ts";

const arg = (name: string, fallback: number) => {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a ? Number(a.slice(name.length + 3)) : fallback;
};
const ROUNDS = arg("rounds", 7);
const CLIENTS = arg("clients", 200);
const BROADCASTS = 2_000;
const DIRECT = 200_000;
const INCOMING = 200_000;

/** A WebSocket that swallows what it is sent: the server's work only. */
class SinkWs implements WsConnection {
  bufferedAmount = 0;
  frames = 0;
  handler!: WsHandler;
  send(): void {
    this.frames++;
  }
  close(): void {}
}

async function setup(metrics: boolean): Promise<{ io: Server; conns: SinkWs[] }> {
  const io = new Server({ metrics, pingInterval: 3_600_000, pingTimeout: 3_600_000 });
  io.on("connection", (socket) => socket.on("ev", () => {}));
  const conns: SinkWs[] = [];
  for (let i = 0; i < CLIENTS; i++) {
    const result = await io.handleUpgrade({
      method: "GET",
      url: "/socket.io/?EIO=4&transport=websocket",
      headers: { connection: "Upgrade", upgrade: "websocket" },
      remoteAddress: "127.0.0.1",
      secure: false,
      readBody: async () => ({ ok: true, bytes: new Uint8Array(0) }),
      onAbort: () => {},
    });
    if (result.kind !== "accept") throw new Error("upgrade refused");
    const ws = new SinkWs();
    ws.handler = result.open(ws);
    ws.handler.onMessage("40");
    conns.push(ws);
  }
  await new Promise((r) => setImmediate(r));
  return { io, conns };
}

function cpuNs(fn: () => void): number {
  const t0 = process.cpuUsage();
  fn();
  const d = process.cpuUsage(t0);
  return (d.user + d.system) * 1000;
}

async function cpuNsAsync(fn: () => Promise<void>): Promise<number> {
  const t0 = process.cpuUsage();
  await fn();
  const d = process.cpuUsage(t0);
  return (d.user + d.system) * 1000;
}

type Case = { name: string; per: number; run: (s: { io: Server; conns: SinkWs[] }) => Promise<number> };

const payload = { text: "hello", n: 42 };
const CASES: Case[] = [
  {
    name: `broadcast to ${CLIENTS} (ns per delivery)`,
    per: BROADCASTS * CLIENTS,
    run: async ({ io }) => cpuNs(() => {
      for (let i = 0; i < BROADCASTS; i++) io.emit("msg", payload);
    }),
  },
  {
    name: "socket.emit (ns per packet)",
    per: DIRECT,
    run: async ({ io }) => {
      const sockets = [...io.of("/").sockets.values()];
      return cpuNs(() => {
        for (let i = 0; i < DIRECT; i++) sockets[i % sockets.length]!.emit("msg", payload);
      });
    },
  },
  {
    name: "incoming event (ns per event)",
    per: INCOMING,
    run: async ({ conns }) =>
      cpuNsAsync(async () => {
        const frame = '42["ev",{"text":"hello","n":42}]';
        for (let i = 0; i < INCOMING; i += CLIENTS) {
          for (const c of conns) c.handler.onMessage(frame);
          // Events are routed on a microtask: let each batch through.
          await Promise.resolve();
        }
        await new Promise((r) => setImmediate(r));
      }),
  },
];

const off = await setup(false);
const on = await setup(true);
const best = new Map<string, { off: number; on: number }>();
for (let round = 0; round < ROUNDS; round++) {
  for (const c of CASES) {
    // Alternate which goes first, so warm-up and machine noise fall on both.
    const order = round % 2 === 0 ? [false, true] : [true, false];
    for (const metrics of order) {
      const ns = (await c.run(metrics ? on : off)) / c.per;
      const b = best.get(c.name) ?? { off: Infinity, on: Infinity };
      if (metrics) b.on = Math.min(b.on, ns);
      else b.off = Math.min(b.off, ns);
      best.set(c.name, b);
    }
  }
}
const counted = on.io.metrics();
console.log(`\n${CLIENTS} in-memory WebSocket clients, best of ${ROUNDS} rounds, Node ${process.version}\n`);
console.log("| path | metrics off | metrics on | difference |");
console.log("| --- | ---: | ---: | ---: |");
for (const [name, b] of best) {
  const diff = b.on - b.off;
  console.log(`| ${name} | ${b.off.toFixed(0)} | ${b.on.toFixed(0)} | ${diff >= 0 ? "+" : ""}${diff.toFixed(0)} (${((diff / b.off) * 100).toFixed(1)}%) |`);
}
console.log(`\n(packets counted with metrics on: ${counted.packets.out.toLocaleString()} out, ${counted.packets.in.toLocaleString()} in)`);
await off.io.close();
await on.io.close();
