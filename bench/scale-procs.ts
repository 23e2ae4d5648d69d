/**
 * Child processes of the benchmarks (run.ts and the scale mode): each in its
 * own process group with the open-file soft limit raised to the hard one,
 * every group killed when the benchmark exits for any reason, and (`Child`)
 * JSON lines read from stdout with a bounded wait.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { ROOT } from "./catalog.ts";

const live = new Set<ChildProcess>();

/** Signals `child`'s whole group: the runtime and whatever it forked (cluster workers). */
export function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

/**
 * Spawns `command` in its own process group with the open-file soft limit
 * raised to the hard one; it is killed with the benchmark.
 */
export function spawnGroup(command: string[], env: NodeJS.ProcessEnv, stdin = false): ChildProcess {
  const child = spawn("/bin/sh", ["-c", 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"', ...command], {
    cwd: ROOT,
    env,
    detached: true,
    stdio: [stdin ? "pipe" : "ignore", "pipe", "pipe"],
  });
  live.add(child);
  child.once("exit", () => live.delete(child));
  return child;
}

export function killAll(): void {
  for (const c of live) killGroup(c, "SIGKILL");
  live.clear();
}
process.on("exit", killAll);
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(sig, () => {
    process.stderr.write(`\n${sig}: stopping every child process\n`);
    killAll();
    process.exit(130);
  });
}

/** A child whose stdout is read as JSON lines. */
export class Child {
  readonly proc: ChildProcess;
  private lines: Array<Record<string, unknown>> = [];
  private waiters: Array<() => void> = [];
  private err = "";

  /** `stdin`: commands are written to it; `tee`: its stderr is also copied to ours (progress lines). */
  constructor(command: string[], env: NodeJS.ProcessEnv, stdin = false, tee = false) {
    this.proc = spawnGroup(command, env, stdin);
    this.proc.once("exit", () => this.wake());
    let buf = "";
    this.proc.stdout!.on("data", (d: Buffer) => {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf("\n")) !== -1) {
        const line = buf.slice(0, i).trim();
        buf = buf.slice(i + 1);
        if (!line.startsWith("{")) continue;
        try {
          this.lines.push(JSON.parse(line) as Record<string, unknown>);
          this.wake();
        } catch {
          // not ours
        }
      }
    });
    this.proc.stderr!.on("data", (d: Buffer) => {
      if (tee) process.stderr.write(d);
      this.err = (this.err + d.toString()).slice(-3_000);
    });
  }

  get pid(): number {
    return this.proc.pid!;
  }
  get exited(): boolean {
    return this.proc.exitCode !== null || this.proc.signalCode !== null;
  }
  stderr(): string {
    return this.err.trim();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** The next line (in order) for which `match` holds; earlier non-matching lines are dropped. */
  async next(match: (l: Record<string, unknown>) => boolean, timeoutMs: number, what: string): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.lines.length) {
        const l = this.lines.shift()!;
        if (match(l)) return l;
        if (l.type === "error") throw new Error(`${what}: ${String(l.error)}`);
      }
      if (this.exited) throw new Error(`${what}: process exited (${this.proc.exitCode ?? this.proc.signalCode}); ${this.stderr().slice(-800)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${what}: nothing within ${timeoutMs} ms; ${this.stderr().slice(-800)}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(left, 1_000));
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  send(cmd: Record<string, unknown>): void {
    this.proc.stdin?.write(JSON.stringify(cmd) + "\n");
  }

  signal(sig: NodeJS.Signals): void {
    try {
      process.kill(this.pid, sig);
    } catch {
      // gone
    }
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    killGroup(this.proc, "SIGTERM");
    const done = new Promise<void>((r) => this.proc.once("exit", () => r()));
    const t = setTimeout(() => killGroup(this.proc, "SIGKILL"), 3_000);
    await Promise.race([done, new Promise((r) => setTimeout(r, 5_000))]);
    clearTimeout(t);
    killGroup(this.proc, "SIGKILL");
    live.delete(this.proc);
  }
}
