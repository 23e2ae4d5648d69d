/**
 * The pieces of @socket.io/redis-adapter's Pub/Sub wire that are not the
 * adapter: the payload codec (`parser`), the request types, payload
 * parsing, and the bookkeeping of `allRooms()`, a request of this wire only.
 */
import type { TimerEntry, TimerTarget } from "../engine/scheduler.ts";
import type { Room } from "../socket/types.ts";
import { decode as msgpackDecode, encode as msgpackEncode } from "./msgpack.ts";

/** Encodes and decodes broadcast payloads; MessagePack (as notepack.io writes it) by default. */
export interface RedisParser {
  encode(value: unknown): Uint8Array | string;
  decode(bytes: Uint8Array): unknown;
}

export const notepackParser: RedisParser = {
  encode: (value) => msgpackEncode(value),
  decode: (bytes) => msgpackDecode(bytes),
};

/** Request types of @socket.io/redis-adapter's wire format (not the cluster MessageType). */
export const RequestType = {
  SOCKETS: 0,
  ALL_ROOMS: 1,
  REMOTE_JOIN: 2,
  REMOTE_LEAVE: 3,
  REMOTE_DISCONNECT: 4,
  REMOTE_FETCH: 5,
  SERVER_SIDE_EMIT: 6,
  BROADCAST: 7,
  BROADCAST_CLIENT_COUNT: 8,
  BROADCAST_ACK: 9,
} as const;

const textDecoder = new TextDecoder();

/** Parses a request or response: JSON when it starts with "{", else the parser (msgpack). */
export function parsePayload(bytes: Uint8Array, parser: RedisParser): Record<string, any> | null {
  try {
    const value = bytes[0] === 0x7b ? JSON.parse(textDecoder.decode(bytes)) : parser.decode(bytes);
    return value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, any>) : null;
  } catch {
    return null;
  }
}

export function isNumeric(s: string): boolean {
  return s.trim() !== "" && !Number.isNaN(Number(s)) && !Number.isNaN(Number.parseFloat(s));
}

/** Waits for the ALL_ROOMS answers of every other node. */
export class AllRoomsRequest implements TimerTarget {
  received = 1;
  entry: TimerEntry | undefined;
  constructor(
    readonly expected: number,
    readonly rooms: Set<Room>,
    readonly resolve: (rooms: Set<Room>) => void,
    readonly reject: (err: Error) => void,
    readonly done: () => void,
  ) {}
  add(rooms: unknown[]): void {
    this.received++;
    for (const r of rooms) this.rooms.add(String(r));
    if (this.received >= this.expected) {
      this.entry?.cancel();
      this.done();
      this.resolve(this.rooms);
    }
  }
  onTimer(): void {
    this.done();
    this.reject(new Error("timeout reached while waiting for allRooms response"));
  }
}
