/**
 * Socket.IO Workers with short deadlines and with the default heartbeat,
 * for the timing tests (deadline.test.ts). The options are given once, to
 * defineDurableServer; the router reads them from the class.
 */
import { defineDurableServer, route } from "../../src/runtimes/workers.ts";
import type { Server } from "../../src/index.ts";

type Env = { FAST: any; DEFAULTS: any; HARD: any };

/**
 * What the server did with each session and when, ms after its handshake:
 * pings sent, the close and its reason. Module state: the Worker and its
 * objects share the isolate in workerd (Miniflare), so /__test/timeline reads it.
 */
const timeline = new Map<string, { pings: number[]; close?: [string, number] }>();
const handshakeOf = (sid: string) => Number(/(\d{13})\.[a-z0-9]+$/.exec(sid)![1]);

function install(io: Server): void {
  io.engine.on("connection", (socket) => {
    const hs = handshakeOf(socket.id);
    const entry: { pings: number[]; close?: [string, number] } = { pings: [] };
    timeline.set(socket.id, entry);
    socket.on("packetCreate", (p: { type: string }) => {
      if (p.type === "ping") entry.pings.push(Date.now() - hs);
    });
    socket.on("close", (reason: string) => (entry.close = [reason, Date.now() - hs]));
  });
  io.on("connection", (socket) => {
    socket.on("echo", (v, ack) => ack(v));
    // Asks the client something it never answers: the ack times out after `ms`.
    socket.on("ask", (ms: number, ack) => {
      const t0 = Date.now();
      socket.timeout(ms).emit("question", (err: unknown) => ack({ err: err ? String(err) : null, after: Date.now() - t0 }));
    });
  });
}

/** Session ids end with the server's handshake time, so the tests time deadlines from it. */
const generateId = () => `${Date.now()}.${Math.random().toString(36).slice(2, 10)}`;

export const FastObject = defineDurableServer<Env>(install, {
  generateId,
  pingInterval: 300,
  pingTimeout: 200,
  connectTimeout: 1000,
  upgradeTimeout: 700,
  cors: { origin: "*" },
  testHooks: true,
});

/** The default heartbeat (25 s / 20 s), a short connect timeout. */
export const DefaultsObject = defineDurableServer<Env>(install, { connectTimeout: 1500, generateId, testHooks: true });

/** The hostile-input table's settings (test/hardening/app.ts). */
export const HardObject = defineDurableServer<Env>(install, {
  pingInterval: 1000,
  pingTimeout: 1000,
  connectTimeout: 2000,
  generateId,
  testHooks: true,
});

const shardOf = (req: Request) => new URL(req.url).searchParams.get("shard") ?? "default";
const fast = FastObject.route("FAST", { name: shardOf });
const defaults = route<Env>("DEFAULTS", { server: DefaultsObject, name: shardOf });
const hard = HardObject.route("HARD", { name: shardOf });

/** What config.test.ts checks inside workerd: the classes' configuration, and a second copy refused. */
function configReport(): unknown {
  let twice = "";
  try {
    route("FAST", { server: FastObject, cors: { origin: "*" } });
  } catch (err) {
    twice = String(err);
  }
  const Custom = defineDurableServer(() => {}, { path: "/rt", transports: ["websocket"], cors: true, allowEIO3: true, serveClient: false });
  return { fast: FastObject.unioConfig, defaults: DefaultsObject.unioConfig, custom: Custom.unioConfig, twice };
}

export default {
  async fetch(req: Request, env: Env, ctx: any): Promise<Response> {
    const url = new URL(req.url);
    const which = url.searchParams.get("defaults") ? "DEFAULTS" : url.searchParams.get("hard") ? "HARD" : "FAST";
    if (url.pathname === "/__test/config") return Response.json(configReport());
    if (url.pathname === "/__test/timeline") {
      const sids = (await req.json()) as string[];
      return Response.json(sids.map((sid) => timeline.get(sid) ?? null));
    }
    if (url.pathname === "/__test/stats") return Response.json(await env[which].get(env[which].idFromName(shardOf(req))).unioTestStats());
    return (which === "DEFAULTS" ? defaults : which === "HARD" ? hard : fast).fetch(req, env, ctx);
  },
};
