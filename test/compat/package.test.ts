/**
 * The published package, as users get it: `npm pack` the project, unpack the
 * tarball as `node_modules/unio` of fresh projects (CommonJS and ESM, plain
 * JavaScript and TypeScript with node16, nodenext, bundler and node10
 * resolution), type-check them with tsc and run a socket.io-client round trip
 * in each. Needs `dist/` (npm test builds it first).
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const root = fileURLToPath(new URL("../..", import.meta.url));
// Inside the repository, so the projects find unio's own dependencies (ws,
// socket.io-client, typescript) in its node_modules, as an install would give them.
const work = join(root, "test-output", "pack");
const tsc = join(root, "node_modules", ".bin", "tsc");

/** What every project's server does: the form of the import is the project's. */
const roundTrip = (serverExpr: string) => `
const httpServer = createServer();
const io = ${serverExpr};
io.on("connection", (socket) => socket.on("hello", (v, ack) => ack("hi " + v)));
httpServer.listen(0, "127.0.0.1", () => {
  const socket = ioc("http://127.0.0.1:" + httpServer.address().port, { transports: ["websocket"], reconnection: false });
  socket.emit("hello", "pack", async (answer) => {
    console.log("ack: " + answer);
    socket.disconnect();
    await io.close();
  });
});
`;

interface Project {
  name: string;
  files: Record<string, string>;
  /** The file node runs (after tsc, for TypeScript projects). */
  main: string;
  typescript?: boolean;
}

const tsRoundTrip = roundTrip("new Server(httpServer, { cors: { origin: \"*\" } })").replace(
  '(socket) => socket.on("hello", (v, ack)',
  '(socket) => socket.on("hello", (v: string, ack: (a: string) => void)',
).replace("(answer) =>", "(answer: string) =>").replace("httpServer.address().port", "(httpServer.address() as AddressInfo).port");

const tsSource = `
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { io as ioc } from "socket.io-client";
import { Server, type Socket } from "unio/node";
import { Server as CoreServer } from "unio";
import { createAdapter } from "unio/redis";
import { ClusterAdapter } from "unio/cluster";
import { FakeClock } from "unio/testing";
const check: [typeof CoreServer, typeof createAdapter, Socket | null] = [CoreServer, createAdapter, null];
void check;
// The entries for adapter authors and tests resolve, with their declarations.
const clock: { now(): number } = new FakeClock();
if (typeof ClusterAdapter !== "function" || typeof clock.now() !== "number") throw new Error("unio/cluster or unio/testing");
${tsRoundTrip}`;

const tsconfig = (compilerOptions: Record<string, unknown>) =>
  JSON.stringify({
    compilerOptions: { strict: true, outDir: "out", types: ["node"], skipLibCheck: false, ...compilerOptions },
    include: ["src"],
  });

const PROJECTS: Project[] = [
  {
    name: "cjs-js",
    files: {
      "package.json": JSON.stringify({ type: "commonjs" }),
      "index.js": `
const { createServer } = require("node:http");
const { io: ioc } = require("socket.io-client");
const unio = require("unio/node");
const core = require("unio");
const { createAdapter } = require("unio/redis");
if (typeof createAdapter !== "function") throw new Error("unio/redis has no createAdapter");
if (typeof require("unio/cluster").ClusterAdapter !== "function") throw new Error("unio/cluster has no ClusterAdapter");
if (typeof require("unio/testing").FakeClock !== "function") throw new Error("unio/testing has no FakeClock");
// One copy of the core behind every entry: the Node Server is the core's Server.
if (!(new unio.Server() instanceof core.Server)) throw new Error("two copies of the core");
${roundTrip("unio(httpServer)")}`,
    },
    main: "index.js",
  },
  {
    name: "esm-js",
    files: {
      "package.json": JSON.stringify({ type: "module" }),
      "index.js": `
import { createServer } from "node:http";
import { io as ioc } from "socket.io-client";
import createIo, { Server } from "unio/node";
import { Server as CoreServer } from "unio";
import { createAdapter } from "unio/redis";
import { ClusterAdapter } from "unio/cluster";
import { FakeClock } from "unio/testing";
if (typeof createAdapter !== "function") throw new Error("unio/redis has no createAdapter");
if (typeof ClusterAdapter !== "function" || typeof FakeClock !== "function") throw new Error("unio/cluster or unio/testing");
if (!(createIo() instanceof CoreServer)) throw new Error("two copies of the core");
${roundTrip("new Server(httpServer)")}`,
    },
    main: "index.js",
  },
  {
    name: "ts-node16-cjs",
    typescript: true,
    files: {
      "package.json": JSON.stringify({}),
      "tsconfig.json": tsconfig({ module: "node16", moduleResolution: "node16" }),
      "src/index.ts": tsSource,
    },
    main: "out/index.js",
  },
  {
    name: "ts-nodenext-esm",
    typescript: true,
    files: {
      "package.json": JSON.stringify({ type: "module" }),
      "tsconfig.json": tsconfig({ module: "nodenext", moduleResolution: "nodenext" }),
      "src/index.ts": tsSource,
    },
    main: "out/index.js",
  },
  {
    name: "ts-bundler",
    typescript: true,
    files: {
      "package.json": JSON.stringify({ type: "module" }),
      "tsconfig.json": tsconfig({ module: "esnext", moduleResolution: "bundler", target: "es2022" }),
      "src/index.ts": tsSource,
    },
    main: "out/index.js",
  },
  {
    // TypeScript's old resolution ignores `exports`: subpaths are typed through typesVersions.
    name: "ts-node10-cjs",
    typescript: true,
    files: {
      "package.json": JSON.stringify({}),
      "tsconfig.json": tsconfig({ module: "commonjs", moduleResolution: "node", esModuleInterop: true, target: "es2020" }),
      "src/index.ts": tsSource,
    },
    main: "out/index.js",
  },
];

beforeAll(async () => {
  if (!existsSync(join(root, "dist", "index.cjs"))) throw new Error("dist/ is missing: run `npx tsup` (npm test does)");
  await rm(work, { recursive: true, force: true });
  await mkdir(join(work, "node_modules", "unio"), { recursive: true });
  const { stdout } = await run("npm", ["pack", "--json", "--pack-destination", work], { cwd: root });
  const [{ filename }] = JSON.parse(stdout) as [{ filename: string }];
  await run("tar", ["-xzf", join(work, filename), "--strip-components=1", "-C", join(work, "node_modules", "unio")]);
  for (const p of PROJECTS) {
    for (const [file, text] of Object.entries(p.files)) {
      const path = join(work, p.name, file);
      await mkdir(join(path, ".."), { recursive: true });
      await writeFile(path, text);
    }
  }
}, 120_000);

describe("the packed tarball in fresh projects", () => {
  it("ships both builds and their declarations, and no test files", async () => {
    const { stdout } = await run("tar", ["-tzf", join(work, (await run("ls", [work])).stdout.split("\n").find((f) => f.endsWith(".tgz"))!)]);
    const files = stdout.split("\n");
    for (const f of ["dist/index.js", "dist/index.cjs", "dist/index.d.ts", "dist/index.d.cts", "dist/runtimes/node.cjs", "cjs/node.cjs", "dist/adapters/redis.d.cts"]) {
      expect(files).toContain(`package/${f}`);
    }
    expect(files.some((f) => f.startsWith("package/test/"))).toBe(false);
  });

  for (const p of PROJECTS) {
    it(`${p.name}: ${p.typescript ? "type-checks, compiles and " : ""}runs a client round trip`, async () => {
      const cwd = join(work, p.name);
      if (p.typescript) await run(tsc, ["-p", "."], { cwd });
      const { stdout } = await run(process.execPath, [p.main], { cwd, timeout: 20_000 });
      expect(stdout.trim()).toBe("ack: hi pack");
    }, 90_000);
  }
});
