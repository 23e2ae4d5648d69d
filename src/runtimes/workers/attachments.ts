/**
 * What each hibernatable WebSocket carries so a woken object can rebuild its
 * session: the engine snapshot, the Socket.IO sockets on it (namespace, id,
 * rooms, data, auth), when it opened and when it was last pinged.
 *
 * The runtime keeps at most 16 KiB per attachment. A state that outgrows it
 * (long room lists, big `socket.data`, a long header list) moves to the
 * object's SQLite storage under the sid, and the attachment only says so.
 * SQLite writes are billed rows, so only those large states pay for them.
 */
import type { SessionSnapshot } from "../../engine/session.ts";
import type { SocketSnapshot } from "../../socket/restore.ts";
import type { CfWebSocket, SqlStorage } from "./platform.ts";

/** The limit the runtime enforces (checked in workerd: "cannot be larger than 16384 bytes"). */
export const ATTACHMENT_LIMIT = 16384;
/** Room left for the envelope around the document string. */
const ENVELOPE = 256;

/** The state of one WebSocket session. */
export interface SessionDoc {
  /** The engine session. */
  e: SessionSnapshot;
  /** When the session opened (ms). */
  t: number;
  /** Its Socket.IO sockets, when the object hosts a Server. */
  s?: SocketSnapshot[];
}

/** Heartbeat facts kept beside the document: last ping sent, last pong seen (ms). */
export interface Beat {
  p: number | null;
  q: number | null;
}

/** The attachment itself: the document inline (`d`) or in SQLite (`x`), and the heartbeat facts. */
interface Envelope extends Beat {
  v: 1;
  sid: string;
  d?: string;
  x?: 1;
}

/** Serialized size of a string in a structured clone: one byte per char for Latin-1, else two. */
function cloneSize(text: string): number {
  // biome-ignore lint: the range test is the point
  return /[^\x00-\xff]/.test(text) ? text.length * 2 : text.length;
}

export class AttachmentStore {
  #tableReady = false;
  /** Rows written to SQLite (billed); for measurements. */
  rowWrites = 0;

  constructor(readonly sql: SqlStorage | undefined) {}

  /**
   * Writes `doc` (already JSON) with the ping time. Returns false when the
   * state is too large and the class has no SQLite storage.
   */
  write(ws: CfWebSocket, sid: string, json: string, beat: Beat, wasExternal: boolean): "inline" | "external" | false {
    if (cloneSize(json) + ENVELOPE <= ATTACHMENT_LIMIT) {
      ws.serializeAttachment({ v: 1, sid, d: json, p: beat.p, q: beat.q } satisfies Envelope);
      if (wasExternal) this.delete(sid);
      return "inline";
    }
    const sql = this.#table();
    if (!sql) return false;
    sql.exec("INSERT OR REPLACE INTO unio_ws (sid, doc) VALUES (?, ?)", sid, json);
    this.rowWrites++;
    ws.serializeAttachment({ v: 1, sid, x: 1, p: beat.p, q: beat.q } satisfies Envelope);
    return "external";
  }

  /** Updates only the heartbeat facts of a written document, keeping it where it is. */
  touch(ws: CfWebSocket, sid: string, json: string, external: boolean, beat: Beat): void {
    ws.serializeAttachment(
      (external ? { v: 1, sid, x: 1, p: beat.p, q: beat.q } : { v: 1, sid, d: json, p: beat.p, q: beat.q }) satisfies Envelope,
    );
  }

  /** Reads what a WebSocket carries; `null` for sockets that never became a session (probes). */
  read(ws: CfWebSocket): { sid: string; doc: SessionDoc; json: string; external: boolean; beat: Beat } | null {
    let env: Envelope | null;
    try {
      env = ws.deserializeAttachment() as Envelope | null;
    } catch {
      return null;
    }
    if (!env || env.v !== 1 || typeof env.sid !== "string") return null;
    let json = env.d;
    if (env.x) {
      const rows = this.#table()?.exec<{ doc: string }>("SELECT doc FROM unio_ws WHERE sid = ?", env.sid).toArray();
      json = rows?.[0]?.doc;
    }
    if (typeof json !== "string") return null;
    try {
      const beat = { p: env.p ?? null, q: env.q ?? null };
      return { sid: env.sid, doc: JSON.parse(json) as SessionDoc, json, external: !!env.x, beat };
    } catch {
      return null;
    }
  }

  delete(sid: string): void {
    const sql = this.#table();
    if (!sql) return;
    sql.exec("DELETE FROM unio_ws WHERE sid = ?", sid);
    this.rowWrites++;
  }

  /** Drops rows of sessions no longer held (their socket closed while the object was gone). */
  prune(live: Set<string>): void {
    const sql = this.sql;
    if (!sql) return;
    const exists = sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'unio_ws'").toArray();
    if (exists.length === 0) return;
    for (const { sid } of sql.exec<{ sid: string }>("SELECT sid FROM unio_ws").toArray()) {
      if (!live.has(sid)) this.delete(sid);
    }
  }

  #table(): SqlStorage | undefined {
    const sql = this.sql;
    if (sql && !this.#tableReady) {
      sql.exec("CREATE TABLE IF NOT EXISTS unio_ws (sid TEXT PRIMARY KEY, doc TEXT NOT NULL)");
      this.#tableReady = true;
    }
    return sql;
  }
}
