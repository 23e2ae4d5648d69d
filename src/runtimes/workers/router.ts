/**
 * The Worker in front of the Durable Objects: it picks each request's home
 * object and refuses malformed requests itself, with the Engine.IO error
 * reply, before they reach (and bill) an object.
 *
 *   request ──▶ outside the path ───────────────▶ options.fetch (the app) / 404
 *           ──▶ a client bundle file ───────────▶ served here (when a loader is registered)
 *           ──▶ fails the engine's checkRequest ─▶ 400 {"code":N,"message":...} (request-check.ts)
 *           ──▶ has a sid ──▶ object named in the sid (see sid.ts)
 *           ──▶ handshake ──▶ env[binding].idFromName(name(request))
 */
import type { CorsOptions } from "../../engine/cors.ts";
import { ErrorCode, errorResponse, requestError } from "../../engine/errors.ts";
import { checkRequest } from "../../engine/request-check.ts";
import { fromWebRequest, isWebSocketUpgrade, toWebResponse } from "../../engine/web.ts";
import { serveClientFile } from "../../socket/client-files.ts";
import type { TransportName } from "../../engine/types.ts";
import type { DurableObjectId, DurableObjectNamespace, ExecutionContext } from "./platform.ts";
import { objectIdOfSid } from "./sid.ts";

/**
 * The server options the router acts on. A class made by
 * `defineDurableServer` / `defineDurableEngine` carries them (`unioConfig`),
 * so the router reads the one configuration the objects run with.
 */
export interface RouteConfig {
  path: string;
  transports: TransportName[];
  allowEIO3: boolean;
  cors: CorsOptions | undefined;
  serveClient: boolean;
}

/** What the router needs of a Durable Object class: its configuration. */
export interface ConfiguredClass {
  readonly unioConfig: RouteConfig;
}

export interface RouteOptions<Env = any> {
  /**
   * The class bound as `binding` (what `defineDurableServer` returned): the
   * router then takes path, transports, cors, allowEIO3 and serveClient from
   * the options the class was defined with, and they must not be given here
   * again. `Class.route(binding, options)` is the same.
   */
  server?: ConfiguredClass;
  /**
   * Names the object a new session goes to (default: one object, "default").
   * Reconnections carry the same query, so a function of the query keeps a
   * client on its shard. Requests with a sid ignore it: the sid names its object.
   * @example name: (req) => new URL(req.url).searchParams.get("room") ?? "lobby"
   */
  name?: (request: Request, env: Env) => string | Promise<string>;
  /** The Socket.IO path, as given to the server. Default "/socket.io". */
  path?: string;
  /** Enabled transports, as given to the server. Default ["polling", "websocket"]. */
  transports?: TransportName[];
  /** The server's `allowEIO3` option: Engine.IO v3 handshakes then reach the object. Default false. */
  allowEIO3?: boolean;
  /** The server's `cors` option: preflights are then answered here, and refusals carry the headers. */
  cors?: boolean | CorsOptions;
  /**
   * Serve the client bundles (`<path>/socket.io.js`...) from the Worker, so
   * they never bill an object. Needs a registered loader (`setClientBundleLoader`).
   * Default true.
   */
  serveClient?: boolean;
  /** Your own routes, for requests outside the path; 404 when absent. */
  fetch?: (request: Request, env: Env, ctx: ExecutionContext) => Response | Promise<Response>;
}

/**
 * A Worker that forwards Socket.IO traffic to Durable Objects.
 *
 * @example
 * // worker.ts
 * import { defineDurableServer, route } from "unio/workers";
 * export const ChatServer = defineDurableServer((io) => {
 *   io.on("connection", (socket) => socket.on("chat", (m) => io.emit("chat", m)));
 * });
 * export default route("CHAT", { name: (req) => new URL(req.url).searchParams.get("room") ?? "lobby" });
 */
export function route<Env = any>(binding: string, options: RouteOptions<Env> = {}) {
  const config = routeConfig(options);
  const path = config.path;
  const nameOf = options.name ?? (() => "default");

  return {
    async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
      const url = new URL(request.url);
      if (!url.pathname.startsWith(path)) {
        return options.fetch ? options.fetch(request, env, ctx) : new Response("Not Found", { status: 404 });
      }
      const req = fromWebRequest(request);
      if (config.serveClient && url.pathname.length > path.length) {
        const file = await serveClientFile(req, path, { cors: config.cors });
        // The body may be gzip already: workerd must send it as is, not encode it again.
        if (file) return new Response(file.body as BodyInit, { status: file.status, headers: file.headers, encodeBody: "manual" } as ResponseInit);
      }
      // The engine's own checks, so the Worker refuses exactly what the object would.
      const checked = await checkRequest(req, isWebSocketUpgrade(request), config);
      if (checked.kind === "preflight") return toWebResponse(checked.response);
      if (checked.kind === "refused") return toWebResponse(errorResponse(checked.error, checked.headers));
      const ns = (env as Record<string, unknown>)[binding] as DurableObjectNamespace | undefined;
      if (!ns) throw new Error(`unio: no Durable Object binding "${binding}" in env`);
      let id: DurableObjectId;
      if (checked.kind === "session") {
        // Whether the session lives is the object's to say; a sid that names no object fails here.
        const hex = objectIdOfSid(checked.sid);
        const known = hex === null ? null : idFromHex(ns, hex);
        if (!known) return toWebResponse(errorResponse(requestError(ErrorCode.UNKNOWN_SID, { sid: checked.sid }), checked.headers));
        id = known;
      } else {
        id = ns.idFromName(await nameOf(request, env));
      }
      return ns.get(id).fetch(request);
    },
  };
}

const SERVER_KEYS = ["path", "transports", "allowEIO3", "cors", "serveClient"] as const;

/** The configuration of the class when one is given, else the route's own options (with the server's defaults). */
function routeConfig(options: RouteOptions): RouteConfig {
  if (options.server) {
    const twice = SERVER_KEYS.filter((k) => options[k] !== undefined);
    if (twice.length > 0) {
      // A second copy would drift from the one the objects run with.
      throw new Error(`unio: route(): ${twice.join(", ")} come from the server class's options; give them only to defineDurableServer`);
    }
    return options.server.unioConfig;
  }
  return resolveRouteConfig(options, "/socket.io");
}

/** Server options as the router uses them, with the defaults of the engine and the Server. */
export function resolveRouteConfig(
  o: { path?: string; transports?: TransportName[]; allowEIO3?: boolean; cors?: boolean | CorsOptions; serveClient?: boolean },
  defaultPath: string,
): RouteConfig {
  return {
    path: (o.path || defaultPath).replace(/\/$/, "") + "/",
    transports: o.transports ?? ["polling", "websocket"],
    allowEIO3: o.allowEIO3 === true,
    cors: o.cors === true ? {} : o.cors || undefined,
    serveClient: o.serveClient !== false,
  };
}

/** The namespace refuses ids it did not make: a forged sid fails here, in the Worker. */
function idFromHex(ns: DurableObjectNamespace, hex: string): DurableObjectId | null {
  try {
    return ns.idFromString(hex);
  } catch {
    return null;
  }
}
