/**
 * HTTP compression of polling responses (the `httpCompression` option) and
 * the check on compressed request bodies. Runtime-agnostic: bodies are
 * compressed with the Web `CompressionStream` (Node 18+, Bun, Deno,
 * workerd), never with a runtime's zlib binding.
 */

export type HttpEncoding = "gzip" | "deflate";

/** The codings unio can produce, in the order it prefers them when the client weighs them equally. */
const CODINGS: readonly HttpEncoding[] = ["gzip", "deflate"];

interface Weighed {
  q: number;
  /** 1 when the header names the coding, 0 when only `*` covers it. */
  exact: number;
  /** Position in the header: on equal weights the client's first choice wins. */
  order: number;
}

/**
 * The coding to compress a response with, from the request's
 * `Accept-Encoding`: the highest `q` wins; on a tie, the coding the header
 * lists first, then gzip before deflate (the reference's negotiation). No
 * header, `identity` only, or `q=0` for both means no compression.
 *
 * @example
 * negotiateEncoding("deflate, gzip;q=0.5"); // "deflate"
 * negotiateEncoding("br");                   // undefined
 */
export function negotiateEncoding(header: string | undefined): HttpEncoding | undefined {
  if (!header) return undefined;
  const weights = new Map<string, { q: number; order: number }>();
  const parts = header.split(",");
  for (let i = 0; i < parts.length; i++) {
    const [rawName, ...params] = parts[i]!.split(";");
    const name = rawName!.trim().toLowerCase();
    if (!name) continue;
    let q = 1;
    for (const p of params) {
      const eq = p.indexOf("=");
      if (eq !== -1 && p.slice(0, eq).trim().toLowerCase() === "q") {
        const v = Number(p.slice(eq + 1).trim());
        q = Number.isFinite(v) ? Math.min(Math.max(v, 0), 1) : 0;
      }
    }
    // A coding listed twice keeps its first entry, as a parser reading left to right would.
    if (!weights.has(name)) weights.set(name, { q, order: i });
  }
  let best: HttpEncoding | undefined;
  let bestW: Weighed | undefined;
  for (const coding of CODINGS) {
    const named = weights.get(coding);
    const star = weights.get("*");
    const w: Weighed | undefined = named ? { ...named, exact: 1 } : star ? { ...star, exact: 0 } : undefined;
    if (!w || w.q <= 0) continue;
    if (!bestW || w.q > bestW.q || (w.q === bestW.q && (w.exact > bestW.exact || (w.exact === bestW.exact && w.order < bestW.order)))) {
      best = coding;
      bestW = w;
    }
  }
  return best;
}

/**
 * Whether `text` is at least `threshold` bytes in UTF-8, counting only as
 * far as needed: a body whose UTF-16 length settles it costs no scan.
 */
export function utf8AtLeast(text: string, threshold: number): boolean {
  if (text.length >= threshold) return true;
  if (text.length * 3 < threshold) return false;
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    bytes += c < 0x80 ? 1 : c < 0x800 ? 2 : c >= 0xd800 && c <= 0xdbff ? (i++, 4) : 3;
    if (bytes >= threshold) return true;
  }
  return false;
}

const encoder = new TextEncoder();

/**
 * `text` compressed with `encoding`, or `null` when the runtime has no
 * `CompressionStream` or the stream failed (the caller then sends the body
 * as it is: an uncompressed answer beats losing the packets).
 *
 * @example
 * const gz = await compressText("4hello".repeat(500), "gzip");
 */
export async function compressText(text: string, encoding: HttpEncoding): Promise<Uint8Array | null> {
  if (typeof CompressionStream !== "function") return null;
  try {
    const stream = new CompressionStream(encoding);
    const writer = stream.writable.getWriter();
    // Not awaited: the readable side below pulls the data through; awaiting first could stall on backpressure.
    writer.write(encoder.encode(text)).catch(() => {});
    writer.close().catch(() => {});
    const reader = stream.readable.getReader();
    const chunks: Uint8Array[] = [];
    let size = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
    if (chunks.length === 1) return chunks[0]!;
    const out = new Uint8Array(size);
    let offset = 0;
    for (const c of chunks) {
      out.set(c, offset);
      offset += c.byteLength;
    }
    return out;
  } catch {
    return null;
  }
}

/**
 * Whether a request body arrives in a coding unio does not read. Polling
 * clients never compress their POSTs (neither does the reference server
 * inflate them), so rather than inflate attacker-chosen data, anything but
 * `identity` is refused with 415 (see `PollingTransport.data`).
 */
export function unsupportedContentEncoding(header: string | undefined): boolean {
  if (header === undefined) return false;
  for (const part of header.split(",")) {
    const coding = part.trim().toLowerCase();
    if (coding !== "" && coding !== "identity") return true;
  }
  return false;
}
