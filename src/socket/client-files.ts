/**
 * Serving the official socket.io-client bundles under the server path
 * (`serveClient`, on by default as in socket.io): `/socket.io/socket.io.js`,
 * its minified, ESM and msgpack variants, and their source maps.
 *
 * The core cannot read files, so the bytes come from a loader a runtime
 * registers (src/runtimes/client-bundle.ts does it for Node, Bun and Deno
 * from the socket.io-client package's `dist/`). Without a loader, as on
 * Workers, nothing is served here and the request goes on to the engine.
 *
 *   GET <path>/socket.io.min.js ──▶ serveClientFile(req, path)
 *        known name, loader set ──▶ 200 (or 304 on a matching If-None-Match)
 *        anything else          ──▶ undefined: the engine answers
 */
import { corsHeaders, type CorsOptions } from "../engine/cors.ts";
import type { IncomingRequest, OutgoingResponse } from "../engine/facade.ts";

/** The files socket.io serves, and only those. */
export const CLIENT_FILES: ReadonlySet<string> = new Set([
  "socket.io.js",
  "socket.io.js.map",
  "socket.io.min.js",
  "socket.io.min.js.map",
  "socket.io.esm.min.js",
  "socket.io.esm.min.js.map",
  "socket.io.msgpack.min.js",
  "socket.io.msgpack.min.js.map",
]);

/** Reads one of `CLIENT_FILES` (a bare file name); `null` when it cannot. */
export type ClientBundleLoader = (file: string) => Promise<Uint8Array | null>;

/** Compresses a whole file's bytes. */
export type ClientBundleEncoder = (bytes: Uint8Array) => Promise<Uint8Array>;

export interface ClientBundleOptions {
  /**
   * Brotli for clients that accept `br` (socket.io serves it first). The Web
   * `CompressionStream` has no Brotli, so it comes from the runtime: the
   * Node, Bun and Deno shims pass `node:zlib`'s. Without it, gzip or deflate.
   */
  brotli?: ClientBundleEncoder;
}

type Encoding = "br" | "gzip" | "deflate";

/** Encodings in the reference's order of preference (for equal weights and positions). */
const ENCODINGS: readonly Encoding[] = ["br", "gzip", "deflate"];

interface Registry {
  loader: ClientBundleLoader;
  version: string;
  brotli: ClientBundleEncoder | undefined;
  /** One read per file for the life of the process; failed reads are retried. */
  files: Map<string, Promise<Uint8Array | null>>;
  compressed: Map<string, Promise<Uint8Array | null>>;
}

// Kept on globalThis so that two copies of this module (a bundled and a
// source import of unio in one process) still share the registered loader.
const kRegistry = Symbol.for("unio.clientBundle");
type Holder = { [kRegistry]?: Registry };

/**
 * Registers where client bundle bytes come from, and the client version
 * used as the ETag. Runtimes with a file system do it on import; call it
 * yourself to serve the bundle from elsewhere (a KV store, an asset binding).
 *
 * @example
 * setClientBundleLoader(async (file) => {
 *   const res = await env.ASSETS.fetch(`https://assets/socket.io/${file}`);
 *   return res.ok ? new Uint8Array(await res.arrayBuffer()) : null;
 * }, "4.8.1");
 */
export function setClientBundleLoader(loader: ClientBundleLoader, version: string, options: ClientBundleOptions = {}): void {
  (globalThis as Holder)[kRegistry] = { loader, version, brotli: options.brotli, files: new Map(), compressed: new Map() };
}

/** Removes the registered loader (client files are then not served). */
export function clearClientBundleLoader(): void {
  delete (globalThis as Holder)[kRegistry];
}

/** The registered client version, or undefined when no loader is registered. */
export function clientBundleVersion(): string | undefined {
  return (globalThis as Holder)[kRegistry]?.version;
}

function load(reg: Registry, file: string): Promise<Uint8Array | null> {
  let p = reg.files.get(file);
  if (!p) {
    p = reg.loader(file).catch(() => null);
    reg.files.set(file, p);
    // A failed read (file missing right now) is not remembered.
    p.then((bytes) => {
      if (bytes === null && reg.files.get(file) === p) reg.files.delete(file);
    });
  }
  return p;
}

/**
 * Compressed once per file and encoding: Brotli with the registered encoder,
 * gzip and deflate with the Web `CompressionStream` (Node 18+, Bun, Deno,
 * Workers); null where that is missing or fails.
 */
function compress(reg: Registry, file: string, bytes: Uint8Array, encoding: Encoding): Promise<Uint8Array | null> {
  const key = `${encoding}:${file}`;
  let p = reg.compressed.get(key);
  if (!p) {
    p = (async () => {
      if (encoding === "br") return reg.brotli ? reg.brotli(bytes) : null;
      if (typeof CompressionStream !== "function") return null;
      const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(new CompressionStream(encoding));
      return new Uint8Array(await new Response(stream).arrayBuffer());
    })().catch(() => null);
    reg.compressed.set(key, p);
  }
  return p;
}

/**
 * The encoding to use from `Accept-Encoding`, among `available`, as the
 * reference's `accepts` picks it: the highest weight (`q=0` refuses), then
 * the entry listed first by the client, then br, gzip, deflate.
 */
function negotiate(header: string | undefined, available: readonly Encoding[]): Encoding | undefined {
  if (!header) return undefined;
  const entries = new Map<string, { q: number; at: number }>();
  header.split(",").forEach((part, at) => {
    const [name, ...params] = part.trim().toLowerCase().split(";");
    if (!name) return;
    let q = 1;
    for (const p of params) {
      const m = /^\s*q\s*=\s*([0-9.]+)\s*$/.exec(p);
      if (m) q = Number(m[1]);
    }
    const seen = entries.get(name.trim());
    if (!seen || q > seen.q) entries.set(name.trim(), { q, at });
  });
  let best: { enc: Encoding; q: number; at: number; rank: number } | undefined;
  available.forEach((enc) => {
    const e = entries.get(enc) ?? entries.get("*");
    if (!e || !(e.q > 0)) return;
    const rank = ENCODINGS.indexOf(enc);
    if (!best || e.q > best.q || (e.q === best.q && (e.at < best.at || (e.at === best.at && rank < best.rank)))) {
      best = { enc, q: e.q, at: e.at, rank };
    }
  });
  return best?.enc;
}

/** The client file a request asks for, if it asks for one. */
function fileOf(url: string, path: string): string | undefined {
  const q = url.indexOf("?");
  const pathname = q === -1 ? url : url.slice(0, q);
  const base = path.endsWith("/") ? path : `${path}/`;
  if (!pathname.startsWith(base)) return undefined;
  const name = pathname.slice(base.length);
  return CLIENT_FILES.has(name) ? name : undefined;
}

function addVary(headers: Record<string, string>, value: string): void {
  headers.vary = headers.vary ? `${headers.vary}, ${value}` : value;
}

export interface ServeClientOptions {
  /** The server's `cors` option: socket.io applies it to the client files too. */
  cors?: CorsOptions;
}

/**
 * Answers a request for one of the client bundles under `path` (the server
 * path, e.g. `/socket.io/`), or returns `undefined` so the engine handles it.
 *
 * @example
 * // a server that serves the bundles before its engine sees the request:
 * const file = await serveClientFile(req, "/socket.io/", { cors: { origin: "*" } });
 * if (file) return file;
 * return engine.handleRequest(req);
 */
export async function serveClientFile(
  req: IncomingRequest,
  path: string,
  options: ServeClientOptions = {},
): Promise<OutgoingResponse | undefined> {
  const reg = (globalThis as Holder)[kRegistry];
  if (!reg) return undefined;
  if (req.method !== "GET" && req.method !== "HEAD") return undefined;
  const file = fileOf(req.url, path);
  if (!file) return undefined;

  const headers: Record<string, string> = options.cors ? await corsHeaders(options.cors, req.method, req.headers) : {};
  // Per RFC 7232 the ETag is quoted; a weak validator of the same version matches too.
  const etag = `"${reg.version}"`;
  const ifNoneMatch = req.headers["if-none-match"];
  if (ifNoneMatch !== undefined) {
    const tags = ifNoneMatch.split(",").map((t) => t.trim());
    if (tags.includes(etag) || tags.includes(`W/${etag}`) || tags.includes("*")) {
      return { status: 304, headers: { ...headers, etag, "cache-control": "public, max-age=0" }, body: "" };
    }
  }

  const bytes = await load(reg, file);
  if (!bytes) return undefined;
  headers["cache-control"] = "public, max-age=0";
  headers["content-type"] = file.endsWith(".map") ? "application/json; charset=utf-8" : "application/javascript; charset=utf-8";
  headers.etag = etag;
  addVary(headers, "Accept-Encoding");

  const encoding = negotiate(req.headers["accept-encoding"], reg.brotli ? ENCODINGS : ENCODINGS.slice(1));
  if (encoding) {
    const packed = await compress(reg, file, bytes, encoding);
    if (packed) {
      headers["content-encoding"] = encoding;
      return { status: 200, headers, body: packed };
    }
  }
  return { status: 200, headers, body: bytes };
}
