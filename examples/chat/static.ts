/**
 * The demo page's static files (index.html, style.css, chat.js, icon), read
 * from examples/chat/public/. Only the files listed here are served, so no
 * request path ever reaches the file system. `node:fs/promises` works on
 * Node, Bun and Deno alike.
 */
import { readFile } from "node:fs/promises";

const PUBLIC = new URL("./public/", import.meta.url);

const FILES: Record<string, { file: string; type: string }> = {
  "/": { file: "index.html", type: "text/html; charset=utf-8" },
  "/index.html": { file: "index.html", type: "text/html; charset=utf-8" },
  "/style.css": { file: "style.css", type: "text/css; charset=utf-8" },
  "/chat.js": { file: "chat.js", type: "application/javascript; charset=utf-8" },
  "/favicon.svg": { file: "favicon.svg", type: "image/svg+xml" },
};

export interface StaticFile {
  status: number;
  headers: Record<string, string>;
  body: Uint8Array | string;
}

const cache = new Map<string, Promise<Uint8Array>>();

async function read(file: string): Promise<Uint8Array> {
  let p = cache.get(file);
  if (!p) {
    p = readFile(new URL(file, PUBLIC)).then((b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
    cache.set(file, p);
    p.catch(() => cache.delete(file));
  }
  return p;
}

/** The response for `pathname`: a file, or 404. */
export async function staticFile(pathname: string, method = "GET"): Promise<StaticFile> {
  const entry = FILES[pathname];
  if (!entry) return { status: 404, headers: { "content-type": "text/plain; charset=utf-8" }, body: "Not found" };
  if (method !== "GET" && method !== "HEAD") {
    return { status: 405, headers: { allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" }, body: "" };
  }
  const body = await read(entry.file);
  return { status: 200, headers: { "content-type": entry.type, "cache-control": "no-cache" }, body };
}

/** The same as a Web `Response`, for the Bun and Deno `fetch` fallbacks. */
export async function staticResponse(request: Request): Promise<Response> {
  const res = await staticFile(new URL(request.url).pathname, request.method);
  return new Response(request.method === "HEAD" ? null : (res.body as BodyInit), {
    status: res.status,
    headers: res.headers,
  });
}
