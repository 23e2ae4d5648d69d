/**
 * One load-generator process of the scale benchmark (bench/scale.ts runs
 * several, so none holds 20,000 open files). Its clients are raw `ws`
 * sockets speaking pre-encoded Engine.IO/Socket.IO: each reads the open
 * packet, sends `40`, waits for `40{…}`, then stays idle and answers every
 * ping `2` with `3`. No Socket.IO client library, so its cost is the same
 * whatever server it drives.
 *
 *   node --import tsx bench/scale-load.ts '{"host","port","sourceIp","concurrency"}'
 *
 * It reads one JSON command a line on stdin and answers one JSON line on stdout:
 *   {"cmd":"connect","n":N,"deadlineMs":D}
 *                                  -> {"type":"connected","open","failures","ms","firstError"}: connects
 *                                     until N are open, too many failed, or D ms passed (progress on stderr)
 *   {"cmd":"trigger","mode":"sio"|"ceiling"}
 *                                  -> {"type":"emitted","t"}: "sio" sends `scale-bcast` with an
 *                                     ack and reports the server's emit time; "ceiling" sends the
 *                                     bare servers' `bcast` and reports the time it sent it
 *   {"cmd":"mem"}                  -> {"type":"mem", ...the server's memory()} (sio servers)
 *   {"cmd":"report"}               -> {"type":"report","open","received","lastAt"}: broadcast
 *                                     frames received since the last report, and when the last came
 *   {"cmd":"exit"}                 -> closes every socket and exits
 * Every wait is bounded; the process exits when stdin closes (its parent died).
 */
import { createInterface } from "node:readline";
import { WebSocket } from "ws";

interface Config {
  host: string;
  port: number;
  sourceIp?: string;
  concurrency: number;
}
const cfg = JSON.parse(process.argv[2] ?? "{}") as Config;
const url = `ws://${cfg.host}:${cfg.port}/socket.io/?EIO=4&transport=websocket`;
const out = (msg: Record<string, unknown>) => process.stdout.write(JSON.stringify(msg) + "\n");

// Broadcast frames: unio / socket.io send 42["scale",t]; the bare ceilings 42["msg",…].
const isBroadcast = (d: Buffer) => d[0] === 0x34 && d[1] === 0x32 && (d[4] === 0x73 || d[4] === 0x6d) && d[3] === 0x22;

let received = 0;
let lastAt = 0;
let open = 0;
const sockets: WebSocket[] = [];
/** Ack handlers of the control socket (the first one), by ack id. */
const acks = new Map<number, (payload: string) => void>();
let nextAck = 1;

function connectOne(timeoutMs: number): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {
      perMessageDeflate: false,
      skipUTF8Validation: true,
      handshakeTimeout: timeoutMs,
      ...(cfg.sourceIp ? { localAddress: cfg.sourceIp } : {}),
    });
    let state = 0; // 0 want open, 1 want connect, 2 ready, 3 closed
    const timer = setTimeout(() => fail(new Error("handshake timeout")), timeoutMs);
    const fail = (err: Error) => {
      clearTimeout(timer);
      if (state < 2) {
        state = 3;
        ws.terminate();
        reject(err);
      }
    };
    ws.on("error", (e) => fail(e));
    ws.on("close", () => {
      if (state === 2) open--;
      if (state < 2) fail(new Error("closed during handshake"));
      state = 3;
    });
    ws.on("message", (data: Buffer) => {
      const t = data[0];
      if (t === 0x32 && data.length === 1) {
        ws.send("3");
      } else if (state === 2) {
        if (isBroadcast(data)) {
          received++;
          lastAt = Date.now();
        } else if (t === 0x34 && data[1] === 0x33) {
          // 43<id>[…]: an ack for the control socket
          const s = data.toString();
          const i = s.indexOf("[");
          acks.get(Number(s.slice(2, i)))?.(s.slice(i));
          acks.delete(Number(s.slice(2, i)));
        }
      } else if (state === 0 && t === 0x30) {
        state = 1;
        ws.send("40");
      } else if (state === 1 && t === 0x34 && data[1] === 0x30) {
        state = 2;
        open++;
        clearTimeout(timer);
        resolve(ws);
      } else if (state === 1 && t === 0x34 && data[1] === 0x34) {
        fail(new Error("connect error: " + data.toString()));
      }
    });
  });
}

async function connectTo(n: number, deadlineMs: number): Promise<void> {
  const t0 = performance.now();
  const deadline = Date.now() + deadlineMs;
  const progress = setInterval(() => process.stderr.write(`  [load ${cfg.sourceIp ?? ""}] ${open} open, ${failures} failed\n`), 15_000);
  let failures = 0;
  let firstError: string | undefined;
  const need = n - sockets.length;
  let started = 0;
  // An overloaded box times handshakes out; each failure is retried, within a budget of 10%.
  const maxFailures = Math.max(100, Math.ceil(need * 0.1));
  const worker = async () => {
    while (started < need && failures <= maxFailures && Date.now() < deadline) {
      started++;
      try {
        sockets.push(await connectOne(20_000));
      } catch (err) {
        failures++;
        started--;
        firstError ??= (err as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(cfg.concurrency, need)) }, worker));
  clearInterval(progress);
  out({ type: "connected", open, failures, ms: performance.now() - t0, firstError });
}

/** Sends an event with an ack on the control socket; resolves with the ack's JSON array text. */
function call(event: string, timeoutMs: number): Promise<string> {
  const ws = sockets[0];
  if (!ws) return Promise.reject(new Error("no control socket"));
  const id = nextAck++;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${event}: no ack within ${timeoutMs} ms`)), timeoutMs);
    acks.set(id, (payload) => {
      clearTimeout(timer);
      resolve(payload);
    });
    ws.send(`42${id}["${event}"]`);
  });
}

async function handle(line: string): Promise<void> {
  const cmd = JSON.parse(line) as { cmd: string; n?: number; mode?: string; deadlineMs?: number };
  try {
    if (cmd.cmd === "connect") await connectTo(cmd.n ?? 0, cmd.deadlineMs ?? 600_000);
    else if (cmd.cmd === "trigger") {
      if (cmd.mode === "sio") out({ type: "emitted", t: (JSON.parse(await call("scale-bcast", 30_000)) as number[])[0] });
      else {
        const t = Date.now();
        sockets[0]?.send(`42["bcast",{"t":${t}}]`);
        out({ type: "emitted", t });
      }
    } else if (cmd.cmd === "mem") out({ type: "mem", ...(JSON.parse(await call("scale-mem", 30_000)) as object[])[0] });
    else if (cmd.cmd === "report") {
      out({ type: "report", open, received, lastAt });
      received = 0;
      lastAt = 0;
    } else if (cmd.cmd === "exit") {
      for (const ws of sockets) ws.terminate();
      process.exit(0);
    }
  } catch (err) {
    out({ type: "error", cmd: cmd.cmd, error: (err as Error).message });
  }
}

const rl = createInterface({ input: process.stdin });
rl.on("line", (line) => void handle(line));
rl.on("close", () => process.exit(0));
out({ type: "ready", pid: process.pid });
