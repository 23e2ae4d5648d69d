/**
 * The Redis Streams adapter: like the Pub/Sub adapter, but broadcasts go
 * through a Redis stream (XADD / XREAD). A stream entry id is an offset any
 * node can resume from, so connection state recovery works across nodes:
 * a client that reconnects to another node gets the packets it missed.
 * Sessions of disconnected sockets are kept in Redis keys.
 *
 * Wire-compatible with @socket.io/redis-streams-adapter 0.3: same stream
 * name and entry fields (`uid`, `nsp`, `type`, `data`), same Pub/Sub
 * channels for requests and responses, same session keys and encodings.
 *
 * @example
 * import { createClient } from "redis";
 * import { Server } from "unio";
 * import { createStreamsAdapter } from "unio/redis";
 *
 * const redisClient = createClient();
 * await redisClient.connect();
 * const io = new Server({
 *   adapter: createStreamsAdapter(redisClient),
 *   connectionStateRecovery: { maxDisconnectionDuration: 2 * 60 * 1000 },
 * });
 */
import { decodeBase64, encodeBase64 } from "../protocol/base64.ts";
import { PacketType } from "../protocol/socket-io-packet.ts";
import type { AnyNamespace } from "../socket/adapter.ts";
import type { PrivateSessionId, Room, Session, SessionToPersist } from "../socket/types.ts";
import {
  ClusterAdapter,
  type ClusterAdapterOptions,
  type ClusterMessage,
  type ClusterResponse,
  type EncodedOptions,
  MessageType,
} from "./cluster-adapter.ts";
import { decode as msgpackDecode, encode as msgpackEncode, hasBinary } from "./msgpack.ts";
import {
  assertSupportedClient,
  command,
  destroy,
  duplicate,
  guardErrors,
  numsub,
  type PubSubHandler,
  publish,
  type RedisClient,
  replyString,
  subscribe,
  unsubscribe,
} from "./redis-clients.ts";

export interface RedisStreamsAdapterOptions extends ClusterAdapterOptions {
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

type ResolvedOptions = Required<Omit<RedisStreamsAdapterOptions, "requestsTimeout">> & ClusterAdapterOptions;

/** The fields of a stream entry. */
interface RawEntry {
  uid?: string;
  nsp?: string;
  type?: string;
  data?: string;
}

/** XRANGE pages read when restoring a session (bounds the work if the stream grows faster than we read). */
const RESTORE_MAX_PAGES = 100;
const RESTORE_PAGE_SIZE = 1000;
const OFFSET_PATTERN = /^[0-9]+-[0-9]+$/;
/** Atomic GET + DEL that works on every Redis version with streams (GETDEL needs 6.2). */
const GET_AND_DELETE = "local v = redis.call('GET', KEYS[1]) redis.call('DEL', KEYS[1]) return v";

/** The string hash @socket.io/redis-streams-adapter spreads namespaces with. */
function hashCode(s: string): number {
  let hash = 0;
  for (let i = 0; i < s.length; i++) {
    hash = hash * 31 + s.charCodeAt(i);
    hash |= 0;
  }
  return hash;
}

function streamNameFor(nsp: string, opts: ResolvedOptions): string {
  if (opts.streamCount === 1) return opts.streamName;
  return `${opts.streamName}-${hashCode(nsp) % opts.streamCount}`;
}

/** Broadcasts with ack, server-side emits and fetches need no history: they go over Pub/Sub. */
function isEphemeral(message: ClusterMessage): boolean {
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

/** Entries of an XREAD/XRANGE reply, whatever shape the client gives (RESP2 arrays, RESP3 maps). */
function parseEntries(list: unknown): Array<{ id: string; fields: RawEntry }> {
  if (!Array.isArray(list)) return [];
  const out: Array<{ id: string; fields: RawEntry }> = [];
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

function parseXRead(reply: unknown): Array<{ id: string; fields: RawEntry }> {
  if (!reply) return [];
  const out: Array<{ id: string; fields: RawEntry }> = [];
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

function nextOffset(offset: string): string {
  const [ms, seq] = offset.split("-");
  return `${ms}-${Number(seq) + 1}`;
}

/** Whether a socket in `rooms` was a recipient of a broadcast with `opts`. */
function shouldInclude(rooms: Room[], opts: Partial<EncodedOptions>): boolean {
  const targets = Array.isArray(opts.rooms) ? opts.rooms : [];
  const except = Array.isArray(opts.except) ? opts.except : [];
  const included = targets.length === 0 || rooms.some((room) => targets.includes(room));
  return included && rooms.every((room) => !except.includes(room));
}

/**
 * What the adapters of one `createStreamsAdapter()` call share: the reading
 * loop of each stream (each on its own connection, XREAD blocks) and the
 * subscriber connection for requests and responses.
 */
class StreamsHub {
  readonly adapters = new Map<string, RedisStreamsAdapter>();
  readonly #client: RedisClient;
  readonly opts: ResolvedOptions;
  readonly #readers = new Map<string, { stop: () => void }>();
  #sub: Promise<RedisClient> | undefined;
  #stopped = false;

  constructor(client: RedisClient, opts: ResolvedOptions) {
    this.#client = client;
    this.opts = opts;
  }

  get client(): RedisClient {
    return this.#client;
  }

  /** The shared subscriber connection, created on first use. */
  subscriber(): Promise<RedisClient> {
    this.#sub ??= duplicate(this.#client);
    return this.#sub;
  }

  /** The subscriber connection if one was created (closing must not create one). */
  currentSubscriber(): Promise<RedisClient> | undefined {
    return this.#sub;
  }

  attach(adapter: RedisStreamsAdapter): Promise<void> {
    this.#stopped = false;
    this.adapters.set(adapter.nsp.name, adapter);
    const starts: Promise<void>[] = [];
    for (let i = 0; i < this.opts.streamCount; i++) {
      starts.push(this.#ensureReader(this.opts.streamCount === 1 ? this.opts.streamName : `${this.opts.streamName}-${i}`));
    }
    starts.push(this.#ensureReader(adapter.streamName));
    return Promise.all(starts).then(() => undefined);
  }

  detach(adapter: RedisStreamsAdapter): void {
    if (this.adapters.get(adapter.nsp.name) === adapter) this.adapters.delete(adapter.nsp.name);
    if (this.adapters.size > 0) return;
    this.#stopped = true;
    for (const reader of this.#readers.values()) reader.stop();
    this.#readers.clear();
    const sub = this.#sub;
    this.#sub = undefined;
    sub?.then(destroy, () => {});
  }

  /** Starts the reading loop of a stream; resolves once it knows where the stream ends. */
  #ensureReader(stream: string): Promise<void> {
    if (this.#readers.has(stream)) return Promise.resolve();
    let stopped = false;
    let connection: RedisClient | undefined;
    this.#readers.set(stream, {
      stop: () => {
        stopped = true;
        // Destroying the connection aborts the blocking XREAD at once.
        if (connection) destroy(connection);
      },
    });
    let started!: () => void;
    const ready = new Promise<void>((resolve) => (started = resolve));
    const loop = async () => {
      try {
        connection = await duplicate(this.#client);
      } catch {
        started();
        return;
      }
      if (stopped) {
        destroy(connection);
        started();
        return;
      }
      // Start after the last entry, with an explicit id: retrying "$" after a
      // reconnection would skip what was added in between.
      let offset = "0-0";
      try {
        const last = await command(connection, ["XREVRANGE", stream, "+", "-", "COUNT", "1"], stream);
        const entries = parseEntries(last);
        if (entries.length > 0) offset = entries[0]!.id;
      } catch {
        // The stream is read from its start instead; old entries are older than this node anyway.
      }
      started();
      let failures = 0;
      while (!stopped && !this.#stopped) {
        try {
          const reply = await command(
            connection,
            [
              "XREAD",
              "COUNT",
              String(this.opts.readCount),
              "BLOCK",
              String(this.opts.blockTimeInMs),
              "STREAMS",
              stream,
              offset,
            ],
            stream,
          );
          failures = 0;
          for (const entry of parseXRead(reply)) {
            offset = entry.id;
            const nsp = entry.fields.nsp;
            if (nsp) this.adapters.get(nsp)?.onStreamEntry(entry.fields, entry.id);
          }
        } catch {
          if (stopped || this.#stopped) break;
          // Redis is down or restarting: the client reconnects on its own, we back off meanwhile.
          failures++;
          await new Promise((r) => setTimeout(r, Math.min(2000, 50 * 2 ** Math.min(failures, 6))));
        }
      }
      destroy(connection);
    };
    loop();
    return ready;
  }
}

/**
 * Returns the `adapter` option for `new Server()`. One extra connection per
 * stream (blocking reads) and one for Pub/Sub are duplicated from
 * `redisClient`; it keeps serving publishes and commands.
 */
export function createStreamsAdapter(
  redisClient: RedisClient,
  opts: RedisStreamsAdapterOptions = {},
): (nsp: AnyNamespace) => RedisStreamsAdapter {
  assertSupportedClient(redisClient, "redisClient");
  const options: ResolvedOptions = {
    streamName: "socket.io",
    streamCount: 1,
    channelPrefix: "socket.io",
    useShardedPubSub: false,
    maxLen: 10_000,
    readCount: 100,
    blockTimeInMs: 5000,
    sessionKeyPrefix: "sio:session:",
    onlyPlaintext: false,
    ...opts,
  };
  const hub = new StreamsHub(redisClient, options);
  return (nsp) => new RedisStreamsAdapter(nsp, hub);
}

export class RedisStreamsAdapter extends ClusterAdapter {
  readonly streamName: string;
  readonly publicChannel: string;
  readonly privateChannel: string;
  readonly #hub: StreamsHub;
  readonly #onPubSub: PubSubHandler;
  #ready: Promise<void> | undefined;

  constructor(nsp: AnyNamespace, hub: StreamsHub) {
    super(nsp, hub.opts);
    this.#hub = hub;
    const opts = hub.opts;
    // Every namespace maps to one stream, which keeps its messages in order.
    this.streamName = streamNameFor(nsp.name, opts);
    this.publicChannel = `${opts.channelPrefix}#${nsp.name}#`;
    this.privateChannel = `${opts.channelPrefix}#${nsp.name}#${this.uid}#`;
    this.#onPubSub = (_channel, payload) => {
      let message: unknown;
      try {
        message = msgpackDecode(payload);
      } catch {
        return;
      }
      // Requests and responses share this path: the base class routes response types.
      this.onMessage(message as ClusterMessage);
    };
    guardErrors(hub.client);
  }

  override init(): Promise<void> {
    this.#ready ??= (async () => {
      const kind = this.#hub.opts.useShardedPubSub ? "sharded" : "channel";
      const sub = await this.#hub.subscriber();
      await Promise.all([
        subscribe(sub, kind, this.publicChannel, this.#onPubSub),
        subscribe(sub, kind, this.privateChannel, this.#onPubSub),
        this.#hub.attach(this),
      ]);
    })();
    return this.#ready;
  }

  whenReady(): Promise<void> {
    return this.init();
  }

  protected override get providesOffsets(): boolean {
    return true;
  }

  /** An entry the stream reader got for this namespace. */
  onStreamEntry(fields: RawEntry, id: string): void {
    const message = decodeEntry(fields);
    if (message) this.onMessage(message, id);
  }

  #encodeEntry(message: ClusterMessage): string[] {
    const fields = ["uid", message.uid, "nsp", message.nsp, "type", String(message.type)];
    const data = (message as { data?: unknown }).data;
    if (data !== undefined) {
      const binary = !this.#hub.opts.onlyPlaintext && BINARY_CAPABLE.has(message.type) && hasBinary(data);
      fields.push("data", binary ? encodeBase64(msgpackEncode(data)) : JSON.stringify(data));
    }
    return fields;
  }

  protected doPublish(message: ClusterMessage): Promise<string> {
    const client = this.#hub.client;
    const opts = this.#hub.opts;
    if (isEphemeral(message)) {
      return publish(client, this.publicChannel, msgpackEncode(message), opts.useShardedPubSub).then(() => "");
    }
    const args = ["XADD", this.streamName, "MAXLEN", "~", String(opts.maxLen), "*", ...this.#encodeEntry(message)];
    return command(client, args, this.streamName).then(replyString);
  }

  protected doPublishResponse(requesterUid: string, response: ClusterResponse): Promise<void> {
    const channel = `${this.#hub.opts.channelPrefix}#${this.nsp.name}#${requesterUid}#`;
    return publish(this.#hub.client, channel, msgpackEncode(response), this.#hub.opts.useShardedPubSub).then(
      () => undefined,
    );
  }

  /** Number of nodes: subscribers of the namespace's public channel. */
  override serverCount(): Promise<number> {
    return numsub(this.#hub.client, this.publicChannel, this.#hub.opts.useShardedPubSub);
  }

  /** Stores the session in Redis, so any node can restore it (expires with the recovery window). */
  override persistSession(session: SessionToPersist): Promise<void> {
    const ttl = this.nsp.server._recovery?.maxDisconnectionDuration ?? 120_000;
    const key = this.#hub.opts.sessionKeyPrefix + session.pid;
    const value = encodeBase64(msgpackEncode(session));
    return command(this.#hub.client, ["SET", key, value, "PX", String(ttl)], key).then(
      () => undefined,
      (err) => this.onPublishError(err),
    );
  }

  /**
   * The session of `pid` with the broadcasts emitted after `offset` that it
   * would have received, or null when the session expired, the offset is
   * malformed or no longer in the stream. The session key is consumed.
   */
  override async restoreSession(pid: PrivateSessionId, offset: string): Promise<Session | null> {
    if (!OFFSET_PATTERN.test(offset)) return null;
    const client = this.#hub.client;
    const key = this.#hub.opts.sessionKeyPrefix + pid;
    const [rawSession, atOffset] = await Promise.all([
      command(client, ["EVAL", GET_AND_DELETE, "1", key], key),
      command(client, ["XRANGE", this.streamName, offset, offset], this.streamName),
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
        ["XRANGE", this.streamName, nextOffset(cursor), "+", "COUNT", String(RESTORE_PAGE_SIZE)],
        this.streamName,
      );
      const entries = parseEntries(reply);
      for (const entry of entries) {
        cursor = entry.id;
        if (entry.fields.nsp !== this.nsp.name || entry.fields.type !== String(MessageType.BROADCAST)) continue;
        const message = decodeEntry(entry.fields);
        if (!message || message.type !== MessageType.BROADCAST) continue;
        const { packet, opts, requestId } = message.data;
        // Only what a connected client would have stored: plain events, not volatile.
        if (requestId !== undefined || !packet || !Array.isArray(packet.data)) continue;
        if (packet.type !== PacketType.EVENT || packet.id !== undefined || opts?.flags?.volatile) continue;
        if (!shouldInclude(rooms, opts ?? {})) continue;
        missedPackets.push([...(packet.data as unknown[]), entry.id]);
      }
      if (entries.length < RESTORE_PAGE_SIZE) break;
    }
    return { sid: stored.sid, pid: stored.pid ?? pid, rooms, data: stored.data, missedPackets };
  }

  override close(): Promise<void> {
    super.close();
    const kind = this.#hub.opts.useShardedPubSub ? "sharded" : "channel";
    const sub = this.#hub.currentSubscriber();
    const unsubscribed = sub
      ? sub.then((s) =>
          Promise.all([
            unsubscribe(s, kind, this.publicChannel, this.#onPubSub),
            unsubscribe(s, kind, this.privateChannel, this.#onPubSub),
          ]),
        )
      : Promise.resolve();
    const detach = () => this.#hub.detach(this);
    return unsubscribed.then(detach, detach);
  }
}

/** A stream entry back to a cluster message: `data` is JSON, or base64 msgpack when it held binary. */
function decodeEntry(fields: RawEntry): ClusterMessage | null {
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
