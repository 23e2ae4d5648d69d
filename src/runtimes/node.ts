/**
 * Node runtime shim: `serve`, `attach` and `middleware` for http.Server,
 * express and connect, with WebSocket through the `ws` package. It only
 * translates Node's request/socket objects to the core's facade.
 */
// Registers the socket.io-client bundles for `serveClient` (/socket.io/socket.io.js).
import "./client-bundle.ts";
import { createServer, type IncomingMessage, type Server as HttpServer, STATUS_CODES, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocket, WebSocketServer } from "ws";
import { type NodeAttachOptions, type NodeHttpServer, setNodeAttachment } from "./node-server.ts";
import { preEncodedFrame, UnioWebSocket } from "./node-ws.ts";
import type {
  BodyResult,
  IncomingRequest,
  OutgoingResponse,
  RequestTarget,
  SharedFrame,
  WsConnection,
  WsHandler,
} from "../engine/facade.ts";
import type { ResolvedPerMessageDeflate } from "../engine/options.ts";

export type { RequestTarget } from "../engine/facade.ts";
// Everything "socket.io" exports, so an app changes only its import; `Server` is the Node one.
export * from "../index.ts";
export { Server, type NodeAttachOptions, type NodeHttpServer, type NodeServerOptions } from "./node-server.ts";
export { createIo as default } from "./node-server.ts";

/** Node's request as the core's `IncomingRequest`, without building a Web `Request`. */
class NodeRequest implements IncomingRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly remoteAddress: string;
  readonly secure: boolean;

  constructor(
    readonly raw: IncomingMessage,
    readonly res: ServerResponse | null,
  ) {
    this.method = raw.method ?? "GET";
    this.url = raw.url ?? "/";
    // Request headers are strings in Node (only set-cookie is an array, and only on responses).
    this.headers = raw.headers as Record<string, string>;
    this.remoteAddress = raw.socket.remoteAddress ?? "";
    this.secure = !!(raw.socket as { encrypted?: boolean }).encrypted;
  }

  readBody(limit: number): Promise<BodyResult> {
    const raw = this.raw;
    return new Promise((resolve) => {
      const declared = Number(raw.headers["content-length"]);
      if (declared > limit) return resolve({ ok: false, reason: "too-large" });
      const chunks: Buffer[] = [];
      let size = 0;
      const finish = (r: BodyResult) => {
        raw.off("data", onData).off("end", onEnd).off("aborted", onAbort).off("error", onAbort);
        resolve(r);
      };
      const onData = (chunk: Buffer) => {
        size += chunk.length;
        if (size > limit) return finish({ ok: false, reason: "too-large" });
        chunks.push(chunk);
      };
      const onEnd = () => {
        const buf = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
        finish({ ok: true, bytes: buf });
      };
      const onAbort = () => finish({ ok: false, reason: "aborted" });
      raw.on("data", onData).on("end", onEnd).on("aborted", onAbort).on("error", onAbort);
    });
  }

  onAbort(listener: () => void): void {
    const res = this.res;
    if (!res) return;
    res.on("close", () => {
      if (!res.writableFinished) listener();
    });
  }
}

function writeResponse(res: ServerResponse, out: OutgoingResponse): void {
  if (res.destroyed) return;
  const body = typeof out.body === "string" ? out.body : Buffer.from(out.body.buffer, out.body.byteOffset, out.body.byteLength);
  out.headers["content-length"] = String(Buffer.byteLength(body));
  res.writeHead(out.status, out.headers);
  res.end(body);
}

const PERMESSAGE_DEFLATE = "permessage-deflate";
const kHandler = Symbol("unio.wsHandler");
type BoundWs = WebSocket & { [kHandler]: WsHandler };
const handlerOf = (ws: WebSocket): WsHandler => (ws as BoundWs)[kHandler];

// One set of listener functions for every socket: the handler rides on the socket itself,
// so a connection costs no closures here.
function onWsMessage(this: WebSocket, data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void {
  const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
  handlerOf(this).onMessage(isBinary ? buf : buf.toString());
}
function onWsError(this: WebSocket, err: Error): void {
  handlerOf(this).onError?.(err);
}
function onWsClose(this: WebSocket, code: number, reason: Buffer): void {
  handlerOf(this).onClose(code, reason.toString());
}

/**
 * Connects a `ws` socket to the core. The socket itself is the core's
 * `WsConnection` (`send`, `close`, `bufferedAmount`); Node users receive
 * binary as `Buffer`s.
 */
function bindWs(ws: WebSocket, accept: (conn: WsConnection) => WsHandler, deflate: ResolvedPerMessageDeflate): void {
  // `extensions`: what the 101 accepted of the client's offer (empty when it offered nothing).
  if (deflate && ws.extensions.includes(PERMESSAGE_DEFLATE)) {
    (ws as UnioWebSocket).deflateThreshold = deflate.threshold;
  }
  (ws as BoundWs)[kHandler] = accept(ws as unknown as WsConnection);
  ws.on("message", onWsMessage);
  ws.on("error", onWsError);
  ws.on("close", onWsClose);
}

function pathnameOf(url: string | undefined): string {
  const u = url ?? "/";
  const q = u.indexOf("?");
  return q === -1 ? u : u.slice(0, q);
}

/** Shared, so the listener a socket keeps for life holds no upgrade state alive. */
function destroyOnError(this: Duplex): void {
  this.destroy();
}

const kUpgradeHeaders = Symbol("unio.upgradeHeaders");

/** Per-target glue: the request handler and the upgrade handler, made once. */
class NodeBinding {
  readonly wss: WebSocketServer;

  constructor(readonly target: RequestTarget) {
    // Node users expect Buffers for binary, whichever transport carried it.
    target.binaryType = (u8) => (Buffer.isBuffer(u8) ? u8 : Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength));
    // socket.io's `wsPreEncodedFrame` for packetCreate listeners: the frame sendShared writes.
    target.preEncodeFrame = preEncodedFrame;
    // ws bounds an inflated message by maxPayload too: a deflate bomb is closed with 1009 as it inflates.
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: target.maxPayload,
      perMessageDeflate: target.perMessageDeflate,
      clientTracking: false,
      WebSocket: UnioWebSocket,
    });
    // Headers the core chose for the 101 (cookies, `headers` hook).
    this.wss.on("headers", (lines: string[], req: IncomingMessage) => {
      const extra = (req as unknown as Record<symbol, Record<string, string>>)[kUpgradeHeaders];
      if (extra) for (const [k, v] of Object.entries(extra)) lines.push(`${k}: ${v}`);
    });
  }

  async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const out = await this.target.handleRequest(new NodeRequest(req, res));
      writeResponse(res, out);
    } catch (err) {
      // The core answers protocol errors itself; this is a bug surfacing, not a client fault.
      if (!res.headersSent) writeResponse(res, { status: 500, headers: {}, body: "" });
      queueMicrotask(() => {
        throw err;
      });
    }
  }

  async onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    // A client that resets mid-handshake must not crash the process.
    socket.on("error", destroyOnError);
    const result = await this.target.handleUpgrade(new NodeRequest(req, null));
    if (socket.destroyed) return;
    if (result.kind === "reject") {
      const { status, headers, body } = result.response;
      const text = typeof body === "string" ? body : new TextDecoder().decode(body);
      let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}\r\nConnection: close\r\n`;
      for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
      socket.end(`${head}Content-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
      return;
    }
    (req as unknown as Record<symbol, unknown>)[kUpgradeHeaders] = result.headers;
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      bindWs(ws, (conn) => result.open(conn), this.target.perMessageDeflate);
    });
  }
}

const bindings = new WeakMap<RequestTarget, NodeBinding>();
function bindingOf(target: RequestTarget): NodeBinding {
  let b = bindings.get(target);
  if (!b) bindings.set(target, (b = new NodeBinding(target)));
  return b;
}

/** The targets attached to each server: several may share one (e.g. a Server and an Engine on other paths). */
const attachedTargets = new WeakMap<NodeHttpServer, Set<RequestTarget>>();
/** The servers each target is attached to: it closes with the last of them. */
const serversOf = new WeakMap<RequestTarget, Set<NodeHttpServer>>();

/** Records `target` on `server`; false when it was already there. */
function register(server: NodeHttpServer, target: RequestTarget): boolean {
  let set = attachedTargets.get(server);
  if (!set) {
    // A server's entry outlives detaches, so this runs (and hooks "close") once per server.
    attachedTargets.set(server, (set = new Set()));
    server.on("close", onServerClose);
  }
  if (set.has(target)) return false;
  set.add(target);
  let servers = serversOf.get(target);
  if (!servers) serversOf.set(target, (servers = new Set()));
  servers.add(server);
  return true;
}

/** The targets whose listeners each server has (they stay after a detach). */
const listening = new WeakMap<NodeHttpServer, WeakSet<RequestTarget>>();

/** True the first time for a pair: the listeners a target adds to a server are added once. */
function firstHook(server: NodeHttpServer, target: RequestTarget): boolean {
  let set = listening.get(server);
  if (!set) listening.set(server, (set = new WeakSet()));
  if (set.has(target)) return false;
  set.add(target);
  return true;
}

/** Stops serving `target` on `server` (its listeners stay, and pass everything on). */
function detach(target: RequestTarget, server: NodeHttpServer): void {
  attachedTargets.get(server)?.delete(target);
  serversOf.get(target)?.delete(server);
}

const isAttached = (server: NodeHttpServer, target: RequestTarget): boolean =>
  attachedTargets.get(server)?.has(target) ?? false;

/**
 * A server closed: its targets stop being served there, and a target served
 * nowhere else closes its sessions. A target still attached to another server
 * keeps them (closing one of two servers must not end the other's clients).
 */
function onServerClose(this: NodeHttpServer): void {
  for (const target of attachedTargets.get(this) ?? []) {
    detach(target, this);
    if (serversOf.get(target)?.size === 0) void target.close();
  }
}

/** Whether some unio target on `server` serves `pathname` (its own upgrade listener answers). */
function servedByUnio(server: NodeHttpServer, pathname: string): boolean {
  for (const t of attachedTargets.get(server) ?? []) if (t.matches(pathname)) return true;
  return false;
}

/**
 * Serves `target` on an existing http(s) server: requests under its path go
 * to unio, everything else to the server's other listeners. When the server
 * closes, the target's sessions close too (unless it is attached elsewhere).
 *
 * @example
 * import { createServer } from "node:http";
 * import { Server } from "unio";
 * import { attach } from "unio/node";
 * const httpServer = createServer(myApp);
 * const io = new Server();
 * attach(io, httpServer);
 * httpServer.listen(3000);
 */
export function attach<T extends RequestTarget>(
  target: T,
  server: NodeHttpServer,
  options: NodeAttachOptions = {},
): NodeHttpServer {
  const destroyAfter = options.destroyUpgrade === false ? null : (options.destroyUpgradeTimeout ?? 1000);
  // Attached again after a detach (io.close() then io.listen(server)): its listeners are still there.
  if (!register(server, target) || !firstHook(server, target)) return server;
  const binding = bindingOf(target);
  const previous = server.listeners("request").slice() as Array<(req: IncomingMessage, res: ServerResponse) => void>;
  server.removeAllListeners("request");
  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    if (isAttached(server, target) && target.matches(pathnameOf(req.url))) return void binding.onRequest(req, res);
    if (previous.length === 0) {
      res.writeHead(404).end();
      return;
    }
    for (const l of previous) l.call(server, req, res);
  });
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const pathname = pathnameOf(req.url);
    if (isAttached(server, target) && target.matches(pathname)) return void binding.onUpgrade(req, socket, head);
    // Another attached target's listener answers this one.
    if (servedByUnio(server, pathname)) return;
    // Someone else may own this path; if nobody answers in time (destroyUpgradeTimeout), end it.
    if (destroyAfter === null) return;
    setTimeout(() => {
      if (!socket.destroyed && (socket as { bytesWritten?: number }).bytesWritten === 0) {
        socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
      }
    }, destroyAfter).unref();
  });
  return server;
}

setNodeAttachment({ attach, detach });

export interface ServeOptions {
  port?: number;
  hostname?: string;
}

/**
 * Creates an http.Server for `target` and starts listening. Other paths get 404.
 *
 * @example
 * import { Server } from "unio";
 * import { serve } from "unio/node";
 * const io = new Server();
 * io.on("connection", (socket) => socket.emit("hello", "world"));
 * serve(io, { port: 3000 });
 */
export function serve<T extends RequestTarget>(target: T, options: ServeOptions = {}): HttpServer {
  const server = createServer();
  attach(target, server);
  server.listen(options.port ?? 3000, options.hostname);
  return server;
}

/**
 * Connect/express middleware: unio answers under its path and calls `next()`
 * otherwise. WebSocket upgrades bypass middleware in Node, so the first
 * request through it also hooks `upgrade` on the underlying http.Server; a
 * WebSocket-only client that arrives before any HTTP request is told to
 * retry (503). Use `attach(io, server)` to avoid even that.
 *
 * @example
 * import express from "express";
 * import { middleware } from "unio/node";
 * const app = express();
 * app.use(middleware(io));
 * app.listen(3000);
 */
export function middleware<T extends RequestTarget>(target: T) {
  const binding = bindingOf(target);
  return (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void): void => {
    const server = (req.socket as unknown as { server?: NodeHttpServer }).server;
    if (server && register(server, target) && firstHook(server, target)) {
      server.on("upgrade", (r: IncomingMessage, socket: Duplex, head: Buffer) => {
        if (isAttached(server, target) && target.matches(pathnameOf(r.url))) void binding.onUpgrade(r, socket, head);
      });
      if (req.headers.upgrade && target.matches(pathnameOf(req.url))) {
        res.writeHead(503, { "retry-after": "0", connection: "close" }).end();
        return;
      }
    }
    if (target.matches(pathnameOf(req.url))) return void binding.onRequest(req, res);
    next?.();
  };
}
