/**
 * Socket.IO Workers with short deadlines and with the default heartbeat,
 * for the timing tests (deadline.test.ts). The options are given once, to
 * defineDurableServer; the router reads them from the class.
 */
import { defineDurableServer, route } from "../../src/runtimes/workers.ts";
import type { EngineSocket, EngineTransport } from "../../src/engine/types.ts";
import type { Server } from "../../src/index.ts";
import type { DurableObjectState } from "../../src/runtimes/workers/platform.ts";

type Env = { FAST: any; DEFAULTS: any; HARD: any; RECOVER: any };

/**
 * What the server did with each session and when, ms after its handshake:
 * each ping sent, with the time the runtime last answered a pong on the
 * socket when it went out (workerd's auto-response timestamp: the pong that
 * made this ping due), and the close with its reason and that same time.
 * Module state: the Worker and its objects share the isolate in workerd
 * (Miniflare), so /__test/timeline reads it.
 */
export interface Timeline {
  /** [sent, last pong the runtime answered (null: none yet)], ms after the handshake. */
  pings: Array<[number, number | null]>;
  close?: [reason: string, at: number, lastPong: number | null];
  /**
   * A WebSocket probe of this (polling) session: when the object accepted it (upgradeTimeout
   * starts then) and when the engine closed it, ms after the handshake; `closed` is absent while
   * it is open, or if it became the transport.
   */
  probe?: { opened: number; closed?: number };
}
const timeline = new Map<string, Timeline>();
/** Ack timeouts that fired: [timeout, ms after the emit, error, session id]. */
const asked: Array<[number, number, string | null, string]> = [];
const handshakeOf = (sid: string) => Number(/(\d{13})\.[a-z0-9]+$/.exec(sid)![1]);

function install(io: Server, _env: Env, ctx: DurableObjectState): void {
  const tracked = new WeakSet<object>();
  const track = (socket: EngineSocket) => {
    if (tracked.has(socket)) return;
    tracked.add(socket);
    const hs = handshakeOf(socket.id);
    // A session rebuilt after the object hibernated carries on with the entry it had.
    const entry: Timeline = timeline.get(socket.id) ?? { pings: [] };
    timeline.set(socket.id, entry);
    // The hibernatable WebSocket under the session (the Workers connection keeps it as `ws`); a
    // test fixture may look: the runtime's own pong times are the independent check of the deadlines.
    const lastPong = (): number | null => {
      const ws = (socket.transport as unknown as { conn?: { ws?: unknown } }).conn?.ws;
      try {
        const at = ws ? ctx.getWebSocketAutoResponseTimestamp(ws as never) : null;
        return at ? at.getTime() - hs : null;
      } catch {
        return null; // Not a hibernatable socket (a polling session).
      }
    };
    socket.on("packetCreate", (p: { type: string }) => {
      if (p.type === "ping") entry.pings.push([Date.now() - hs, lastPong()]);
    });
    socket.on("close", (reason: string) => (entry.close = [reason, Date.now() - hs, lastPong()]));
    // A probe the client answered ("2probe"): the engine closes its transport at upgradeTimeout
    // unless an UPGRADE comes. The transport emits nothing on that close, so the fixture wraps
    // this one transport's close() to note the time.
    socket.on("upgrading", (t: EngineTransport) => {
      const ws = t as unknown as { conn: { openedAt: number }; closed: boolean; close(): void };
      const probe: NonNullable<Timeline["probe"]> = { opened: ws.conn.openedAt - hs };
      entry.probe = probe;
      const close = ws.close;
      ws.close = function (this: typeof ws) {
        if (!this.closed && socket.transport !== t) probe.closed = Date.now() - hs;
        close.call(this);
      };
    });
  };
  io.engine.on("connection", track);
  // Restored sessions are not announced by the engine; their Socket.IO sockets connect again.
  io.on("connection", (socket) => track(socket.conn as unknown as EngineSocket));
  io.on("connection", (socket) => {
    socket.on("echo", (v, ack) => ack(v));
    // Asks the client something it never answers: the ack times out after `ms`. The outcome goes
    // to the asker's ack if it gave one, and to /__test/acks (raw clients give none).
    socket.on("ask", (ms: number, ack?: (r: unknown) => void) => {
      const t0 = Date.now();
      socket.timeout(ms).emit("question", (err: unknown) => {
        const r = { err: err ? String(err) : null, after: Date.now() - t0 };
        asked.push([ms, r.after, r.err, socket.conn.id]);
        ack?.(r);
      });
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
  upgradeTimeout: 700,
  connectTimeout: 2000,
  generateId,
  testHooks: true,
});

/**
 * Connection state recovery that expires after 2 s, for the recovery-expiry
 * timing test. Clients name themselves (`auth.tag`); the object notes when
 * each one's socket disconnected (module state: it outlives the test hook's
 * eviction, and /__test/disconnected reads it) and, on its next connection,
 * tells it how long that was ago and whether it was recovered.
 */
const disconnectedAt = new Map<string, number>();
export const RecoverObject = defineDurableServer<Env>(
  (io) => {
    io.on("connection", (socket) => {
      const tag = String(socket.handshake.auth.tag);
      const since = disconnectedAt.get(tag);
      const after = since === undefined ? null : Date.now() - since;
      // A broadcast carries an offset: the client has one to present when it comes back.
      if (!socket.recovered) io.to(socket.id).emit("hello");
      socket.emit("state", { recovered: socket.recovered, after });
      socket.on("disconnect", () => disconnectedAt.set(tag, Date.now()));
      // A broadcast now, before the client goes: kept packets are swept maxDisconnectionDuration
      // after they were sent (as in socket.io), and the offset a client presents must be kept.
      socket.on("fresh", (ack: () => void) => {
        io.to(socket.id).emit("hello");
        ack();
      });
    });
  },
  { generateId, connectionStateRecovery: { maxDisconnectionDuration: 2000 }, testHooks: true },
);

const shardOf = (req: Request) => new URL(req.url).searchParams.get("shard") ?? "default";
const fast = FastObject.route("FAST", { name: shardOf });
const defaults = route<Env>("DEFAULTS", { server: DefaultsObject, name: shardOf });
const hard = HardObject.route("HARD", { name: shardOf });
const recover = RecoverObject.route("RECOVER", { name: shardOf });

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
    const q = url.searchParams;
    const which = q.get("defaults") ? "DEFAULTS" : q.get("hard") ? "HARD" : q.get("recover") ? "RECOVER" : "FAST";
    if (url.pathname === "/__test/config") return Response.json(configReport());
    if (url.pathname === "/__test/timeline") {
      const sids = (await req.json()) as string[];
      return Response.json(sids.map((sid) => timeline.get(sid) ?? null));
    }
    if (url.pathname === "/__test/disconnected") {
      if (q.has("tags")) return Response.json(q.get("tags")!.split(",").map((t) => disconnectedAt.get(t) ?? null));
      return Response.json(disconnectedAt.get(q.get("tag")!) ?? null);
    }
    if (url.pathname === "/__test/acks") return Response.json(asked.splice(0));
    if (url.pathname === "/__test/stats") return Response.json(await env[which].get(env[which].idFromName(shardOf(req))).unioTestStats());
    if (url.pathname === "/__test/evict") return Response.json(await env[which].get(env[which].idFromName(shardOf(req))).unioTestEvict());
    return { DEFAULTS: defaults, HARD: hard, RECOVER: recover, FAST: fast }[which].fetch(req, env, ctx);
  },
};
