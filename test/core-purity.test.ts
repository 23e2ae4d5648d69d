/**
 * The core (src/protocol, src/engine, src/socket) must load on every runtime:
 * no Node built-ins, no `ws`, no Bun/Deno globals, no `Buffer`. This reads
 * the sources and the built core bundle, so a leak fails here before it
 * fails on workerd.
 */
import { readdirSync, readFileSync, existsSync } from "node:fs";
import { builtinModules } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("..", import.meta.url));
const CORE = ["src/protocol", "src/engine", "src/socket"];

function sources(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

/** Code with comments and string contents removed, so documentation may name what code may not use. */
function codeOnly(text: string): string {
  return text
    .replace(/\/\*[\s\S]*?\*\//g, "")
    .replace(/(^|[^:])\/\/.*$/gm, "$1")
    .replace(/`(?:\\.|[^`\\])*`/g, "``");
}

const FORBIDDEN: Array<[string, RegExp]> = [
  ["a node: import", /from\s+["']node:|import\(\s*["']node:|require\(/],
  ["a Node built-in by bare name", /from\s+["'](fs|path|http|https|net|tls|events|stream|buffer|crypto|os|zlib|url|util)["']/],
  ["the ws package", /from\s+["']ws["']/],
  ["Buffer", /\bBuffer\s*\./],
  ["a Bun global", /\bBun\s*\./],
  ["a Deno global", /\bDeno\s*\./],
  ["process", /\bprocess\s*\./],
  ["a relative import leaving the core", /from\s+["']\.\.\/(runtimes|adapters)\//],
];

/** Every module a built file imports: `from "x"`, `import "x"`, `import("x")`. */
const IMPORTED = /(?:from|import)\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g;
const NODE_BUILTINS = new Set(builtinModules.flatMap((m) => [m, m.split("/")[0]!]));

/** A module that exists on one runtime only: a Node built-in (either spelling) or `ws`. */
function isRuntimeSpecific(spec: string): boolean {
  if (spec.startsWith("node:") || spec === "ws") return true;
  return NODE_BUILTINS.has(spec) || NODE_BUILTINS.has(spec.split("/")[0]!);
}

describe("the core is runtime-agnostic", () => {
  const files = CORE.flatMap(sources);

  it("has sources to check", () => {
    expect(files.length).toBeGreaterThan(20);
  });

  it.each(files)("%s imports nothing runtime-specific", (file) => {
    const code = codeOnly(readFileSync(join(root, file), "utf8"));
    const found = FORBIDDEN.filter(([, re]) => re.test(code)).map(([what]) => what);
    expect(found).toEqual([]);
  });

  it("the built core entry (dist/index.js and its chunks) imports no node: module or ws", () => {
    const dist = join(root, "dist");
    if (!existsSync(join(dist, "index.js"))) throw new Error("dist/ missing: run `npx tsup` (npm test builds it)");
    const seen = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const text = readFileSync(join(dist, file), "utf8");
      for (const m of text.matchAll(IMPORTED)) {
        const spec = m[1] ?? m[2]!;
        if (spec.startsWith("./")) visit(spec.slice(2));
        else expect(isRuntimeSpecific(spec), `${file} imports "${spec}"`).toBe(false);
      }
    };
    for (const entry of ["index.js", "cluster.js", "testing.js"]) visit(entry);
    expect(seen.size).toBeGreaterThan(2);
  });

  it("the dist check catches a Node built-in, with or without the node: prefix", () => {
    // tsup strips "node:" unless told not to (tsup.config.ts sets removeNodeProtocol: false);
    // the check must fail on both spellings, or it could pass a leaked built-in.
    for (const spec of ["node:events", "events", "node:stream/web", "ws"]) expect(isRuntimeSpecific(spec)).toBe(true);
    for (const spec of ["./chunk-ABC.js", "@msgpack/msgpack"]) expect(isRuntimeSpecific(spec)).toBe(false);
    const sample = `import { EventEmitter } from "events";\nimport "./chunk-X.js";`;
    expect([...sample.matchAll(IMPORTED)].map((m) => m[1] ?? m[2])).toEqual(["events", "./chunk-X.js"]);
  });
});

/**
 * Bun's types (@types/bun) are imported by the Bun shim alone. They declare
 * globals (`Bun`, `*.html` modules...), so they must not reach the other
 * sources through tsconfig's `types`, nor the declarations users of the
 * other entries get.
 */
describe("Bun's types stay in the Bun shim", () => {
  const BUN_TYPES = /from\s+["']bun["']|reference\s+types\s*=\s*["'](bun|bun-types|@types\/bun)["']/;

  it("no source but src/runtimes/bun.ts names them, and tsconfig does not load them for every file", () => {
    const users = sources("src").filter((f) => BUN_TYPES.test(readFileSync(join(root, f), "utf8")));
    expect(users).toEqual(["src/runtimes/bun.ts"]);
    const tsconfig = JSON.parse(readFileSync(join(root, "tsconfig.json"), "utf8")) as { compilerOptions: { types?: string[] } };
    expect(tsconfig.compilerOptions.types).toEqual(["node"]);
  });

  it("no built declaration but the Bun entry's imports them", () => {
    const dist = join(root, "dist");
    if (!existsSync(join(dist, "index.d.ts"))) throw new Error("dist/ missing: run `npx tsup` (npm test builds it)");
    const declarations = (dir: string): string[] =>
      readdirSync(join(dist, dir), { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? declarations(join(dir, e.name)) : /\.d\.c?ts$/.test(e.name) ? [join(dir, e.name)] : [],
      );
    const users = declarations("").filter((f) => BUN_TYPES.test(readFileSync(join(dist, f), "utf8")));
    expect(users.sort()).toEqual(["runtimes/bun.d.cts", "runtimes/bun.d.ts"]);
  });
});
