/**
 * What runs inside each Durable Object: an Engine or a Socket.IO Server,
 * fed by the object's events, whose state survives hibernation.
 *
 *   object event          host                              core
 *   ────────────          ────                              ────
 *   fetch (polling, WS) ─▶ pongs the runtime answered ─▶ handleWebRequest ─▶ Engine
 *   webSocketMessage ────▶ connection.handler.onMessage ───────────────────▶ session
 *   webSocketClose/Error ▶ connection.handler.onClose/onError ─────────────▶ session
 *   alarm ───────────────▶ pongs the runtime answered, then the clock's one timer
 *   constructor ─────────▶ rebuild: every live WebSocket's attachment ─▶ Engine.restore
 *                                                                    └─▶ restoreClient
 *
 * After each event the sessions whose state changed are written back to
 * their WebSockets' attachments (see attachments.ts), so the object can be
 * evicted at any moment it is idle.
 */
import { Engine } from "../../engine/engine.ts";
import { generateId } from "../../engine/id.ts";
import type { EngineOptions } from "../../engine/options.ts";
import type { EngineSession } from "../../engine/session.ts";
import type { EngineSocket } from "../../engine/types.ts";
import { handleWebRequest } from "../../engine/web.ts";
import { restoreClient, SocketTracker } from "../../socket/restore.ts";
import type { Server } from "../../socket/server.ts";
import { AttachmentStore, type SessionDoc } from "./attachments.ts";
import { AlarmClock } from "./clock.ts";
import { type ConnectionOwner, DoWsConnection } from "./connection.ts";
import { AutoPongs, PONG } from "./auto-pong.ts";
import {
  type CfWebSocket,
  type DurableObjectState,
  newWebSocketPair,
  type SqlStorage,
  webSocketResponse,
} from "./platform.ts";
import { sidPrefix } from "./sid.ts";

// biome-ignore lint: the host serves servers of any event typing
type AnyServer = Server<any, any, any, any>;
export type Hosted = Engine | AnyServer;

/** Options only the Workers host reads. */
export interface WorkersOptions {
  /**
   * Let the runtime answer the client's heartbeat PONG (`3`) with a noop
   * (`6`, which clients ignore) without waking the object. Default true.
   */
  autoPong?: boolean;
  /** Adds test-only RPC methods that drop the object's memory and rebuild it. Default false. */
  testHooks?: boolean;
}

/** Counters of what woke the object and what it wrote; for measurements and tests. */
export interface HostStats {
  fetches: number;
  messages: number;
  alarms: number;
  rebuilds: number;
  restoredSessions: number;
  autoPongs: number;
  alarmWrites: number;
  rowWrites: number;
  /** How late the runtime delivered the alarms it was asked for: worst and mean, ms. */
  alarmLateMax: number;
  alarmLateMean: number;
}

export class DurableHost implements ConnectionOwner {
  readonly clock: AlarmClock;
  readonly target: Hosted;
  readonly engine: Engine;
  readonly server: AnyServer | null;
  readonly store: AttachmentStore;
  tracker: SocketTracker | null = null;
  /** Pongs the runtime answers without waking the object (auto-pong.ts). */
  readonly pongs: AutoPongs;
  readonly conns = new Map<CfWebSocket, DoWsConnection>();
  /** Sessions whose transport is a WebSocket of this object. */
  readonly bySid = new Map<string, DoWsConnection>();
  readonly #probes = new Map<string, DoWsConnection>();
  readonly #dirty = new Set<string>();
  readonly #watched = new WeakSet<EngineSocket>();
  #flush: Promise<void> | null = null;
  #opening: DoWsConnection | null = null;
  #disposed = false;
  #counts = { fetches: 0, messages: 0, alarms: 0, rebuilds: 0, restoredSessions: 0 };

  constructor(
    readonly ctx: DurableObjectState,
    make: (options: EngineOptions) => Hosted,
    options: EngineOptions & WorkersOptions,
    readonly onStart: (target: Hosted) => void | Promise<void>,
  ) {
    this.clock = new AlarmClock(ctx.storage);
    this.store = new AttachmentStore(sqlOf(ctx));
    const prefix = sidPrefix(ctx.id.toString());
    const userId = options.generateId;
    this.target = make({
      ...options,
      clock: this.clock,
      timerGranularity: options.timerGranularity ?? defaultGranularity(options.pingTimeout ?? 20_000),
      generateId: async (req) => prefix + (userId ? await userId(req) : generateId()),
    });
    this.engine = this.target instanceof Engine ? this.target : this.target.engine;
    this.server = this.target instanceof Engine ? null : this.target;
    const { pingInterval, pingTimeout } = this.engine.opts;
    this.pongs = new AutoPongs(ctx, this.clock, options.autoPong !== false, pingInterval, pingTimeout);
  }

  /** Runs the app's setup, then takes over the WebSockets the object still holds. */
  async start(): Promise<void> {
    await this.clock.load();
    await this.onStart(this.target);
    if (this.server) this.tracker = new SocketTracker(this.server, (sid) => this.markDirty(sid));
    this.engine.on("connection", this.#onSession);
    this.pongs.install();
    this.#rebuild();
  }

  get stats(): HostStats {
    const c = this.clock;
    return {
      ...this.#counts,
      autoPongs: this.pongs.seen,
      alarmWrites: c.writes,
      rowWrites: this.store.rowWrites,
      alarmLateMax: c.lateMax,
      alarmLateMean: c.fired === 0 ? 0 : Math.round(c.lateSum / c.fired),
    };
  }

  // ── object events ─────────────────────────────────────────────────────

  async fetch(request: Request): Promise<Response> {
    this.#counts.fetches++;
    // Pongs the runtime answered are collected by the alarm only: no deadline fires during a
    // fetch, and looking at every awaiting socket on each handshake made opening n sockets O(n²).
    const response = await handleWebRequest(this.target, request, {
      remoteAddress: request.headers.get("cf-connecting-ip") ?? undefined,
      upgrade: (accept) => {
        const { client, server } = newWebSocketPair();
        this.ctx.acceptWebSocket(server);
        const conn = new DoWsConnection(server, this);
        conn.openedAt = Date.now();
        this.conns.set(server, conn);
        const sid = new URL(request.url).searchParams.get("sid");
        this.#opening = conn;
        try {
          conn.handler = accept.open(conn);
        } finally {
          this.#opening = null;
        }
        if (conn.closed) {
          // The engine closed it on opening (a second WebSocket for a session already upgraded
          // or upgrading). A hibernatable socket closed before its 101 is out never completes
          // its closing handshake in workerd: the client gets a plain accepted one, closed.
          this.conns.delete(server);
          const refused = newWebSocketPair();
          (refused.server as CfWebSocket & { accept(): void }).accept();
          closeQuietly(refused.server, 1000, "");
          return webSocketResponse(refused.client, accept.headers);
        }
        if (sid) {
          conn.sid = sid;
          this.#probes.set(sid, conn);
        }
        return webSocketResponse(client, accept.headers);
      },
    });
    await this.#settled();
    return response ?? new Response(null, { status: 500 });
  }

  async onMessage(ws: CfWebSocket, message: string | ArrayBuffer): Promise<void> {
    this.#counts.messages++;
    const conn = this.conns.get(ws);
    if (!conn) return closeQuietly(ws, 1011, "unknown connection");
    const data = typeof message === "string" ? message : new Uint8Array(message);
    if (data === PONG && conn.sid !== null) {
      // A pong that reached the object (auto-response off): keep its time for a rebuild.
      conn.pongAt = Date.now();
      this.#touch(conn);
    }
    conn.handler?.onMessage(data);
    if (conn.sid !== null) this.markDirty(conn.sid);
    await this.#settled();
  }

  async onClose(ws: CfWebSocket, code: number, reason: string): Promise<void> {
    const conn = this.conns.get(ws);
    this.conns.delete(ws);
    // Complete the closing handshake; a no-op if the runtime already did.
    closeQuietly(ws, code === 1005 || code === 1006 ? 1000 : code, reason);
    conn?.handler?.onClose(code, reason);
    await this.#settled();
  }

  async onError(ws: CfWebSocket, error: unknown): Promise<void> {
    const conn = this.conns.get(ws);
    this.conns.delete(ws);
    conn?.handler?.onError?.(error);
    conn?.handler?.onClose(1006, "");
    await this.#settled();
  }

  async onAlarm(): Promise<void> {
    this.#counts.alarms++;
    this.pongs.collect();
    this.clock.fire();
    this.pongs.armWake();
    await this.#settled();
  }

  /**
   * Forgets everything in memory without touching the hibernatable
   * WebSockets, as an eviction does. Polling sessions end here: a real
   * eviction cannot happen while a GET is held, and the next poll would find
   * no session.
   */
  dispose(): void {
    for (const session of [...this.engine.clients.values()]) {
      if (session.transport.name === "polling") session.close(true);
    }
    this.#disposed = true;
    for (const conn of this.conns.values()) conn.dead = true;
    this.engine.scheduler.clear();
    this.engine.off("connection", this.#onSession);
  }

  // ── ConnectionOwner ───────────────────────────────────────────────────

  onPingSent(conn: DoWsConnection): void {
    // Wall time: compared with the runtime's auto-response times, and stored for a rebuild.
    conn.pingAt = this.clock.wallNow();
    this.pongs.pinged(conn);
    this.#touch(conn);
    // socket.data changed by code that ran for another socket is caught here, once per ping
    // interval per session, each at its own ping: spread over the sessions' phases. (Marking
    // every session at once, once per interval, made one alarm serialize all of them: with
    // 10,000 sockets a stall of about a second, and every deadline behind it that late.)
    if (conn.sid !== null) this.markDirty(conn.sid);
  }

  autoPongAt(conn: DoWsConnection): number | null {
    const at = this.pongs.at(conn);
    // The session compares it with its own ping time, on the engine's (monotonic) clock.
    return at === null ? null : this.clock.toMonotonic(at);
  }

  // ── sessions ──────────────────────────────────────────────────────────

  readonly #onSession = (socket: EngineSocket): void => {
    const opening = this.#opening;
    if (opening && opening.sid === null && socket.transport.name === "websocket") {
      opening.sid = socket.id;
      this.bySid.set(socket.id, opening);
      this.markDirty(socket.id);
    }
    this.#watch(socket);
  };

  #watch(socket: EngineSocket): void {
    if (this.#watched.has(socket)) return;
    this.#watched.add(socket);
    const sid = socket.id;
    socket.on("upgrade", () => {
      const conn = this.#probes.get(sid);
      this.#probes.delete(sid);
      if (!conn) return;
      this.bySid.set(sid, conn);
      this.markDirty(sid);
    });
    socket.on("close", () => {
      const conn = this.bySid.get(sid);
      this.bySid.delete(sid);
      this.#probes.delete(sid);
      this.#dirty.delete(sid);
      if (!conn) return;
      this.pongs.forget(conn);
      if (conn.external) this.store.delete(sid);
    });
  }

  /** Takes over the WebSockets a previous instance of the object accepted. */
  #rebuild(): void {
    const sockets = this.ctx.getWebSockets();
    if (sockets.length === 0) return;
    this.#counts.rebuilds++;
    const live = new Set<string>();
    for (const ws of sockets) {
      const stored = this.store.read(ws);
      if (!stored || this.engine.clients.has(stored.sid)) {
        // A probe caught mid-upgrade, or a state that did not survive: the client reconnects.
        closeQuietly(ws, 1011, "session lost");
        continue;
      }
      const conn = new DoWsConnection(ws, this);
      conn.sid = stored.sid;
      conn.openedAt = stored.doc.t;
      conn.json = stored.json;
      conn.external = stored.external;
      conn.pingAt = stored.beat.p;
      conn.pongAt = stored.beat.q;
      const { socket, handler } = this.engine.restore(stored.doc.e, conn, this.#pingDelay(conn), this.#awaitingPong(conn));
      conn.handler = handler;
      this.conns.set(ws, conn);
      this.bySid.set(stored.sid, conn);
      live.add(stored.sid);
      this.#counts.restoredSessions++;
      this.#watch(socket);
      if (this.server) restoreClient(this.server, socket, stored.doc.s ?? []);
      // A standalone Engine announces the session again so the app re-attaches its listeners.
      else this.engine.emit("connection", socket);
    }
    this.store.prune(live);
  }

  /**
   * A ping the session sent before the eviction and no pong since (none the
   * runtime answered either): its PONG deadline, pingTimeout after the ping,
   * is kept, so a dead client is closed when it would have been without the
   * eviction (due already: at once). Re-sending the ping instead closed it
   * a whole pingTimeout late, 20 s with the defaults, whenever the object
   * hibernated between a ping and its deadline.
   */
  #awaitingPong(conn: DoWsConnection): { sentAt: number; delay: number } | undefined {
    if (conn.pingAt === null) return undefined;
    const pong = Math.max(this.pongs.at(conn) ?? -Infinity, conn.pongAt ?? -Infinity);
    if (pong >= conn.pingAt) return undefined;
    const delay = Math.max(0, conn.pingAt + this.engine.opts.pingTimeout - Date.now());
    return { sentAt: this.clock.toMonotonic(conn.pingAt), delay };
  }

  /**
   * When a restored session pings next (when no ping is awaiting its pong:
   * see #awaitingPong). Rounded up to the timer granularity, as the
   * scheduler rounds its wakes: never early (a deadline fires at or after
   * its time on every runtime), at most one step late, and restored entries
   * share a few scheduler queues instead of one each.
   */
  #pingDelay(conn: DoWsConnection): number {
    const { pingInterval, timerGranularity } = this.engine.opts;
    const now = Date.now();
    const auto = this.pongs.at(conn);
    const pong = Math.max(auto ?? -Infinity, conn.pongAt ?? -Infinity);
    let due: number;
    if (conn.pingAt === null) due = conn.openedAt + pingInterval;
    else if (pong >= conn.pingAt) due = pong + pingInterval;
    else due = now;
    const g = Math.max(1, timerGranularity);
    return Math.max(0, Math.ceil((due - now) / g) * g);
  }

  // ── persistence ───────────────────────────────────────────────────────

  /** Notes that session `sid` changed; it is written back once the current event settles. */
  markDirty(sid: string): void {
    if (this.#disposed || !this.bySid.has(sid)) return;
    this.#dirty.add(sid);
    this.#flush ??= new Promise<void>((resolve) =>
      setTimeout(() => {
        this.#flush = null;
        this.#writeDirty();
        resolve();
      }, 0),
    );
  }

  /** Resolves once the writes queued by this event are done (the event then ends). */
  #settled(): Promise<void> {
    return this.#flush ?? Promise.resolve();
  }

  #writeDirty(): void {
    if (this.#disposed) return;
    for (const sid of this.#dirty) {
      const conn = this.bySid.get(sid);
      if (!conn || conn.dead) continue;
      const doc = this.#doc(sid, conn);
      if (!doc) continue;
      let json: string;
      try {
        json = JSON.stringify(doc);
      } catch (err) {
        console.error(`unio: the state of session ${sid} is not JSON (socket.data?); it will not survive hibernation`, err);
        continue;
      }
      if (json === conn.json) continue;
      const where = this.store.write(conn.ws, sid, json, { p: conn.pingAt, q: conn.pongAt }, conn.external);
      if (where === false) {
        console.error(`unio: the state of session ${sid} exceeds 16 KiB and the class has no SQLite storage`);
        continue;
      }
      conn.json = json;
      conn.external = where === "external";
    }
    this.#dirty.clear();
  }

  #doc(sid: string, conn: DoWsConnection): SessionDoc | null {
    const session = this.engine.clients.get(sid) as EngineSession | undefined;
    const e = session?.snapshot();
    if (!e) return null;
    const doc: SessionDoc = { e, t: conn.openedAt };
    if (this.tracker) doc.s = this.tracker.snapshot(sid);
    return doc;
  }

  /** Rewrites the heartbeat facts of a session already written. */
  #touch(conn: DoWsConnection): void {
    if (conn.json === null || conn.sid === null || conn.dead) return;
    this.store.touch(conn.ws, conn.sid, conn.json, conn.external, { p: conn.pingAt, q: conn.pongAt });
  }
}

/**
 * Wake-ups are billed, so deadlines close together share one; but every
 * deadline must still fire within 100 ms of its time, as on a server with
 * exact timers. A heartbeat can add two roundings (the ping goes out up to
 * one step late, its PONG deadline is then rounded again unless pingTimeout
 * is a multiple of the step), and the alarm itself is delivered a few ms
 * late: 40 ms steps keep the sum under 100 ms. Short pingTimeouts get a
 * tenth of it, so heartbeats keep their margin. (A step of 1 s, used before,
 * closed dead clients and fired connect and ack timeouts up to 1 s late.)
 */
export const MAX_GRANULARITY_MS = 40;

function defaultGranularity(pingTimeout: number): number {
  return Math.max(1, Math.min(MAX_GRANULARITY_MS, Math.floor(pingTimeout / 10)));
}

function closeQuietly(ws: CfWebSocket, code: number, reason: string): void {
  try {
    ws.close(code, reason);
  } catch {
    // Already closed.
  }
}

function sqlOf(ctx: DurableObjectState): SqlStorage | undefined {
  try {
    return ctx.storage.sql;
  } catch {
    // A key-value backed class: states over 16 KiB cannot be kept.
    return undefined;
  }
}
