// socket.io's server suite (packages/socket.io/test) against unio/node, with
// only the import changed: the suite's `import { Server } from ".."` gets
// unio's Node entry, through a scratch package named socket.io.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { clean, copyTree, ensureDeps, root, runMocha } from "./common.mjs";

// Files that need what this run does not provide: uWebSockets.js (an
// alternative HTTP server socket.io can attach to; unio has no uWS shim);
// index.ts only imports the others.
const SKIP = new Set(["uws.ts", "index.ts"]);

// A partial clone may lack the suite's two large fixtures (Git omits its
// biggest blobs). The tests that read them only send them back and forth
// ("very large" JSON and binary data), so data of our own of that kind serves:
// a ~290 KB JSON document and 600 KB of pseudo-random bytes, both under the
// 1 MB default maxHttpBufferSize the tests run with.
const STAND_INS = {
  "big.json": () =>
    JSON.stringify(Array.from({ length: 4000 }, (_, i) => ({ id: i, name: `item ${i}`, tags: ["a", "b", String(i % 7)], score: i / 3 }))),
  "big.jpg": () => {
    const bytes = Buffer.alloc(600_000);
    let x = 2463534242;
    for (let i = 0; i < bytes.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      bytes[i] = x & 0xff;
    }
    return bytes;
  },
};

export async function runServerSuite(git, scratch, { only = null, log = console.log } = {}) {
  if (!existsSync(join(root, "cjs", "node.cjs")) || !existsSync(join(root, "dist", "runtimes", "node.cjs"))) {
    throw new Error("build unio first: npm run build");
  }
  clean(join(scratch, "test"));
  const missing = copyTree(git, "packages/socket.io/test", join(scratch, "test"));
  const standIns = missing.filter((p) => STAND_INS[p.split("/").pop()]);
  for (const p of standIns) writeFileSync(join(scratch, "test", "fixtures", p.split("/").pop()), STAND_INS[p.split("/").pop()]());
  if (standIns.length) log(`server suite: not in this checkout, stand-ins of our own written: ${standIns.join(", ")}`);
  const absent = missing.filter((p) => !standIns.includes(p));
  if (absent.length) log(`server suite: not in this checkout (tests using them fail): ${absent.join(", ")}`);

  // The package the suite imports as "..": unio's Node entry under socket.io's name,
  // versioned like the client bundle unio serves (the suite checks it in ETags).
  const clientVersion = JSON.parse(readFileSync(join(root, "node_modules", "socket.io-client", "package.json"), "utf8")).version;
  writeFileSync(join(scratch, "index.js"), `module.exports = require(${JSON.stringify(join(root, "cjs", "node.cjs"))});\n`);
  mkdirSync(join(scratch, "lib"), { recursive: true });
  writeFileSync(
    join(scratch, "lib", "typed-events.ts"),
    `export type { DefaultEventsMap, EventsMap } from ${JSON.stringify(join(root, "dist", "index.js"))};\n`,
  );
  ensureDeps(scratch, {
    name: "socket.io",
    version: clientVersion,
    private: true,
    main: "index.js",
    dependencies: {
      mocha: "^10.6.0",
      "expect.js": "^0.3.1",
      supertest: "^7.0.0",
      superagent: "^10.0.0",
      tsx: "^4.19.0",
      "socket.io-client": clientVersion,
      "socket.io-client-v2": "npm:socket.io-client@^2.5.0",
      "socket.io-adapter": "~2.5.2",
    },
  });

  // Each file on its own: one failing file cannot stop the others.
  const files = readdirSync(join(scratch, "test")).filter(
    (f) => f.endsWith(".ts") && !f.endsWith(".test-d.ts") && !SKIP.has(f) && (!only || only.includes(f)),
  );
  const total = { passes: 0, total: 0, failed: [] };
  for (const file of files) {
    const r = await runMocha(scratch, ["--import=tsx", "--timeout", "10000", "--exit", join("test", file)], {}, 300_000);
    if (r.error) {
      log(`server suite: ${file} did not run: ${r.error}`);
      total.failed.push(`${file}: did not run`);
      continue;
    }
    log(`server suite: ${file}: ${r.passes} passed, ${r.failures} failed`);
    total.passes += r.passes;
    total.total += r.total;
    total.failed.push(...r.failed.map((f) => `${file} > ${f}`));
  }
  return total;
}
