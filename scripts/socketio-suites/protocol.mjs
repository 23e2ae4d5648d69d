// The published protocol suites (docs/engine.io-protocol/v4-test-suite,
// docs/socket.io-protocol/v5-test-suite) against each runtime's fixture of
// their reference server (test/conformance/fixtures/suites). The suites
// target http://localhost:3000: the copies get a free port instead.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { clean, copyTree, ensureDeps, freePort, runMocha, startFixture } from "./common.mjs";

export const PROTOCOL_SUITES = {
  "Engine.IO v4 protocol": "docs/engine.io-protocol/v4-test-suite",
  "Socket.IO v5 protocol": "docs/socket.io-protocol/v5-test-suite",
};

/** Copies both suites and installs their test dependencies (mocha, chai 4, chai-string, node-fetch 3, ws). */
export function prepareProtocolSuites(git, scratch) {
  const dir = join(scratch, "protocol");
  for (const [name, path] of Object.entries(PROTOCOL_SUITES)) {
    const target = join(dir, name.split(" ")[0].toLowerCase());
    clean(target);
    copyTree(git, path, target);
  }
  // Both suites declare the same devDependencies; one install serves both (node resolves upwards).
  const pkg = JSON.parse(git("show", `HEAD:${PROTOCOL_SUITES["Engine.IO v4 protocol"]}/package.json`).toString());
  const { prettier: _unused, ...deps } = pkg.devDependencies;
  ensureDeps(dir, { name: "unio-protocol-suites", private: true, type: "module", dependencies: deps });
  return dir;
}

/** Runs both suites against `runtime`; returns { [suite]: result }. */
export async function runProtocolSuites(dir, runtime, log = console.log) {
  const port = await freePort();
  const results = {};
  let fixture;
  try {
    fixture = await startFixture(runtime, "protocol", port);
  } catch (err) {
    for (const name of Object.keys(PROTOCOL_SUITES)) results[name] = { error: String(err.message).slice(0, 500) };
    return results;
  }
  try {
    for (const name of Object.keys(PROTOCOL_SUITES)) {
      const suiteDir = join(dir, name.split(" ")[0].toLowerCase());
      const file = join(suiteDir, "test-suite.js");
      const source = readFileSync(file, "utf8").replace(/localhost:\d+/g, `localhost:${port}`);
      writeFileSync(file, source);
      results[name] = await runMocha(dir, ["--exit", file], {}, 300_000);
      log(`${name} on ${runtime}: ${describe(results[name])}`);
    }
  } finally {
    await fixture.stop();
  }
  return results;
}

export function describe(r) {
  return r.error ? r.error : `${r.passes}/${r.total}`;
}
