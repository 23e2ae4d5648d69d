import { defineConfig } from "tsup";

export default defineConfig({
  entry: {
    index: "src/index.ts",
    "runtimes/node": "src/runtimes/node.ts",
    "runtimes/bun": "src/runtimes/bun.ts",
    "runtimes/deno": "src/runtimes/deno.ts",
    "runtimes/workers": "src/runtimes/workers.ts",
    "adapters/redis": "src/adapters/redis.ts",
    cluster: "src/cluster.ts",
    testing: "src/testing.ts",
  },
  // Dual package: ESM (.js) and CommonJS (.cjs), each with its own declarations (.d.ts, .d.cts).
  format: ["esm", "cjs"],
  // import.meta.url in the CommonJS build (the client bundle is located relative to it).
  shims: true,
  // Keep "node:" on built-in imports: Deno and Workers need it, and the core-purity test reads it.
  removeNodeProtocol: false,
  target: "es2022",
  dts: { compilerOptions: { stripInternal: true } },
  clean: true,
  sourcemap: true,
  splitting: true,
  // Runtime modules and the optional peers stay imports; nothing of them is bundled.
  external: ["ws", /^node:/, "cloudflare:workers", "ioredis", "redis"],
});
