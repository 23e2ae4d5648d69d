/** unio's Socket.IO `Server` on Bun, through `serve` from the Bun shim. */
import { Server } from "../../src/index.ts";
import { serve } from "../../src/runtimes/bun.ts";
import { HOST, portFromEnv, ready } from "./lifecycle.ts";
import { installApp } from "./sio-app.ts";

const io = new Server();
installApp(io);
const server = serve(io, { port: portFromEnv(), hostname: HOST });
ready(server.port);
