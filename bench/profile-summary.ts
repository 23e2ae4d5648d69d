/**
 * Summarises V8 CPU profiles (`.cpuprofile`, as written by `node --cpu-prof`
 * or `npm run bench -- --cpu-prof`): self time per function and per source
 * area (unio's engine/socket/protocol/runtimes, ws, socket.io, Node internals,
 * GC, idle).
 *
 *   node --import tsx bench/profile-summary.ts bench/profiles/unio-node-throughput [top=25] [--from=MS]
 *
 * `--from=MS` leaves out the samples of the profile's first MS milliseconds
 * (start-up: tsx compiling the sources, module loading), so the shares are
 * those of the steady state.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { basename, join } from "node:path";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
}
interface Profile {
  nodes: ProfileNode[];
  samples?: number[];
  timeDeltas?: number[];
  startTime: number;
  endTime: number;
}

/** Where a frame's code lives, coarse enough to read at a glance. */
function areaOf(f: CallFrame): string {
  const u = f.url;
  if (f.functionName === "(garbage collector)") return "GC";
  if (f.functionName === "(idle)") return "idle";
  if (f.functionName === "(program)") return "(program: native / runtime)";
  const src = /\/src\/(engine|socket|protocol|runtimes|adapters)\//.exec(u);
  if (src) return `unio src/${src[1]}`;
  if (u.includes("/bench/")) return "bench app";
  const mod = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(u);
  if (mod) return mod[1]!;
  if (u.startsWith("node:")) return "node internals";
  if (u === "") return "native / builtins";
  return "other";
}

function frameName(f: CallFrame): string {
  const file = f.url ? basename(f.url.replace(/\?.*$/, "")) : "";
  return `${f.functionName || "(anonymous)"}${file ? ` ${file}:${f.lineNumber + 1}` : ""}`;
}

function summarise(path: string, top: number, fromMs: number): void {
  const p = JSON.parse(readFileSync(path, "utf8")) as Profile;
  const total = (p.endTime - p.startTime) / 1000; // ms
  const byNode = new Map<number, ProfileNode>(p.nodes.map((n) => [n.id, n]));
  // Self time per node from samples × time deltas (more exact than hitCount × interval).
  const selfMs = new Map<number, number>();
  if (p.samples && p.timeDeltas) {
    let at = 0; // ms since the profile started
    for (let i = 0; i < p.samples.length; i++) {
      at += (p.timeDeltas[i] ?? 0) / 1000;
      if (at < fromMs) continue;
      const d = (p.timeDeltas[i + 1] ?? 0) / 1000;
      selfMs.set(p.samples[i]!, (selfMs.get(p.samples[i]!) ?? 0) + d);
    }
  } else {
    const interval = total / Math.max(1, p.nodes.reduce((a, n) => a + (n.hitCount ?? 0), 0));
    for (const n of p.nodes) selfMs.set(n.id, (n.hitCount ?? 0) * interval);
  }
  const byFn = new Map<string, number>();
  const byArea = new Map<string, number>();
  let busy = 0;
  for (const [id, ms] of selfMs) {
    const f = byNode.get(id)!.callFrame;
    const area = areaOf(f);
    byArea.set(area, (byArea.get(area) ?? 0) + ms);
    if (area === "idle") continue;
    busy += ms;
    const name = `${frameName(f)}  [${area}]`;
    byFn.set(name, (byFn.get(name) ?? 0) + ms);
  }
  const pct = (ms: number) => ((ms / Math.max(busy, 1e-9)) * 100).toFixed(1).padStart(5) + "%";
  console.log(`\n## ${path}`);
  const window = fromMs > 0 ? ` (from ${fromMs} ms on)` : "";
  console.log(`profile ${total.toFixed(0)} ms, busy (not idle)${window} ${busy.toFixed(0)} ms; shares below are of busy time\n`);
  console.log("by area:");
  for (const [a, ms] of [...byArea].filter(([a]) => a !== "idle").sort((x, y) => y[1] - x[1])) {
    console.log(`  ${pct(ms)}  ${ms.toFixed(0).padStart(6)} ms  ${a}`);
  }
  console.log(`\ntop ${top} functions by self time:`);
  for (const [n, ms] of [...byFn].sort((x, y) => y[1] - x[1]).slice(0, top)) {
    console.log(`  ${pct(ms)}  ${ms.toFixed(0).padStart(6)} ms  ${n}`);
  }
}

const args = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const fromArg = process.argv.find((a) => a.startsWith("--from="));
const fromMs = fromArg ? Number(fromArg.slice(7)) || 0 : 0;
const target = args[0];
const top = Number(args[1] ?? 25) || 25;
if (!target) {
  console.error("usage: profile-summary.ts <file.cpuprofile | directory> [top]");
  process.exit(1);
}
const files = statSync(target).isDirectory()
  ? readdirSync(target)
      .filter((f) => f.endsWith(".cpuprofile"))
      .map((f) => join(target, f))
  : [target];
if (files.length === 0) console.error(`no .cpuprofile in ${target}`);
for (const f of files) summarise(f, top, fromMs);
