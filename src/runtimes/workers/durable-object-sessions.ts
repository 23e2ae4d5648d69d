/**
 * Connection state recovery storage in SQL (a Durable Object's SQLite): the
 * broadcast packets a reconnecting client may have missed, and the state of
 * sockets that disconnected, kept for `maxDisconnectionDuration`. In memory
 * (SessionAwareAdapter) they would not survive the object's eviction, and a
 * client that comes back after two idle minutes finds an evicted object.
 *
 * Each stored packet and session is a billed row write. Expired rows are
 * dropped on writes, at most once a minute: no timer keeps the object awake.
 * Offsets are unique strings; their order is the local arrival order, so a
 * packet relayed from another object is stored under the offset its origin
 * gave it and found again by a client reconnecting here.
 */
import { decodeBase64, encodeBase64 } from "../../protocol/base64.ts";
import { type KeptTargets, type SessionStore, wasRecipient } from "../../socket/session-store.ts";
import type { PrivateSessionId, Room, Session, SessionToPersist } from "../../socket/types.ts";

/** The slice of a SQL API used here (Durable Objects' `ctx.storage.sql`). */
export interface SqlLike {
  exec<T = Record<string, unknown>>(query: string, ...bindings: unknown[]): { toArray(): T[] };
}

const SWEEP_EVERY = 60_000;
const BINARY = "$unio_bin";

/** JSON that keeps binary attachments (as base64 in a marker object). */
function toJson(value: unknown): string {
  return JSON.stringify(value, function (this: unknown, _key, v) {
    if (v instanceof Uint8Array) return { [BINARY]: encodeBase64(v) };
    if (v instanceof ArrayBuffer) return { [BINARY]: encodeBase64(new Uint8Array(v)) };
    if (ArrayBuffer.isView(v)) return { [BINARY]: encodeBase64(new Uint8Array(v.buffer, v.byteOffset, v.byteLength)) };
    return v;
  });
}

function fromJson(text: string): unknown {
  return JSON.parse(text, (_key, v) => {
    if (v && typeof v === "object" && typeof v[BINARY] === "string" && Object.keys(v).length === 1) {
      return decodeBase64(v[BINARY]) ?? new Uint8Array(0);
    }
    return v;
  });
}

interface StoredOpts {
  rooms: Room[];
  except: Room[];
}

/**
 * The sessions and kept packets of one namespace, in the object's SQLite
 * (tables shared by the object's namespaces, told apart by a column).
 *
 * @example
 * const store = new SqlSessionStore(ctx.storage.sql, "/", 120_000);
 * const adapter = new SessionAwareAdapter(nsp, store);
 */
export class SqlSessionStore implements SessionStore {
  #lastSweep = 0;
  #ready = false;
  /** Rows written (billed); for measurements. */
  writes = 0;

  constructor(
    readonly sql: SqlLike,
    readonly nsp: string,
    readonly maxDisconnectionDuration: number,
    readonly now: () => number = () => Date.now(),
  ) {}

  #init(): SqlLike {
    if (!this.#ready) {
      this.sql.exec(
        "CREATE TABLE IF NOT EXISTS unio_csr_packets (seq INTEGER PRIMARY KEY AUTOINCREMENT, nsp TEXT NOT NULL, offset TEXT NOT NULL UNIQUE, opts TEXT NOT NULL, data TEXT NOT NULL, at INTEGER NOT NULL)",
      );
      this.sql.exec(
        "CREATE TABLE IF NOT EXISTS unio_csr_sessions (pid TEXT PRIMARY KEY, nsp TEXT NOT NULL, doc TEXT NOT NULL, at INTEGER NOT NULL)",
      );
      this.#ready = true;
    }
    return this.sql;
  }

  /** Keeps a broadcast whose `data` already ends with its offset. */
  keepPacket(data: unknown[], targets: KeptTargets): void {
    const offset = data[data.length - 1];
    if (typeof offset !== "string") return;
    const stored: StoredOpts = { rooms: [...targets.rooms], except: [...(targets.except ?? [])] };
    this.#init().exec(
      "INSERT OR IGNORE INTO unio_csr_packets (nsp, offset, opts, data, at) VALUES (?, ?, ?, ?, ?)",
      this.nsp,
      offset,
      JSON.stringify(stored),
      toJson(data),
      this.now(),
    );
    this.writes++;
    this.#sweep();
  }

  persistSession(session: SessionToPersist): void {
    this.#init().exec(
      "INSERT OR REPLACE INTO unio_csr_sessions (pid, nsp, doc, at) VALUES (?, ?, ?, ?)",
      session.pid,
      this.nsp,
      toJson(session),
      this.now(),
    );
    this.writes++;
    this.#sweep();
  }

  /**
   * The session of `pid` with the packets after `offset` its rooms would
   * have received; null when unknown, expired or the offset is gone. A
   * restored session is removed, so one pid is restored once.
   */
  restoreSession(pid: PrivateSessionId, offset: string): Session | null {
    const nsp = this.nsp;
    const sql = this.#init();
    const cutoff = this.now() - this.maxDisconnectionDuration;
    const row = sql
      .exec<{ doc: string; at: number }>("SELECT doc, at FROM unio_csr_sessions WHERE pid = ? AND nsp = ?", pid, nsp)
      .toArray()[0];
    if (!row || row.at < cutoff) return null;
    const from = sql.exec<{ seq: number }>("SELECT seq FROM unio_csr_packets WHERE offset = ?", offset).toArray()[0];
    if (!from) return null;
    sql.exec("DELETE FROM unio_csr_sessions WHERE pid = ?", pid);
    this.writes++;
    const session = fromJson(row.doc) as SessionToPersist;
    const missedPackets: unknown[][] = [];
    const rows = sql
      .exec<{ opts: string; data: string }>(
        "SELECT opts, data FROM unio_csr_packets WHERE nsp = ? AND seq > ? ORDER BY seq",
        nsp,
        from.seq,
      )
      .toArray();
    for (const r of rows) {
      if (wasRecipient(session.rooms, JSON.parse(r.opts) as StoredOpts)) missedPackets.push(fromJson(r.data) as unknown[]);
    }
    return { ...session, missedPackets };
  }

  #sweep(): void {
    const now = this.now();
    if (now - this.#lastSweep < SWEEP_EVERY) return;
    this.#lastSweep = now;
    const cutoff = now - this.maxDisconnectionDuration;
    this.sql.exec("DELETE FROM unio_csr_packets WHERE at < ?", cutoff);
    this.sql.exec("DELETE FROM unio_csr_sessions WHERE at < ?", cutoff);
  }
}
