/**
 * A fixture server as a child process, the one way every suite starts one:
 * the command runs from the project root, and the fixture is ready once it
 * prints a JSON line with a numeric `port` on stdout (`{"port":N}`, with
 * whatever else it reports: a pid, a name). Every wait is bounded; a fixture
 * that exits or stays silent fails with what it wrote to stderr.
 *
 * @example
 * const node = await startFixtureProcess(runtimeCommand("bun", fixture("bun.ts")), { env: { REDIS_URL } });
 * await fetch(`${node.url}/socket.io/?EIO=4&transport=polling`);
 * await node.kill();
 */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** A binary installed in node_modules/.bin (bun, deno, workerd...). */
export const bin = (name: string): string => `${ROOT}node_modules/.bin/${name}`;

export type ScriptRuntime = "node" | "bun" | "deno";

/** How each runtime runs a TypeScript file of the project. */
export function runtimeCommand(runtime: ScriptRuntime, file: string): string[] {
  switch (runtime) {
    case "node":
      return [process.execPath, "--import", "tsx", file];
    case "bun":
      return [bin("bun"), "run", file];
    case "deno":
      return [bin("deno"), "run", "--allow-net", "--allow-env", "--allow-read", "--allow-sys", "--no-lock", file];
  }
}

export interface FixtureProcess {
  readonly port: number;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** The ready line, parsed. */
  readonly info: Record<string, unknown>;
  readonly child: ChildProcess;
  /** The last 20,000 characters the fixture wrote to stderr. */
  stderr(): string;
  /** The last 20,000 characters it wrote to stdout and stderr, interleaved. */
  output(): string;
  /** Sends `signal` and waits up to `graceMs` for the exit, then SIGKILLs. */
  kill(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

export interface FixtureOptions {
  /** Added to this process's environment (with NO_COLOR=1). */
  env?: Record<string, string>;
  /** ms to wait for the ready line (default 30 s). */
  timeout?: number;
  /** Names the fixture in errors (default: the command). */
  what?: string;
}

const TAIL = 20_000;

export async function startFixtureProcess(command: string[], opts: FixtureOptions = {}): Promise<FixtureProcess> {
  const [cmd, ...args] = command;
  const what = opts.what ?? command.join(" ");
  const timeout = opts.timeout ?? 30_000;
  const child = spawn(cmd!, args, {
    cwd: ROOT,
    env: { ...(process.env as Record<string, string>), NO_COLOR: "1", ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  let output = "";
  child.stderr!.on("data", (c: Buffer) => {
    const s = c.toString();
    stderr = (stderr + s).slice(-TAIL);
    output = (output + s).slice(-TAIL);
  });
  child.stdout!.on("data", (c: Buffer) => {
    output = (output + c.toString()).slice(-TAIL);
  });
  let info: Record<string, unknown>;
  try {
    const line = await waitForLine(child, isReadyLine, timeout, what, () => stderr);
    info = JSON.parse(line) as Record<string, unknown>;
  } catch (err) {
    child.kill("SIGKILL");
    throw err;
  }
  const port = info.port as number;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    info,
    child,
    stderr: () => stderr,
    output: () => output,
    async kill(signal = "SIGKILL", graceMs = 5000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      await exited(child, graceMs);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGKILL");
        await exited(child, 5000);
      }
    },
  };
}

function isReadyLine(line: string): boolean {
  if (!line.startsWith("{")) return false;
  try {
    return typeof JSON.parse(line).port === "number";
  } catch {
    return false;
  }
}

/**
 * The first stdout line `match` accepts. Rejects when the process exits
 * first or after `timeout` ms, with its stderr (from `stderr`, or what it
 * writes while waiting).
 */
export function waitForLine(
  child: ChildProcess,
  match: (line: string) => unknown,
  timeout: number,
  what: string,
  stderr?: () => string,
): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffer = "";
    let written = "";
    const errText = () => stderr?.() ?? written;
    const timer = setTimeout(() => done(new Error(`${what}: no ready line within ${timeout} ms\n${errText()}`)), timeout);
    const onData = (chunk: Buffer) => {
      buffer += chunk.toString();
      for (let i = buffer.indexOf("\n"); i !== -1; i = buffer.indexOf("\n")) {
        const line = buffer.slice(0, i);
        buffer = buffer.slice(i + 1);
        if (match(line)) return done(null, line);
      }
    };
    const onErr = (chunk: Buffer) => {
      written += chunk.toString();
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null) =>
      done(new Error(`${what} exited (${code ?? signal}) before ready\n${errText()}`));
    const done = (err: Error | null, line?: string) => {
      clearTimeout(timer);
      child.stdout?.off("data", onData);
      child.stderr?.off("data", onErr);
      child.off("exit", onExit);
      // Keep the pipe drained: a fixture that logs must never block on a full pipe.
      child.stdout?.resume();
      if (err) reject(err);
      else resolve(line!);
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onErr);
    child.on("exit", onExit);
  });
}

/** Resolves when `child` has exited, or after `timeout` ms. */
export function exited(child: ChildProcess, timeout: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeout);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
