/**
 * The chat demo on Bun: `bun run examples/bun/chat.ts`, then open
 * http://localhost:3000 (PORT and HOST override). Same app as on Node
 * (examples/chat/app.ts); the page comes from the shim's `fetch` fallback.
 */
import { serve } from "../../src/runtimes/bun.ts";
import { createChat } from "../chat/app.ts";
import { staticResponse } from "../chat/static.ts";

const io = createChat();
const server = serve(io, {
  port: Number(process.env.PORT ?? 3000),
  hostname: process.env.HOST,
  fetch: (request) => staticResponse(request),
});
console.log(`unio chat is running at http://localhost:${server.port} (Bun). Ctrl+C stops it.`);

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, async () => {
    await io.close();
    await server.stop(true);
    process.exit(0);
  });
}
