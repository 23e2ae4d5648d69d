// Shared by the suite runners: the unio checkout, the socket.io checkout
// (read with git, so a bare clone works), scratch folders, fixtures.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const root = fileURLToPath(new URL("../..", import.meta.url));

/** git in the socket.io checkout. */
export function gitOf(checkout) {
  return (...args) => execFileSync("git", ["-C", checkout, ...args], { encoding: "buffer", maxBuffer: 1 << 28 });
}

/**
 * Copies the files under `dir` (of the checkout's HEAD) into `target`,
 * without the `dir` prefix. Returns the paths a partial mirror lacks (large
 * blobs): tests using them fail, and are reported.
 */
export function copyTree(git, dir, target) {
  const missing = [];
  for (const line of git("ls-tree", "-r", "HEAD", dir).toString().trim().split("\n")) {
    const [meta, path] = line.split("\t");
    const sha = meta.split(" ")[2];
    const file = join(target, path.slice(dir.length + 1));
    mkdirSync(join(file, ".."), { recursive: true });
    try {
      writeFileSync(file, git("cat-file", "blob", sha));
    } catch {
      missing.push(path);
    }
  }
  return missing;
}

/** Writes package.json and runs npm install when the dependencies changed since last time. */
export function ensureDeps(dir, pkg) {
  const text = JSON.stringify(pkg, null, 2);
  const file = join(dir, "package.json");
  mkdirSync(dir, { recursive: true });
  if (existsSync(file) && readFileSync(file, "utf8") === text && existsSync(join(dir, "node_modules", ".package-lock.json"))) return;
  writeFileSync(file, text);
  execFileSync("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error"], { cwd: dir, stdio: "inherit" });
}

export function clean(dir) {
  rmSync(dir, { recursive: true, force: true });
}

/** A port nobody listens on now: the suites' fixed ports (3000, 3210) may be taken on a shared machine. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const bin = (name) => join(root, "node_modules", ".bin", name);
const fixture = (name) => join(root, "test", "conformance", "fixtures", "suites", `${name}.ts`);

/** How each runtime runs its fixture of the suites' apps (test/conformance/fixtures/suites). */
export const RUNTIMES = {
  node: [process.execPath, "--import", "tsx", fixture("node")],
  bun: [bin("bun"), "run", fixture("bun")],
  deno: [bin("deno"), "run", "--allow-net", "--allow-env", "--allow-read", "--no-lock", fixture("deno")],
  workers: [process.execPath, "--import", "tsx", fixture("workers")],
};

/**
 * Starts `runtime`'s fixture serving `app` ("protocol" or "client") on
 * `port`; resolves once it prints {"port": N}. `stop()` ends it with
 * SIGTERM (the Workers launcher then disposes of workerd), SIGKILL after 3 s.
 */
export function startFixture(runtime, app, port) {
  const [cmd, ...args] = RUNTIMES[runtime];
  const child = spawn(cmd, args, {
    cwd: root,
    env: { ...process.env, PORT: String(port), FIXTURE_SUITE_APP: app },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stderr.on("data", (d) => (out += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${runtime} fixture did not start:\n${out}`)), 30_000);
    child.stdout.on("data", (d) => {
      out += d;
      if (/\{"port":\s*\d+\}/.test(out)) {
        clearTimeout(timer);
        resolve({
          output: () => out,
          stop: () =>
            new Promise((done) => {
              if (child.exitCode !== null || child.signalCode !== null) return done();
              const kill = setTimeout(() => child.kill("SIGKILL"), 3000);
              child.once("exit", () => {
                clearTimeout(kill);
                done();
              });
              child.kill("SIGTERM");
            }),
        });
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${runtime} fixture exited with ${code}:\n${out}`));
    });
  });
}

/**
 * Runs mocha in `cwd` with a JSON reporter; returns { passes, failures,
 * failed: ["title: message"] } or { error } when mocha wrote nothing.
 */
export function runMocha(cwd, args, env = {}, timeout = 600_000) {
  const out = join(cwd, `result-${Date.now()}.json`);
  return new Promise((resolve) => {
    const child = spawn(join(cwd, "node_modules", ".bin", "mocha"), [...args, "--reporter", "json", "--reporter-option", `output=${out}`], {
      cwd,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let err = "";
    child.stderr.on("data", (d) => (err += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeout);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      if (!existsSync(out)) return resolve({ error: `mocha did not report (${code ?? signal}): ${err.slice(-1500)}` });
      const res = JSON.parse(readFileSync(out, "utf8"));
      rmSync(out, { force: true });
      resolve({
        passes: res.stats.passes,
        failures: res.stats.failures,
        total: res.stats.passes + res.stats.failures,
        failed: res.failures.map((f) => `${f.fullTitle}: ${String(f.err?.message ?? "").split("\n")[0]}`),
      });
    });
  });
}
