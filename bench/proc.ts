/**
 * What the benchmark reads about a server process from /proc (Linux only):
 * CPU time of the whole process (every thread: utime + stime from
 * /proc/<pid>/stat) and its resident memory (VmRSS from /proc/<pid>/status).
 */
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";

/** Clock ticks per second for /proc/<pid>/stat times; 100 on every Linux we run on. */
export let CLOCK_TICKS = 100;
export function setClockTicks(n: number): void {
  if (Number.isFinite(n) && n > 0) CLOCK_TICKS = n;
}

/** utime + stime of the whole process (all threads, reaped children excluded), in µs. */
export function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name is in parentheses and may hold spaces: split after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state); utime is field 14, stime field 15.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) * 1e6) / CLOCK_TICKS;
}

/** CPU time (user + system) of a process so far, in ms; 0 with no pid or once the process is gone. */
export function cpuMs(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    return cpuMicros(pid) / 1000;
  } catch {
    return 0;
  }
}

/** CPU time all cores spent busy since boot (not idle, not iowait), in µs, from /proc/stat. */
export function machineBusyMicros(): number {
  const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!; // "cpu  user nice system idle iowait irq softirq steal …"
  const f = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return ((total - f[3]! - f[4]!) * 1e6) / CLOCK_TICKS;
}

/**
 * A meter for one measured stretch: server CPU (from /proc/<pid>), this
 * process's CPU, and "foreign" CPU — what every other process on the machine
 * used meanwhile. Foreign CPU means the figures were taken on a busy machine.
 * `helpers`: pids of further load-generator processes, counted with this
 * one's CPU (they are part of the load, not a disturbance).
 */
export class CpuMeter {
  readonly server0: number;
  readonly self0: NodeJS.CpuUsage;
  readonly helpers0: number;
  readonly machine0: number;
  readonly t0 = performance.now();
  constructor(
    readonly pid: number,
    readonly helpers: number[] = [],
  ) {
    this.server0 = cpuMicros(pid);
    this.self0 = process.cpuUsage();
    this.helpers0 = this.helpersMicros();
    this.machine0 = machineBusyMicros();
  }
  private helpersMicros(): number {
    return this.helpers.reduce((a, p) => a + cpuMs(p) * 1000, 0);
  }
  /** CPU µs of the server, percent of one core for each party, over the stretch so far. */
  read(): { serverMicros: number; serverPct: number; selfPct: number; foreignPct: number; wallSeconds: number } {
    const server = cpuMicros(this.pid) - this.server0;
    const selfU = process.cpuUsage(this.self0);
    const self = selfU.user + selfU.system + this.helpersMicros() - this.helpers0;
    const machine = machineBusyMicros() - this.machine0;
    const wall = (performance.now() - this.t0) / 1000;
    const pct = (us: number) => (us / 1e6 / wall) * 100;
    return {
      serverMicros: server,
      serverPct: pct(server),
      selfPct: pct(self),
      foreignPct: Math.max(0, pct(machine - server - self)),
      wallSeconds: wall,
    };
  }
}

/** VmRSS of the process in KiB. */
export function rssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}

/** Whether the process still exists (and is not a zombie). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** The soft and hard limits on open files of this process. */
export function openFileLimits(): { soft: number; hard: number } {
  try {
    const limits = readFileSync("/proc/self/limits", "utf8");
    const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(limits);
    if (m) {
      const n = (s: string) => (s === "unlimited" ? Number.MAX_SAFE_INTEGER : Number(s));
      return { soft: n(m[1]!), hard: n(m[2]!) };
    }
  } catch {
    // not Linux: fall through
  }
  return { soft: 1024, hard: 1024 };
}
