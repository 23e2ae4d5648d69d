/**
 * The socket.io-shaped `Server` for Node: the core Server plus socket.io's
 * ways of meeting an HTTP server (`new Server(httpServer, opts)`,
 * `new Server(port)`, `attach`, `listen`, `httpServer`, and a `close` that
 * closes the HTTP server too). Serving itself is the Node shim's `attach()`;
 * nothing here handles a request.
 */
import { createServer, type Server as HttpServer } from "node:http";
import type { Server as HttpsServer } from "node:https";
import { Server as CoreServer, type ServerOptions } from "../socket/server.ts";
import type { DefaultEventsMap, EventsMap } from "../socket/typed-events.ts";

/** The servers socket.io attaches to: `http.Server` and `https.Server`. */
export type NodeHttpServer = HttpServer | HttpsServer;

/** socket.io's Node-only attach options (engine.io's `AttachOptions`). */
export interface NodeAttachOptions {
  /** End upgrade requests for paths nobody answers (default true). */
  destroyUpgrade?: boolean;
  /** ms before such an upgrade is ended (default 1000). */
  destroyUpgradeTimeout?: number;
}

/** The options of the Node `Server`: socket.io's, with the Node-only attach options. */
export type NodeServerOptions = ServerOptions & NodeAttachOptions;

/** What the shim provides: serve a target on a server, and stop doing so. */
export interface NodeAttachment {
  attach(target: CoreServer<any, any, any, any>, server: NodeHttpServer, options?: NodeAttachOptions): void;
  detach(target: CoreServer<any, any, any, any>, server: NodeHttpServer): void;
}

let shim: NodeAttachment | null = null;
/** Called once by the Node shim (node.ts), which imports this module. */
export function setNodeAttachment(a: NodeAttachment): void {
  shim = a;
}

const isOptions = (v: unknown): v is Partial<NodeServerOptions> =>
  typeof v === "object" && v !== null && typeof (v as { listen?: unknown }).listen !== "function";

/**
 * A Socket.IO server for Node, constructed the way socket.io's is, so an app
 * moves by changing its import.
 *
 * @example
 * import { createServer } from "node:http";
 * import { Server } from "unio/node";
 * const httpServer = createServer();
 * const io = new Server(httpServer, { cors: { origin: "*" } });
 * io.on("connection", (socket) => socket.emit("hello"));
 * httpServer.listen(3000);
 * // or: const io = new Server(3000);  or: new Server().listen(3000)
 */
export class Server<
  ListenEvents extends EventsMap = DefaultEventsMap,
  EmitEvents extends EventsMap = ListenEvents,
  ServerSideEvents extends EventsMap = DefaultEventsMap,
  SocketData = any,
> extends CoreServer<ListenEvents, EmitEvents, ServerSideEvents, SocketData> {
  /** The HTTP server given to, or created by, the constructor, `attach()` or `listen()`. */
  httpServer!: NodeHttpServer;

  constructor(opts?: Partial<NodeServerOptions>);
  constructor(srv?: NodeHttpServer | number | string, opts?: Partial<NodeServerOptions>);
  constructor(srv: undefined | Partial<NodeServerOptions> | NodeHttpServer | number | string, opts?: Partial<NodeServerOptions>);
  constructor(srv?: Partial<NodeServerOptions> | NodeHttpServer | number | string, opts: Partial<NodeServerOptions> = {}) {
    super(isOptions(srv) ? srv : opts);
    if (!isOptions(srv) && (srv || typeof srv === "number")) this.attach(srv);
  }

  /**
   * Serves this server on `srv` (an http(s).Server), or on a new HTTP server
   * listening on port `srv` whose other paths answer 404. `opts` fill in
   * options the constructor did not set.
   * @example io.attach(httpServer); io.attach(3000, { path: "/ws" });
   */
  attach(srv: NodeHttpServer | number | string, opts: Partial<NodeServerOptions> = {}): this {
    if (typeof srv === "function") {
      throw new Error(
        "You are trying to attach socket.io to an express request handler function. Please pass a http.Server instance.",
      );
    }
    if (!shim) throw new Error('unio/node: the Node shim is not loaded (import from "unio/node")');
    let server: NodeHttpServer;
    if (typeof srv === "number" || (typeof srv === "string" && Number(srv) == (srv as unknown as number))) {
      server = createServer((_req, res) => {
        res.writeHead(404);
        res.end();
      });
      server.listen(Number(srv));
    } else {
      server = srv as NodeHttpServer;
    }
    this._reconfigure(opts);
    const all = this._opts as Partial<NodeServerOptions>;
    shim.attach(this, server, { destroyUpgrade: all.destroyUpgrade, destroyUpgradeTimeout: all.destroyUpgradeTimeout });
    this.httpServer = server;
    return this;
  }

  /** Same as `attach()` (socket.io keeps both names). */
  listen(srv: NodeHttpServer | number | string, opts: Partial<NodeServerOptions> = {}): this {
    return this.attach(srv, opts);
  }

  /**
   * Closes every socket ("server shutting down"), the adapters, the engine,
   * then the HTTP server; `fn` gets that server's close error (e.g.
   * `ERR_SERVER_NOT_RUNNING`), and the promise resolves once it is closed.
   * @example process.on("SIGTERM", () => io.close());
   */
  override async close(fn?: (err?: Error) => void): Promise<void> {
    const server = this.httpServer;
    // Let go of the server first, so its own "close" event no longer reaches this engine
    // (a later `listen()` must not be closed by the old server's late event).
    if (server) shim?.detach(this, server);
    await super.close();
    if (!server) return fn?.();
    await new Promise<void>((resolve) => {
      server.close((err) => {
        fn?.(err);
        resolve();
      });
    });
  }
}

/**
 * socket.io's callable export: `io(httpServer, opts)` is `new Server(httpServer, opts)`.
 * `unio/node`'s default export, and `require("unio/node")` itself.
 * @example
 * import io from "unio/node";
 * const server = io(3000);
 */
export function createIo<
  ListenEvents extends EventsMap = DefaultEventsMap,
  EmitEvents extends EventsMap = ListenEvents,
  ServerSideEvents extends EventsMap = DefaultEventsMap,
  SocketData = any,
>(
  srv?: Partial<NodeServerOptions> | NodeHttpServer | number | string,
  opts?: Partial<NodeServerOptions>,
): Server<ListenEvents, EmitEvents, ServerSideEvents, SocketData> {
  return new Server(srv, opts);
}
