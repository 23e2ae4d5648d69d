/**
 * Base64 between `Uint8Array` and string, for engine.io's `b` polling packets
 * (standard alphabet, padded). `Buffer` is Node's and the core may not use it;
 * `atob`/`btoa` exist everywhere but go through a one-char-per-byte string, and
 * `Uint8Array.fromBase64` is not in Node 20. Decoding is strict: any character
 * outside the alphabet is a malformed packet, not something to skip.
 */
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const LOOKUP = new Int16Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) LOOKUP[ALPHABET.charCodeAt(i)] = i;

export function encodeBase64(bytes: Uint8Array): string {
  let out = "";
  const n = bytes.length;
  let i = 0;
  // Build in slices so very large inputs do not create one giant concat chain.
  const parts: string[] = [];
  for (; i + 2 < n; i += 3) {
    const v = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out +=
      ALPHABET[(v >> 18) & 63]! + ALPHABET[(v >> 12) & 63]! + ALPHABET[(v >> 6) & 63]! + ALPHABET[v & 63]!;
    if (out.length >= 8192) {
      parts.push(out);
      out = "";
    }
  }
  if (i < n) {
    const rest = n - i;
    const v = (bytes[i]! << 16) | (rest === 2 ? bytes[i + 1]! << 8 : 0);
    out += ALPHABET[(v >> 18) & 63]! + ALPHABET[(v >> 12) & 63]!;
    out += rest === 2 ? ALPHABET[(v >> 6) & 63]! + "=" : "==";
  }
  parts.push(out);
  return parts.length === 1 ? parts[0]! : parts.join("");
}

/** Decodes base64 (padding optional); returns `null` for any character outside the alphabet. */
export function decodeBase64(text: string): Uint8Array | null {
  let len = text.length;
  while (len > 0 && text.charCodeAt(len - 1) === 61 /* = */) len--;
  if (text.length - len > 2 || len % 4 === 1) return null;
  const out = new Uint8Array(Math.floor((len * 3) / 4));
  let bits = 0;
  let acc = 0;
  let o = 0;
  for (let i = 0; i < len; i++) {
    const c = text.charCodeAt(i);
    const v = c < 128 ? LOOKUP[c]! : -1;
    if (v < 0) return null;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  return out;
}
