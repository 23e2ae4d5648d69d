/**
 * The Redis Streams wire of @socket.io/redis-streams-adapter 0.3: options,
 * stream names, and stream entries (`uid`, `nsp`, `type`, `data` fields;
 * `data` is JSON, or base64 msgpack when it holds binary) to and from
 * cluster messages, whatever reply shape the Redis client gives.
 */
import { decodeBase64, encodeBase64 } from "../protocol/base64.ts";
import type { ClusterAdapterOptions } from "./cluster-adapter.ts";
import { type ClusterMessage, MessageType } from "./cluster-protocol.ts";
import { decode as msgpackDecode, encode as msgpackEncode, hasBinary } from "./msgpack.ts";
import { replyString } from "./redis-clients.ts";

export interface RedisStreamsAdapterOptions extends Pick<ClusterAdapterOptions, "requestsTimeout"> {
  /** Name of the stream (default "socket.io"). */
  streamName?: string;
  /** Number of streams namespaces are spread over (default 1). */
  streamCount?: number;
  /** Prefix of the Pub/Sub channels used for requests and responses (default "socket.io"). */
  channelPrefix?: string;
  /** Use Redis 7 sharded Pub/Sub for requests and responses (default false). */
  useShardedPubSub?: boolean;
  /** Approximate maximum length of the stream (XADD MAXLEN ~, default 10000). */
  maxLen?: number;
  /** Entries fetched per XREAD (default 100). */
  readCount?: number;
  /** How long one XREAD blocks, in ms (default 5000). */
  blockTimeInMs?: number;
  /** Prefix of the keys holding sessions for connection state recovery (default "sio:session:"). */
  sessionKeyPrefix?: string;
  /** Always JSON in the stream, even for binary payloads (default false). */
  onlyPlaintext?: boolean;
}

export type ResolvedOptions = Required<Omit<RedisStreamsAdapterOptions, "requestsTimeout">> &
  Pick<ClusterAdapterOptions, "requestsTimeout">;

/** The fields of a stream entry. */
export interface RawEntry {
  uid?: string;
  nsp?: string;
  type?: string;
  data?: string;
}

export interface StreamEntry {
  id: string;
  fields: RawEntry;
}

/** The string hash @socket.io/redis-streams-adapter spreads namespaces with. */
function hashCode(s: string): number {
  let hash = 0;
  for (let i = 0; i < s.length; i++) {
    hash = hash * 31 + s.charCodeAt(i);
    hash |= 0;
  }
  return hash;
}

export function streamNameFor(nsp: string, opts: ResolvedOptions): string {
  if (opts.streamCount === 1) return opts.streamName;
  return `${opts.streamName}-${hashCode(nsp) % opts.streamCount}`;
}

/** Broadcasts with ack, server-side emits and fetches need no history: they go over Pub/Sub. */
export function isEphemeral(message: ClusterMessage): boolean {
  return (
    (message.type === MessageType.BROADCAST && message.data.requestId !== undefined) ||
    message.type === MessageType.SERVER_SIDE_EMIT ||
    message.type === MessageType.FETCH_SOCKETS
  );
}

const BINARY_CAPABLE: ReadonlySet<number> = new Set([
  MessageType.BROADCAST,
  MessageType.FETCH_SOCKETS_RESPONSE,
  MessageType.SERVER_SIDE_EMIT,
  MessageType.SERVER_SIDE_EMIT_RESPONSE,
  MessageType.BROADCAST_ACK,
]);

/** The XADD field list of a message. */
export function encodeEntry(message: ClusterMessage, onlyPlaintext: boolean): string[] {
  const fields = ["uid", message.uid, "nsp", message.nsp, "type", String(message.type)];
  const data = (message as { data?: unknown }).data;
  if (data !== undefined) {
    const binary = !onlyPlaintext && BINARY_CAPABLE.has(message.type) && hasBinary(data);
    fields.push("data", binary ? encodeBase64(msgpackEncode(data)) : JSON.stringify(data));
  }
  return fields;
}

/** A stream entry back to a cluster message: `data` is JSON, or base64 msgpack when it held binary. */
export function decodeEntry(fields: RawEntry): ClusterMessage | null {
  const type = Number.parseInt(fields.type ?? "", 10);
  if (!Number.isFinite(type) || typeof fields.nsp !== "string") return null;
  const message: Record<string, unknown> = { uid: fields.uid, nsp: fields.nsp, type };
  const raw = fields.data;
  if (raw) {
    try {
      if (raw.startsWith("{")) {
        message.data = JSON.parse(raw);
      } else {
        const bytes = decodeBase64(raw);
        if (!bytes) return null;
        message.data = msgpackDecode(bytes);
      }
    } catch {
      return null;
    }
  }
  return message as unknown as ClusterMessage;
}

/** Entries of an XREAD/XRANGE reply, whatever shape the client gives (RESP2 arrays, RESP3 maps). */
export function parseEntries(list: unknown): StreamEntry[] {
  if (!Array.isArray(list)) return [];
  const out: StreamEntry[] = [];
  for (const item of list) {
    if (!Array.isArray(item)) continue;
    const id = replyString(item[0]);
    const flat = item[1];
    const fields: Record<string, string> = {};
    if (Array.isArray(flat)) {
      for (let i = 0; i + 1 < flat.length; i += 2) fields[replyString(flat[i])] = replyString(flat[i + 1]);
    } else if (flat && typeof flat === "object") {
      for (const [k, v] of flat instanceof Map ? flat : Object.entries(flat)) fields[replyString(k)] = replyString(v);
    }
    out.push({ id, fields });
  }
  return out;
}

export function parseXRead(reply: unknown): StreamEntry[] {
  if (!reply) return [];
  const out: StreamEntry[] = [];
  if (Array.isArray(reply)) {
    // RESP2 gives [[name, entries], ...]; some clients flatten one stream to [name, entries].
    if (typeof reply[0] === "string" || reply[0] instanceof Uint8Array) return parseEntries(reply[1]);
    for (const stream of reply) if (Array.isArray(stream)) out.push(...parseEntries(stream[1]));
  } else if (reply instanceof Map) {
    for (const entries of reply.values()) out.push(...parseEntries(entries));
  } else if (typeof reply === "object") {
    for (const entries of Object.values(reply)) out.push(...parseEntries(entries));
  }
  return out;
}
