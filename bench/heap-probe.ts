/**
 * What one idle connection keeps alive on the server, by heap census:
 * starts a server in this process (unio's Socket.IO `Server`, or with
 * PROBE=bare the bare ceiling's `ws`/Bun.serve handling), connects N idle
 * clients from a bench/scale-load.ts child, and diffs the heap before and
 * after, by object kind, per connection.
 *
 *   node --expose-gc --import tsx bench/heap-probe.ts [N]        # V8 heap snapshots
 *   bun run bench/heap-probe.ts [N]                              # bun:jsc heapStats()
 *   PROBE=bare node --expose-gc --import tsx bench/heap-probe.ts
 *
 * Prints the top entries (count and bytes per connection) as a markdown table,
 * and the RSS growth per connection. Node's census is the self size of every
 * node of the snapshot grouped by type and constructor name; Bun's counts
 * objects by type (JSC gives no per-type sizes).
 */
import { spawn } from "node:child_process";
import { readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { census, type Census, diffCensus, snapshotNode } from "./heap-census.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const N = Number(process.argv[2] ?? 1_000);
const bare = process.env.PROBE === "bare";
const isBun = typeof (globalThis as { Bun?: unknown }).Bun !== "undefined";

async function startServer(): Promise<number> {
  if (bare) return startBare();
  const { Server } = await import("../src/index.ts");
  const io = new Server({ pingInterval: 5_000 });
  if (isBun) {
    const { serve } = await import("../src/runtimes/bun.ts");
    return serve(io, { port: 0, hostname: "127.0.0.1" }).port;
  }
  const { serve } = await import("../src/runtimes/node.ts");
  const server = serve(io, { port: 0, hostname: "127.0.0.1" });
  await new Promise((r) => server.once("listening", r));
  return (server.address() as { port: number }).port;
}

/** The bare ceiling in-process: ws-node.ts's connection handling (Node) or bun-serve.ts's (Bun). */
async function startBare(): Promise<number> {
  const { nextId, openPacket, answerSocketIo } = await import("./servers/wire.ts");
  if (isBun) {
    const Bun = (globalThis as unknown as { Bun: { serve(o: Record<string, unknown>): { port: number } } }).Bun;
    return Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch: (req: Request, srv: { upgrade(r: Request): boolean }) => (srv.upgrade(req) ? undefined : new Response("", { status: 400 })),
      websocket: {
        idleTimeout: 0,
        sendPings: false,
        open(ws: { subscribe(t: string): void; send(s: string): void }) {
          ws.subscribe("all");
          ws.send(openPacket(nextId("b")));
        },
        message(ws: { send(s: string): void }, m: string) {
          const a = typeof m === "string" && m.charCodeAt(0) === 52 ? answerSocketIo(m.slice(1)) : null;
          if (a?.kind === "reply") ws.send("4" + a.packet);
        },
      },
    }).port;
  }
  const { createServer } = await import("node:http");
  const { WebSocketServer } = await import("ws");
  const clients = new Set<unknown>();
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: false });
  wss.on("connection", (ws) => {
    clients.add(ws);
    ws.send(openPacket(nextId("w")));
    ws.on("message", (data: Buffer) => {
      const text = data.toString();
      const a = text.charCodeAt(0) === 52 ? answerSocketIo(text.slice(1)) : null;
      if (a?.kind === "reply") ws.send("4" + a.packet);
    });
    ws.on("close", () => clients.delete(ws));
    ws.on("error", () => clients.delete(ws));
  });
  const server = createServer();
  server.on("upgrade", (req, socket, head) => {
    socket.on("error", () => socket.destroy());
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit("connection", ws, req));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return (server.address() as { port: number }).port;
}

function gc(): void {
  const g = globalThis as { gc?: () => void; Bun?: { gc(full: boolean): void } };
  if (g.Bun) g.Bun.gc(true);
  else g.gc?.();
}

async function take(): Promise<Census> {
  for (let i = 0; i < 3; i++) gc();
  await new Promise((r) => setTimeout(r, 300));
  gc();
  if (isBun) {
    // JSC's snapshot: nodes are [id, size, class name index, flags] quadruples.
    const snap = (
      globalThis as unknown as { Bun: { generateHeapSnapshot(): { nodes: number[]; nodeClassNames: string[]; edges: number[] } } }
    ).Bun.generateHeapSnapshot();
    // With DETAIL=1, butterflies (out-of-line property storage) and strings are told apart by their owner's class.
    const owner = new Map<number, string>();
    if (process.env.DETAIL === "1") {
      const classOf = new Map<number, string>();
      for (let i = 0; i < snap.nodes.length; i += 4) classOf.set(snap.nodes[i]!, snap.nodeClassNames[snap.nodes[i + 2]!]!);
      for (let i = 0; i < snap.edges.length; i += 4) owner.set(snap.edges[i + 1]!, classOf.get(snap.edges[i]!)!);
    }
    const out: Census = new Map();
    for (let i = 0; i < snap.nodes.length; i += 4) {
      let key = snap.nodeClassNames[snap.nodes[i + 2]!]!;
      if (owner.size && (key === "Cell Butterfly" || key === "string" || key === "Object")) key += ` (of ${owner.get(snap.nodes[i]!) ?? "?"})`;
      const e = out.get(key) ?? { count: 0, bytes: 0 };
      e.count++;
      e.bytes += snap.nodes[i + 1]!;
      out.set(key, e);
    }
    return out;
  }
  return census(snapshotNode(), process.env.DETAIL === "1");
}


async function main(): Promise<void> {
  const port = await startServer();
  const child = spawn(isBun ? "node" : process.execPath, ["--import", "tsx", `${ROOT}bench/scale-load.ts`, JSON.stringify({ host: "127.0.0.1", port, concurrency: 32 })], {
    stdio: ["pipe", "pipe", "inherit"],
    cwd: ROOT,
  });
  const lines = createInterface({ input: child.stdout! });
  const next = (type: string) =>
    new Promise<Record<string, unknown>>((resolve) => {
      const on = (l: string) => {
        const m = JSON.parse(l) as Record<string, unknown>;
        if (m.type === type) {
          lines.off("line", on);
          resolve(m);
        }
      };
      lines.on("line", on);
    });
  await next("ready");
  // One connection first, so one-off costs (compiled code, pools) are in the baseline.
  child.stdin!.write(JSON.stringify({ cmd: "connect", n: 1 }) + "\n");
  await next("connected");
  // The first census is parked in a file, so its own objects are not counted in the second.
  const parked = `${tmpdir()}/heap-probe-${process.pid}.json`;
  writeFileSync(parked, JSON.stringify([...(await take())]));
  child.stdin!.write(JSON.stringify({ cmd: "connect", n: N + 1 }) + "\n");
  const c = await next("connected");
  await new Promise((r) => setTimeout(r, 1_000));
  const after = await take();
  const before: Census = new Map(JSON.parse(readFileSync(parked, "utf8")) as Array<[string, { count: number; bytes: number }]>);
  unlinkSync(parked);
  const rows = diffCensus(before, after, Number(c.open) - 1);
  console.log(`${isBun ? "Bun" : "Node"}, ${bare ? "bare" : "unio"}: heap growth over ${Number(c.open) - 1} idle connections\n`);
  console.log("| kind | per conn (count) | bytes per conn |\n| --- | ---: | ---: |");
  for (const r of rows.slice(0, Number(process.env.TOP ?? 40))) console.log(`| ${r.key} | ${r.count.toFixed(2)} | ${r.bytes.toFixed(0)} |`);
  const total = rows.reduce((a, r) => a + r.bytes, 0);
  console.log(`\ntotal self size of the heap growth: ${total.toFixed(0)} bytes/conn`);
  child.stdin!.write(JSON.stringify({ cmd: "exit" }) + "\n");
  setTimeout(() => process.exit(0), 300);
}

void main();
