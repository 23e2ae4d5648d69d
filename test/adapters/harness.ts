/**
 * Harness for the socket.io adapter packages that need more than Redis: a
 * fixture process that prints {"port":N,...} once ready (a node:cluster
 * primary, an adapter node), and a throwaway PostgreSQL cluster per test
 * file. Client helpers come from the Redis harness.
 */
import { execFileSync, spawn } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  exited,
  type FixtureProcess,
  ROOT,
  runtimeCommand,
  type ScriptRuntime,
  startFixtureProcess,
} from "../helpers/fixture-process.ts";
import { freePort } from "../redis/harness.ts";

export * from "../redis/harness.ts";

export type { FixtureProcess };

/**
 * Runs test/adapters/fixtures/<name> (on Node with tsx unless told) and waits
 * for its {"port":N} line. Its `kill()` sends SIGTERM first: a node:cluster
 * primary then ends its workers.
 */
export async function startFixture(
  name: string,
  env: Record<string, string>,
  timeout = 30_000,
  runtime: ScriptRuntime = "node",
): Promise<FixtureProcess> {
  const fixture = await startFixtureProcess(runtimeCommand(runtime, `${ROOT}test/adapters/fixtures/${name}`), { env, timeout, what: name });
  const kill = fixture.kill;
  return { ...fixture, kill: (signal: NodeJS.Signals = "SIGTERM", graceMs?: number) => kill(signal, graceMs) };
}

/** The newest Debian PostgreSQL server binaries (/usr/lib/postgresql/<v>/bin), or null. */
export function postgresBin(): string | null {
  const base = "/usr/lib/postgresql";
  if (!existsSync(base)) return null;
  const versions = readdirSync(base)
    .filter((v) => existsSync(join(base, v, "bin", "postgres")) && existsSync(join(base, v, "bin", "initdb")))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length ? join(base, versions[0]!, "bin") : null;
}

export interface PostgresServer {
  port: number;
  /** A `pg` connection string (user postgres, trust auth, database postgres). */
  url: string;
  stop(): Promise<void>;
}

/**
 * A throwaway PostgreSQL cluster: `initdb` into a temp dir, then `postgres`
 * on 127.0.0.1 and a free port, trust auth, no fsync; stop() ends it and
 * removes the dir. PostgreSQL refuses to run as root, so as root both run
 * as the `postgres` user (the Debian package creates it).
 */
export async function startPostgres(): Promise<PostgresServer> {
  const bin = postgresBin();
  if (!bin) throw new Error("PostgreSQL is not installed (no /usr/lib/postgresql/<v>/bin/postgres): apt-get install postgresql");
  let ids: { uid?: number; gid?: number } = {};
  const dir = mkdtempSync(join(tmpdir(), "unio-pg-"));
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync("id", ["-u", "postgres"]).toString().trim());
    const gid = Number(execFileSync("id", ["-g", "postgres"]).toString().trim());
    chownSync(dir, uid, gid);
    ids = { uid, gid };
  }
  chmodSync(dir, 0o700);
  const data = join(dir, "data");
  const env = { ...(process.env as Record<string, string>), LC_ALL: "C", HOME: dir };
  await new Promise<void>((resolve, reject) => {
    const init = spawn(join(bin, "initdb"), ["-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"], {
      ...ids,
      cwd: dir,
      env,
      stdio: ["ignore", "ignore", "pipe"],
    });
    let err = "";
    init.stderr?.on("data", (c: Buffer) => (err += c.toString()));
    init.on("error", reject);
    init.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`initdb exited ${code}: ${err}`))));
  });
  const port = await freePort();
  const child = spawn(
    join(bin, "postgres"),
    ["-D", data, "-p", String(port), "-k", dir, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "logging_collector=off"],
    { ...ids, cwd: dir, env, stdio: ["ignore", "pipe", "pipe"] },
  );
  try {
    // The server logs to stderr; this line comes once it takes connections.
    await new Promise<void>((resolve, reject) => {
      let log = "";
      const timer = setTimeout(() => done(new Error(`postgres: not ready within 30 s\n${log}`)), 30_000);
      const onData = (c: Buffer) => {
        log += c.toString();
        if (log.includes("database system is ready to accept connections")) done();
      };
      const onExit = (code: number | null) => done(new Error(`postgres exited (${code}) before ready\n${log}`));
      const done = (err?: Error) => {
        clearTimeout(timer);
        child.stderr?.off("data", onData);
        child.off("exit", onExit);
        if (err) reject(err);
        else resolve();
      };
      child.stderr?.on("data", onData);
      child.on("exit", onExit);
    });
  } catch (err) {
    child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  child.stderr?.resume();
  child.stdout?.resume();
  return {
    port,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async stop() {
      // SIGQUIT: immediate shutdown (nothing here needs to survive).
      child.kill("SIGQUIT");
      await exited(child, 10_000);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGKILL");
        await exited(child, 5000);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
