/** unio's Socket.IO `Server` on Node, through `serve` from the Node shim. */
import { Server } from "../../src/index.ts";
import { serve } from "../../src/runtimes/node.ts";
import { HOST, portFromEnv, ready } from "./lifecycle.ts";
import { installApp } from "./sio-app.ts";

const io = new Server();
installApp(io);
const server = serve(io, { port: portFromEnv(), hostname: HOST });
server.once("listening", () => ready((server.address() as { port: number }).port));
