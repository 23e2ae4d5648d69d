/**
 * Public socket ids and CSR private session ids: 20 url-safe characters
 * from 15 bytes (12 random, then a 24-bit counter so two ids generated in
 * the same instant never collide), like socket.io's base64id. Uses Web
 * Crypto, which every supported runtime has.
 */

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const POOL_SIZE = 12 * 256;

// Random bytes are drawn in bulk: one getRandomValues call serves 256 ids.
const pool = new Uint8Array(POOL_SIZE);
let poolOffset = POOL_SIZE;
let counter = 0;
const bytes = new Uint8Array(15);

/**
 * Returns a fresh 20-character id.
 * @example generateId() // "bEy0N2tUqS1M8-w_AAAB"
 */
export function generateId(): string {
  if (poolOffset === POOL_SIZE) {
    crypto.getRandomValues(pool);
    poolOffset = 0;
  }
  bytes.set(pool.subarray(poolOffset, poolOffset + 12));
  poolOffset += 12;
  counter = (counter + 1) & 0xffffff;
  bytes[12] = counter >>> 16;
  bytes[13] = (counter >>> 8) & 0xff;
  bytes[14] = counter & 0xff;
  let out = "";
  for (let i = 0; i < 15; i += 3) {
    const v = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out += ALPHABET[v >>> 18]! + ALPHABET[(v >>> 12) & 63]! + ALPHABET[(v >>> 6) & 63]! + ALPHABET[v & 63]!;
  }
  return out;
}
