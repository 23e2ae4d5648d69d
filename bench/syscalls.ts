/**
 * Write coalescing, measured in system calls: how many writes a server makes
 * for a burst of K broadcasts that reach one connection in one turn of its
 * event loop. Each server runs under `strace -f`; one WebSocket client sends
 * K `bcast` messages in one TCP segment (the server reads them in one read
 * and answers each with `io.emit`, so K frames are bound for each client in
 * one turn), a second client only listens; both wait for the K frames, and
 * the syscalls (write, writev, sendto, sendmsg) that carried the burst's
 * marker are counted per connection: "sender / other" (the other client is
 * the one a runtime cannot have corked already because its handler runs).
 *
 *   node --import tsx bench/syscalls.ts [--servers=unio-node,ws-node] [--k=1,10,100]
 *
 * Linux with strace only. Not a timed benchmark: counts do not depend on load.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { WebSocket } from "ws";
import { SERVERS, type ServerSpec } from "./catalog.ts";

const MARK = "ZQXburst";

function option(name: string): string | undefined {
  return process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
}

/** Starts `spec` under strace; resolves with its port, pid and the trace file. */
async function start(spec: ServerSpec, traceFile: string): Promise<{ child: ChildProcess; port: number; pid: number }> {
  const child = spawn(
    "strace",
    ["-f", "-qq", "-s", "48", "-e", "trace=write,writev,sendto,sendmsg", "-o", traceFile, ...spec.command],
    { env: { ...process.env, PORT: "0" }, stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  let err = "";
  child.stderr!.on("data", (d: Buffer) => (err += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${spec.id} did not start: ${err.slice(-400)}`)), 30_000);
    child.stdout!.on("data", (d: Buffer) => {
      out += d;
      const m = /"port":(\d+),"pid":(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]), pid: Number(m[2]) });
      }
    });
    child.once("exit", (code) => reject(new Error(`${spec.id} exited (${code}): ${err.slice(-400)}`)));
  });
}

/** One raw Socket.IO client; `all` resolves once it saw K marked frames. */
async function client(port: number, k: number): Promise<{ ws: WebSocket; all: Promise<void> }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`, { perMessageDeflate: false });
  let got = 0;
  let connected: () => void;
  let done: () => void;
  const ready = new Promise<void>((r) => (connected = r));
  const all = new Promise<void>((r) => (done = r));
  ws.on("message", (data: Buffer) => {
    const text = data.toString();
    if (text.startsWith("0")) ws.send("40");
    else if (text.startsWith("40")) connected();
    else if (text === "2") ws.send("3");
    else if (text.includes(MARK) && ++got === k) done();
  });
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${got}/${k} frames`)), 15_000));
  await ready;
  return { ws, all: Promise.race([all, timeout]) };
}

/** The sender sends K `bcast`s in one segment; resolves once both clients got the K frames. */
async function burst(port: number, k: number): Promise<void> {
  const sender = await client(port, k);
  const other = await client(port, k);
  await new Promise((r) => setTimeout(r, 300));
  const socket = (sender.ws as unknown as { _socket: { cork(): void; uncork(): void } })._socket;
  socket.cork();
  for (let i = 0; i < k; i++) sender.ws.send(`42["bcast","${MARK}-${i}"]`);
  socket.uncork();
  await Promise.all([sender.all, other.all]);
  await new Promise((r) => setTimeout(r, 200));
  sender.ws.close();
  other.ws.close();
}

/**
 * Syscalls in the trace whose data carried the marker (one line per call
 * with -f and -o), per file descriptor, in the order the descriptors were
 * first written: the sender's connection opened first.
 */
function countMarked(traceFile: string): string {
  const perFd = new Map<string, number>();
  for (const line of readFileSync(traceFile, "utf8").split("\n")) {
    const m = /\b(?:write|writev|sendto|sendmsg)\((\d+),/.exec(line);
    if (m && line.includes(MARK)) perFd.set(m[1]!, (perFd.get(m[1]!) ?? 0) + 1);
  }
  // Lower descriptor = the connection accepted first = the sender.
  return [...perFd.entries()]
    .sort((a, b) => Number(a[0]) - Number(b[0]))
    .map(([, n]) => n)
    .join(" / ");
}

async function measure(spec: ServerSpec, k: number): Promise<string> {
  const dir = mkdtempSync(join(os.tmpdir(), "unio-syscalls-"));
  const trace = join(dir, "trace");
  let pid = 0;
  let child: ChildProcess | null = null;
  try {
    const s = await start(spec, trace);
    child = s.child;
    pid = s.pid;
    await burst(s.port, k);
    const exited = new Promise((r) => child!.once("exit", r));
    process.kill(pid, "SIGTERM");
    await exited;
    return countMarked(trace);
  } catch (err) {
    if (pid) process.kill(pid, "SIGKILL");
    return `error: ${(err as Error).message}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  try {
    execFileSync("strace", ["-V"], { stdio: "ignore" });
  } catch {
    throw new Error("strace is not installed (apt-get install -y strace)");
  }
  const ids = (option("servers") ?? "unio-node,ws-node,socketio-node,unio-bun,bun-serve,unio-deno,deno-serve").split(",");
  const ks = (option("k") ?? "1,10,100").split(",").map(Number);
  const rows: string[] = [];
  for (const id of ids) {
    const spec = SERVERS.find((s) => s.id === id);
    if (!spec) throw new Error(`unknown server ${id}`);
    const why = spec.unavailable();
    if (why) {
      rows.push(`| ${spec.label} | ${ks.map(() => why).join(" | ")} |`);
      continue;
    }
    const cells: string[] = [];
    for (const k of ks) cells.push(String(await measure(spec, k)));
    rows.push(`| ${spec.label} | ${cells.join(" | ")} |`);
    process.stderr.write(`${rows.at(-1)}\n`);
  }
  console.log(`| server | ${ks.map((k) => `K=${k}`).join(" | ")} |`);
  console.log(`|---|${ks.map(() => "---:").join("|")}|`);
  for (const r of rows) console.log(r);
}

await main();
