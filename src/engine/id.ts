/**
 * Session and socket ids in the reference's `base64id` shape: 15 bytes (12
 * random, then the low 3 bytes of a counter so ids made in the same process
 * never repeat), base64 with `/`→`_` and `+`→`-`: 20 URL-safe characters.
 */
import { encodeBase64 } from "../protocol/base64.ts";

let counter = Math.floor(Math.random() * 0xffffff);
const bytes = new Uint8Array(15);

export function generateId(): string {
  crypto.getRandomValues(bytes.subarray(0, 12));
  counter = (counter + 1) & 0xffffff;
  bytes[12] = (counter >> 16) & 0xff;
  bytes[13] = (counter >> 8) & 0xff;
  bytes[14] = counter & 0xff;
  return encodeBase64(bytes).replace(/\//g, "_").replace(/\+/g, "-");
}
