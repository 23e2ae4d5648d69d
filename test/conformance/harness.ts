/**
 * Starts a fixture server as a child process and waits for the line
 * `{"port": N}` on its stdout.
 */
import { spawn, type ChildProcess } from "node:child_process";
import type { RuntimeSpec } from "./runtimes.ts";

export interface RunningFixture {
  port: number;
  url: string;
  /** The fixture's process id (for Workers, the launcher's: workerd is its child). */
  pid: number;
  /** Everything the fixture printed, for failure messages. */
  output(): string;
  /** The process's exit code, or null while it runs. */
  exitCode(): number | null;
  stop(): Promise<void>;
}

export async function startFixture(runtime: RuntimeSpec, env: Record<string, string> = {}): Promise<RunningFixture> {
  const [cmd, ...args] = runtime.command;
  const child: ChildProcess = spawn(cmd!, args, {
    env: { ...process.env, PORT: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stderr!.on("data", (d) => (out += d));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${runtime.name} fixture did not start:\n${out}`)), 20_000);
    child.stdout!.on("data", (d) => {
      out += d;
      const m = /\{"port":\s*(\d+)\}/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${runtime.name} fixture exited with ${code}:\n${out}`));
    });
  });
  return {
    port,
    pid: child.pid!,
    url: `http://127.0.0.1:${port}`,
    output: () => out,
    exitCode: () => child.exitCode,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGKILL");
      }),
  };
}
