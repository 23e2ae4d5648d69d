/** unio's Engine (no Socket.IO layer) on Bun through `serve` from the Bun shim. */
import { serve } from "../../src/runtimes/bun.ts";
import { HOST, portFromEnv, ready } from "./lifecycle.ts";
import { createEngineApp } from "./engine-app.ts";

const server = serve(createEngineApp(), { port: portFromEnv(), hostname: HOST });
ready(server.port);
