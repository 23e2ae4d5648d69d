/**
 * The Worker bench/workers-scale.ts runs in workerd: one Durable Object
 * class with the defaults (pingInterval 25 s, pingTimeout 20 s, the default
 * timer step) and one with `timerGranularity: 1000`, behind `route()`.
 *
 * The fixture counts at the platform's edges, in module state (one isolate
 * holds the Worker and its objects in workerd, and it outlives an object
 * that hibernates and is rebuilt, whose own `unioTestStats()` start again at
 * zero): each class is subclassed to count its constructions and the events
 * that wake it (alarm, webSocketMessage, fetch), and its storage API is
 * wrapped once at setup (workerd itself cannot be patched; the wrappers are
 * plain JS around the same calls) to count setAlarm / deleteAlarm, put /
 * delete, SQL statements that write, and attachments written. /__bench/stats
 * reads them.
 */
import { defineDurableServer } from "../src/runtimes/workers.ts";
import type { CfWebSocket, DurableObjectState } from "../src/runtimes/workers/platform.ts";
import type { Server } from "../src/index.ts";

type Env = { DEFAULTS: any; COARSE: any };
type Kind = "defaults" | "coarse";

const KEYS = ["constructed", "alarms", "messages", "fetches", "setAlarm", "deleteAlarm", "put", "delete", "sqlWrites", "pingsSent", "alarmLateSum", "alarmLateMax"] as const;
type Counts = Record<(typeof KEYS)[number], number> & { lastAlarmSet: number };
const counts: Record<Kind, Counts> = {
  defaults: { ...(Object.fromEntries(KEYS.map((k) => [k, 0])) as Counts), lastAlarmSet: 0 },
  coarse: { ...(Object.fromEntries(KEYS.map((k) => [k, 0])) as Counts), lastAlarmSet: 0 },
};

/** Attachment writes (serializeAttachment: kept by the runtime with each socket, not a billed write). */
let attachmentsWritten = 0;
const proto = (globalThis as unknown as { WebSocket?: { prototype: Record<string, unknown> } }).WebSocket?.prototype;
if (proto && typeof proto.serializeAttachment === "function") {
  const original = proto.serializeAttachment as (this: unknown, v: unknown) => void;
  proto.serializeAttachment = function (this: unknown, v: unknown) {
    attachmentsWritten++;
    return original.call(this, v);
  };
}

function setup(kind: Kind) {
  return (io: Server, _env: Env, ctx: DurableObjectState): void => {
    const c = counts[kind];
    const storage = ctx.storage as unknown as Record<string, (...args: unknown[]) => unknown>;
    for (const name of ["setAlarm", "deleteAlarm", "put", "delete"] as const) {
      const original = storage[name];
      if (typeof original !== "function" || (original as { counted?: boolean }).counted) continue;
      const wrapped = (...args: unknown[]) => {
        c[name]++;
        if (name === "setAlarm") c.lastAlarmSet = Number(args[0]);
        return original.apply(ctx.storage, args);
      };
      (wrapped as { counted?: boolean }).counted = true;
      storage[name] = wrapped;
    }
    const sql = (ctx.storage as unknown as { sql?: { exec: (q: string, ...b: unknown[]) => unknown; counted?: boolean } }).sql;
    if (sql && !sql.counted) {
      const exec = sql.exec;
      sql.exec = (q: string, ...b: unknown[]) => {
        if (/^\s*(INSERT|UPDATE|DELETE|REPLACE)/i.test(q)) c.sqlWrites++;
        return exec.call(sql, q, ...b);
      };
      sql.counted = true;
    }
    // Restored sockets connect again (socket.recovered): each engine session gets one listener per host.
    io.on("connection", (socket) => {
      socket.conn.on("packetCreate", (p: { type: string }) => {
        if (p.type === "ping") c.pingsSent++;
      });
    });
  };
}

function counted(kind: Kind, Base: ReturnType<typeof defineDurableServer<Env>>) {
  const c = counts[kind];
  return class extends Base {
    constructor(ctx: DurableObjectState, env: Env) {
      super(ctx, env);
      c.constructed++;
    }
    override alarm(): Promise<void> {
      c.alarms++;
      const late = Math.max(0, Date.now() - c.lastAlarmSet);
      c.alarmLateSum += late;
      c.alarmLateMax = Math.max(c.alarmLateMax, late);
      return super.alarm();
    }
    override webSocketMessage(ws: CfWebSocket, message: string | ArrayBuffer): Promise<void> {
      c.messages++;
      return super.webSocketMessage(ws, message);
    }
    override fetch(request: Request): Promise<Response> {
      c.fetches++;
      return super.fetch(request);
    }
  };
}

export const DefaultsObject = counted("defaults", defineDurableServer<Env>(setup("defaults"), { testHooks: true }));
export const CoarseObject = counted("coarse", defineDurableServer<Env>(setup("coarse"), { timerGranularity: 1000, testHooks: true }));

const defaults = DefaultsObject.route("DEFAULTS");
const coarse = CoarseObject.route("COARSE");

export default {
  async fetch(req: Request, env: Env, ctx: any): Promise<Response> {
    const url = new URL(req.url);
    const kind: Kind = url.searchParams.get("kind") === "coarse" ? "coarse" : "defaults";
    if (url.pathname === "/__bench/stats") {
      const c = counts[kind];
      return Response.json({ ...c, alarmLateMean: c.alarms === 0 ? 0 : c.alarmLateSum / c.alarms, attachmentsWritten });
    }
    return (kind === "coarse" ? coarse : defaults).fetch(req, env, ctx);
  },
};
