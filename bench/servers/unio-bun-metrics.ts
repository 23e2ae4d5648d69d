/** unio-bun with `metrics: true`: the same app, every packet, byte and disconnect counted (the cost of counting). */
import { Server } from "../../src/index.ts";
import { serve } from "../../src/runtimes/bun.ts";
import { HOST, portFromEnv, ready } from "./lifecycle.ts";
import { installApp } from "./sio-app.ts";

const io = new Server({ metrics: true });
installApp(io);
const server = serve(io, { port: portFromEnv(), hostname: HOST });
ready(server.port);
