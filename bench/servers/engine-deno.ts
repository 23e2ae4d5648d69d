/** unio's Engine (no Socket.IO layer) on Deno through `serve` from the Deno shim. */
import { serve } from "../../src/runtimes/deno.ts";
import { HOST, portFromEnv, ready } from "./lifecycle.ts";
import { createEngineApp } from "./engine-app.ts";

serve(createEngineApp(), { port: portFromEnv(), hostname: HOST, onListen: ({ port }) => ready(port) });
