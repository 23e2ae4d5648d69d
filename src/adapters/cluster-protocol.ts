/**
 * The cluster protocol: the messages the nodes of one namespace exchange
 * about broadcasts, bulk room operations, socket queries and server-side
 * events, and the answers that come back.
 *
 * The shapes and type numbers are socket.io-adapter's `ClusterAdapter`
 * ones (`{uid, nsp, type, data}`, see `MessageType`), so an adapter built
 * on them can share a broker with socket.io nodes that speak the same
 * protocol (the sharded Redis adapter, the Redis Streams adapter, the
 * Postgres adapter). Pure data and codecs: no I/O, no timers.
 */
import { type Packet, PacketType } from "../protocol/socket-io-packet.ts";
import type { AnySocket } from "../socket/adapter.ts";
import type { SocketDetails } from "../socket/broadcast-operator.ts";
import type { BroadcastFlags, BroadcastOptions, Handshake, Room } from "../socket/types.ts";

export type { SocketDetails } from "../socket/broadcast-operator.ts";

/** Message types, numbered as in socket.io-adapter. */
export const MessageType = {
  INITIAL_HEARTBEAT: 1,
  HEARTBEAT: 2,
  BROADCAST: 3,
  SOCKETS_JOIN: 4,
  SOCKETS_LEAVE: 5,
  DISCONNECT_SOCKETS: 6,
  FETCH_SOCKETS: 7,
  FETCH_SOCKETS_RESPONSE: 8,
  SERVER_SIDE_EMIT: 9,
  SERVER_SIDE_EMIT_RESPONSE: 10,
  BROADCAST_CLIENT_COUNT: 11,
  BROADCAST_ACK: 12,
  ADAPTER_CLOSE: 13,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/** Broadcast options as they travel: arrays instead of sets. */
export interface EncodedOptions {
  rooms: Room[];
  except: Room[];
  flags?: BroadcastFlags;
}

interface Envelope {
  /** The sender's node id ("emitter" for @socket.io/*-emitter). */
  uid: string;
  nsp: string;
}

/** A message published to every node of the namespace. */
export type ClusterMessage = Envelope &
  (
    | { type: typeof MessageType.INITIAL_HEARTBEAT | typeof MessageType.HEARTBEAT | typeof MessageType.ADAPTER_CLOSE }
    | { type: typeof MessageType.BROADCAST; data: { packet: Packet; opts: EncodedOptions; requestId?: string } }
    | {
        type: typeof MessageType.SOCKETS_JOIN | typeof MessageType.SOCKETS_LEAVE;
        data: { opts: EncodedOptions; rooms: Room[] };
      }
    | { type: typeof MessageType.DISCONNECT_SOCKETS; data: { opts: EncodedOptions; close?: boolean } }
    | { type: typeof MessageType.FETCH_SOCKETS; data: { opts: EncodedOptions; requestId: string } }
    | { type: typeof MessageType.SERVER_SIDE_EMIT; data: { packet: unknown[]; requestId?: string } }
  );

/** A response published to the node that asked. `uid` is the responder (absent on some legacy wires). */
export type ClusterResponse = { uid?: string; nsp?: string } & (
  | { type: typeof MessageType.FETCH_SOCKETS_RESPONSE; data: { requestId: string; sockets: SocketDetails<unknown>[] } }
  | { type: typeof MessageType.SERVER_SIDE_EMIT_RESPONSE; data: { requestId: string; packet: unknown } }
  | { type: typeof MessageType.BROADCAST_CLIENT_COUNT; data: { requestId: string; clientCount: number } }
  | { type: typeof MessageType.BROADCAST_ACK; data: { requestId: string; packet: unknown } }
);

/** A message before `publish` fills in the envelope (`uid`, `nsp`). */
export type ClusterMessageBody = DistributiveOmit<ClusterMessage, "uid" | "nsp">;
/** A response before `publishResponse` fills in the envelope. */
export type ClusterResponseBody = DistributiveOmit<ClusterResponse, "uid" | "nsp">;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** The uid @socket.io emitters use; it is never a node of the cluster. */
export const EMITTER_UID = "emitter";

/** The response types: transports that do not tell messages from responses route these to `onResponse`. */
export const RESPONSE_TYPES: ReadonlySet<number> = new Set([
  MessageType.FETCH_SOCKETS_RESPONSE,
  MessageType.SERVER_SIDE_EMIT_RESPONSE,
  MessageType.BROADCAST_CLIENT_COUNT,
  MessageType.BROADCAST_ACK,
]);

/** Random hex node id: 8 bytes, as socket.io-adapter's. */
export function randomId(bytes = 8): string {
  const b = new Uint8Array(bytes);
  crypto.getRandomValues(b);
  let out = "";
  for (const v of b) out += (v < 16 ? "0" : "") + v.toString(16);
  return out;
}

export function encodeOptions(opts: BroadcastOptions): EncodedOptions {
  const out: EncodedOptions = { rooms: [...opts.rooms], except: opts.except ? [...opts.except] : [] };
  if (opts.flags) out.flags = opts.flags;
  return out;
}

/** Options from the wire; tolerant of the missing fields older peers and emitters leave out. */
export function decodeOptions(opts: Partial<EncodedOptions> | undefined): BroadcastOptions {
  const rooms = Array.isArray(opts?.rooms) ? opts.rooms.map(String) : [];
  const except = Array.isArray(opts?.except) ? opts.except.map(String) : [];
  const flags = opts?.flags && typeof opts.flags === "object" ? { ...opts.flags } : {};
  // A flag meaning "do not forward" is meaningless once forwarded; never let it leak into local handling.
  delete flags.local;
  return { rooms: new Set(rooms), except: new Set(except), flags };
}

/** A received packet made safe for the local broadcast: a plain EVENT of this namespace. */
export function normalizePacket(packet: unknown, nsp: string): Packet | null {
  if (!packet || typeof packet !== "object") return null;
  const p = packet as Packet;
  if (!Array.isArray(p.data)) return null;
  const type = (p.type as number) === PacketType.BINARY_EVENT ? PacketType.EVENT : p.type;
  return { type, nsp, data: p.data };
}

/** Room names from the wire: a list, or a single name as some emitters send. */
export function toRoomList(rooms: unknown): Room[] {
  if (Array.isArray(rooms)) return rooms.map(String);
  if (typeof rooms === "string" || typeof rooms === "number") return [String(rooms)];
  return [];
}

/** What `fetchSockets()` tells other nodes about a socket; drops what must not travel (`sessionStore`, which may be circular). */
export function serializeSocket(socket: AnySocket): SocketDetails<unknown> {
  const { sessionStore: _, ...handshake } = socket.handshake as unknown as Record<string, unknown>;
  return { id: socket.id, handshake: handshake as unknown as Handshake, rooms: [...socket.rooms], data: socket.data };
}
