/**
 * socket.io's `listen(port)` for runtimes whose servers are made by a
 * function rather than handed over (Bun, Deno): the core Server plus
 * `new Server(port, opts)`, `listen()`/`attach()` with a port, and a `close()`
 * that stops the runtime server it started. Each shim supplies how to start
 * and stop its own server.
 */
import { Server as CoreServer, type ServerOptions } from "../socket/server.ts";
import type { DefaultEventsMap, EventsMap } from "../socket/typed-events.ts";

export abstract class ListeningServer<
  ListenEvents extends EventsMap,
  EmitEvents extends EventsMap,
  ServerSideEvents extends EventsMap,
  SocketData,
  Native,
> extends CoreServer<ListenEvents, EmitEvents, ServerSideEvents, SocketData> {
  /** The runtime server started by the constructor, `listen()` or `attach()`; undefined before. */
  httpServer: Native | undefined;

  constructor(srv?: number | string | Partial<ServerOptions>, opts: Partial<ServerOptions> = {}) {
    const port = srv === undefined || typeof srv === "object" ? undefined : srv;
    super(typeof srv === "object" ? srv : opts);
    if (port !== undefined) this.listen(port);
  }

  /** Starts the runtime's server for this Server on `port`. */
  protected abstract _serve(port: number, hostname?: string): Native;
  /** Stops a server `_serve` started, closing its connections. */
  protected abstract _stop(server: Native): Promise<void> | void;

  /**
   * Serves this server on a new runtime server listening on `port`; `opts`
   * fill in options the constructor did not set.
   * @example new Server({ cors: { origin: "*" } }).listen(3000);
   */
  listen(port: number | string, opts: Partial<ServerOptions> & { hostname?: string } = {}): this {
    const n = Number(port);
    if (!Number.isInteger(n) || n < 0) throw new TypeError(`listen() takes a port number, got ${String(port)}`);
    const { hostname, ...options } = opts;
    this._reconfigure(options);
    this.httpServer = this._serve(n, hostname);
    return this;
  }

  /** Same as `listen()` (socket.io keeps both names). */
  attach(port: number | string, opts: Partial<ServerOptions> & { hostname?: string } = {}): this {
    return this.listen(port, opts);
  }

  /** Closes every socket, the adapters and the engine, then stops the server `listen()` started. */
  override async close(fn?: (err?: Error) => void): Promise<void> {
    const server = this.httpServer;
    this.httpServer = undefined;
    await super.close();
    let error: Error | undefined;
    if (server !== undefined) {
      try {
        await this._stop(server);
      } catch (err) {
        error = err as Error;
      }
    }
    fn?.(error);
  }
}

export type { DefaultEventsMap, EventsMap };
