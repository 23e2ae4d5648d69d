/**
 * Socket.IO v5 packet shapes (docs/socket.io-protocol/v5-current.md), shared
 * by the built-in codec, custom parsers (the `parser` option) and the socket layer.
 */

export const PacketType = {
  CONNECT: 0,
  DISCONNECT: 1,
  EVENT: 2,
  ACK: 3,
  CONNECT_ERROR: 4,
  BINARY_EVENT: 5,
  BINARY_ACK: 6,
} as const;
export type PacketType = (typeof PacketType)[keyof typeof PacketType];

/** A decoded or to-be-encoded packet. `data` holds binary as `Uint8Array` once reconstructed. */
export interface Packet {
  type: PacketType;
  /** Namespace, always starting with "/". */
  nsp: string;
  data?: unknown;
  /** Ack id. */
  id?: number;
  /** Number of binary attachments (BINARY_EVENT / BINARY_ACK only). */
  attachments?: number;
}

/** Event names a client may not send and the server may not emit. */
export const RESERVED_EVENTS: ReadonlySet<string> = new Set([
  "connect",
  "connect_error",
  "disconnect",
  "disconnecting",
  "newListener",
  "removeListener",
]);

/** One step of decoding: a full packet, "need more binary frames", or an error value. */
export type DecodeStep =
  | { kind: "packet"; packet: Packet }
  | { kind: "pending" }
  | { kind: "error"; message: string };

/**
 * The `parser` option, as socket.io defines it: a module with an `Encoder`
 * and a `Decoder` class (socket.io-msgpack-parser has this shape). The
 * reference `Decoder` emits "decoded" and throws on bad input; unio's own
 * decoder also offers the total `push()`.
 */
export interface ParserEncoder {
  encode(packet: Packet): Array<string | Uint8Array | ArrayBuffer>;
}
export interface ParserDecoder {
  add(chunk: unknown): void;
  on(event: "decoded", listener: (packet: Packet) => void): unknown;
  destroy(): void;
  /** unio's total decode; absent on third-party parsers. */
  push?(chunk: string | Uint8Array): DecodeStep;
}
export interface Parser {
  Encoder: new () => ParserEncoder;
  Decoder: new () => ParserDecoder;
}
