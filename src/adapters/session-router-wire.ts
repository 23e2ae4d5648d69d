/**
 * The messages Redis session routers exchange (redis-session-router.ts),
 * as MessagePack arrays on one channel per node. Every message read from
 * Redis is validated here: anything else on a node's channel is dropped,
 * never thrown into the subscriber.
 *
 *   edge (got the client's request)          owner (holds the session)
 *   ───────────────────────────────          ─────────────────────────
 *   REQUEST  [0, from, id, method, url, headers, addr, secure, body?] ─▶ engine.handleRequest
 *            ◀─ RESPONSE [1, id, status, headers, body]
 *   ABORT    [2, from, id]                   (client gone, or the edge gave up)
 *   UPGRADE  [3, from, id, url, headers, addr, secure] ─▶ engine.handleUpgrade
 *            ◀─ UPGRADED [4, id, headers] | REFUSED [5, id, status, headers, body]
 *   OPENED   [6, from, id]                   (the edge's socket is open: accept.open(relay))
 *   TO_OWNER [7, from, id, frame]            client frame ─▶ handler.onMessage
 *            ◀─ TO_EDGE [8, id, frame, compress]
 *   CLOSED_AT_EDGE [9, from, id, code, reason] / ◀─ CLOSED_AT_OWNER [10, id, code, reason]
 *
 * `from` is the sender's node id (replies go to its channel); `id` numbers
 * the request or relay on the edge, so the owner keys what it holds by both.
 */
import { decode, encode } from "./msgpack.ts";

export const REQUEST = 0;
export const RESPONSE = 1;
export const ABORT = 2;
export const UPGRADE = 3;
export const UPGRADED = 4;
export const REFUSED = 5;
export const OPENED = 6;
export const TO_OWNER = 7;
export const TO_EDGE = 8;
export const CLOSED_AT_EDGE = 9;
export const CLOSED_AT_OWNER = 10;

type Headers = Record<string, string>;
type Body = string | Uint8Array;

export type RouterMessage =
  | { type: typeof REQUEST; from: string; id: number; method: string; url: string; headers: Headers; addr: string; secure: boolean; body: Uint8Array | null }
  | { type: typeof RESPONSE; id: number; status: number; headers: Headers; body: Body }
  | { type: typeof ABORT; from: string; id: number }
  | { type: typeof UPGRADE; from: string; id: number; url: string; headers: Headers; addr: string; secure: boolean }
  | { type: typeof UPGRADED; id: number; headers: Headers }
  | { type: typeof REFUSED; id: number; status: number; headers: Headers; body: Body }
  | { type: typeof OPENED; from: string; id: number }
  | { type: typeof TO_OWNER; from: string; id: number; frame: Body }
  | { type: typeof TO_EDGE; id: number; frame: Body; compress: boolean }
  | { type: typeof CLOSED_AT_EDGE; from: string; id: number; code: number; reason: string }
  | { type: typeof CLOSED_AT_OWNER; id: number; code: number; reason: string };

/** The wire form: a flat array, smaller than keyed maps on every frame. */
export function encodeMessage(m: RouterMessage): Uint8Array {
  switch (m.type) {
    case REQUEST:
      return encode([m.type, m.from, m.id, m.method, m.url, m.headers, m.addr, m.secure, m.body]);
    case RESPONSE:
    case REFUSED:
      return encode([m.type, m.id, m.status, m.headers, m.body]);
    case ABORT:
    case OPENED:
      return encode([m.type, m.from, m.id]);
    case UPGRADE:
      return encode([m.type, m.from, m.id, m.url, m.headers, m.addr, m.secure]);
    case UPGRADED:
      return encode([m.type, m.id, m.headers]);
    case TO_OWNER:
      return encode([m.type, m.from, m.id, m.frame]);
    case TO_EDGE:
      return encode([m.type, m.id, m.frame, m.compress]);
    case CLOSED_AT_EDGE:
      return encode([m.type, m.from, m.id, m.code, m.reason]);
    case CLOSED_AT_OWNER:
      return encode([m.type, m.id, m.code, m.reason]);
  }
}

const isStr = (v: unknown): v is string => typeof v === "string";
const isId = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isBody = (v: unknown): v is Body => typeof v === "string" || v instanceof Uint8Array;
const isStatus = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 100 && (v as number) <= 599;
const isCode = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 4999;

function isHeaders(v: unknown): v is Headers {
  if (v === null || typeof v !== "object" || Array.isArray(v) || v instanceof Uint8Array) return false;
  for (const value of Object.values(v)) if (typeof value !== "string") return false;
  return true;
}

/** The message, or `null` for bytes that are not one (wrong shape, not MessagePack). */
export function decodeMessage(bytes: Uint8Array): RouterMessage | null {
  let a: unknown;
  try {
    a = decode(bytes);
  } catch {
    return null;
  }
  if (!Array.isArray(a)) return null;
  const [type] = a;
  switch (type) {
    case REQUEST: {
      const [, from, id, method, url, headers, addr, secure, body] = a;
      if (!isStr(from) || !isId(id) || !isStr(method) || !isStr(url) || !isHeaders(headers) || !isStr(addr)) return null;
      if (typeof secure !== "boolean" || !(body === null || body instanceof Uint8Array)) return null;
      return { type, from, id, method, url, headers, addr, secure, body };
    }
    case RESPONSE:
    case REFUSED: {
      const [, id, status, headers, body] = a;
      if (!isId(id) || !isStatus(status) || !isHeaders(headers) || !isBody(body)) return null;
      return { type, id, status, headers, body };
    }
    case ABORT:
    case OPENED: {
      const [, from, id] = a;
      return isStr(from) && isId(id) ? { type, from, id } : null;
    }
    case UPGRADE: {
      const [, from, id, url, headers, addr, secure] = a;
      if (!isStr(from) || !isId(id) || !isStr(url) || !isHeaders(headers) || !isStr(addr) || typeof secure !== "boolean") return null;
      return { type, from, id, url, headers, addr, secure };
    }
    case UPGRADED: {
      const [, id, headers] = a;
      return isId(id) && isHeaders(headers) ? { type, id, headers } : null;
    }
    case TO_OWNER: {
      const [, from, id, frame] = a;
      return isStr(from) && isId(id) && isBody(frame) ? { type, from, id, frame } : null;
    }
    case TO_EDGE: {
      const [, id, frame, compress] = a;
      return isId(id) && isBody(frame) && typeof compress === "boolean" ? { type, id, frame, compress } : null;
    }
    case CLOSED_AT_EDGE: {
      const [, from, id, code, reason] = a;
      return isStr(from) && isId(id) && isCode(code) && isStr(reason) ? { type, from, id, code, reason } : null;
    }
    case CLOSED_AT_OWNER: {
      const [, id, code, reason] = a;
      return isId(id) && isCode(code) && isStr(reason) ? { type, id, code, reason } : null;
    }
    default:
      return null;
  }
}
