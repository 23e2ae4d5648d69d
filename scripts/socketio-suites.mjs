#!/usr/bin/env node
// Runs socket.io's own test suites against unio, from a checkout of
// socketio/socket.io (a work tree or a bare clone: files are read with git).
// socket.io's files never enter this repository: they are copied into a
// scratch folder outside it ($UNIO_SUITES_DIR or the OS temp dir) and run
// there, each suite's test dependencies installed there from npm.
//
//   npm run build
//   node scripts/socketio-suites.mjs /path/to/socket.io [--suites server,protocol,client,types]
//        [--runtimes node,bun,deno,workers] [--only file.ts,...] [--keep]
//
// - server suite (packages/socket.io/test), import changed to unio/node: Node only;
// - Engine.IO v4 and Socket.IO v5 protocol suites, and socket.io-client's
//   suite, against each runtime's fixture of the server they expect
//   (test/conformance/fixtures/suites), one runtime at a time;
// - the type test socket.io.test-d.ts against unio/node's declarations.
// UNIO_SUITES_AUTO_PONG=off runs the Workers fixture with `autoPong: false`
// (the objects answer pongs themselves; by default workerd answers them with `6`).
// Prints each failing test, then one table: suite × runtime, passed/total.
import { join } from "node:path";
import { tmpdir } from "node:os";
import { runClientSuite, prepareClientSuite } from "./socketio-suites/client.mjs";
import { clean, gitOf } from "./socketio-suites/common.mjs";
import { describe, PROTOCOL_SUITES, prepareProtocolSuites, runProtocolSuites } from "./socketio-suites/protocol.mjs";
import { runServerSuite } from "./socketio-suites/server.mjs";
import { runTypeTest } from "./socketio-suites/types.mjs";

const [checkout, ...flags] = process.argv.slice(2);
if (!checkout) {
  console.error("usage: node scripts/socketio-suites.mjs <socket.io checkout> [--suites a,b] [--runtimes a,b] [--only a.ts] [--keep]");
  process.exit(2);
}
const flag = (name) => (flags.includes(name) ? flags[flags.indexOf(name) + 1].split(",") : null);
const suites = flag("--suites") ?? ["server", "protocol", "client", "types"];
const runtimes = flag("--runtimes") ?? ["node", "bun", "deno", "workers"];
const scratch = join(process.env.UNIO_SUITES_DIR ?? tmpdir(), "unio-socketio-suites");
const git = gitOf(checkout);
const commit = git("rev-parse", "--short=7", "HEAD").toString().trim();

const rows = []; // [suite, { runtime: cell }]
const failures = [];
const note = (suite, runtime, r) => {
  for (const f of r.failed ?? []) failures.push(`[${suite} / ${runtime}] ${f}`);
  if (r.error) failures.push(`[${suite} / ${runtime}] ${r.error}`);
};

if (suites.includes("server")) {
  const r = await runServerSuite(git, scratch, { only: flag("--only") });
  note("server", "node", r);
  rows.push(["server suite (import changed to unio/node)", { node: `${r.passes}/${r.total}` }]);
}
if (suites.includes("protocol")) {
  const dir = prepareProtocolSuites(git, scratch);
  const cells = Object.fromEntries(Object.keys(PROTOCOL_SUITES).map((name) => [name, {}]));
  for (const runtime of runtimes) {
    const results = await runProtocolSuites(dir, runtime);
    for (const [name, r] of Object.entries(results)) {
      cells[name][runtime] = describe(r).startsWith("mocha") || r.error ? "error" : describe(r);
      note(name, runtime, r);
    }
  }
  for (const [name, c] of Object.entries(cells)) rows.push([`${name} suite`, c]);
}
if (suites.includes("client")) {
  const dir = prepareClientSuite(git, scratch);
  const cells = {};
  for (const runtime of runtimes) {
    const r = await runClientSuite(git, dir, runtime);
    cells[runtime] = r.error ? "error" : `${r.passes}/${r.total}`;
    note("client", runtime, r);
  }
  rows.push(["socket.io-client suite", cells]);
}
if (suites.includes("types")) {
  const r = runTypeTest(git, scratch);
  if (r.errors) failures.push(`[types] ${r.output}`);
  rows.push(["socket.io.test-d.ts type test (errors)", { node: String(r.errors) }]);
}

if (failures.length) console.log("\nfailing:\n" + failures.map((f) => "  " + f).join("\n"));
const cols = ["node", "bun", "deno", "workers"];
console.log(`\nsocket.io's suites @ ${commit} against unio (passed/total):\n`);
console.log(`| suite | ${cols.join(" | ")} |`);
console.log(`|---|${cols.map(() => "---").join("|")}|`);
for (const [name, c] of rows) console.log(`| ${name} | ${cols.map((k) => c[k] ?? "-").join(" | ")} |`);
if (!flags.includes("--keep")) {
  clean(join(scratch, "test"));
  clean(join(scratch, "types"));
}
