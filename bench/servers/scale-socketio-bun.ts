/** socket.io 4.8 + @socket.io/bun-engine on Bun.serve for the scale benchmark (heartbeat from scale-app.ts). */
import { Server as Engine } from "@socket.io/bun-engine";
import { Server } from "socket.io";
import { HOST, portFromEnv, ready } from "./lifecycle.ts";
import { heartbeat, installScaleApp } from "./scale-app.ts";

declare const Bun: { serve(options: Record<string, unknown>): { port: number } };

const io = new Server();
const engine = new Engine({ path: "/socket.io/", ...heartbeat() });
(io as unknown as { bind(engine: unknown): void }).bind(engine);
installScaleApp(io as never);
const server = Bun.serve({ port: portFromEnv(), hostname: HOST, ...engine.handler() });
ready(server.port);
