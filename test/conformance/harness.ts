/**
 * Starts a fixture server as a child process and waits for the line
 * `{"port": N}` on its stdout (test/helpers/fixture-process.ts).
 */
import { startFixtureProcess } from "../helpers/fixture-process.ts";
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
  const fixture = await startFixtureProcess(runtime.command, { env: { PORT: "0", ...env }, timeout: 20_000, what: `${runtime.name} fixture` });
  return {
    port: fixture.port,
    pid: fixture.child.pid!,
    url: fixture.url,
    output: fixture.output,
    exitCode: () => fixture.child.exitCode,
    stop: () => fixture.kill("SIGKILL"),
  };
}
