/**
 * Engine.IO v4 packets and payloads (docs/engine.io-protocol/v4-current.md).
 *
 * Text packet: one type digit then the data (`4hello`). Binary message on a
 * WebSocket: the raw bytes, type implied. Binary in a polling payload or on a
 * `b64` transport: `b` + base64. A polling payload joins packets with the
 * record separator `\x1e`.
 *
 * Decoders are total: bad input gives an `EngineDecodeError` value.
 */
import { decodeBase64, encodeBase64 } from "./base64.ts";

export type EnginePacketType = "open" | "close" | "ping" | "pong" | "message" | "upgrade" | "noop";

export interface EnginePacket {
  type: EnginePacketType;
  data?: string | Uint8Array;
}

export interface EngineDecodeError {
  error: "parse error";
  reason: string;
}

export const PACKET_TYPES: readonly EnginePacketType[] = [
  "open",
  "close",
  "ping",
  "pong",
  "message",
  "upgrade",
  "noop",
];

const TYPE_CODE: Record<EnginePacketType, string> = {
  open: "0",
  close: "1",
  ping: "2",
  pong: "3",
  message: "4",
  upgrade: "5",
  noop: "6",
};

export const RECORD_SEPARATOR = "\x1e";

export function isDecodeError(v: unknown): v is EngineDecodeError {
  return typeof v === "object" && v !== null && (v as EngineDecodeError).error === "parse error";
}

/**
 * Encodes one packet for a transport. Binary goes out raw when the transport
 * carries binary frames (`supportsBinary`), else as `b<base64>`.
 */
export function encodePacket(packet: EnginePacket, supportsBinary: boolean): string | Uint8Array {
  const { data } = packet;
  if (data instanceof Uint8Array) return supportsBinary ? data : "b" + encodeBase64(data);
  return data === undefined ? TYPE_CODE[packet.type] : TYPE_CODE[packet.type] + data;
}

/** Decodes one packet: a text frame or payload segment, or a binary frame. */
export function decodePacket(frame: string | Uint8Array): EnginePacket | EngineDecodeError {
  if (typeof frame !== "string") return { type: "message", data: frame };
  if (frame.length === 0) return { error: "parse error", reason: "empty packet" };
  const code = frame.charCodeAt(0);
  if (code === 98 /* b */) {
    const bytes = decodeBase64(frame.slice(1));
    return bytes ? { type: "message", data: bytes } : { error: "parse error", reason: "invalid base64" };
  }
  const type = PACKET_TYPES[code - 48];
  if (type === undefined) return { error: "parse error", reason: "unknown packet type" };
  return frame.length > 1 ? { type, data: frame.slice(1) } : { type };
}

/** Joins packets into one polling payload (always text in v4). */
export function encodePayload(packets: readonly EnginePacket[]): string {
  let out = "";
  for (let i = 0; i < packets.length; i++) {
    if (i > 0) out += RECORD_SEPARATOR;
    out += encodePacket(packets[i]!, false) as string;
  }
  return out;
}

export interface DecodedPayload {
  packets: EnginePacket[];
  /** Set when a segment was invalid; decoding stops there, as the reference does. */
  error?: EngineDecodeError;
}

/** Splits a polling payload; stops at the first invalid packet. */
export function decodePayload(payload: string): DecodedPayload {
  const packets: EnginePacket[] = [];
  let start = 0;
  for (;;) {
    const end = payload.indexOf(RECORD_SEPARATOR, start);
    const segment = end === -1 ? payload.slice(start) : payload.slice(start, end);
    const p = decodePacket(segment);
    if (isDecodeError(p)) return { packets, error: p };
    packets.push(p);
    if (end === -1) return { packets };
    start = end + 1;
  }
}
