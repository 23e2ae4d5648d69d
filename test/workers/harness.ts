/**
 * Builds a Worker from TypeScript with esbuild and runs it in workerd
 * through Miniflare, on a free local port.
 */
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { build, type Plugin } from "esbuild";
import { Miniflare } from "miniflare";
import { afterAll, beforeAll } from "vitest";

export interface RunningWorker {
  url: string;
  port: number;
  mf: Miniflare;
  dispose(): Promise<void>;
}

/**
 * `import files from "unio-test:client-bundle"`: socket.io-client's dist
 * files as `{ version, files: { name: text } }`, inlined into the bundle so
 * a Worker can serve them.
 */
const clientBundlePlugin: Plugin = {
  name: "unio-test-client-bundle",
  setup(b) {
    b.onResolve({ filter: /^unio-test:client-bundle$/ }, (args) => ({ path: args.path, namespace: "unio-test" }));
    b.onLoad({ filter: /.*/, namespace: "unio-test" }, () => {
      const require = createRequire(import.meta.url);
      const pkgFile = require.resolve("socket.io-client/package.json");
      const dir = pkgFile.slice(0, -"package.json".length) + "dist/";
      const files: Record<string, string> = {};
      for (const name of readdirSync(dir)) files[name] = readFileSync(dir + name, "utf8");
      const version = (JSON.parse(readFileSync(pkgFile, "utf8")) as { version: string }).version;
      return { contents: `export default ${JSON.stringify({ version, files })};`, loader: "js" };
    });
  },
};

/** Bundles `entry` for workerd: ESM, everything inlined but the runtime's own modules. */
export async function bundleWorker(entry: string, globals: Record<string, unknown> = {}): Promise<string> {
  // Values the bundle sees as globals before any module runs (workerd has no environment variables at load).
  const banner = Object.entries(globals)
    .map(([k, v]) => `globalThis[${JSON.stringify(k)}] = ${JSON.stringify(v)};`)
    .join("\n");
  const out = await build({
    banner: { js: banner },
    entryPoints: [entry],
    bundle: true,
    write: false,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    mainFields: ["module", "main"],
    conditions: ["workerd", "worker", "import"],
    external: ["cloudflare:workers"],
    logLevel: "silent",
    plugins: [clientBundlePlugin],
  });
  return out.outputFiles[0]!.text;
}

/** Durable Object bindings: binding name to exported class name; all SQLite-backed. */
export async function startWorker(
  entry: string,
  objects: Record<string, string>,
  globals: Record<string, unknown> = {},
): Promise<RunningWorker> {
  const script = await bundleWorker(entry, globals);
  const durableObjects: Record<string, { className: string; useSQLite: boolean }> = {};
  for (const [binding, className] of Object.entries(objects)) durableObjects[binding] = { className, useSQLite: true };
  const mf = new Miniflare({
    modules: true,
    script,
    compatibilityDate: "2025-09-01",
    host: "127.0.0.1",
    port: 0,
    cf: false,
    durableObjects,
  });
  const url = (await mf.ready).toString().replace(/\/$/, "");
  return { url, port: Number(new URL(url).port), mf, dispose: () => mf.dispose() };
}

/**
 * The worker a test file runs against: started before its tests, disposed
 * after them. Its `url` is readable once the tests run.
 *
 * @example
 * const w = useWorker(new URL("./io-app.ts", import.meta.url).pathname, { IO: "IoObject" });
 * it("...", async () => { await fetch(`${w.url}/socket.io/?EIO=4&transport=polling`); });
 */
export function useWorker(entry: string, objects: Record<string, string>): { readonly url: string } {
  let w: RunningWorker | undefined;
  beforeAll(async () => {
    w = await startWorker(entry, objects);
  });
  afterAll(async () => {
    await w?.dispose();
  });
  return {
    get url() {
      return w!.url;
    },
  };
}
