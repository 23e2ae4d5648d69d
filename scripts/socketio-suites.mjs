#!/usr/bin/env node
// Runs socket.io's own server test suite (packages/socket.io/test) against unio,
// with only the import changed: the suite's `import { Server } from ".."` gets
// `unio/node`. socket.io's files stay out of this repository: they are read
// from a checkout of socketio/socket.io (a work tree or a bare clone) and run
// from a scratch folder outside the project.
//
//   npm run build
//   node scripts/socketio-suites.mjs /path/to/socket.io [--only file.ts,...] [--keep]
//
// Prints mocha's result per file and a closing "passed, failed" line. The
// scratch folder's own test dependencies (mocha, expect.js, supertest) are
// installed there from the npm registry the first time.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const [checkout, ...flags] = process.argv.slice(2);
if (!checkout) {
  console.error("usage: node scripts/socketio-suites.mjs <socket.io checkout> [--only a.ts,b.ts] [--keep]");
  process.exit(2);
}
if (!existsSync(join(root, "cjs", "node.cjs")) || !existsSync(join(root, "dist", "runtimes", "node.cjs"))) {
  console.error("build unio first: npm run build");
  process.exit(2);
}
const only = flags.includes("--only") ? flags[flags.indexOf("--only") + 1].split(",") : null;
const scratch = join(process.env.UNIO_SUITES_DIR ?? tmpdir(), "unio-socketio-suites");

// Files that need what this scratch run does not provide: uWebSockets.js (an
// alternative HTTP server socket.io can attach to; unio has no uWS shim).
const SKIP = new Set(["uws.ts", "index.ts"]);

const git = (...args) => execFileSync("git", ["-C", checkout, ...args], { encoding: "buffer", maxBuffer: 1 << 28 });
const commit = git("rev-parse", "--short", "HEAD").toString().trim();

// 1. The suite's files, as of the checkout's HEAD, one by one: a partial
//    mirror may lack some large blobs (fixtures), which are then reported.
rmSync(join(scratch, "test"), { recursive: true, force: true });
mkdirSync(scratch, { recursive: true });
const missing = [];
for (const line of git("ls-tree", "-r", "HEAD", "packages/socket.io/test").toString().trim().split("\n")) {
  const [meta, path] = line.split("\t");
  const sha = meta.split(" ")[2];
  const target = join(scratch, path.slice("packages/socket.io/".length));
  mkdirSync(join(target, ".."), { recursive: true });
  try {
    writeFileSync(target, git("cat-file", "blob", sha));
  } catch {
    missing.push(path);
  }
}
if (missing.length) console.log(`not in this checkout (tests using them will fail): ${missing.join(", ")}`);

// 2. The package the suite imports as "..": unio's Node entry under socket.io's name,
//    versioned like the client bundle unio serves (the suite checks it in ETags).
const clientVersion = JSON.parse(readFileSync(join(root, "node_modules", "socket.io-client", "package.json"), "utf8")).version;
writeFileSync(join(scratch, "index.js"), `module.exports = require(${JSON.stringify(join(root, "cjs", "node.cjs"))});\n`);
mkdirSync(join(scratch, "lib"), { recursive: true });
writeFileSync(
  join(scratch, "lib", "typed-events.ts"),
  `export type { DefaultEventsMap, EventsMap } from ${JSON.stringify(join(root, "dist", "index.js"))};\n`,
);
const deps = {
  mocha: "^10.6.0",
  "expect.js": "^0.3.1",
  supertest: "^7.0.0",
  superagent: "^10.0.0",
  tsx: "^4.19.0",
  "socket.io-client": clientVersion,
  "socket.io-client-v2": "npm:socket.io-client@^2.5.0",
  "socket.io-adapter": "~2.5.2",
};
const pkg = { name: "socket.io", version: clientVersion, private: true, main: "index.js", dependencies: deps };
const pkgText = JSON.stringify(pkg, null, 2);
const pkgFile = join(scratch, "package.json");
if (!existsSync(pkgFile) || readFileSync(pkgFile, "utf8") !== pkgText || !existsSync(join(scratch, "node_modules", "mocha"))) {
  writeFileSync(pkgFile, pkgText);
  execFileSync("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error"], { cwd: scratch, stdio: "inherit" });
}

// 3. Each file on its own (one failing file cannot stop the others), JSON results.
const files = readdirTs(join(scratch, "test")).filter((f) => !SKIP.has(f) && (!only || only.includes(f)));
let passed = 0;
let failed = 0;
const failures = [];
for (const file of files) {
  const out = join(scratch, `result-${file}.json`);
  const r = spawnSync(
    join(scratch, "node_modules", ".bin", "mocha"),
    ["--import=tsx", "--timeout", "10000", "--exit", "--reporter", "json", "--reporter-option", `output=${out}`, join("test", file)],
    { cwd: scratch, encoding: "utf8", timeout: 300_000 },
  );
  if (!existsSync(out)) {
    console.log(`${file}: did not run (${r.status ?? r.signal})\n${(r.stderr ?? "").slice(-2000)}`);
    failed++;
    continue;
  }
  const res = JSON.parse(readFileSync(out, "utf8"));
  passed += res.stats.passes;
  failed += res.stats.failures;
  console.log(`${file}: ${res.stats.passes} passed, ${res.stats.failures} failed`);
  for (const f of res.failures) failures.push(`${file} > ${f.fullTitle}: ${String(f.err?.message ?? "").split("\n")[0]}`);
}
if (failures.length) console.log("\nfailing:\n" + failures.map((f) => "  " + f).join("\n"));
console.log(`\nsocket.io server suite @ ${commit} against unio/node:`);
console.log(`${passed} passed, ${failed} failed`);
if (!flags.includes("--keep")) rmSync(join(scratch, "test"), { recursive: true, force: true });

function readdirTs(dir) {
  return execFileSync("ls", [dir], { encoding: "utf8" })
    .split("\n")
    .filter((f) => f.endsWith(".ts") && !f.endsWith(".test-d.ts"));
}
