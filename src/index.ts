// Core entry: runtime-agnostic. Runtime shims live in "unio/node", "unio/bun", "unio/deno", "unio/workers".

// ── Socket.IO server (socket.io v4.8 API) ──────────────────────────────
export { Server, type ServerOptions, type ParentNspNameMatchFn } from "./socket/server.ts";
export {
  Namespace,
  type NamespaceMiddleware,
  type NamespaceReservedEventsMap,
  type ServerReservedEventsMap,
} from "./socket/namespace.ts";
export { ParentNamespace } from "./socket/parent-namespace.ts";
export { Socket, type SocketState } from "./socket/socket.ts";
export { Client } from "./socket/client.ts";
export { BroadcastOperator, RemoteSocket, type SocketDetails } from "./socket/broadcast-operator.ts";
export {
  Adapter,
  InMemoryAdapter,
  toOutboundMessages,
  type AdapterConstructor,
  type AdapterEvents,
} from "./socket/adapter.ts";
export { SessionAwareAdapter } from "./socket/session-aware-adapter.ts";
// ── Production controls (unio additions): metrics, event rate ──────────
export {
  forEachMetric,
  toPrometheus,
  type MetricKind,
  type MetricSink,
  type MetricsSnapshot,
} from "./socket/metrics.ts";
export type { EventRateLimit } from "./socket/rate-limit.ts";
export type { DrainOptions } from "./socket/drain.ts";
// Named acks: an ack that outlives the server's memory (Workers hibernation).
export {
  ackNamed,
  type AckSnapshot,
  type LostAck,
  type LostAckHandler,
  type NamedAck,
  type NamedAckCall,
  type NamedAckHandler,
} from "./socket/named-acks.ts";
export type { AdapterLike, WriteOptions } from "./socket/adapter-contract.ts";
export {
  setClientBundleLoader,
  clearClientBundleLoader,
  type ClientBundleLoader,
  type ClientBundleOptions,
  type ClientBundleEncoder,
} from "./socket/client-files.ts";
export {
  RESERVED_EVENTS,
  type BroadcastFlags,
  type BroadcastOptions,
  type DisconnectReason,
  type Event,
  type ExtendedError,
  type Handshake,
  type PrivateSessionId,
  type RecoveryOptions,
  type Room,
  type Session,
  type SessionToPersist,
  type SocketId,
  type SocketReservedEventsMap,
} from "./socket/types.ts";
export type {
  AllButLast,
  DecorateAcknowledgements,
  DecorateAcknowledgementsWithMultipleResponses,
  DecorateAcknowledgementsWithTimeoutAndMultipleResponses,
  DefaultEventsMap,
  EventNames,
  EventNamesWithAck,
  EventNamesWithError,
  EventNamesWithoutAck,
  EventParams,
  EventsMap,
  FirstNonErrorArg,
  FirstNonErrorTuple,
  Last,
  MultiplyArray,
  RemoveAcknowledgements,
  ReservedOrUserEventNames,
  ReservedOrUserListener,
  TypedEventBroadcaster,
} from "./socket/typed-events.ts";
export { StrictEventEmitter } from "./socket/typed-events.ts";

// ── Socket.IO packets and parsers ──────────────────────────────────────
export { Encoder, Decoder, defaultParser, PacketType } from "./protocol/socket-io.ts";
export type { Packet, Parser, ParserEncoder, ParserDecoder } from "./protocol/socket-io.ts";

// ── Engine.IO server and the runtime facade ────────────────────────────
export { Engine, type EngineEvents } from "./engine/engine.ts";
export type {
  EngineOptions,
  HandshakeRateLimit,
  CookieOptions,
  AllowRequest,
  HttpCompressionOptions,
  PerMessageDeflateOptions,
} from "./engine/options.ts";
export type { CorsOptions } from "./engine/cors.ts";
export type { SessionRouter, RoutedEngine } from "./engine/session-router.ts";
export type * from "./engine/facade.ts";
export type { EngineSocket, EngineCloseReason, SessionFanout, TransportName, SessionState } from "./engine/types.ts";
export { OutboundMessage } from "./engine/outbound.ts";
export type { Clock } from "./engine/clock.ts";
// FakeClock, the Scheduler and the Request/Response converters are for tests and shim authors:
// they live in "unio/testing", not here.
