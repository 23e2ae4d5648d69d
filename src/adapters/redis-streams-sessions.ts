/**
 * Connection state recovery on Redis Streams: the stream is the log of
 * kept packets (an entry id is the offset clients echo back, valid on every
 * node), and sessions of disconnected sockets are Redis keys that expire
 * with the recovery window. Key names and encodings are
 * @socket.io/redis-streams-adapter 0.3's, so either server restores the
 * other's sessions.
 */
import { decodeBase64, encodeBase64 } from "../protocol/base64.ts";
import { isKeptForRecovery, type SessionStore, wasRecipient } from "../socket/session-store.ts";
import type { PrivateSessionId, Session, SessionToPersist } from "../socket/types.ts";
import { decodeOptions, MessageType } from "./cluster-protocol.ts";
import { decode as msgpackDecode, encode as msgpackEncode } from "./msgpack.ts";
import { command, type RedisClient, replyString } from "./redis-clients.ts";
import { decodeEntry, parseEntries } from "./redis-streams-wire.ts";

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
    const [rawSession, atOffset] = await Promise.all([
      command(client, ["EVAL", GET_AND_DELETE, "1", key], key),
      command(client, ["XRANGE", streamName, offset, offset], streamName),
    ]);
    if (!rawSession || parseEntries(atOffset).length === 0) return null;
    const bytes = decodeBase64(replyString(rawSession));
    if (!bytes) return null;
    let stored: SessionToPersist;
    try {
      stored = msgpackDecode(bytes) as SessionToPersist;
    } catch {
      return null;
    }
    if (!stored || typeof stored !== "object" || typeof stored.sid !== "string") return null;
    const rooms = Array.isArray(stored.rooms) ? stored.rooms.map(String) : [];
    const missedPackets: unknown[][] = [];
    let cursor = offset;
    for (let page = 0; page < RESTORE_MAX_PAGES; page++) {
      const reply = await command(
        client,
        ["XRANGE", streamName, nextOffset(cursor), "+", "COUNT", String(RESTORE_PAGE_SIZE)],
        streamName,
      );
      const entries = parseEntries(reply);
      for (const entry of entries) {
        cursor = entry.id;
        if (entry.fields.nsp !== nsp || entry.fields.type !== String(MessageType.BROADCAST)) continue;
        const message = decodeEntry(entry.fields);
        if (!message || message.type !== MessageType.BROADCAST) continue;
        const { packet, requestId } = message.data;
        // A broadcast with ack travels over Pub/Sub, but an entry from elsewhere may still carry one.
        if (requestId !== undefined || !packet || !Array.isArray(packet.data)) continue;
        const opts = decodeOptions(message.data.opts);
        if (!isKeptForRecovery(packet, opts.flags) || !wasRecipient(rooms, opts)) continue;
        missedPackets.push([...(packet.data as unknown[]), entry.id]);
      }
      if (entries.length < RESTORE_PAGE_SIZE) break;
    }
    return { sid: stored.sid, pid: stored.pid ?? pid, rooms, data: stored.data, missedPackets };
  }
}
