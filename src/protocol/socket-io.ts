/**
 * Socket.IO v5 packet codec (docs/socket.io-protocol/v5-current.md), wire
 * compatible with the reference socket.io-parser 4.2.x.
 *
 * A packet is one text frame `<type>[<attachments>-][<nsp>,][<id>][<JSON>]`,
 * followed, for BINARY_EVENT/BINARY_ACK, by one binary frame per attachment.
 *
 * Choices a maintainer should know (the reference differs where noted):
 * - A decoded binary packet comes out as EVENT (2) or ACK (3) with its
 *   placeholders replaced by `Uint8Array`s and no `attachments` field, as the
 *   reference decoder does; the socket layer never sees types 5 and 6.
 * - `50-[...]` (zero attachments) is emitted at once and the decoder stays
 *   ready for the next packet (reference 4.2.6 gets stuck, docs/reference-quirks.md Q-11;
 *   4.2.7 rejects it with "Illegal attachments"). Official clients never
 *   send it.
 * - Stricter than the reference, never looser for what official clients send:
 *   counts and ack ids must be plain digits (the reference accepts " 1", "0x1"
 *   through `Number()`), an empty string is an unknown type (the reference
 *   reads it as CONNECT), ack ids are at most 16 digits and a safe integer,
 *   the JSON may not start with whitespace, and EVENT, ACK and CONNECT_ERROR
 *   must carry a payload (the reference accepts `2` alone, handing the socket
 *   layer `data: undefined`). Apart from `0-`, whatever this decoder accepts
 *   the reference decodes to the same packet (a property test in
 *   test/protocol/socket-io-interop.test.ts checks this).
 * - After an error the decoder drops any half-built binary packet, so it is in
 *   a clean state whatever the caller does next.
 * - Error messages are the reference's where it has one ("unknown packet
 *   type", "Illegal attachments", "too many attachments", "invalid payload",
 *   "illegal attachments", "got plaintext data when reconstructing a packet",
 *   "got binary data when not reconstructing a packet") plus "invalid ack id"
 *   and "namespace too long".
 * - `encode` throws on what JSON.stringify throws on (cycles, BigInt), as the
 *   reference does: that is a bug in the caller's data, not client input.
 */
import {
  PacketType,
  RESERVED_EVENTS,
  type DecodeStep,
  type Packet,
  type Parser,
  type ParserDecoder,
  type ParserEncoder,
} from "./socket-io-packet.ts";
import { deconstruct, hasBinary, isBinary, reconstruct, stringifyJSON, toUint8Array } from "./socket-io-binary.ts";

export { PacketType };
export type { DecodeStep, Packet, Parser, ParserDecoder, ParserEncoder };

/** Ack ids longer than this are rejected before any number is built (CVE-2020-36049 made long ids expensive). */
const MAX_ACK_ID_DIGITS = 16;
/** Attachment counts longer than this cannot be under any sane `maxAttachments`. */
const MAX_ATTACHMENT_DIGITS = 9;

/**
 * Encodes packets for the wire. Stateless, so one instance can serve every
 * connection and a broadcast is encoded once.
 *
 * @example
 * const [header, ...attachments] = new Encoder().encode({
 *   type: PacketType.EVENT, nsp: "/admin", id: 7, data: ["file", new Uint8Array([1, 2])],
 * });
 * // header === '51-/admin,7["file",{"_placeholder":true,"num":0}]'; attachments[0] is the bytes
 */
export class Encoder implements ParserEncoder {
  /**
   * Returns the text frame followed by each binary attachment. EVENT and ACK
   * whose data holds binary become BINARY_EVENT and BINARY_ACK; a
   * BINARY_EVENT or BINARY_ACK without binary is sent as EVENT or ACK, since
   * a `0-` count trips older decoders.
   */
  encode(packet: Packet): Array<string | Uint8Array> {
    let type: PacketType = packet.type;
    let data = packet.data;
    let buffers: Uint8Array[] | null = null;
    if (type === PacketType.EVENT || type === PacketType.ACK || type === PacketType.BINARY_EVENT || type === PacketType.BINARY_ACK) {
      const isEvent = type === PacketType.EVENT || type === PacketType.BINARY_EVENT;
      if (hasBinary(data)) {
        const parts = deconstruct(data);
        data = parts.data;
        buffers = parts.buffers;
        type = isEvent ? PacketType.BINARY_EVENT : PacketType.BINARY_ACK;
      } else {
        type = isEvent ? PacketType.EVENT : PacketType.ACK;
      }
    }
    let header = String(type);
    if (buffers !== null) header += buffers.length + "-";
    if (packet.nsp && packet.nsp !== "/") header += packet.nsp + ",";
    if (packet.id !== undefined && packet.id !== null) header += packet.id;
    if (data !== undefined && data !== null) header += stringifyJSON(data) ?? "";
    const out: Array<string | Uint8Array> = [header];
    if (buffers !== null) for (let i = 0; i < buffers.length; i++) out.push(buffers[i]!);
    return out;
  }
}

export interface DecoderOptions {
  /** Most binary attachments one packet may announce (reference default: 10). */
  maxAttachments?: number;
  /** Longest accepted namespace, in UTF-16 code units; unlimited when absent. */
  maxNamespaceLength?: number;
  /** Passed to `JSON.parse`, as the reference `reviver` option. */
  reviver?: (this: unknown, key: string, value: unknown) => unknown;
}

interface PendingBinary {
  packet: Packet;
  expected: number;
  buffers: Uint8Array[];
}

const PENDING: DecodeStep = Object.freeze({ kind: "pending" });
const objectToString = Object.prototype.toString;

function failure(message: string): DecodeStep {
  return { kind: "error", message };
}

function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}

/** Same test as the reference `isObject`: a plain object, not an array or null. */
function isPlainObject(value: unknown): boolean {
  return objectToString.call(value) === "[object Object]";
}

function isPayloadValid(type: PacketType, present: boolean, data: unknown): boolean {
  switch (type) {
    case PacketType.CONNECT:
      return !present || isPlainObject(data);
    case PacketType.DISCONNECT:
      return !present;
    case PacketType.EVENT:
    case PacketType.BINARY_EVENT: {
      if (!Array.isArray(data)) return false;
      const name: unknown = data[0];
      // A non-string name (CVE-2023-32695: `42[{"toString":"foo"}]`) would reach emit() as an object.
      return typeof name === "number" || (typeof name === "string" && !RESERVED_EVENTS.has(name));
    }
    case PacketType.ACK:
    case PacketType.BINARY_ACK:
      return Array.isArray(data);
    case PacketType.CONNECT_ERROR:
      return typeof data === "string" || isPlainObject(data);
    default:
      return false;
  }
}

/**
 * Decodes frames into packets. `push` is total: it returns a `DecodeStep` and
 * never throws. `add`/`on("decoded")` mirror the reference decoder for code
 * that expects it (they throw on bad input, as the reference does).
 *
 * Binary frames are kept as given, without copying, so callers must not reuse
 * their memory afterwards.
 *
 * @example
 * const decoder = new Decoder();
 * decoder.push('451-["upload",{"_placeholder":true,"num":0}]'); // { kind: "pending" }
 * decoder.push(bytes); // { kind: "packet", packet: { type: 2, nsp: "/", data: ["upload", bytes] } }
 */
export class Decoder implements ParserDecoder {
  private readonly maxAttachments: number;
  private readonly maxNamespaceLength: number;
  private readonly reviver: DecoderOptions["reviver"];
  private pending: PendingBinary | null = null;
  /** "decoded" listeners, for `add()` users only; the server's decoder (one per connection) never has any. */
  private listeners: Array<(packet: Packet) => void> | null = null;

  constructor(options: DecoderOptions = {}) {
    this.maxAttachments = options.maxAttachments ?? 10;
    this.maxNamespaceLength = options.maxNamespaceLength ?? Infinity;
    this.reviver = options.reviver;
  }

  /**
   * Feeds one frame: a text frame, or a binary frame when a binary packet is
   * waiting for attachments.
   *
   * @example
   * const step = new Decoder().push('2["hi"]');
   * if (step.kind === "error") closeConnection(step.message);
   */
  push(chunk: string | Uint8Array): DecodeStep {
    try {
      return this.step(chunk);
    } catch {
      // Only a user-supplied reviver (or exotic objects it returns) can throw here.
      this.pending = null;
      return failure("invalid payload");
    }
  }

  /**
   * Reference-compatible entry point: accepts strings and any binary
   * (ArrayBuffer or view), emits "decoded" for each complete packet, and
   * throws an Error whose message is the decode error.
   *
   * @example
   * decoder.on("decoded", (packet) => route(packet));
   * decoder.add("0/admin,");
   */
  add(chunk: unknown): void {
    let input: string | Uint8Array;
    if (typeof chunk === "string" || chunk instanceof Uint8Array) input = chunk;
    else if (isBinary(chunk)) input = toUint8Array(chunk);
    else throw new Error("Unknown type: " + typeof chunk);
    const step = this.push(input);
    if (step.kind === "error") throw new Error(step.message);
    if (step.kind === "packet") {
      const all = this.listeners ?? [];
      const listeners = all.length === 1 ? all : all.slice();
      for (let i = 0; i < listeners.length; i++) listeners[i]!(step.packet);
    }
  }

  /** Registers a listener for packets decoded through `add`. */
  on(event: "decoded", listener: (packet: Packet) => void): this {
    if (event === "decoded") (this.listeners ??= []).push(listener);
    return this;
  }

  /** Removes a listener registered with `on`. */
  off(event: "decoded", listener: (packet: Packet) => void): this {
    const i = event === "decoded" && this.listeners ? this.listeners.indexOf(listener) : -1;
    if (i !== -1) this.listeners!.splice(i, 1);
    return this;
  }

  /** Drops a half-received binary packet; the decoder stays usable. */
  destroy(): void {
    this.pending = null;
  }

  private step(chunk: string | Uint8Array): DecodeStep {
    if (typeof chunk === "string") {
      if (this.pending !== null) {
        this.pending = null;
        return failure("got plaintext data when reconstructing a packet");
      }
      const packet = this.decodeString(chunk);
      if (typeof packet === "string") return failure(packet);
      const expected = packet.attachments;
      if (expected === undefined) return { kind: "packet", packet };
      if (expected === 0) return this.complete(packet, []);
      this.pending = { packet, expected, buffers: [] };
      return PENDING;
    }
    if (chunk instanceof Uint8Array) {
      const pending = this.pending;
      if (pending === null) return failure("got binary data when not reconstructing a packet");
      pending.buffers.push(chunk);
      if (pending.buffers.length < pending.expected) return PENDING;
      this.pending = null;
      return this.complete(pending.packet, pending.buffers);
    }
    return failure("Unknown type: " + typeof chunk);
  }

  /** Fills placeholders and turns BINARY_EVENT/BINARY_ACK into EVENT/ACK (see the file comment). */
  private complete(packet: Packet, buffers: Uint8Array[]): DecodeStep {
    const error = reconstruct(packet.data, buffers, this.reviver !== undefined);
    if (error !== null) return failure(error);
    const out: Packet = {
      type: packet.type === PacketType.BINARY_EVENT ? PacketType.EVENT : PacketType.ACK,
      nsp: packet.nsp,
      data: packet.data,
    };
    if (packet.id !== undefined) out.id = packet.id;
    return { kind: "packet", packet: out };
  }

  /** Parses one text frame; returns the error message on failure. */
  private decodeString(str: string): Packet | string {
    const length = str.length;
    const type = length > 0 ? str.charCodeAt(0) - 48 : -1;
    if (type < 0 || type > 6) return "unknown packet type";
    let i = 1;
    let attachments: number | undefined;
    if (type === PacketType.BINARY_EVENT || type === PacketType.BINARY_ACK) {
      const start = i;
      while (i < length && isDigit(str.charCodeAt(i))) {
        if (i - start === MAX_ATTACHMENT_DIGITS) return "too many attachments";
        i++;
      }
      if (i === start || str.charCodeAt(i) !== 45 /* - */) return "Illegal attachments";
      attachments = Number(str.slice(start, i));
      if (attachments > this.maxAttachments) return "too many attachments";
      i++;
    }
    let nsp = "/";
    if (str.charCodeAt(i) === 47 /* / */) {
      // The namespace runs to the first comma, or to the end (`40/random` is valid).
      const comma = str.indexOf(",", i);
      const end = comma === -1 ? length : comma;
      if (end - i > this.maxNamespaceLength) return "namespace too long";
      nsp = str.slice(i, end);
      i = comma === -1 ? length : comma + 1;
    }
    let id: number | undefined;
    if (i < length && isDigit(str.charCodeAt(i))) {
      const start = i;
      while (i < length && isDigit(str.charCodeAt(i))) {
        if (i - start === MAX_ACK_ID_DIGITS) return "invalid ack id";
        i++;
      }
      id = Number(str.slice(start, i));
      if (!Number.isSafeInteger(id)) return "invalid ack id";
    }
    const present = i < length;
    let data: unknown;
    if (present) {
      // The reference reads leading whitespace as part of the ack id (`2 ["a"]` gets id 0); refuse
      // rather than decode the same bytes into a different packet.
      const first = str.charCodeAt(i);
      if (first === 32 || first === 9 || first === 10 || first === 13) return "invalid payload";
      try {
        data = this.reviver === undefined ? JSON.parse(str.slice(i)) : JSON.parse(str.slice(i), this.reviver);
      } catch {
        return "invalid payload";
      }
    }
    if (!isPayloadValid(type as PacketType, present, data)) return "invalid payload";
    const packet: Packet = { type: type as PacketType, nsp };
    if (id !== undefined) packet.id = id;
    if (present) packet.data = data;
    if (attachments !== undefined) packet.attachments = attachments;
    return packet;
  }
}

/**
 * The built-in parser, in the shape of socket.io's `parser` option.
 *
 * @example
 * const { Encoder: E, Decoder: D } = defaultParser;
 * new D().add(new E().encode({ type: PacketType.EVENT, nsp: "/", data: ["hi"] })[0]);
 */
export const defaultParser: Parser = { Encoder, Decoder };
