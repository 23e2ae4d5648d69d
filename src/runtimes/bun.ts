/**
 * Bun runtime shim: `handler()` gives `{ fetch, websocket }` for
 * `Bun.serve` / `export default`, `serve()` starts a server. WebSockets use
 * Bun's native server (no `ws`).
 */
// Registers the socket.io-client bundles for `serveClient` (/socket.io/socket.io.js).
import "./client-bundle.ts";
import { handleWebRequest } from "../engine/web.ts";
import type { Fanout, RequestTarget, SharedFrame, UpgradeAccept, WsConnection, WsHandler } from "../engine/facade.ts";
import { utf8AtLeast } from "../engine/http-compression.ts";
// Bun's own types (@types/bun), imported here only: the other shims and the core never see them.
import type { Server as Server_, ServerWebSocket } from "bun";

import { type DefaultEventsMap, type EventsMap, ListeningServer } from "./listening-server.ts";

export type { RequestTarget } from "../engine/facade.ts";
// Everything "socket.io" exports, so an app changes only its import; `Server` is this runtime's.
export * from "../index.ts";

/** A Bun server whose WebSockets carry this shim's connection as `ws.data`. */
export type BunServer = Server_<BunWsConnection>;
/** What `serve()` starts: always on a TCP port (Bun's type allows none, for a unix socket). */
export type ListeningBunServer = BunServer & { readonly port: number };
type BunServerWebSocket = ServerWebSocket<BunWsConnection>;

/**
 * The core's `WsConnection` for one Bun socket, and the socket's `ws.data`
 * too (one object per connection rather than two): made at the upgrade
 * with the core's `accept`, given the socket when it opens.
 */
class BunWsConnection implements WsConnection {
  #dropped = false;
  ws: BunServerWebSocket = null as unknown as BunServerWebSocket;
  /** Until the socket opens: let go of then, as it holds the upgrade request (its headers, closures). */
  accept: UpgradeAccept | null;
  handler: WsHandler | null = null;
  constructor(
    accept: UpgradeAccept,
    /** permessage-deflate threshold in bytes; `Infinity` when the option is off. */
    readonly deflateThreshold: number,
  ) {
    this.accept = accept;
  }
  send(data: string | Uint8Array, compress?: boolean): void {
    // 0: Bun dropped the frame because more than its backpressureLimit (16 MiB) is queued.
    // A stream with a hole must not go on: end it as a transport error, like a full write buffer.
    if (this.ws.send(data, deflates(data, compress, this.deflateThreshold)) === 0 && !this.#dropped) {
      this.#dropped = true;
      this.handler?.onError?.(new Error("write buffer full: the client is not reading"));
      this.ws.close(1011, "write buffer full");
    }
  }
  close(code?: number, reason?: string): void {
    this.ws.close(code, reason);
  }
  get bufferedAmount(): number {
    return this.ws.getBufferedAmount();
  }
  subscribe(topic: string): void {
    this.ws.subscribe(topic);
  }
  unsubscribe(topic: string): void {
    this.ws.unsubscribe(topic);
  }
}

/**
 * Whether to ask Bun to deflate a message. Bun compresses whatever it is
 * asked to (on sockets that negotiated the extension; others get the plain
 * frame), with no threshold of its own, so the option's threshold and the
 * `compress` flag are applied here.
 */
function deflates(data: string | Uint8Array, compress: boolean | undefined, threshold: number): boolean {
  if (compress === false || threshold === Infinity) return false;
  return typeof data === "string" ? utf8AtLeast(data, threshold) : data.byteLength >= threshold;
}

/**
 * Bun's pub/sub as the core's `Fanout`: uWebSockets frames a published
 * message once and writes it to every subscriber natively. Topics live in
 * one Bun server; a target served by a second server at once falls back to
 * per-socket sends (the core publishes only while `target.fanout` is set).
 */
class BunFanout implements Fanout {
  #server: BunServer | null = null;
  constructor(
    readonly target: RequestTarget,
    readonly deflateThreshold: number,
  ) {}
  /** Called with every request's server: the first one owns the topics. */
  seen(server: BunServer): void {
    if (this.#server === server) return;
    if (this.#server === null) this.#server = server;
    else this.target.fanout = null;
  }
  publish(topic: string, frame: SharedFrame, except?: WsConnection): void {
    // One publish serves compressed and plain subscribers alike: Bun deflates once
    // for those that negotiated permessage-deflate and sends the rest the plain frame.
    const compress = deflates(frame.wsFrame, frame.compress, this.deflateThreshold);
    // A socket's own publish goes to every subscriber but itself.
    if (except instanceof BunWsConnection) except.ws.publish(topic, frame.wsFrame, compress);
    else this.#server?.publish(topic, frame.wsFrame, compress);
  }
}

const CLOSE_TOKEN = /(?:^|,)\s*close\s*(?:,|$)/i;

/** Whether the request said `Connection: close`. */
function asksToClose(request: Request): boolean {
  const connection = request.headers.get("connection");
  return connection !== null && CLOSE_TOKEN.test(connection);
}

/**
 * Bun closes the connection after answering a request that said
 * `Connection: close` (node-fetch sends it), but does not say so in the
 * response; a client on a keep-alive agent then sends its next request on
 * the dead socket ("socket hang up"). The response says it for Bun.
 */
function sayClose(res: Response | undefined): Response | undefined {
  if (!res || res.status === 101) return res;
  try {
    res.headers.set("connection", "close");
    return res;
  } catch {
    // Immutable headers (a Response from fetch(), Response.redirect()): answer with a copy.
    const copy = new Response(res.body, res);
    copy.headers.set("connection", "close");
    return copy;
  }
}

export interface HandlerOptions {
  /**
   * Your own routes, for requests outside the Socket.IO path. Like Bun's own
   * `fetch`, it may answer `undefined` after `server.upgrade()`, so another
   * unio target's `handler(target).fetch` fits here too.
   */
  fetch?: (request: Request, server: BunServer) => Response | undefined | Promise<Response | undefined>;
}

/**
 * `{ fetch, websocket }` for Bun.serve.
 *
 * @example
 * import { Server } from "unio";
 * import { handler } from "unio/bun";
 * const io = new Server();
 * io.on("connection", (socket) => socket.emit("hello"));
 * export default { port: 3000, ...handler(io) };
 */
export function handler(target: RequestTarget, options: HandlerOptions = {}) {
  const userFetch = options.fetch;
  const deflate = target.perMessageDeflate;
  const deflateThreshold = deflate ? deflate.threshold : Infinity;
  const fanout = new BunFanout(target, deflateThreshold);
  target.fanout = fanout;
  return {
    fetch(request: Request, server: BunServer): Promise<Response | undefined> {
      fanout.seen(server);
      const answered = handleWebRequest(target, request, {
        remoteAddress: server.requestIP(request)?.address,
        // Bun ends requests idle for 10 s; a long-poll legitimately waits up to pingInterval.
        hold: () => server.timeout(request, 0),
        upgrade: (accept) =>
          server.upgrade(request, { headers: accept.headers, data: new BunWsConnection(accept, deflateThreshold) })
            ? undefined
            : new Response("WebSocket upgrade failed", { status: 400 }),
        // An `undefined` answer (an upgrade done by the fallback) goes back to Bun as is.
        fallback: userFetch && (() => userFetch(request, server) as Response | Promise<Response>),
      });
      return asksToClose(request) ? answered.then(sayClose) : answered;
    },
    websocket: {
      maxPayloadLength: target.maxPayload,
      // The engine runs its own heartbeat; Bun's idle timeout and pings would only duplicate it.
      idleTimeout: 0,
      sendPings: false,
      // Bun's own compressor (shared, no context takeover); of the ws-style settings only
      // `threshold` applies (see `deflates`). maxPayloadLength bounds the inflated size:
      // a deflate bomb is closed (1009 to the client) once it inflates past it.
      perMessageDeflate: deflate !== false,
      // Bun drops a frame for a socket over this limit; publishes report no such drop, so the
      // limit must stay above maxBufferedBytes, past which the core closes the socket itself.
      backpressureLimit: Math.max(16 * 1024 * 1024, target.maxBufferedBytes + 1),
      open(ws: BunServerWebSocket) {
        const conn = ws.data;
        const accept = conn.accept!;
        conn.accept = null;
        conn.ws = ws;
        conn.handler = accept.open(conn);
      },
      message(ws: BunServerWebSocket, message: string | Uint8Array) {
        ws.data.handler?.onMessage(message);
      },
      close(ws: BunServerWebSocket, code: number, reason: string) {
        ws.data.handler?.onClose(code, reason);
      },
    },
  };
}

export interface ServeOptions extends HandlerOptions {
  port?: number;
  hostname?: string;
}

/**
 * Starts `Bun.serve` for `target`.
 *
 * @example
 * import { serve } from "unio/bun";
 * const server = serve(io, { port: 3000 });
 */
export function serve(target: RequestTarget, options: ServeOptions = {}): ListeningBunServer {
  return Bun.serve({
    port: options.port ?? 3000,
    hostname: options.hostname,
    ...handler(target, options),
  }) as ListeningBunServer;
}

/**
 * socket.io's `Server` with `listen(port)` on Bun: `new Server(3000)` or
 * `new Server(opts).listen(3000)` starts `Bun.serve` through `serve()`, and
 * `close()` stops it. `handler(io)` remains the way to share a Bun server.
 *
 * @example
 * import { Server } from "unio/bun";
 * const io = new Server(3000, { cors: { origin: "*" } });
 * io.on("connection", (socket) => socket.emit("hello"));
 */
export class Server<
  ListenEvents extends EventsMap = DefaultEventsMap,
  EmitEvents extends EventsMap = ListenEvents,
  ServerSideEvents extends EventsMap = DefaultEventsMap,
  SocketData = any,
> extends ListeningServer<ListenEvents, EmitEvents, ServerSideEvents, SocketData, ListeningBunServer> {
  /** @internal */
  protected _serve(port: number, hostname?: string): ListeningBunServer {
    return serve(this, { port, hostname });
  }
  /** @internal */
  protected _stop(server: ListeningBunServer): Promise<void> | void {
    return server.stop(true);
  }
}
