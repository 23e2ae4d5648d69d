/** socket.io 4.8 with @socket.io/bun-engine on Bun.serve, serving the benchmark app. */
import { Server as Engine } from "@socket.io/bun-engine";
import { Server } from "socket.io";
import { HOST, portFromEnv, ready } from "./lifecycle.ts";
import { installApp, type IoLike } from "./sio-app.ts";

declare const Bun: { serve(options: Record<string, unknown>): { port: number } };

const io = new Server();
const engine = new Engine({ path: "/socket.io/" });
(io as unknown as { bind(engine: unknown): void }).bind(engine);
installApp(io as unknown as IoLike);
const server = Bun.serve({ port: portFromEnv(), hostname: HOST, ...engine.handler() });
ready(server.port);
