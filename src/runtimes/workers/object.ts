/**
 * The Durable Object classes: each instance hosts one Server (or Engine)
 * through a DurableHost. The only module that imports `cloudflare:workers`.
 */
import { DurableObject } from "cloudflare:workers";
import { Engine } from "../../engine/engine.ts";
import type { EngineOptions } from "../../engine/options.ts";
import { Server, type ServerOptions } from "../../socket/server.ts";
import type { ClusterMessage, ClusterResponse } from "../../adapters/cluster-protocol.ts";
import type { DrainOptions } from "../../socket/drain.ts";
import { SessionAwareAdapter } from "../../socket/session-aware-adapter.ts";
import { type ClusterOptions, type ClusterRpc, type Delivery, DurableCluster } from "./cluster.ts";
import { type DeliveryReport, DurableObjectAdapter } from "./durable-object-adapter.ts";
import { SqlSessionStore } from "./durable-object-sessions.ts";
import { DurableHost, type HostStats, type Hosted, type WorkersOptions } from "./host.ts";
import type { CfWebSocket, DurableObjectState } from "./platform.ts";
import { type ConfiguredClass, resolveRouteConfig, route, type RouteConfig, type RouteOptions } from "./router.ts";

// biome-ignore lint: setup functions type their server themselves
type AnyServer = Server<any, any, any, any>;

export interface DurableServerOptions extends Partial<ServerOptions>, WorkersOptions {
  /** Rooms that span objects: every object of this class joins one cluster. */
  cluster?: ClusterOptions;
}

export interface DurableEngineOptions extends EngineOptions, WorkersOptions {}

/** What setup functions receive beside the server: the object's env and state. */
export type Setup<T, Env> = (target: T, env: Env, ctx: DurableObjectState) => void | Promise<void>;

/**
 * What `defineDurableServer` returns: a class to export from the Worker and
 * bind in wrangler config. It carries the options the router acts on
 * (`unioConfig`), and `route(binding, options)` builds the Worker in front
 * of it with them.
 */
export type DurableObjectClass<Env> = (new (ctx: DurableObjectState, env: Env) => UnioDurableObject) &
  ConfiguredClass & {
    route(binding: string, options?: Omit<RouteOptions<Env>, "server">): ReturnType<typeof route<Env>>;
  };

/** The methods of the Durable Object class: the runtime's handlers, test hooks, and the cluster RPC (ClusterRpc; not for app use). */
export interface UnioDurableObject extends ClusterRpc {
  fetch(request: Request): Promise<Response>;
  webSocketMessage(ws: CfWebSocket, message: string | ArrayBuffer): Promise<void>;
  webSocketClose(ws: CfWebSocket, code: number, reason: string): Promise<void>;
  webSocketError(ws: CfWebSocket, error: unknown): Promise<void>;
  alarm(): Promise<void>;
  /**
   * Drains this object's Socket.IO server (`io.drain()`), for a caller
   * outside the object (an admin route of the Worker, through the binding):
   * the object refuses new handshakes (503 + Retry-After) and closes its
   * clients spread over `timeout`, then its server; resolves when done. The
   * object stays drained while this instance lives; a new instance (after a
   * deploy, or an eviction once it sat idle) accepts clients again.
   * Engine objects (`defineDurableEngine`) have no sockets to move: it rejects.
   * @example
   * // in the Worker: take object "lobby" out of service over 20 s
   * ctx.waitUntil(env.CHAT.get(env.CHAT.idFromName("lobby")).drain({ timeout: 20_000 }));
   */
  drain(options?: DrainOptions): Promise<void>;
  /**
   * With `testHooks`: drop every object in memory and rebuild from the WebSockets, as after an
   * eviction; at once, or with `lazy` when the next event (a message, the alarm, a request) comes.
   */
  unioTestEvict(lazy?: boolean): Promise<HostStats>;
  /** With `testHooks`: what woke this instance and what it wrote. */
  unioTestStats(): Promise<HostStats & { sessions: number; sockets: number }>;
}

/**
 * A Durable Object class whose instances each host a Socket.IO `Server`
 * built with `options` and configured by `setup(io, env, ctx)`. Export it
 * from your Worker and bind it in wrangler config (as a SQLite class).
 *
 * @example
 * export const Chat = defineDurableServer((io) => {
 *   io.on("connection", (socket) => {
 *     socket.on("join", (room) => socket.join(room));
 *     socket.on("say", (room, text) => io.to(room).emit("said", text));
 *   });
 * }, { cluster: { binding: "CHAT" } });
 */
export function defineDurableServer<Env = any>(
  setup: Setup<AnyServer, Env>,
  options: DurableServerOptions = {},
): DurableObjectClass<Env> {
  return defineObject<Env, AnyServer>(setup, options, "/socket.io", (opts, cluster, ctx) => {
    const serverOpts = { ...opts } as Partial<ServerOptions>;
    const recovery = serverOpts.connectionStateRecovery;
    if (cluster || recovery) {
      // Recovery data in the object's SQLite (one table for its namespaces), so it survives evictions.
      const sql = recovery ? ctx.storage.sql : undefined;
      if (recovery && !sql) throw new Error("unio: connectionStateRecovery needs a SQLite-backed class (new_sqlite_classes)");
      const maxDisconnectionDuration = recovery?.maxDisconnectionDuration ?? 120_000;
      serverOpts.adapter = (nsp) => {
        const store = sql ? new SqlSessionStore(sql, nsp.name, maxDisconnectionDuration) : undefined;
        return cluster ? new DurableObjectAdapter(nsp, cluster, store) : new SessionAwareAdapter(nsp, store);
      };
    }
    return new Server(serverOpts);
  });
}

/**
 * The same for a standalone Engine.IO server (`/engine.io/` by default).
 * Restored sessions are announced again through `connection`.
 */
export function defineDurableEngine<Env = any>(
  setup: Setup<Engine, Env>,
  options: DurableEngineOptions = {},
): DurableObjectClass<Env> {
  // An Engine serves no client bundle.
  return defineObject<Env, Engine>(setup, { ...options, serveClient: false } as DurableEngineOptions, "/engine.io", (opts) => new Engine(opts));
}

function defineObject<Env, T extends Hosted>(
  setup: Setup<T, Env>,
  options: DurableServerOptions | DurableEngineOptions,
  defaultPath: string,
  make: (options: EngineOptions, cluster: DurableCluster | null, ctx: DurableObjectState) => T,
): DurableObjectClass<Env> {
  if (options.perMessageDeflate) {
    // workerd answers a client's permessage-deflate offer on its own: there is nothing for unio to configure.
    throw new Error(
      "unio/workers: perMessageDeflate cannot be set on Cloudflare Workers: workerd negotiates WebSocket compression itself " +
        "whenever the client offers it (compatibility flag web_socket_compression, on by default; " +
        "no_web_socket_compression turns it off), with no threshold or other settings; remove the option",
    );
  }
  const { cluster: clusterOptions, ...rest } = options as DurableServerOptions;
  const config: RouteConfig = resolveRouteConfig(options as DurableServerOptions, defaultPath);
  return class UnioObject extends DurableObject<Env> implements UnioDurableObject {
    /** The options the router acts on; read by `route(binding, { server: Class })`. */
    static readonly unioConfig: RouteConfig = config;

    /** The Worker in front of objects of this class, bound as `binding`, configured by this class's options. */
    static route(binding: string, routeOptions: Omit<RouteOptions<Env>, "server"> = {}) {
      return route<Env>(binding, { ...routeOptions, server: UnioObject });
    }

    #host: DurableHost;
    #cluster: DurableCluster | null;
    /** After `unioTestEvict(true)`: no host until the next event builds one (test hooks only). */
    #asleep = false;
    #waking: Promise<void> | null = null;

    constructor(ctx: DurableObjectState, env: Env) {
      super(ctx, env);
      this.#cluster = clusterOptions ? new DurableCluster(ctx, env as Record<string, unknown>, clusterOptions) : null;
      this.#host = this.#newHost();
      ctx.blockConcurrencyWhile(() => this.#host.start());
    }

    #newHost(): DurableHost {
      const cluster = this.#cluster;
      return new DurableHost(
        this.ctx,
        (opts) => make(opts, cluster, this.ctx),
        // Workers encode responses themselves, for the client's real Accept-Encoding (the
        // object only sees the one its caller's runtime sent, and a body it compressed would be
        // decoded on the way back and encoded again): the engine leaves polling bodies alone.
        { ...rest, httpCompression: false } as EngineOptions & WorkersOptions,
        async (target) => {
          cluster?.bind(target as AnyServer);
          await setup(target as T, this.env, this.ctx);
        },
      );
    }

    /**
     * Runs an event on the host; a lazily evicted instance (test hook) first
     * builds a new one, as a real eviction's next event does in the constructor.
     */
    #live<R>(run: (host: DurableHost) => Promise<R>): Promise<R> {
      if (this.#asleep) {
        this.#asleep = false;
        this.#host = this.#newHost();
        this.#waking = this.#host.start().finally(() => {
          this.#waking = null;
        });
      }
      return this.#waking ? this.#waking.then(() => run(this.#host)) : run(this.#host);
    }

    fetch(request: Request): Promise<Response> {
      return this.#live((host) => host.fetch(request));
    }

    webSocketMessage(ws: CfWebSocket, message: string | ArrayBuffer): Promise<void> {
      return this.#live((host) => host.onMessage(ws, message));
    }

    webSocketClose(ws: CfWebSocket, code: number, reason: string): Promise<void> {
      return this.#live((host) => host.onClose(ws, code, reason));
    }

    webSocketError(ws: CfWebSocket, error: unknown): Promise<void> {
      return this.#live((host) => host.onError(ws, error));
    }

    alarm(): Promise<void> {
      return this.#live((host) => host.onAlarm());
    }

    drain(options: DrainOptions = {}): Promise<void> {
      return this.#live(async (host) => {
        if (!host.server) throw new Error("unio: drain() needs a Socket.IO server (defineDurableServer); an Engine object has no sockets to move");
        // Only plain numbers cross into the core from an RPC caller.
        await host.server.drain({ timeout: options?.timeout });
      });
    }

    async unioDeliver(msg: ClusterMessage): Promise<Delivery> {
      return this.#live(async () => this.#requireCluster().deliver(msg));
    }

    async unioHubJoin(member: string): Promise<void> {
      this.#requireCluster().hubJoin(member);
    }

    async unioHubPublish(msg: ClusterMessage): Promise<DeliveryReport[]> {
      return this.#requireCluster().hubPublish(msg);
    }

    async unioHubMembers(): Promise<string[]> {
      return this.#requireCluster().hubMembers();
    }

    async unioRespond(response: ClusterResponse): Promise<void> {
      this.#requireCluster().onRespond(response);
    }

    async unioTestEvict(lazy = false): Promise<HostStats> {
      this.#requireTestHooks();
      await this.#waking;
      const before = this.#host.stats;
      if (this.#asleep) return before;
      this.#host.dispose();
      this.#cluster?.reset();
      if (lazy) {
        this.#asleep = true;
        return before;
      }
      this.#host = this.#newHost();
      await this.#host.start();
      return before;
    }

    async unioTestStats(): Promise<HostStats & { sessions: number; sockets: number }> {
      this.#requireTestHooks();
      return this.#live(async (host) => ({ ...host.stats, sessions: host.engine.clients.size, sockets: host.tracker?.size ?? 0 }));
    }

    #requireCluster(): DurableCluster {
      if (!this.#cluster) throw new Error("unio: this class was defined without the `cluster` option");
      return this.#cluster;
    }

    #requireTestHooks(): void {
      if (!options.testHooks) throw new Error("unio: test hooks are off (option `testHooks`)");
    }
  };
}
