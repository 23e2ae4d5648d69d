/** unio's Socket.IO `Server` on Deno, through `serve` from the Deno shim. */
import { Server } from "../../src/index.ts";
import { serve } from "../../src/runtimes/deno.ts";
import { HOST, portFromEnv, ready } from "./lifecycle.ts";
import { installApp } from "./sio-app.ts";

const io = new Server();
installApp(io);
serve(io, { port: portFromEnv(), hostname: HOST, onListen: ({ port }) => ready(port) });
