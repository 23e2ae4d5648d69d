/**
 * The chat demo on Deno:
 *   deno run --allow-net --allow-read --allow-env examples/deno/chat.ts
 * then open http://localhost:3000 (PORT and HOST override). Same app as on
 * Node (examples/chat/app.ts); the page comes from the shim's `fetch` fallback.
 * --allow-read covers the page and the client bundle (node_modules/socket.io-client).
 */
import { serve } from "../../src/runtimes/deno.ts";
import { createChat } from "../chat/app.ts";
import { staticResponse } from "../chat/static.ts";

declare const Deno: {
  env: { get(key: string): string | undefined };
  addSignalListener(signal: "SIGINT" | "SIGTERM", handler: () => void): void;
  exit(code?: number): never;
  version: { deno: string };
};

const io = createChat();
const server = serve(io, {
  port: Number(Deno.env.get("PORT") ?? 3000),
  hostname: Deno.env.get("HOST"),
  fetch: (request) => staticResponse(request),
  onListen: ({ port }) =>
    console.log(`unio chat is running at http://localhost:${port} (Deno ${Deno.version.deno}). Ctrl+C stops it.`),
});

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, async () => {
    await io.close();
    await server.shutdown();
    Deno.exit(0);
  });
}
