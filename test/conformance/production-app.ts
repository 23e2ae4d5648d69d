/**
 * The production controls of the fixture app (production.test.ts), off
 * unless the fixture's environment asks: `FIXTURE_PRODUCTION` (JSON merged
 * into the Socket.IO server's options) and `FIXTURE_ENGINE_PRODUCTION` (the
 * same for the Engine.IO echo server). The handlers below only read what
 * unio adds, so they are installed on unio's servers only.
 */
import type { Server } from "../../src/index.ts";
import type { Namespace } from "../../src/socket/namespace.ts";
import type { Socket } from "../../src/socket/socket.ts";
import { DRAIN_REPORT_MARK, type DrainReport } from "./drain-report.ts";

type Env = (name: string) => string | undefined;
type Ack = (...args: unknown[]) => void;

function json(env: Env, name: string): Record<string, unknown> | undefined {
  const raw = env(name);
  return raw ? (JSON.parse(raw) as Record<string, unknown>) : undefined;
}

/** Events each socket delivered to its listeners, and whether "limited" was sent already. */
const delivered = new WeakMap<object, number>();
const warned = new WeakSet<object>();

/** Options for `new Server()`: the JSON, and an `eventRateLimit.onLimited` that tells the client once. */
export function productionIoOptions(env: Env): Record<string, unknown> {
  const o = json(env, "FIXTURE_PRODUCTION");
  if (!o) return {};
  const rate = o.eventRateLimit as Record<string, unknown> | undefined;
  if (rate) {
    rate.onLimited = (socket: Socket, event: string) => {
      if (warned.has(socket)) return;
      warned.add(socket);
      socket.emit("limited", event);
    };
  }
  return o;
}

export function productionEngineOptions(env: Env): Record<string, unknown> {
  return json(env, "FIXTURE_ENGINE_PRODUCTION") ?? {};
}

/** Whether the production handlers go in (never on the reference server, which lacks the API). */
export function productionWanted(env: Env): boolean {
  return env("FIXTURE_PRODUCTION") !== undefined;
}

/**
 * Per socket:
 * - `count` (any args): counted as delivered; `counted` acks that count,
 *   `counted-of` (id) that of socket `id` of "/";
 * - `metrics` acks `io.metrics()`, `metrics-text` the Prometheus text;
 * - `ask-default` / `ask-room-default`: the server asks this client, or a
 *   room, with `emitWithAck` and no `timeout()` (so `ackTimeout` applies);
 * - `fill` {target, count, size}: emits `count` "blob"s of `size` chars to
 *   socket `target` (a client that does not read) and acks its
 *   `conn.bufferedAmount`; `buffered` {target} acks it again. The target's
 *   conn "drain" events are reported to /observer as `drained` (id).
 * - `volatile-flood` {target, count}: `count` volatile emits to `target`,
 *   acks how many metrics say were dropped; `volatile-room` {room, count}
 *   the same as room broadcasts.
 * - `start-drain` (timeout): acks `{ started, connections }`, then calls
 *   `io.drain({ timeout })`. No client is left to tell when it resolves, so
 *   the fixture prints a `UNIO_DRAINED <DrainReport>` line on its stdout
 *   (drain-report.ts); every socket's disconnect during the drain is in it.
 */
export function installProductionHandlers(io: Server, socket: Socket, observer: Namespace): void {
  const nsp = socket.nsp as Namespace;
  socket.on("count", () => delivered.set(socket, (delivered.get(socket) ?? 0) + 1));
  socket.on("counted", (ack: Ack) => ack(delivered.get(socket) ?? 0));
  socket.on("counted-of", (id: string, ack: Ack) => {
    const target = io.of("/").sockets.get(id);
    ack(target ? (delivered.get(target) ?? 0) : -1);
  });
  socket.on("metrics", (ack: Ack) => ack(io.metrics()));
  socket.on("metrics-text", (ack: Ack) => ack(io.metrics({ format: "prometheus" })));
  socket.on("ask-default", async (event: string, ack: Ack) => {
    try {
      ack({ ok: true, value: await socket.emitWithAck(event) });
    } catch (err) {
      ack({ ok: false, error: (err as Error).message });
    }
  });
  socket.on("ask-room-default", async (spec: { room: string; event: string }, ack: Ack) => {
    try {
      ack({ ok: true, responses: await nsp.to(spec.room).emitWithAck(spec.event) });
    } catch (err) {
      ack({ ok: false, error: (err as Error).message, responses: (err as { responses?: unknown }).responses });
    }
  });
  socket.on("fill", (spec: { target: string; count: number; size: number }, ack: Ack) => {
    const target = nsp.sockets.get(spec.target);
    if (!target) return ack({ error: "no such socket" });
    if (!watched.has(target.conn)) {
      watched.add(target.conn);
      target.conn.on("drain", () => observer.emit("drained", spec.target));
    }
    const blob = "b".repeat(spec.size);
    for (let i = 0; i < spec.count; i++) target.emit("blob", blob);
    ack({ bufferedAmount: target.conn.bufferedAmount, open: target.conn.readyState === "open" });
  });
  socket.on("buffered", (spec: { target: string }, ack: Ack) => {
    const target = nsp.sockets.get(spec.target);
    ack({ bufferedAmount: target?.conn.bufferedAmount ?? -1 });
  });
  socket.on("disconnect", (reason: string) => {
    if (io.draining) drainDepartures.push({ at: Date.now(), reason, transport: socket.conn.transport.name });
  });
  socket.on("start-drain", (timeout: number, ack: Ack) => {
    const started = Date.now();
    // Acked first: the drain may close this very connection at once (the first slot).
    ack({ started, connections: io.engine.clientsCount });
    io.drain({ timeout }).then(() => {
      const report: DrainReport = {
        started,
        resolvedAt: Date.now(),
        draining: io.draining,
        connections: io.engine.clientsCount,
        drain: io.metrics().drain,
        departures: drainDepartures,
      };
      console.log(`${DRAIN_REPORT_MARK} ${JSON.stringify(report)}`);
    });
  });
  socket.on("volatile-room", (spec: { room: string; count: number }, ack: Ack) => {
    const before = io.metrics().volatileDropped;
    for (let i = 0; i < spec.count; i++) nsp.to(spec.room).volatile.emit("tick", i);
    ack({ dropped: io.metrics().volatileDropped - before });
  });
  socket.on("volatile-flood", (spec: { target: string; count: number }, ack: Ack) => {
    const target = nsp.sockets.get(spec.target);
    const before = io.metrics().volatileDropped;
    for (let i = 0; i < spec.count; i++) target?.volatile.emit("tick", i);
    ack({ dropped: io.metrics().volatileDropped - before });
  });
}

const watched = new WeakSet<object>();
/** Every socket that disconnected while the server drained: when (fixture clock), why, on which transport. */
const drainDepartures: DrainReport["departures"] = [];
