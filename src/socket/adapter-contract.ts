/**
 * The socket.io-adapter contract: the one seam through which an adapter
 * built on socket.io-adapter 2.5.x (its `Adapter`, `SessionAwareAdapter`,
 * `ClusterAdapter`, `ClusterAdapterWithHeartbeat`, hence
 * @socket.io/redis-adapter, @socket.io/redis-streams-adapter,
 * @socket.io/postgres-adapter, @socket.io/mongo-adapter,
 * @socket.io/cluster-adapter, ...) runs unchanged on a unio `Server`.
 *
 * Such an adapter calls back into the server through these members, each
 * with socket.io 4.8's semantics, and through nothing else:
 *
 * | Member                                                   | Where            |
 * |----------------------------------------------------------|------------------|
 * | `nsp.name`, `nsp.sockets`, `nsp.server`, `nsp._ids`      | Namespace        |
 * | `nsp._onServerSideEmit([ev, ...args])`                   | Namespace        |
 * | `nsp.server.encoder`                                     | Server           |
 * | `nsp.server.opts.connectionStateRecovery`                | Server.opts      |
 * | `socket.id`, `handshake`, `rooms`, `data`                | Socket           |
 * | `socket.join(rooms)`, `leave(room)`, `disconnect(close)` | Socket           |
 * | `socket.acks.set(id, ack)`                               | Socket.acks      |
 * | `socket.notifyOutgoingListeners(packet)`                 | Socket           |
 * | `socket.client.writeToEngine(encodedPackets, opts)`      | Client           |
 *
 * The other way round, unio calls on an adapter only what {@link AdapterLike}
 * lists, which both unio's `Adapter` and socket.io-adapter's classes have.
 *
 * unio's own adapters (the in-memory `Adapter`, `unio/redis`, the Durable
 * Object adapter) do not go through these members: they keep their fast
 * paths (one encode and one set of shared messages per broadcast, a native
 * publish on Bun). A foreign adapter encodes once too; `writeToEngine` turns
 * that one encoded array into shared messages once (see {@link sharedMessages}).
 *
 * A foreign adapter forwards to `broadcast()` what its peers publish. So
 * that a malformed or hostile message from the broker cannot reach a
 * client, {@link guardForeignAdapter} gives it an encoder that drops any
 * packet that is not a well-formed broadcast of its namespace (an EVENT
 * whose data is `[name, ...args]`), with one log line. It also wraps the
 * adapter's message entry points ({@link ENTRY_POINTS}) so that a message
 * the adapter cannot digest (garbage bytes, a value of the wrong shape) is
 * dropped with a log line instead of throwing out of the broker client's
 * event listener, which on Node ends the process (socket.io 4.8 does end:
 * @socket.io/redis-adapter decodes a broadcast outside any try/catch).
 */
import type { Packet } from "../protocol/socket-io-packet.ts";
import { PacketType } from "../protocol/socket-io-packet.ts";
import { toOutboundMessages } from "./adapter.ts";
import type { OutboundMessage } from "../engine/outbound.ts";
import type { BroadcastOptions, Room, SocketId } from "./types.ts";
import { RESERVED_EVENTS } from "./types.ts";

/** The options socket.io-adapter passes to `Client.writeToEngine()`. */
export interface WriteOptions {
  /** The packets are encoded already (always true from an adapter). */
  preEncoded?: boolean;
  /** Drop the packet for a client whose transport is busy. */
  volatile?: boolean;
  /** Per-message compression; on unless `false`. */
  compress?: boolean;
  /** A ws frame precomputed by socket.io-adapter on Node; unio frames its own. */
  wsPreEncodedFrame?: unknown;
}

/**
 * What unio's `Server`, `Namespace`, `Socket` and `BroadcastOperator` call
 * on an adapter. unio's `Adapter` and socket.io-adapter's `Adapter` (and
 * every subclass of either) have it: either can be given as the `adapter`
 * option.
 */
export interface AdapterLike {
  // biome-ignore lint: the namespace, as the adapter types it
  readonly nsp: any;
  rooms: Map<Room, Set<SocketId>>;
  sids: Map<SocketId, Set<Room>>;
  init(): Promise<void> | void;
  close(): Promise<void> | void;
  serverCount(): Promise<number>;
  addAll(id: SocketId, rooms: Set<Room>): Promise<void> | void;
  del(id: SocketId, room: Room): Promise<void> | void;
  delAll(id: SocketId): void;
  broadcast(packet: any, opts: BroadcastOptions): void;
  broadcastWithAck(
    packet: any,
    opts: BroadcastOptions,
    clientCountCallback: (clientCount: number) => void,
    ack: (...args: any[]) => void,
  ): void;
  sockets(rooms: Set<Room>): Promise<Set<SocketId>>;
  socketRooms(id: SocketId): Set<Room> | undefined;
  fetchSockets(opts: BroadcastOptions): Promise<any[]>;
  addSockets(opts: BroadcastOptions, rooms: Room[]): void;
  delSockets(opts: BroadcastOptions, rooms: Room[]): void;
  disconnectSockets(opts: BroadcastOptions, close: boolean): void;
  serverSideEmit(packet: any[]): void;
  persistSession(session: any): Promise<void> | void;
  restoreSession(pid: string, offset: string): Promise<any> | any;
  on(event: string, listener: (...args: any[]) => void): unknown;
}

interface Shared {
  compress: boolean;
  messages: OutboundMessage[];
}

/**
 * An adapter encodes a broadcast once and hands the same array to every
 * recipient's `writeToEngine()`: it becomes shared Engine.IO messages
 * once, kept as long as the array lives.
 */
const shared = new WeakMap<object, Shared>();

export function sharedMessages(
  encoded: ReadonlyArray<string | Uint8Array | ArrayBuffer>,
  compress: boolean,
): OutboundMessage[] {
  const hit = shared.get(encoded);
  if (hit !== undefined && hit.compress === compress) return hit.messages;
  const messages = toOutboundMessages(encoded, compress);
  shared.set(encoded, { compress, messages });
  return messages;
}

/** Whether each element is something the engine can send. */
export function isEncodedPackets(encoded: unknown): encoded is ReadonlyArray<string | Uint8Array | ArrayBuffer> {
  if (!Array.isArray(encoded) || encoded.length === 0) return false;
  for (const part of encoded) {
    if (typeof part !== "string" && !(part instanceof Uint8Array) && !(part instanceof ArrayBuffer)) return false;
  }
  return true;
}

/**
 * Whether `packet` is a broadcast an adapter may send to clients of `nsp`:
 * an EVENT (BINARY_EVENT) of that namespace whose data is a non-reserved
 * event name and its arguments, with no ack id or a non-negative integer one.
 */
export function isBroadcastPacket(packet: unknown, nsp: string): packet is Packet {
  if (packet === null || typeof packet !== "object") return false;
  const p = packet as Packet;
  if (p.type !== PacketType.EVENT && p.type !== PacketType.BINARY_EVENT) return false;
  if (p.nsp !== nsp) return false;
  if (p.id !== undefined && p.id !== null && !(Number.isSafeInteger(p.id) && (p.id as number) >= 0)) return false;
  const data = p.data;
  if (!Array.isArray(data) || data.length === 0) return false;
  const name = data[0];
  return typeof name === "string" && !RESERVED_EVENTS.has(name);
}

interface Encoder {
  encode(packet: Packet): Array<string | Uint8Array | ArrayBuffer>;
}

let warned = 0;
function drop(nsp: string, why: string): [] {
  // A hostile peer could flood the log: a few lines, then silence.
  if (warned < 10) {
    warned++;
    console.warn(`unio: adapter of ${nsp}: dropped a broadcast (${why})`);
  }
  return [];
}

/**
 * Called once on each adapter the `adapter` option creates. unio's own
 * adapters are left alone. A socket.io-adapter instance keeps the server's
 * encoder as `encoder` (read in its constructor): it is wrapped so that
 * what is not a well-formed broadcast of the namespace, or cannot be
 * encoded, is dropped instead of written to clients or thrown into the
 * adapter's message handler.
 */
export function guardForeignAdapter(adapter: object, nsp: string, encoder: Encoder): void {
  guardEntryPoints(adapter, nsp);
  const a = adapter as { encoder?: unknown };
  if (a.encoder !== encoder) return;
  a.encoder = {
    encode(packet: Packet): Array<string | Uint8Array | ArrayBuffer> {
      if (!isBroadcastPacket(packet, nsp)) return drop(nsp, "not an event of this namespace");
      try {
        const out = encoder.encode(packet);
        return isEncodedPackets(out) ? out : drop(nsp, "encoder output");
      } catch (err) {
        return drop(nsp, (err as Error)?.message ?? String(err));
      }
    },
  } satisfies Encoder;
}

/**
 * The methods through which socket.io-adapter's family takes a message from
 * its broker: @socket.io/redis-adapter's `onmessage`/`onrequest`/
 * `onresponse`, the sharded and Streams adapters' `onRawMessage`, and
 * `ClusterAdapter`'s `onMessage`/`onResponse` (Postgres, Mongo, node:cluster,
 * the cloud queues). Nothing else in an adapter is called by its broker.
 */
const ENTRY_POINTS = ["onmessage", "onrequest", "onresponse", "onRawMessage", "onMessage", "onResponse"] as const;

let droppedMessages = 0;
/**
 * A hostile peer could flood the log, yet an app's own handler throwing in
 * a `serverSideEmit` must not go unseen: the first ten drops are logged,
 * then every hundredth with the count.
 */
function dropMessage(nsp: string, entry: string, err: unknown): undefined {
  droppedMessages++;
  if (droppedMessages <= 10 || droppedMessages % 100 === 0) {
    const why = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    console.warn(`unio: adapter of ${nsp}: dropped a message it could not handle in ${entry} (${why}; ${droppedMessages} so far)`);
  }
  return undefined;
}

type Method = (...args: unknown[]) => unknown;

/** `fn` with its throws and rejections turned into a dropped message. */
function guarded(fn: Method, nsp: string, entry: string): Method {
  return function (this: unknown, ...args: unknown[]): unknown {
    let out: unknown;
    try {
      out = fn.apply(this, args);
    } catch (err) {
      return dropMessage(nsp, entry, err);
    }
    if (out !== null && typeof out === "object" && typeof (out as Promise<unknown>).then === "function") {
      return (out as Promise<unknown>).then(undefined, (err) => dropMessage(nsp, entry, err));
    }
    return out;
  };
}

/**
 * Wraps the entry points on the instance (its broker calls them through
 * `this`, so the instance's own property wins over the prototype's).
 * @socket.io/redis-adapter on ioredis is the one that binds its handlers in
 * its constructor, before unio sees the instance: those listeners, which it
 * keeps in `redisListeners` to remove them on close, are swapped for ones
 * that go through the guarded methods.
 */
function guardEntryPoints(adapter: object, nsp: string): void {
  const a = adapter as Record<string, unknown>;
  for (const entry of ENTRY_POINTS) {
    const fn = a[entry];
    if (typeof fn === "function") a[entry] = guarded(fn as Method, nsp, entry);
  }
  const listeners = a.redisListeners;
  const sub = a.subClient as
    | { listeners?(event: string): unknown[]; off?(event: string, fn: unknown): unknown; on?(event: string, fn: unknown): unknown }
    | undefined;
  if (!(listeners instanceof Map) || typeof sub?.listeners !== "function" || !sub.off || !sub.on) return;
  const rebound: Record<string, (typeof ENTRY_POINTS)[number]> = { pmessageBuffer: "onmessage", messageBuffer: "onrequest" };
  for (const [event, fn] of listeners as Map<string, unknown>) {
    const entry = rebound[event];
    if (entry === undefined || !sub.listeners(event).includes(fn)) continue;
    const replacement = (...args: unknown[]) => (a[entry] as Method).apply(adapter, args);
    sub.off(event, fn);
    sub.on(event, replacement);
    listeners.set(event, replacement);
  }
}
