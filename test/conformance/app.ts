/**
 * The fixture app every runtime serves, unchanged: an Engine.IO echo server
 * at /engine.io/ and a Socket.IO Server at /socket.io/.
 * Behaviours the suite checks are made observable to clients: the server
 * echoes, reports what it saw, and closes on request.
 */
import { Engine, Server } from "../../src/index.ts";
import type { Namespace } from "../../src/socket/namespace.ts";
import type { Socket } from "../../src/socket/socket.ts";
import {
  installProductionHandlers,
  productionEngineOptions,
  productionIoOptions,
  productionWanted,
} from "./production-app.ts";

/**
 * A setting from the fixture's environment: `process.env` on Node, Bun and
 * Deno; in workerd, which has no environment at module load, the
 * `UNIO_FIXTURE_ENV` global the Workers launcher puts in the bundle.
 */
function fixtureEnv(name: string): string | undefined {
  const g = globalThis as { process?: { env: Record<string, string | undefined> }; UNIO_FIXTURE_ENV?: Record<string, string> };
  return g.process?.env[name] ?? g.UNIO_FIXTURE_ENV?.[name];
}

/**
 * `FIXTURE_COMPRESSION`: unset for the defaults (httpCompression on,
 * perMessageDeflate off), "off" for `httpCompression: false`, "deflate" for
 * `perMessageDeflate: { threshold: 1024 }` (which runtimes without
 * WebSocket compression refuse at start-up).
 */
const COMPRESSION_OPTIONS: { httpCompression?: false; perMessageDeflate?: { threshold: number } } =
  fixtureEnv("FIXTURE_COMPRESSION") === "off"
    ? { httpCompression: false }
    : fixtureEnv("FIXTURE_COMPRESSION") === "deflate"
      ? { perMessageDeflate: { threshold: 1024 } }
      : {};

/**
 * The Engine.IO server's options. `FIXTURE_PING_INTERVAL` in the fixture's
 * environment overrides the ping interval (long-poll tests hold a GET that long).
 */
export const ENGINE_OPTIONS = {
  pingInterval: Number(fixtureEnv("FIXTURE_PING_INTERVAL")) || 150,
  pingTimeout: 300,
  maxHttpBufferSize: 100_000,
  ...COMPRESSION_OPTIONS,
  ...productionEngineOptions(fixtureEnv),
};

export function createEngine(): Engine {
  return installEngineApp(new Engine(ENGINE_OPTIONS));
}

/** The echo app, on `engine` (unio's Engine, or the reference engine.io Server: same API). */
export function installEngineApp(engine: Engine): Engine {
  engine.on("connection", (socket) => {
    socket.on("message", (data) => {
      if (data === "close me") socket.close();
      else if (data === "address") socket.send(socket.remoteAddress);
      // `plain:<text>` comes back with `compress: false` (kept out of HTTP and WebSocket compression).
      else if (typeof data === "string" && data.startsWith("plain:")) socket.send(data.slice(6), { compress: false });
      else socket.send(data);
    });
  });
  return engine;
}

/**
 * The Socket.IO server's heartbeat: a silent peer is dropped within 2.5 s.
 * The timeout is not shorter because the clients all live in the one test
 * process, whose event loop can stall for a few hundred ms on a loaded
 * machine; a tighter pong deadline then drops healthy clients.
 */
export const IO_PING_INTERVAL = 500;
export const IO_PING_TIMEOUT = 2000;

/** What `whoami` answers: the server's view of the calling socket. */
export interface WhoAmI {
  id: string;
  nsp: string;
  /** The Engine.IO session id: equal across namespaces multiplexed on one connection. */
  conn: string;
  transport: string;
  address: string;
  query: Record<string, unknown>;
  auth: Record<string, unknown>;
  recovered: boolean;
  rooms: string[];
  data: unknown;
}

/** What the /observer namespace reports for every socket that left a watched namespace. */
export interface Departure {
  nsp: string;
  id: string;
  reason: string;
}

type Ack = (...args: unknown[]) => void;

const publishCounts = new WeakMap<object, { n: number }>();
/**
 * Native publishes made so far by `io`'s engine (0 where the runtime has no
 * topics, and on the reference server). Counted by wrapping the fan-out the
 * runtime shim installed, the first time it is asked.
 */
function publishes(io: Server): number {
  const engine = (io as { engine?: { fanout?: { publish(...a: unknown[]): void } | null } }).engine;
  const fanout = engine?.fanout;
  if (!fanout) return 0;
  let count = publishCounts.get(fanout);
  if (!count) {
    const counter = { n: 0 };
    count = counter;
    publishCounts.set(fanout, counter);
    const publish = fanout.publish.bind(fanout);
    fanout.publish = (...a: unknown[]) => {
      counter.n++;
      publish(...a);
    };
  }
  return count.n;
}

/** Splits `(...args, ack?)` as handlers receive them. */
function splitAck(args: unknown[]): [unknown[], Ack | undefined] {
  const last = args[args.length - 1];
  return typeof last === "function" ? [args.slice(0, -1), last as Ack] : [args, undefined];
}

/**
 * The Socket.IO app:
 * - namespaces "/", "/custom", dynamic /^\/dyn-\w+$/, and "/guarded" (its
 *   middleware wants `auth.token === "secret"` and rejects with `err.data`);
 * - on each of them, the events below (`wire`);
 * - "/observer": its sockets receive `departed` (a `Departure`) whenever a
 *   socket of a watched namespace disconnects, with the server-side reason.
 */
export function createServer(): Server {
  return installSocketApp(new Server(IO_OPTIONS));
}

/** The Socket.IO server's options; `allowEIO3` lets socket.io-client 2 in too (eio3.test.ts). */
export const IO_OPTIONS = {
  pingInterval: IO_PING_INTERVAL,
  pingTimeout: IO_PING_TIMEOUT,
  allowEIO3: true,
  connectionStateRecovery: { maxDisconnectionDuration: 30_000 },
  cors: { origin: "*" },
  ...COMPRESSION_OPTIONS,
  ...productionIoOptions(fixtureEnv),
};

/**
 * Installs the namespaces and handlers on `io`. Only the socket.io v4 API
 * is used, so the same app can be checked against the reference server.
 */
export function installSocketApp(io: Server): Server {
  const observer = io.of("/observer");

  function wire(socket: Socket): void {
    const nsp = socket.nsp as Namespace;
    socket.on("disconnect", (reason: string) => {
      const departure: Departure = { nsp: nsp.name, id: socket.id, reason };
      observer.emit("departed", departure);
    });

    socket.on("whoami", (ack: Ack) => {
      const who: WhoAmI = {
        id: socket.id,
        nsp: nsp.name,
        conn: socket.conn.id,
        transport: socket.conn.transport.name,
        address: socket.handshake.address,
        query: { ...socket.handshake.query },
        auth: socket.handshake.auth,
        recovered: socket.recovered,
        rooms: [...socket.rooms].sort(),
        data: socket.data ?? null,
      };
      ack(who);
    });

    // Acks with exactly what it got, binary included; without an ack, emits it back.
    socket.on("echo", (...raw: unknown[]) => {
      const [args, ack] = splitAck(raw);
      if (ack) ack(...args);
      else socket.emit("echo", ...args);
    });

    // Never answers: for client-side ack timeouts.
    socket.on("silent", () => {});

    socket.on("join", async (rooms: string | string[], ack?: Ack) => {
      await socket.join(rooms);
      ack?.();
    });
    socket.on("leave", async (room: string, ack?: Ack) => {
      await socket.leave(room);
      ack?.();
    });
    socket.on("set-data", (data: unknown, ack?: Ack) => {
      socket.data = data;
      ack?.();
    });

    // `io.in(room).fetchSockets()` in this namespace: the ids, sorted.
    socket.on("members", async (room: string, ack: Ack) => {
      const sockets = await nsp.in(room).fetchSockets();
      ack(sockets.map((s) => s.id).sort());
    });

    /**
     * Broadcasts `event` with `args`: from the namespace (`io.to().except()`)
     * or from this socket (`socket.to().except()`, which leaves the sender out).
     * The ack reports how many native publishes (Bun's topics) carried it.
     */
    socket.on(
      "broadcast",
      (
        spec: { from: "nsp" | "socket"; to?: string[]; except?: string[]; event: string; args?: unknown[] },
        ack?: Ack,
      ) => {
        let op = spec.from === "socket" ? socket.broadcast : nsp.to([]);
        if (spec.to?.length) op = op.to(spec.to);
        if (spec.except?.length) op = op.except(spec.except);
        const before = publishes(io);
        op.emit(spec.event, ...(spec.args ?? []));
        ack?.({ published: publishes(io) - before });
      },
    );

    /**
     * For every member of `room`: a direct emit, a room broadcast, another
     * direct emit, in one tick. Each member must see "direct-1", "shared",
     * "direct-2" in that order, whichever way the broadcast went out.
     */
    socket.on("interleave", (room: string, ack?: Ack) => {
      const members = [...(nsp.adapter.rooms.get(room) ?? [])].map((id) => nsp.sockets.get(id)).filter((s) => s);
      for (const s of members) s!.emit("seq", "direct-1");
      const before = publishes(io);
      nsp.to(room).emit("seq", "shared");
      const published = publishes(io) - before;
      for (const s of members) s!.emit("seq", "direct-2");
      ack?.({ published });
    });

    // The server asks this client with `socket.timeout(ms).emitWithAck(event, ...args)`.
    socket.on("ask-me", async (spec: { event: string; args?: unknown[]; timeout: number }, ack: Ack) => {
      try {
        const value = await socket.timeout(spec.timeout).emitWithAck(spec.event, ...(spec.args ?? []));
        ack({ ok: true, value });
      } catch (err) {
        ack({ ok: false, error: (err as Error).message });
      }
    });

    // The server asks a room with `io.to(room).timeout(ms).emitWithAck(event)`.
    socket.on("ask-room", async (spec: { room: string; event: string; timeout: number }, ack: Ack) => {
      try {
        const responses = await nsp.to(spec.room).timeout(spec.timeout).emitWithAck(spec.event);
        ack({ ok: true, responses });
      } catch (err) {
        ack({ ok: false, error: (err as Error).message, responses: (err as { responses?: unknown }).responses });
      }
    });

    /**
     * Volatile emits (socket.io drops one while the transport is busy with an
     * earlier write). Waits until every target's transport is writable, then
     * runs `steps` in one tick: to this socket, or to `room` (a broadcast);
     * "vev" carries "data" or, with `binary`, bytes. A regular "vev-done"
     * follows in a later tick, so a client has seen every "vev" when it comes.
     */
    socket.on(
      "volatile-burst",
      async (spec: { steps: Array<"regular" | "volatile">; binary?: boolean; room?: string }, ack?: Ack) => {
        const targets = spec.room
          ? [...(nsp.adapter.rooms.get(spec.room) ?? [])].map((id) => nsp.sockets.get(id)!).filter((s) => s)
          : [socket];
        for (let i = 0; i < 200 && !targets.every((s) => s.conn.transport.writable); i++) {
          await new Promise((r) => setTimeout(r, 10));
        }
        for (const step of spec.steps) {
          const payload = spec.binary ? new Uint8Array([1, 2, 3]) : "data";
          const op = spec.room ? nsp.to(spec.room) : socket;
          if (step === "volatile") op.volatile.emit("vev", payload);
          else op.emit("vev", payload);
        }
        setTimeout(() => {
          for (const s of targets) s.emit("vev-done");
          ack?.();
        }, 50);
      },
    );

    /**
     * `n` frames for this socket in one tick, cycling through a direct emit,
     * a broadcast to `room` (which the socket joined; on Bun a publish), and
     * a direct emit with a binary attachment, each as ("burst", tag, i[, [i]][, pad]),
     * then the ack: where the runtime coalesces writes, all of it leaves in
     * one write; everywhere it must arrive complete and in order.
     */
    socket.on("burst", (spec: { tag: string; n: number; room?: string; pad?: number }, ack?: Ack) => {
      // `pad`: a string of that many characters rides along (last), to make the burst large.
      const pad = spec.pad ? [".".repeat(spec.pad)] : [];
      for (let i = 0; i < spec.n; i++) {
        const kind = i % 3;
        if (kind === 0) socket.emit("burst", spec.tag, i, ...pad);
        else if (kind === 1) (spec.room ? nsp.to(spec.room) : socket).emit("burst", spec.tag, i, ...pad);
        else socket.emit("burst", spec.tag, i, new Uint8Array([i & 255]), ...pad);
      }
      ack?.(spec.n);
    });

    // Tells the /observer namespace that this event reached its listener (binary arguments aside).
    socket.on("note", (note: string) => {
      observer.emit("noted", { nsp: nsp.name, id: socket.id, note });
    });

    // Binary made on the server, nested in plain data.
    socket.on("binary-please", (ack: Ack) => {
      const payload = {
        flat: new Uint8Array([1, 2, 3]),
        nested: { deeper: [new Uint8Array([4]), "text", new Uint8Array([5, 6]).buffer] },
      };
      socket.emit("binary", payload, new Uint8Array([255, 0]));
      ack(payload);
    });

    // Server-side disconnects: of this socket only, or of the whole connection.
    socket.on("disconnect-me", (close?: boolean) => {
      socket.disconnect(close === true);
    });
    // The engine connection closes under the socket, with no DISCONNECT packet.
    socket.on("close-transport", () => {
      socket.conn.close();
    });
    if (productionWanted(fixtureEnv)) installProductionHandlers(io, socket, observer);
  }

  io.on("connection", wire);
  io.of("/custom").on("connection", wire);
  const dynamic = io.of(/^\/dyn-\w+$/);
  // Rooms named in `auth.rooms` are joined in the middleware, before the socket connects.
  dynamic.use((socket, next) => {
    const rooms = (socket.handshake.auth as { rooms?: unknown }).rooms;
    if (Array.isArray(rooms)) socket.join(rooms.map(String));
    next();
  });
  dynamic.on("connection", wire);
  const guarded = io.of("/guarded");
  guarded.use((socket, next) => {
    if (socket.handshake.auth.token === "secret") return next();
    next(Object.assign(new Error("unauthorized"), { data: { reason: "bad token", code: 4401 } }));
  });
  guarded.on("connection", wire);
  return io;
}
