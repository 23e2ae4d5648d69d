/**
 * Engine.IO v3 packets and payloads (docs/engine.io-protocol/v3.md), the
 * protocol of engine.io-client 3.x and so of socket.io-client 2.x. Only
 * what differs from v4 lives here; packet types and the error value are
 * shared with engine-io.ts.
 *
 * - Text packet: as in v4, one type digit then the data (`4hello`).
 * - Binary packet: the type is the first byte (`[4, ...bytes]` on a
 *   WebSocket), or `b<type><base64>` as text (`b4AQID`), where v4 has no
 *   type at all.
 * - Text payload (polling): each packet is prefixed with its length in
 *   UTF-16 code units and a colon, `6:4hello2:4€`; nothing joins them.
 * - Binary payload (an XHR2 client, `Content-Type: application/octet-stream`):
 *   per packet a kind byte (0 text, 1 binary), the decimal digits of its
 *   byte length as bytes 0-9, the byte 255, then the packet (text as UTF-8).
 *
 * The decoders are stricter than the reference parser, never looser for
 * what engine.io-client 3.x sends: lengths are plain decimal digits (the
 * reference takes `Number()` of them, so ` 5` passes), a declared length
 * must fit in what follows, a `b` packet needs a known type and valid
 * base64, and a binary payload's kind byte must be 0 or 1. Decoders are
 * total: bad input gives an `EngineDecodeError` value, and decoding stops at
 * the first bad packet (as the reference does).
 */
import { decodeBase64, encodeBase64 } from "./base64.ts";
import { type DecodedPayload, type EngineDecodeError, type EnginePacket, isDecodeError, PACKET_TYPES } from "./engine-io.ts";

/** More digits than this cannot describe a packet inside a body capped by maxHttpBufferSize. */
const MAX_LENGTH_DIGITS = 15;

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

function fail(reason: string): EngineDecodeError {
  return { error: "parse error", reason };
}

/** `[type, ...bytes]`: a binary packet as a v3 WebSocket frame, and as it sits in a binary payload. */
export function encodeBinaryPacketV3(typeCode: number, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(data.byteLength + 1);
  out[0] = typeCode;
  out.set(data, 1);
  return out;
}

/** `b<type><base64>`: a binary packet as text (polling text payloads, `b64` WebSockets). */
export function encodeBase64PacketV3(typeCode: number, data: Uint8Array): string {
  return "b" + typeCode + encodeBase64(data);
}

/** Decodes one v3 packet: a WebSocket frame, or one packet of a payload. */
export function decodePacketV3(frame: string | Uint8Array): EnginePacket | EngineDecodeError {
  if (typeof frame !== "string") {
    if (frame.byteLength === 0) return fail("empty packet");
    const type = PACKET_TYPES[frame[0]!];
    if (type === undefined) return fail("unknown packet type");
    return { type, data: frame.subarray(1) };
  }
  if (frame.length === 0) return fail("empty packet");
  if (frame.charCodeAt(0) === 98 /* b */) {
    const type = PACKET_TYPES[frame.charCodeAt(1) - 48];
    if (type === undefined) return fail("unknown packet type");
    const bytes = decodeBase64(frame.slice(2));
    return bytes ? { type, data: bytes } : fail("invalid base64");
  }
  const type = PACKET_TYPES[frame.charCodeAt(0) - 48];
  if (type === undefined) return fail("unknown packet type");
  return frame.length > 1 ? { type, data: frame.slice(1) } : { type };
}

/** Joins text packets as `<length>:<packet>...`; the reference writes `0:` for nothing. */
export function encodeTextPayloadV3(packets: readonly string[]): string {
  if (packets.length === 0) return "0:";
  let out = "";
  for (let i = 0; i < packets.length; i++) out += packets[i]!.length + ":" + packets[i]!;
  return out;
}

/**
 * Builds a binary payload. Each part is a text packet (`4hello`) or a binary
 * packet already carrying its type byte (`encodeBinaryPacketV3`).
 */
export function encodeBinaryPayloadV3(parts: ReadonlyArray<string | Uint8Array>): Uint8Array {
  const bodies = parts.map((p) => (typeof p === "string" ? utf8.encode(p) : p));
  let total = 0;
  for (const b of bodies) total += 2 + String(b.byteLength).length + b.byteLength;
  const out = new Uint8Array(total);
  let at = 0;
  for (let i = 0; i < bodies.length; i++) {
    const body = bodies[i]!;
    out[at++] = typeof parts[i] === "string" ? 0 : 1;
    const digits = String(body.byteLength);
    for (let d = 0; d < digits.length; d++) out[at++] = digits.charCodeAt(d) - 48;
    out[at++] = 255;
    out.set(body, at);
    at += body.byteLength;
  }
  return out;
}

/** Splits a text payload; stops at the first malformed length or packet. */
export function decodePayloadV3(payload: string): DecodedPayload {
  const packets: EnginePacket[] = [];
  if (payload.length === 0) return { packets, error: fail("empty payload") };
  let i = 0;
  while (i < payload.length) {
    const start = i;
    while (i < payload.length && payload.charCodeAt(i) >= 48 && payload.charCodeAt(i) <= 57) {
      if (i - start === MAX_LENGTH_DIGITS) return { packets, error: fail("invalid length") };
      i++;
    }
    if (i === start || payload.charCodeAt(i) !== 58 /* : */) return { packets, error: fail("invalid length") };
    const n = Number(payload.slice(start, i));
    i++;
    if (n > payload.length - i) return { packets, error: fail("length beyond the payload") };
    if (n === 0) continue;
    const p = decodePacketV3(payload.slice(i, i + n));
    if (isDecodeError(p)) return { packets, error: p };
    packets.push(p);
    i += n;
  }
  return { packets };
}

/** Splits a binary payload (an `application/octet-stream` POST); stops at the first malformed part. */
export function decodeBinaryPayloadV3(bytes: Uint8Array): DecodedPayload {
  const packets: EnginePacket[] = [];
  if (bytes.byteLength === 0) return { packets, error: fail("empty payload") };
  let i = 0;
  while (i < bytes.byteLength) {
    const kind = bytes[i++];
    if (kind !== 0 && kind !== 1) return { packets, error: fail("invalid payload kind") };
    let n = 0;
    const start = i;
    while (i < bytes.byteLength && bytes[i]! <= 9) {
      if (i - start === MAX_LENGTH_DIGITS) return { packets, error: fail("invalid length") };
      n = n * 10 + bytes[i++]!;
    }
    if (i === start || bytes[i] !== 255) return { packets, error: fail("invalid length") };
    i++;
    if (n > bytes.byteLength - i) return { packets, error: fail("length beyond the payload") };
    const body = bytes.subarray(i, i + n);
    i += n;
    let p: EnginePacket | EngineDecodeError;
    if (kind === 1) {
      p = decodePacketV3(body);
    } else {
      let text: string;
      try {
        text = strictUtf8.decode(body);
      } catch {
        return { packets, error: fail("invalid UTF-8") };
      }
      p = decodePacketV3(text);
    }
    if (isDecodeError(p)) return { packets, error: p };
    packets.push(p);
  }
  return { packets };
}
