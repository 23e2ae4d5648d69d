/**
 * A Worker fixture as a child process of the test harness
 * (test/conformance/harness.ts): starts it in workerd through Miniflare and
 * prints {"port": N}. Settings whose names start with `envPrefix` travel
 * into the bundle as the `UNIO_FIXTURE_ENV` global (workerd has no
 * environment variables at load).
 */
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { startWorker } from "./harness.ts";

export async function launchWorkerFixture(entry: string, objects: Record<string, string>, envPrefix: string): Promise<void> {
  const fixtureEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (k.startsWith(envPrefix) && v !== undefined) fixtureEnv[k] = v;
  const worker = await startWorker(entry, objects, { UNIO_FIXTURE_ENV: fixtureEnv });

  // The harness ends fixtures with SIGKILL, which no handler here sees: a
  // detached watchdog ends workerd once this process is gone.
  const pids = children();
  if (pids.length > 0) {
    spawn("sh", ["-c", `while kill -0 ${process.pid} 2>/dev/null; do sleep 0.5; done; kill ${pids.join(" ")} 2>/dev/null`], {
      detached: true,
      stdio: "ignore",
    }).unref();
  }

  console.log(JSON.stringify({ port: worker.port }));

  const stop = () => {
    worker.dispose().finally(() => process.exit(0));
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

/** This process's children (Miniflare's workerd), from /proc. */
function children(): number[] {
  const out: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // Fields after the command name, which is in parentheses and may hold spaces.
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === process.pid) out.push(Number(name));
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}
