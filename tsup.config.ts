import { defineConfig } from "tsup";

export default defineConfig({
  entry: {
    index: "src/index.ts",
    "runtimes/node": "src/runtimes/node.ts",
    "runtimes/bun": "src/runtimes/bun.ts",
    "runtimes/deno": "src/runtimes/deno.ts",
    "runtimes/workers": "src/runtimes/workers.ts",
    "adapters/redis": "src/adapters/redis.ts",
  },
  format: ["esm"],
  target: "es2022",
  dts: true,
  clean: true,
  sourcemap: true,
  splitting: true,
  // Runtime modules and the optional peers stay imports; nothing of them is bundled.
  external: ["ws", /^node:/, "cloudflare:workers", "ioredis", "redis"],
});
