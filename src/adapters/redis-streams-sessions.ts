/**
 * Connection state recovery on Redis Streams: the stream is the log of
 * kept packets (an entry id is the offset clients echo back, valid on every
 * node), and sessions of disconnected sockets are Redis keys that expire
 * with the recovery window. Key names and encodings are
 * @socket.io/redis-streams-adapter 0.3's, so either server restores the
 * other's sessions.
 */
import { decodeBase64, encodeBase64 } from "../protocol/base64.ts";
import { type SessionStore, wasRecipient } from "../socket/session-store.ts";
import type { PrivateSessionId, Session, SessionToPersist } from "../socket/types.ts";
import { decode as msgpackDecode, encode as msgpackEncode } from "./msgpack.ts";
import { command, type RedisClient, replyString } from "./redis-clients.ts";
import { type KeptBroadcast, keptBroadcast, type RecentEntries } from "./redis-streams-recent.ts";
import { parseEntries, type RawEntry } from "./redis-streams-wire.ts";

/** XRANGE pages read when restoring a session (bounds the work if the stream grows faster than we read). */
const RESTORE_MAX_PAGES = 100;
const RESTORE_PAGE_SIZE = 1000;
const OFFSET_PATTERN = /^[0-9]+-[0-9]+$/;
/** Atomic GET + DEL that works on every Redis version with streams (GETDEL needs 6.2). */
const GET_AND_DELETE = "local v = redis.call('GET', KEYS[1]) redis.call('DEL', KEYS[1]) return v";

function nextOffset(offset: string): string {
  const [ms, seq] = offset.split("-");
  return `${ms}-${Number(seq) + 1}`;
}

export interface StreamsSessionStoreOptions {
  client: RedisClient;
  /** The namespace whose sessions and packets these are. */
  nsp: string;
  streamName: string;
  sessionKeyPrefix: string;
  /** How long a session is kept, in ms. */
  maxDisconnectionDuration: () => number;
  /** Where a failed write is reported. */
  onError: (err: unknown) => void;
  /** The entries this node's reader of the stream got lately (redis-streams-recent.ts), if any. */
  recent?: () => RecentEntries | undefined;
}

/**
 * The sessions of one namespace of a Redis Streams adapter.
 *
 * @example
 * const store = new StreamsSessionStore({ client, nsp: "/", streamName: "socket.io", sessionKeyPrefix: "sio:session:", ... });
 */
export class StreamsSessionStore implements SessionStore {
  constructor(readonly opts: StreamsSessionStoreOptions) {}

  /** Stores the session in Redis, so any node can restore it (expires with the recovery window). */
  persistSession(session: SessionToPersist): Promise<void> {
    const key = this.opts.sessionKeyPrefix + session.pid;
    const value = encodeBase64(msgpackEncode(session));
    return command(this.opts.client, ["SET", key, value, "PX", String(this.opts.maxDisconnectionDuration())], key).then(
      () => undefined,
      (err) => this.opts.onError(err),
    );
  }

  /** Nothing to do: every broadcast already is an entry of the stream, under its offset. */
  keepPacket(): void {}

  /**
   * The session of `pid` with the broadcasts emitted after `offset` that it
   * would have received, or null when the session expired, the offset is
   * malformed or no longer in the stream. The session key is consumed.
   */
  async restoreSession(pid: PrivateSessionId, offset: string): Promise<Session | null> {
    if (!OFFSET_PATTERN.test(offset)) return null;
    const { client, streamName, nsp } = this.opts;
    const key = this.opts.sessionKeyPrefix + pid;
    const stored = decodeSession(await command(client, ["EVAL", GET_AND_DELETE, "1", key], key));
    if (!stored) return null;
    const rooms = Array.isArray(stored.rooms) ? stored.rooms.map(String) : [];
    const missedPackets: unknown[][] = [];
    const consider = (id: string, fields: RawEntry, kept: () => KeptBroadcast | null) => {
      if (fields.nsp !== nsp) return;
      const k = kept();
      if (k && wasRecipient(rooms, k.opts)) missedPackets.push([...k.data, id]);
    };
    // The entries this node's stream reader got already, from memory; then Redis for those it has
    // not reached yet (usually none). An offset older than what the reader got: all from Redis.
    let cursor = this.opts.recent?.()?.forEachAfter(offset, consider) ?? null;
    if (cursor === null) {
      // The offset must still be in the stream, or packets after it may be gone.
      const atOffset = await command(client, ["XRANGE", streamName, offset, offset], streamName);
      if (parseEntries(atOffset).length === 0) return null;
      cursor = offset;
    }
    for (let page = 0; page < RESTORE_MAX_PAGES; page++) {
      const reply = await command(
        client,
        ["XRANGE", streamName, nextOffset(cursor), "+", "COUNT", String(RESTORE_PAGE_SIZE)],
        streamName,
      );
      const entries = parseEntries(reply);
      for (const entry of entries) {
        cursor = entry.id;
        consider(entry.id, entry.fields, () => keptBroadcast(entry.fields));
      }
      if (entries.length < RESTORE_PAGE_SIZE) break;
    }
    return { sid: stored.sid, pid: stored.pid ?? pid, rooms, data: stored.data, missedPackets };
  }
}

/** A session key's value (base64 msgpack) back to the session; null when absent or malformed. */
function decodeSession(raw: unknown): SessionToPersist | null {
  if (!raw) return null;
  const bytes = decodeBase64(replyString(raw));
  if (!bytes) return null;
  let stored: SessionToPersist;
  try {
    stored = msgpackDecode(bytes) as SessionToPersist;
  } catch {
    return null;
  }
  return stored && typeof stored === "object" && typeof stored.sid === "string" ? stored : null;
}
