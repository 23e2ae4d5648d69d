/**
 * The hardening fixture app, served unchanged by every runtime (fixtures/*.ts).
 *
 * A Socket.IO Server at /socket.io/ with a few handlers hostile-input tests
 * need (echo with ack, a delayed join, a flood, a stream, an ack that may
 * time out), plus a control endpoint outside the Socket.IO path,
 * `/__hardening/...`, that makes server-side outcomes observable:
 *
 *   GET /__hardening/stats        process health: memory, sessions, sockets,
 *                                 rooms, scheduler entries, live timers,
 *                                 uncaught errors, connection_error counts
 *   GET /__hardening/log?tag=T    what the server saw for the clients that
 *                                 sent `tag=T` in their query (engine close
 *                                 reasons, socket disconnects, errors, acks)
 *   GET /__hardening/session?tag=T  the live sessions of `tag`: state, transport,
 *                                 and whether it can write now (a polling GET is held)
 *   GET /__hardening/gc           a full GC where the runtime allows it
 *   GET /__hardening/close        io.close() (clients are told; the process stays)
 *
 * Tags: a client adds `&tag=<name>` to its Socket.IO URL (or `query: { tag }`).
 */
import { Server } from "../../src/index.ts";
import type { EngineSocket } from "../../src/engine/types.ts";

export interface RuntimeHooks {
  name: string;
  /** Resident set and JS heap, in bytes. */
  memory(): { rss: number; heapUsed: number };
  /** A full collection, if the runtime exposes one. */
  gc?: () => void;
  /** Runtime-specific handles (Node's active resources by type), if any. */
  handles?: () => string[];
}

export interface ControlResponse {
  status: number;
  body: string;
}

const env = (key: string, fallback: number): number => {
  const g = globalThis as {
    process?: { env: Record<string, string | undefined> };
    Deno?: { env: { get(k: string): string | undefined } };
    // workerd has no environment at load: the Workers launcher bundles the settings as this global.
    UNIO_FIXTURE_ENV?: Record<string, string>;
  };
  const raw = g.process?.env?.[key] ?? g.Deno?.env.get(key) ?? g.UNIO_FIXTURE_ENV?.[key];
  return raw === undefined || raw === "" ? fallback : Number(raw);
};

// ── live timer accounting (every runtime): wraps the globals before any I/O starts ──
const liveTimers = new Set<unknown>();
{
  const g = globalThis as Record<string, unknown>;
  const st = g.setTimeout as (fn: (...a: unknown[]) => void, ms?: number, ...a: unknown[]) => unknown;
  const ct = g.clearTimeout as (h: unknown) => void;
  const si = g.setInterval as (fn: (...a: unknown[]) => void, ms?: number, ...a: unknown[]) => unknown;
  const ci = g.clearInterval as (h: unknown) => void;
  g.setTimeout = function (fn: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) {
    const h: unknown = st(
      (...a: unknown[]) => {
        liveTimers.delete(h);
        if (typeof fn === "function") fn(...a);
      },
      ms,
      ...args,
    );
    liveTimers.add(h);
    return h;
  };
  g.clearTimeout = function (h: unknown) {
    liveTimers.delete(h);
    ct(h);
  };
  g.setInterval = function (fn: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) {
    const h = si(fn, ms, ...args);
    liveTimers.add(h);
    return h;
  };
  g.clearInterval = function (h: unknown) {
    liveTimers.delete(h);
    ci(h);
  };
}

/** The server options of the fixture, read from H_* settings; Workers give them to defineDurableServer. */
export function hardeningOptions() {
  return {
    pingInterval: env("H_PING_INTERVAL", 1000),
    pingTimeout: env("H_PING_TIMEOUT", 1000),
    upgradeTimeout: env("H_UPGRADE_TIMEOUT", 700),
    connectTimeout: env("H_CONNECT_TIMEOUT", 2000),
    // Large enough for a megabyte namespace or ack id to reach the parser (CVE-2020-36049).
    maxHttpBufferSize: env("H_MAX_HTTP_BUFFER_SIZE", 1_100_000),
    maxBufferedBytes: env("H_MAX_BUFFERED_BYTES", 4 * 1024 * 1024),
    serveClient: false,
    // socket.io-client 2 peers too: hostile v3 framing must be as harmless as v4's.
    allowEIO3: true,
  };
}

/** Installs the app on `io` (a new Server with hardeningOptions() unless given: Workers build theirs). */
export function createApp(hooks: RuntimeHooks, io: Server = new Server(hardeningOptions())) {
  const logs = new Map<string, string[]>();
  const uncaught: string[] = [];
  const connectionErrors: Record<string, number> = {};
  let disconnects = 0;
  let connections = 0;
  let messages = 0;

  const tagOf = (url: string): string => {
    const q = url.indexOf("?");
    return new URLSearchParams(q === -1 ? "" : url.slice(q + 1)).get("tag") ?? "";
  };
  const log = (tag: string, entry: string) => {
    if (!tag) return;
    let l = logs.get(tag);
    if (!l) logs.set(tag, (l = []));
    if (l.length < 200) l.push(entry.length > 200 ? entry.slice(0, 200) + "…" : entry);
  };

  io.engine.on("connection_error", (err) => {
    connectionErrors[err.code] = (connectionErrors[err.code] ?? 0) + 1;
    log(tagOf(err.req.url), `connection_error:${err.code}`);
  });
  io.engine.on("connection", (conn: EngineSocket) => {
    const tag = tagOf(conn.request.url);
    log(tag, `engine-open:${conn.transport.name}`);
    conn.on("upgrade", (t) => log(tag, `engine-upgrade:${t.name}`));
    conn.on("close", (reason, desc) =>
      log(tag, `engine-close:${reason}${desc instanceof Error ? `:${desc.message}` : ""}`),
    );
  });

  const admin = io.of("/admin");
  admin.on("connection", (socket) => {
    const tag = String(socket.handshake.query.tag ?? "");
    log(tag, "connect:/admin");
    socket.on("disconnect", (reason) => log(tag, `disconnect:/admin:${reason}`));
  });

  io.on("connection", (socket) => {
    connections++;
    const tag = String(socket.handshake.query.tag ?? "");
    log(tag, "connect:/");
    const streams: unknown[] = [];
    socket.onAny(() => void messages++);
    // Clients tagged "bare-..." get no "error" listener of ours (CVE-2024-38355: only unio's own no-op).
    if (!tag.startsWith("bare-")) socket.on("error", (err: Error) => log(tag, `error:${err.message}`));
    socket.on("disconnect", (reason) => {
      disconnects++;
      log(tag, `disconnect:${reason}`);
      for (const t of streams) clearInterval(t as number);
    });

    socket.on("echo", (...args: unknown[]) => {
      const ack = typeof args[args.length - 1] === "function" ? (args.pop() as (...a: unknown[]) => void) : null;
      if (ack) ack(...args);
      else socket.emit("echo", ...args);
    });
    // socket.io #4380: a join that runs after the socket is gone must not leak a room.
    socket.on("join-later", (room: string, ms: number) => {
      setTimeout(() => {
        socket.join(String(room));
        log(tag, `joined-late:${socket.rooms.size}`);
      }, Math.min(Number(ms) || 0, 5000));
    });
    // Writes `count` events of `size` characters at once, bounded.
    socket.on("flood", (count: number, size: number, ack?: () => void) => {
      const payload = "x".repeat(Math.min(Number(size) || 0, 1_000_000));
      const n = Math.min(Number(count) || 0, 10_000);
      for (let i = 0; i < n && socket.connected; i++) socket.emit("flood", i, payload);
      log(tag, `flooded:${socket.connected}`);
      if (typeof ack === "function") ack();
    });
    // Joins `room` now; acked once joined.
    socket.on("join-now", (room: string, ack?: () => void) => {
      socket.join(String(room));
      if (typeof ack === "function") ack();
    });
    // Broadcasts events `from`..`from + count - 1` of `size` characters to `room` at once, then
    // acks: a member that reads paces the flood by asking for the next batch after each.
    socket.on("room-flood-step", (room: string, from: number, count: number, size: number, ack?: () => void) => {
      const payload = "x".repeat(Math.min(Number(size) || 0, 1_000_000));
      const n = Math.min(Number(count) || 0, 1000);
      for (let k = 0; k < n; k++) io.to(String(room)).emit("flood", (Number(from) || 0) + k, payload);
      if (typeof ack === "function") ack();
    });
    // A broadcast to every socket of "/" (load and churn).
    socket.on("broadcast", (payload: unknown) => {
      io.emit("news", typeof payload === "string" ? payload.slice(0, 10_000) : null);
    });
    // A `tick` every `ms` until disconnect (server close() during traffic).
    socket.on("stream", (ms: number) => {
      let i = 0;
      streams.push(setInterval(() => socket.emit("tick", i++, "y".repeat(1000)), Math.max(Number(ms) || 10, 5)));
    });
    // An ack the client may never send: it must arrive or time out, nothing else.
    socket.on("ask", (ms: number) => {
      socket.timeout(Math.min(Number(ms) || 100, 10_000)).emit("question", (err: Error | null, answer: unknown) => {
        log(tag, err ? `ask:timeout` : `ask:answer:${JSON.stringify(answer)}`);
      });
    });
    socket.on("ask-all", (ms: number) => {
      io.timeout(Math.min(Number(ms) || 100, 10_000)).emit("question", (err: Error | null, answers: unknown[]) => {
        log(tag, `ask-all:${err ? "timeout" : "ok"}:${answers.length}`);
      });
    });
    socket.on("inspect", (ack: (v: unknown) => void) => {
      if (typeof ack !== "function") return;
      const auth = socket.handshake.auth as Record<string, unknown>;
      ack({
        polluted: prototypePolluted(),
        authKeys: Object.keys(auth),
        authIsAdmin: (auth as { isAdmin?: unknown }).isAdmin ?? null,
        authProtoIsObject: Object.getPrototypeOf(auth) === Object.prototype,
        query: socket.handshake.query,
        rooms: [...socket.rooms].length,
      });
    });
  });

  const stats = () => {
    const nsp = io.of("/");
    const mem = hooks.memory();
    return {
      runtime: hooks.name,
      rss: mem.rss,
      heapUsed: mem.heapUsed,
      clientsCount: io.engine.clientsCount,
      sockets: nsp.sockets.size,
      adminSockets: admin.sockets.size,
      rooms: nsp.adapter.rooms.size,
      sids: nsp.adapter.sids.size,
      scheduler: io.engine.scheduler.size,
      /** Listeners on the long-lived emitters (engine, main namespace, its adapter): constant when nothing leaks. */
      listeners:
        io.engine.listenerCount("connection") +
        io.engine.listenerCount("connection_error") +
        nsp.listenerCount("connection") +
        nsp.adapter.listenerCount("join-room") +
        nsp.adapter.listenerCount("leave-room") +
        nsp.adapter.listenerCount("create-room") +
        nsp.adapter.listenerCount("delete-room"),
      timers: liveTimers.size,
      handles: hooks.handles?.().length ?? null,
      handleTypes: hooks.handles ? summarize(hooks.handles()) : null,
      uncaught: uncaught.length,
      uncaughtMessages: uncaught.slice(-5),
      connectionErrors,
      connections,
      disconnects,
      messages,
      polluted: prototypePolluted(),
      /** The first few live sessions, for failure messages. */
      sessions: [...io.engine.clients.values()]
        .slice(0, 10)
        .map((c) => `${tagOf(c.request.url)}:${c.readyState}:${c.transport.name}`),
    };
  };

  async function control(pathAndQuery: string): Promise<ControlResponse> {
    const u = new URL(pathAndQuery, "http://x");
    const json = (v: unknown): ControlResponse => ({ status: 200, body: JSON.stringify(v) });
    switch (u.pathname) {
      case "/__hardening/stats":
        return json(stats());
      case "/__hardening/log":
        return json(logs.get(u.searchParams.get("tag") ?? "") ?? []);
      case "/__hardening/session": {
        const tag = u.searchParams.get("tag") ?? "";
        return json(
          [...io.engine.clients.values()]
            .filter((c) => tagOf(c.request.url) === tag)
            .map((c) => ({ readyState: c.readyState, transport: c.transport.name, writable: c.transport.writable })),
        );
      }
      case "/__hardening/gc":
        for (let i = 0; i < 3; i++) hooks.gc?.();
        return json({ gc: !!hooks.gc, ...stats() });
      case "/__hardening/close":
        await io.close();
        return json({ closed: true });
      case "/__hardening/rooms":
        return json([...io.of("/").adapter.rooms.keys()].filter((r) => !io.of("/").adapter.sids.has(r)));
      default:
        return { status: 404, body: "not found" };
    }
  }

  return {
    io,
    control,
    /** Fixtures route uncaught errors and rejections here; tests assert there are none. */
    recordUncaught(err: unknown) {
      uncaught.push(String((err as Error)?.stack ?? err).slice(0, 500));
    },
  };
}

function summarize(types: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of types) out[t] = (out[t] ?? 0) + 1;
  return out;
}

/** Whether anything was written onto Object.prototype (a pollution that reached the server). */
function prototypePolluted(): boolean {
  const probe: Record<string, unknown> = {};
  return (
    Object.getOwnPropertyNames(Object.prototype).length !== BASELINE_PROTO_KEYS ||
    probe.polluted !== undefined ||
    probe.isAdmin !== undefined ||
    probe.x !== undefined
  );
}
const BASELINE_PROTO_KEYS = Object.getOwnPropertyNames(Object.prototype).length;
