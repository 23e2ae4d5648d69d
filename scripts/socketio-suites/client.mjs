// socket.io-client's own suite (packages/socket.io-client/test) against each
// runtime's fixture of its test server (support/server.ts, rewritten as
// test/conformance/fixtures/suites/app.ts "client"). The suite imports the
// client as ".." (here: the published socket.io-client of the same
// version) and its url test reads "../build/cjs/url"; it targets
// localhost:3210, which the copies replace with a free port. Its hooks file,
// which would start socket.io itself, is not used.
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { clean, copyTree, ensureDeps, freePort, runMocha, startFixture } from "./common.mjs";

export function prepareClientSuite(git, scratch) {
  const dir = join(scratch, "client");
  const version = JSON.parse(git("show", "HEAD:packages/socket.io-client/package.json").toString()).version;
  ensureDeps(dir, {
    name: "unio-client-suite",
    private: true,
    dependencies: {
      "socket.io-client": version,
      "engine.io-client": "^6.6.0",
      "@socket.io/component-emitter": "^3.1.0",
      mocha: "^10.6.0",
      "expect.js": "^0.3.1",
      tsx: "^4.19.0",
      "has-cors": "^1.1.0",
      "@sinonjs/fake-timers": "^11.2.2",
      "text-blob-builder": "0.0.1",
      "base64-arraybuffer": "^1.0.2",
    },
  });
  writeFileSync(join(dir, "index.js"), `module.exports = require("socket.io-client");\n`);
  mkdirSync(join(dir, "build", "cjs"), { recursive: true });
  // A file path: the package's exports map does not list build/cjs/url.js.
  const url = JSON.stringify(join(dir, "node_modules", "socket.io-client", "build", "cjs", "url.js"));
  writeFileSync(join(dir, "build", "cjs", "url.js"), `module.exports = require(${url});\n`);
  return dir;
}

/** Every .ts file under `dir`, recursively. */
function tsFiles(dir) {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? tsFiles(p) : f.endsWith(".ts") ? [p] : [];
  });
}

export async function runClientSuite(git, dir, runtime, log = console.log) {
  const port = await freePort();
  // A fresh copy per runtime, pointed at this run's port.
  clean(join(dir, "test"));
  copyTree(git, "packages/socket.io-client/test", join(dir, "test"));
  for (const file of tsFiles(join(dir, "test"))) {
    writeFileSync(file, readFileSync(file, "utf8").replaceAll("localhost:3210", `localhost:${port}`));
  }
  let fixture;
  try {
    fixture = await startFixture(runtime, "client", port);
  } catch (err) {
    return { error: String(err.message).slice(0, 500) };
  }
  try {
    // One handshake first: socket.io's suite runs its server in the mocha
    // process, warm; a runtime's first request (JIT, lazy modules) can take
    // longer than the suite's timing-sensitive tests allow (a fake-timer
    // test then fails and leaves the clock installed for every later test).
    await fetch(`http://127.0.0.1:${port}/socket.io/?EIO=4&transport=polling`).then((r) => r.text()).catch(() => {});
    // The files test/index.ts imports, each in its own mocha process (as the server suite's): a
    // fake-timer test of connection.ts that fails leaves the clock installed, and in one process
    // every later test would then time out with it.
    const files = [...readFileSync(join(dir, "test", "index.ts"), "utf8").matchAll(/^import "\.\/([\w-]+)";/gm)].map((m) => m[1]);
    const total = { passes: 0, total: 0, failed: [] };
    for (const file of files) {
      // NODE_OPTIONS: the suite's node.ts runs fixtures as `node file.ts`, which Node 20 needs tsx for.
      const r = await runMocha(dir, ["--exit", `test/${file}.ts`], { NODE_OPTIONS: "--import=tsx" }, 600_000);
      if (r.error) {
        total.failed.push(`${file}.ts did not run: ${r.error}`);
        continue;
      }
      total.passes += r.passes;
      total.total += r.total;
      total.failed.push(...r.failed.map((f) => `${file}.ts > ${f}`));
    }
    log(`client suite on ${runtime}: ${total.passes}/${total.total}`);
    return total;
  } finally {
    await fixture.stop();
  }
}
