/**
 * Session ids that name their home object. A sid made inside a Durable
 * Object starts with the object's id (32 bytes, base64url: 43 characters),
 * so the router sends a polling request or an upgrade to the object that
 * holds the session whatever the app's sharding function says, without a
 * lookup table.
 *
 *   sid = base64url(objectId) + sessionPart
 *         └──── 43 chars ───┘   └ 20 chars ┘
 */
import { decodeBase64, encodeBase64 } from "../../protocol/base64.ts";

const PREFIX_LENGTH = 43;
const HEX = /^[0-9a-f]{64}$/;
const URL_SAFE = /^[A-Za-z0-9_-]+$/;

/** The sid prefix for an object id (64 hex digits). */
export function sidPrefix(objectIdHex: string): string {
  if (!HEX.test(objectIdHex)) throw new Error("not a Durable Object id: " + objectIdHex);
  const bytes = new Uint8Array(32);
  for (let i = 0; i < 32; i++) bytes[i] = parseInt(objectIdHex.slice(i * 2, i * 2 + 2), 16);
  return encodeBase64(bytes).slice(0, PREFIX_LENGTH).replace(/\+/g, "-").replace(/\//g, "_");
}

/** The object id (64 hex digits) a sid names, or `null` for anything malformed. */
export function objectIdOfSid(sid: string): string | null {
  // Only the prefix is ours: the rest is the app's generateId, which may use any characters.
  if (sid.length <= PREFIX_LENGTH || !URL_SAFE.test(sid.slice(0, PREFIX_LENGTH))) return null;
  const bytes = decodeBase64(sid.slice(0, PREFIX_LENGTH).replace(/-/g, "+").replace(/_/g, "/") + "=");
  if (!bytes || bytes.length !== 32) return null;
  let hex = "";
  for (const b of bytes) hex += b.toString(16).padStart(2, "0");
  return hex;
}
