import type { BodyResult, IncomingRequest, OutgoingResponse, RequestTarget, UpgradeAccept } from "./facade.ts";

/** Connection facts a Web-standard runtime knows beside the `Request`. */
export interface WebConnInfo {
  remoteAddress?: string;
}

/** The parts of an absolute request URL the core reads, split without a URL parser. */
interface UrlParts {
  /** Path and query, as a request line has them (`/socket.io/?EIO=4...`). */
  target: string;
  /** The path alone. */
  pathname: string;
  secure: boolean;
}

/**
 * `request.url` is absolute (`http://host:port/path?query`): the target
 * starts at the first `/` after the authority. The runtime has parsed it
 * already; a second parse with `URL` per request was measured at ~5% of a
 * polling server's CPU.
 */
function splitUrl(url: string): UrlParts {
  const scheme = url.indexOf("://");
  const slash = scheme === -1 ? -1 : url.indexOf("/", scheme + 3);
  const query = slash === -1 ? -1 : url.lastIndexOf("?", slash);
  if (scheme === -1 || slash === -1 || query > scheme) {
    // Not the usual shape (no path, or a query right after the authority): let the URL parser decide.
    const u = new URL(url);
    return { target: u.pathname + u.search, pathname: u.pathname, secure: u.protocol === "https:" || u.protocol === "wss:" };
  }
  const q = url.indexOf("?", slash);
  const hash = url.indexOf("#", slash);
  const end = hash === -1 ? url.length : hash;
  const target = url.slice(slash, end);
  return {
    target,
    pathname: q === -1 || q > end ? target : url.slice(slash, q),
    secure: url.startsWith("https:") || url.startsWith("wss:"),
  };
}

/**
 * Headers whose values are the same few strings on most connections (one
 * browser build, one site). A session keeps its opening request's headers
 * for life (the handshake shows them), and each request gets fresh strings
 * from the runtime: sharing one copy of these saves a few hundred bytes per
 * connection with browser clients. Per-connection values (keys, cookies,
 * tokens) are never pooled.
 */
const POOLED_HEADERS = new Set([
  "host",
  "connection",
  "upgrade",
  "origin",
  "user-agent",
  "accept",
  "accept-encoding",
  "accept-language",
  "cache-control",
  "pragma",
  "sec-websocket-version",
  "sec-websocket-extensions",
  "sec-fetch-dest",
  "sec-fetch-mode",
  "sec-fetch-site",
]);
const POOL_MAX = 256;
const POOL_MAX_LENGTH = 512;
// Cleared when full: bounded whatever clients send, and refilled by the values in use.
const pool = new Map<string, string>();

function pooled(value: string): string {
  const known = pool.get(value);
  if (known !== undefined) return known;
  if (value.length <= POOL_MAX_LENGTH) {
    if (pool.size >= POOL_MAX) pool.clear();
    pool.set(value, value);
  }
  return value;
}

/**
 * Wraps a Web `Request` as the core's `IncomingRequest` (Bun, Deno, Workers).
 *
 * @example
 * const res = await target.handleRequest(fromWebRequest(request, { remoteAddress }));
 * return toWebResponse(res);
 */
export function fromWebRequest(request: Request, info: WebConnInfo = {}, parts: UrlParts = splitUrl(request.url)): IncomingRequest {
  const headers: Record<string, string> = {};
  request.headers.forEach((value, key) => {
    headers[key] = POOLED_HEADERS.has(key) ? pooled(value) : value;
  });
  return {
    method: request.method,
    url: parts.target,
    headers,
    remoteAddress: info.remoteAddress ?? "",
    secure: parts.secure,
    readBody: (limit) => readWebBody(request, limit),
    onAbort(listener) {
      // A runtime may also abort the signal of a request it has answered: the
      // core ignores an "abort" of a request it has settled. Read only for a
      // held GET: a runtime may build the signal on first read and abort it
      // with a new DOMException once the request ends.
      const signal = request.signal;
      if (!signal) return;
      if (signal.aborted) queueMicrotask(listener);
      else signal.addEventListener("abort", listener, { once: true });
    },
  };
}

async function readWebBody(request: Request, limit: number): Promise<BodyResult> {
  const length = request.headers.get("content-length");
  const declared = Number(length);
  if (declared > limit) return { ok: false, reason: "too-large" };
  // `request.body` is not read on this path: a runtime may build a
  // ReadableStream on that getter (measured at ~2% of a polling server's
  // CPU), and `arrayBuffer()` of a request without a body is empty anyway.
  if (length !== null && Number.isSafeInteger(declared) && declared >= 0) {
    // A declared length within the limit bounds what the runtime reads, so the
    // body can be taken whole: natively, without a JS stream reader per
    // chunk (the reader was measured at a quarter of a polling POST's CPU).
    try {
      const bytes = new Uint8Array(await request.arrayBuffer());
      return bytes.byteLength > limit ? { ok: false, reason: "too-large" } : { ok: true, bytes };
    } catch {
      return { ok: false, reason: "aborted" };
    }
  }
  if (!request.body) return { ok: true, bytes: new Uint8Array(0) };
  // Chunked (no length): read chunk by chunk and stop at the limit.
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > limit) {
        // Stop reading: a body over the limit is never buffered whole.
        reader.cancel().catch(() => {});
        return { ok: false, reason: "too-large" };
      }
      chunks.push(value);
    }
  } catch {
    return { ok: false, reason: "aborted" };
  }
  if (chunks.length === 1) return { ok: true, bytes: chunks[0]! };
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const c of chunks) {
    bytes.set(c, offset);
    offset += c.byteLength;
  }
  return { ok: true, bytes };
}

// Statuses whose responses must have no body at all (a "" body is refused by Response).
const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304]);

/**
 * A body that is already compressed: workerd would otherwise encode it once
 * more to match its `Content-Encoding` (`encodeBody: "manual"` is its way
 * to pass bytes as they are; other runtimes ignore the unknown key).
 */
const MANUAL_ENCODING = { encodeBody: "manual" } as const;

/** Turns the core's response into a Web `Response`. */
export function toWebResponse(res: OutgoingResponse): Response {
  const body = NULL_BODY_STATUS.has(res.status) ? null : (res.body as BodyInit);
  if (res.headers["content-encoding"] !== undefined) {
    return new Response(body, { status: res.status, headers: res.headers, ...MANUAL_ENCODING } as ResponseInit);
  }
  return new Response(body, { status: res.status, headers: res.headers });
}

/** What a Web-standard shim supplies to `handleWebRequest`: its runtime's few primitives. */
export interface WebShim extends WebConnInfo {
  /** Completes an accepted upgrade; returns the 101 response, or `undefined` where the runtime answers itself (Bun). */
  upgrade(accept: UpgradeAccept): Response | undefined;
  /** Called before a request under the path is handled (Bun lifts its idle timeout for long-polls here). */
  hold?(): void;
  /** The app's own routes; 404 when absent. */
  fallback?(): Response | Promise<Response>;
}

/** Whether a Web `Request` asks for a WebSocket (what decides `handleUpgrade` over `handleRequest`). */
export function isWebSocketUpgrade(request: Request): boolean {
  return (request.headers.get("upgrade") ?? "").toLowerCase() === "websocket";
}

/**
 * The whole request sequence of a Web-standard runtime: path match, plain
 * request or upgrade, refusal, fallback. Bun, Deno and Workers call this and
 * differ only in the `WebShim` primitives they pass.
 */
export async function handleWebRequest(
  target: RequestTarget,
  request: Request,
  shim: WebShim,
): Promise<Response | undefined> {
  const parts = splitUrl(request.url);
  if (!target.matches(parts.pathname)) return shim.fallback ? shim.fallback() : new Response("Not Found", { status: 404 });
  shim.hold?.();
  const req = fromWebRequest(request, shim, parts);
  if (isWebSocketUpgrade(request)) {
    const result = await target.handleUpgrade(req);
    if (result.kind === "reject") return toWebResponse(result.response);
    return shim.upgrade(result);
  }
  return toWebResponse(await target.handleRequest(req));
}
