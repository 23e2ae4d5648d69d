/**
 * Deno runtime shim: `handler()` gives the `fetch` for `deno serve` /
 * `export default`, `serve()` runs `Deno.serve`. WebSockets use
 * `Deno.upgradeWebSocket`.
 */
// Registers the socket.io-client bundles for `serveClient` (/socket.io/socket.io.js).
import "./client-bundle.ts";
import { handleWebRequest } from "../engine/web.ts";
import type { RequestTarget, UpgradeAccept, WsConnection, WsHandler } from "../engine/facade.ts";

import { type DefaultEventsMap, type EventsMap, ListeningServer } from "./listening-server.ts";

export type { RequestTarget } from "../engine/facade.ts";
// Everything "socket.io" exports, so an app changes only its import; `Server` is this runtime's.
export * from "../index.ts";

/** The slice of Deno's types this shim touches. */
interface DenoServeInfo {
  remoteAddr?: { hostname?: string };
}
interface DenoHttpServer {
  readonly addr: { port: number; hostname: string };
  shutdown(): Promise<void>;
  readonly finished: Promise<void>;
}
declare const Deno: {
  upgradeWebSocket(req: Request, options?: { idleTimeout?: number }): { socket: WebSocket; response: Response };
  serve(
    options: { port?: number; hostname?: string; onListen?: (addr: { port: number }) => void },
    handler: (req: Request, info: DenoServeInfo) => Response | Promise<Response>,
  ): DenoHttpServer;
};

class DenoWsConnection implements WsConnection {
  /** Until the socket opens: let go of then, as it holds the upgrade request. */
  #accept: UpgradeAccept | null;
  #handler: WsHandler | null = null;

  constructor(
    readonly ws: WebSocket,
    accept: UpgradeAccept,
  ) {
    this.#accept = accept;
  }

  send(data: string | Uint8Array): void {
    if (this.ws.readyState === 1) this.ws.send(data);
  }

  close(code?: number, reason?: string): void {
    this.ws.close(code, reason);
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  /**
   * The socket's one listener for all four events (DOM's `handleEvent`
   * form). Four `on…` closures would each cost a closure, Deno's handler
   * wrapper and a per-socket map of handlers, kept for the socket's life.
   */
  handleEvent(e: Event): void {
    switch (e.type) {
      case "message": {
        const data = (e as MessageEvent).data;
        this.#handler?.onMessage(typeof data === "string" ? data : new Uint8Array(data as ArrayBuffer));
        return;
      }
      case "open": {
        const accept = this.#accept!;
        this.#accept = null;
        this.#handler = accept.open(this);
        return;
      }
      case "close":
        this.#handler?.onClose((e as CloseEvent).code, (e as CloseEvent).reason);
        return;
      case "error":
        this.#handler?.onError?.(e);
    }
  }
}

function upgrade(request: Request, accept: UpgradeAccept): Response {
  // The engine runs its own heartbeat, so Deno's idle pings are turned off.
  const { socket, response } = Deno.upgradeWebSocket(request, { idleTimeout: 0 });
  for (const [k, v] of Object.entries(accept.headers)) response.headers.set(k, v);
  socket.binaryType = "arraybuffer";
  const conn = new DenoWsConnection(socket, accept);
  socket.addEventListener("open", conn);
  socket.addEventListener("message", conn);
  socket.addEventListener("error", conn);
  socket.addEventListener("close", conn);
  return response;
}

export interface HandlerOptions {
  /** Your own routes, for requests outside the Socket.IO path. */
  fetch?: (request: Request, info?: DenoServeInfo) => Response | Promise<Response>;
}

/**
 * A `fetch` handler for `deno serve` or `Deno.serve`. Throws if the target
 * has `perMessageDeflate` set: Deno cannot compress WebSockets.
 *
 * @example
 * import { Server } from "unio";
 * import { handler } from "unio/deno";
 * const io = new Server();
 * io.on("connection", (socket) => socket.emit("hello"));
 * export default { fetch: handler(io) };
 */
export function handler(target: RequestTarget, options: HandlerOptions = {}) {
  if (target.perMessageDeflate) {
    // Deno.upgradeWebSocket takes no compression option and never answers a permessage-deflate offer.
    throw new Error(
      "unio/deno: perMessageDeflate is not supported on Deno (Deno.upgradeWebSocket cannot negotiate WebSocket compression); remove the option",
    );
  }
  const userFetch = options.fetch;
  return async (request: Request, info?: DenoServeInfo): Promise<Response> => {
    const res = await handleWebRequest(target, request, {
      remoteAddress: info?.remoteAddr?.hostname,
      upgrade: (accept) => upgrade(request, accept),
      fallback: userFetch && (() => userFetch(request, info)),
    });
    return res!;
  };
}

export interface ServeOptions extends HandlerOptions {
  port?: number;
  hostname?: string;
  onListen?: (addr: { port: number }) => void;
}

/**
 * Runs `Deno.serve` for `target`.
 *
 * @example
 * import { serve } from "unio/deno";
 * serve(io, { port: 3000 });
 */
export function serve(target: RequestTarget, options: ServeOptions = {}): DenoHttpServer {
  return Deno.serve(
    { port: options.port ?? 3000, hostname: options.hostname, onListen: options.onListen },
    handler(target, options),
  );
}

/**
 * socket.io's `Server` with `listen(port)` on Deno: `new Server(3000)` or
 * `new Server(opts).listen(3000)` starts `Deno.serve` through `serve()`, and
 * `close()` shuts it down. `handler(io)` remains the way for `deno serve`.
 *
 * @example
 * import { Server } from "unio/deno";
 * const io = new Server(3000, { cors: { origin: "*" } });
 * io.on("connection", (socket) => socket.emit("hello"));
 */
export class Server<
  ListenEvents extends EventsMap = DefaultEventsMap,
  EmitEvents extends EventsMap = ListenEvents,
  ServerSideEvents extends EventsMap = DefaultEventsMap,
  SocketData = any,
> extends ListeningServer<ListenEvents, EmitEvents, ServerSideEvents, SocketData, DenoHttpServer> {
  /** @internal */
  protected _serve(port: number, hostname?: string): DenoHttpServer {
    return serve(this, { port, hostname });
  }
  /** @internal */
  protected _stop(server: DenoHttpServer): Promise<void> {
    return server.shutdown();
  }
}
