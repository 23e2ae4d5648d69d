/**
 * Shared types of the Socket.IO layer: ids, rooms, broadcast options, CSR
 * sessions, handshake, disconnect reasons. Kept apart from the classes so
 * adapters (Redis, Durable Objects) can import them without the server.
 */
import { RESERVED_EVENTS as PROTOCOL_RESERVED_EVENTS } from "../protocol/socket-io-packet.ts";

/** A public socket id (never the Engine.IO session id). */
export type SocketId = string;
/** The private session id used by connection state recovery. */
export type PrivateSessionId = string;
/** A room name; every socket is also in the room named after its own id. */
export type Room = string;

/** Modifiers of a broadcast, as socket.io's adapters receive them. */
export interface BroadcastFlags {
  /** Drop the packet for clients whose transport cannot take it right now. */
  volatile?: boolean;
  /** Allow HTTP compression of the packet (polling only). */
  compress?: boolean;
  /** Do not forward the broadcast to other nodes of a cluster. */
  local?: boolean;
  broadcast?: boolean;
  binary?: boolean;
  /** Ack timeout in ms. */
  timeout?: number;
  /** `RemoteSocket.emit()` with an ack: hand the single response, not an array. */
  expectSingleResponse?: boolean;
}

/** Which sockets a broadcast or bulk operation targets. */
export interface BroadcastOptions {
  /** Union of rooms to include; empty means every socket of the namespace. */
  rooms: Set<Room>;
  /** Rooms whose members are excluded. */
  except?: Set<Room>;
  flags?: BroadcastFlags;
}

/** What `adapter.persistSession()` stores when a socket disconnects with CSR on. */
export interface SessionToPersist {
  sid: SocketId;
  pid: PrivateSessionId;
  rooms: Room[];
  data: unknown;
}

/** A restored session: the persisted state plus the EVENT payloads the client missed. */
export type Session = SessionToPersist & {
  missedPackets: unknown[][];
};

/** Server-side disconnect reasons, exactly as socket.io reports them. */
export type DisconnectReason =
  | "transport error"
  | "transport close"
  | "forced close"
  | "ping timeout"
  | "parse error"
  | "server shutting down"
  | "forced server close"
  | "client namespace disconnect"
  | "server namespace disconnect";

/** Reasons after which connection state recovery keeps the session. */
export const RECOVERABLE_DISCONNECT_REASONS: ReadonlySet<string> = new Set<DisconnectReason>([
  "transport error",
  "transport close",
  "forced close",
  "ping timeout",
  "server shutting down",
  "forced server close",
]);

/** The handshake details of a socket (`socket.handshake`). */
export interface Handshake {
  /** Headers of the request that opened the Engine.IO session, lower-case names. */
  headers: Record<string, string | undefined>;
  /** Creation date as a string (`new Date() + ""`). */
  time: string;
  /** The client's IP address. */
  address: string;
  /** Whether the request carried an Origin header. */
  xdomain: boolean;
  /** Whether the first request arrived over TLS. */
  secure: boolean;
  /** Creation date in ms since the epoch. */
  issued: number;
  /** The first request's URL (path and query). */
  url: string;
  /** The first request's query parameters (last value wins). */
  query: Record<string, string | undefined>;
  /** The CONNECT payload, or `{}`. */
  auth: { [key: string]: any };
}

/** An error passed to `next()` by a connection middleware; `data` reaches the client. */
export interface ExtendedError extends Error {
  data?: any;
}

/** An incoming event as `socket.use()` middlewares see it: `[name, ...args]`. */
export type Event = [string, ...any[]];

/**
 * Names `socket.emit()` and broadcasts refuse (the client reserves them): the
 * protocol's set, which the decoder also refuses in incoming events, typed
 * for emitter keys (which may be symbols).
 */
export const RESERVED_EVENTS: ReadonlySet<string | symbol> = PROTOCOL_RESERVED_EVENTS as ReadonlySet<string | symbol>;

/** Names `serverSideEmit()` refuses. */
export const SERVER_RESERVED_EVENTS: ReadonlySet<string | symbol> = new Set(["connect", "connection", "new_namespace"]);

/** Reserved events of a Socket. */
export interface SocketReservedEventsMap {
  disconnect: (reason: DisconnectReason, description?: any) => void;
  disconnecting: (reason: DisconnectReason, description?: any) => void;
  error: (err: Error) => void;
}

/** Connection settings of connection state recovery, after defaults. */
export interface RecoveryOptions {
  /** How long sessions and stored packets are kept, in ms (default 120000). */
  maxDisconnectionDuration: number;
  /** Skip connection middlewares when a session is recovered (default true). */
  skipMiddlewares: boolean;
}
