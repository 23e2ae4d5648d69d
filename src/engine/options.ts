import { systemClock, type Clock } from "./clock.ts";
import type { CorsOptions } from "./cors.ts";
import type { IncomingRequest } from "./facade.ts";
import type { SessionRouter } from "./session-router.ts";
import type { TransportName } from "./types.ts";

/** Options of `Set-Cookie: io=<sid>` on the polling handshake. */
export interface CookieOptions {
  name?: string;
  path?: string | false;
  httpOnly?: boolean;
  sameSite?: "lax" | "strict" | "none" | boolean;
  secure?: boolean;
  domain?: string;
  maxAge?: number;
  expires?: Date;
  partitioned?: boolean;
}

export type AllowRequest = (
  req: IncomingRequest,
  callback: (err: string | null | undefined, success: boolean) => void,
) => void | Promise<boolean>;

/**
 * HTTP compression of polling responses. socket.io passes this object to
 * zlib; unio compresses with the Web `CompressionStream`, which has no
 * tuning, so only `threshold` has an effect (other keys are accepted and
 * ignored, so socket.io configurations keep working).
 */
export interface HttpCompressionOptions {
  /** Smallest response body, in bytes, that is compressed. Default 1024. */
  threshold?: number;
  [zlibOption: string]: unknown;
}

/**
 * WebSocket permessage-deflate (RFC 7692) settings, named as the `ws`
 * package names them. Node (ws) applies all of them; Bun applies
 * `threshold` (its compressor has no other per-server knobs unio maps).
 */
export interface PerMessageDeflateOptions {
  /** Smallest message, in bytes, that is compressed. Default 1024. */
  threshold?: number;
  serverNoContextTakeover?: boolean;
  clientNoContextTakeover?: boolean;
  serverMaxWindowBits?: number;
  clientMaxWindowBits?: number;
  /** Passed to zlib's deflate (Node only). */
  zlibDeflateOptions?: Record<string, unknown>;
  /** Passed to zlib's inflate (Node only). */
  zlibInflateOptions?: Record<string, unknown>;
  /** Concurrent zlib calls (Node only). */
  concurrencyLimit?: number;
}

/** `perMessageDeflate` after defaults: `false`, or the settings with a threshold. */
export type ResolvedPerMessageDeflate = false | (PerMessageDeflateOptions & { threshold: number });

/** Engine.IO server options; defaults are the reference's. */
export interface EngineOptions {
  /** Request path prefix. Default "/engine.io/" ("/socket.io/" under a Socket.IO Server). */
  path?: string;
  /** Keep `path` without a trailing slash, so `/engine.io?EIO=4` matches. Default true. */
  addTrailingSlash?: boolean;
  /** ms between server PINGs. Default 25000. */
  pingInterval?: number;
  /** ms to wait for a PONG before closing with "ping timeout". Default 20000. */
  pingTimeout?: number;
  /** ms allowed from the probe to the UPGRADE packet. Default 10000. */
  upgradeTimeout?: number;
  /** Largest POST body and WebSocket message, in bytes. Default 1e6. */
  maxHttpBufferSize?: number;
  /**
   * Bytes a session may have queued for a client that does not read before
   * it is closed with "transport error" (unio addition; socket.io has no cap).
   * Default 16 MiB.
   */
  maxBufferedBytes?: number;
  /** Enabled transports. Default ["polling", "websocket"]. */
  transports?: TransportName[];
  /** Advertise upgrades in the handshake. Default true. */
  allowUpgrades?: boolean;
  /**
   * Also accept Engine.IO v3 clients (`EIO=3`: engine.io-client 3.x, and so
   * socket.io-client 2.x, whose Socket.IO protocol the server then speaks on
   * that connection). Their sessions use the v3 framing and heartbeat (the
   * client pings), and JSONP polling (`j=`) for browsers without XHR.
   * Default false, as socket.io: `EIO=3` then gets 400 `{"code":5}`.
   * @example new Server({ allowEIO3: true }) // v2 and v4 clients side by side
   */
  allowEIO3?: boolean;
  /** Gate for handshakes; rejection gives 403 `{"code":4}`. */
  allowRequest?: AllowRequest;
  cors?: boolean | CorsOptions;
  /** `Set-Cookie` on the polling handshake. Default false. */
  cookie?: boolean | CookieOptions;
  /**
   * gzip/deflate for polling responses of at least `threshold` bytes, when
   * the request's `Accept-Encoding` allows it and the write holds a packet
   * sent without `compress: false`. `false` turns it off.
   * Default `{ threshold: 1024 }` (on). On Workers the platform encodes
   * responses itself and the option has no effect.
   *
   * @example
   * new Server({ httpCompression: { threshold: 4096 } });
   * new Server({ httpCompression: false });
   */
  httpCompression?: boolean | HttpCompressionOptions;
  /**
   * WebSocket permessage-deflate, where the runtime's WebSocket server can
   * negotiate it (Node through ws, Bun natively). `true` or an object is
   * merged over `{ threshold: 1024 }`. Default false. Deno cannot compress
   * WebSockets and refuses the option at start-up; on Workers the runtime
   * negotiates compression itself and unio refuses the option there too
   * (see the README).
   *
   * @example
   * new Server({ perMessageDeflate: { threshold: 2048 } });
   */
  perMessageDeflate?: boolean | PerMessageDeflateOptions;
  /** A message sent right after the open packet. */
  initialPacket?: string | Uint8Array;
  /** Session id generator. May return a Promise; a throw gives 400 `ID_GENERATION_ERROR`. */
  generateId?: (req: IncomingRequest) => string | Promise<string>;
  /**
   * Serves requests for sessions held by another node, so several nodes
   * need no sticky sessions (see session-router.ts). unio/redis's
   * `createSessionRouter(pub, sub)` is one.
   * @example new Server({ adapter, sessionRouter: createSessionRouter(pub, sub) })
   */
  sessionRouter?: SessionRouter;
  /** Time source (tests inject a FakeClock). */
  clock?: Clock;
  /**
   * Round timer wake-ups up to multiples of this many ms so that nearby
   * deadlines share one (Workers use it: each Durable Object wake is billed).
   * Default 0: exact deadlines.
   */
  timerGranularity?: number;
}

export type ResolvedEngineOptions = Required<
  Omit<
    EngineOptions,
    | "allowRequest"
    | "cors"
    | "initialPacket"
    | "generateId"
    | "cookie"
    | "httpCompression"
    | "perMessageDeflate"
    | "sessionRouter"
  >
> &
  Pick<EngineOptions, "allowRequest" | "initialPacket" | "generateId" | "sessionRouter"> & {
    cors: CorsOptions | undefined;
    cookie: CookieOptions | undefined;
    /** `false`, or the smallest body compressed. */
    httpCompression: false | { threshold: number };
    perMessageDeflate: ResolvedPerMessageDeflate;
  };

const DEFAULT_THRESHOLD = 1024;

function resolveHttpCompression(o: EngineOptions["httpCompression"]): false | { threshold: number } {
  if (o === false) return false;
  const threshold = o && typeof o === "object" && typeof o.threshold === "number" ? o.threshold : DEFAULT_THRESHOLD;
  return { threshold };
}

function resolvePerMessageDeflate(o: EngineOptions["perMessageDeflate"]): ResolvedPerMessageDeflate {
  if (!o) return false;
  return { threshold: DEFAULT_THRESHOLD, ...(o === true ? {} : o) };
}

export function resolveEngineOptions(opts: EngineOptions, defaultPath = "/engine.io"): ResolvedEngineOptions {
  const addTrailingSlash = opts.addTrailingSlash !== false;
  let path = (opts.path ?? defaultPath).replace(/\/$/, "");
  if (addTrailingSlash) path += "/";
  return {
    path,
    addTrailingSlash,
    pingInterval: opts.pingInterval ?? 25000,
    pingTimeout: opts.pingTimeout ?? 20000,
    upgradeTimeout: opts.upgradeTimeout ?? 10000,
    maxHttpBufferSize: opts.maxHttpBufferSize ?? 1e6,
    maxBufferedBytes: opts.maxBufferedBytes ?? 16 * 1024 * 1024,
    transports: opts.transports ?? ["polling", "websocket"],
    allowUpgrades: opts.allowUpgrades !== false,
    allowEIO3: opts.allowEIO3 === true,
    allowRequest: opts.allowRequest,
    cors: !opts.cors ? undefined : opts.cors === true ? {} : opts.cors,
    cookie: !opts.cookie ? undefined : opts.cookie === true ? {} : opts.cookie,
    httpCompression: resolveHttpCompression(opts.httpCompression),
    perMessageDeflate: resolvePerMessageDeflate(opts.perMessageDeflate),
    initialPacket: opts.initialPacket,
    generateId: opts.generateId,
    sessionRouter: opts.sessionRouter,
    clock: opts.clock ?? systemClock,
    timerGranularity: opts.timerGranularity ?? 0,
  };
}

/** `io=<sid>; Path=/; HttpOnly; SameSite=Lax` with the reference's defaults. */
export function serializeCookie(sid: string, c: CookieOptions): string {
  const name = c.name ?? "io";
  let out = `${name}=${encodeURIComponent(sid)}`;
  if (c.maxAge !== undefined) out += `; Max-Age=${Math.floor(c.maxAge)}`;
  if (c.domain) out += `; Domain=${c.domain}`;
  const path = c.path === undefined ? "/" : c.path;
  if (path !== false) out += `; Path=${path}`;
  if (c.expires) out += `; Expires=${c.expires.toUTCString()}`;
  if (c.httpOnly !== false) out += "; HttpOnly";
  if (c.secure) out += "; Secure";
  if (c.partitioned) out += "; Partitioned";
  const sameSite = c.sameSite === undefined ? "lax" : c.sameSite;
  if (sameSite === true) out += "; SameSite=Strict";
  else if (sameSite) out += `; SameSite=${sameSite[0]!.toUpperCase()}${sameSite.slice(1)}`;
  return out;
}
