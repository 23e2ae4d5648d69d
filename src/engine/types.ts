import type { Emitter } from "./emitter.ts";
import type { IncomingRequest, WsConnection } from "./facade.ts";
import type { OutboundMessage } from "./outbound.ts";

export type TransportName = "polling" | "websocket";

/** Session states; transitions are drawn in session.ts. */
export type SessionState = "opening" | "open" | "closing" | "closed";

/** Why a session closed: the reference's exact strings. */
export type EngineCloseReason =
  | "transport close"
  | "transport error"
  | "ping timeout"
  | "parse error"
  | "forced close"
  | "forced server close";

/** A session's transport as its events and `socket.transport` show it. */
export interface EngineTransport {
  readonly name: TransportName;
  readonly writable: boolean;
}

export interface EngineSocketEvents {
  [event: string]: (...args: any[]) => void;
  /** A message from the client: text as `string`, binary as `Uint8Array`. */
  message: (data: string | Uint8Array) => void;
  /** The session ended; `description` carries the cause of a transport error. */
  close: (reason: EngineCloseReason, description?: unknown) => void;
  /** The probe of a new transport succeeded (`transport.name` is "websocket"). */
  upgrading: (transport: EngineTransport) => void;
  /** The session now runs on `transport` (`transport.name` is "websocket"). */
  upgrade: (transport: EngineTransport) => void;
  /** A PONG arrived. */
  heartbeat: () => void;
  /**
   * The write buffer was handed to the transport and is empty; with
   * `bufferedLowWaterMark`, also once `bufferedAmount` falls back under the
   * mark after going over it (a WebSocket whose runtime wrote its backlog).
   */
  drain: () => void;
  /** A packet was created to be sent (every message, ping and close); emitted only to listeners. */
  packetCreate: (packet: EnginePacketInfo) => void;
  /** A packet arrived from the client, before it is handled. */
  packet: (packet: EnginePacketInfo) => void;
}

/** An Engine.IO packet as the `packet` and `packetCreate` events show it (the reference's shape). */
export interface EnginePacketInfo {
  type: "open" | "close" | "ping" | "pong" | "message" | "upgrade" | "noop";
  data?: string | Uint8Array;
  /**
   * Outgoing packets only: socket.io's `compress` flag and, for a broadcast
   * of one text message on a runtime that frames broadcasts once (Node),
   * `wsPreEncodedFrame`: that frame's header and payload bytes (`Buffer`s on
   * Node), as written to every WebSocket recipient that takes the shared path.
   */
  options?: { compress: boolean; wsPreEncodedFrame?: Uint8Array[] };
}

/**
 * The small interface a layer above the engine implements to hear from a
 * session directly: one object per connection, no listener arrays or
 * closures. The Socket.IO layer's `Client` is one implementation.
 */
export interface SessionHandler {
  onMessage(data: string | Uint8Array): void;
  onClose(reason: EngineCloseReason, description?: unknown): void;
  /** The session now runs on a WebSocket (topic subscriptions are per WebSocket). */
  onUpgrade?(): void;
}

/** What the Socket.IO layer (and a user of a standalone Engine) sees of a session. */
export interface EngineSocket extends Emitter<EngineSocketEvents> {
  /** The session id: a secret, never broadcast. */
  readonly id: string;
  /** The Engine.IO protocol revision: 4, or 3 for a socket.io-client 2.x peer (`allowEIO3`). */
  readonly protocol: 3 | 4;
  readonly readyState: SessionState;
  /** The request that opened the session. */
  readonly request: IncomingRequest;
  readonly remoteAddress: string;
  readonly transport: EngineTransport;
  /** Whether an upgrade is in progress. */
  readonly upgrading: boolean;
  /** Bytes queued for the client and not yet written (write buffer + the runtime's WebSocket buffer). */
  readonly bufferedAmount: number;
  /**
   * Queues a message. `callback` runs once it has been written out.
   * @example socket.send("hello"); socket.send(new Uint8Array([1, 2]));
   */
  send(data: string | Uint8Array, options?: { compress?: boolean }, callback?: () => void): this;
  write(data: string | Uint8Array, options?: { compress?: boolean }, callback?: () => void): this;
  /** Sends this session's messages and its close to `handler` (before any `message`/`close` listeners). */
  setHandler(handler: SessionHandler | null): void;
  /** Queues pre-encoded messages shared with other sessions (broadcasts). */
  sendMessages(messages: readonly OutboundMessage[]): void;
  /** Closes gracefully (buffer flushed first), or at once with `discard`. */
  close(discard?: boolean): this;
  /**
   * The session's part in the runtime's native fan-out (see session-fanout.ts);
   * null or absent on runtimes that cannot publish to topics.
   */
  readonly fanout?: SessionFanout | null;
}

/**
 * What the Socket.IO layer uses of a session to broadcast by native publish
 * (`EngineSocket.fanout`, present only where the runtime has topics).
 */
export interface SessionFanout {
  /**
   * Whether a frame published to this session's topics now would reach it,
   * in order: false on polling, with anything queued, or on a WebSocket that
   * cannot take a publish (Engine.IO v3, `b64`).
   */
  readonly ready: boolean;
  /** Subscribes the session's WebSocket to a topic; a no-op off WebSocket. Idempotent. */
  subscribe(topic: string): void;
  unsubscribe(topic: string): void;
  /**
   * The connection a publish leaves out when this session sends to its
   * peers (`socket.broadcast`, `socket.to()`); null when not on a WebSocket
   * that can publish.
   */
  readonly self: WsConnection | null;
  /** A publish of `messages` reached this session: reports `packetCreate`, and cuts off a client that stopped reading. */
  delivered(messages?: readonly OutboundMessage[]): void;
}
