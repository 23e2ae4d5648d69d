/** unio's Engine (no Socket.IO layer) on Node through `serve` from the Node shim. */
import { serve } from "../../src/runtimes/node.ts";
import { HOST, portFromEnv, ready } from "./lifecycle.ts";
import { createEngineApp } from "./engine-app.ts";

const server = serve(createEngineApp(), { port: portFromEnv(), hostname: HOST });
server.once("listening", () => ready((server.address() as { port: number }).port));
