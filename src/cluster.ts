/**
 * `unio/cluster`: everything needed to write a multi-node adapter (Postgres,
 * NATS, a cloud queue...) without importing `unio/redis`: the base classes,
 * the cluster protocol's message types and codecs, and the connection state
 * recovery storage interface. Runtime-agnostic, like the core.
 *
 * @example
 * import { ClusterAdapterWithHeartbeat, type ClusterMessage, type ClusterResponse } from "unio/cluster";
 *
 * class NatsAdapter extends ClusterAdapterWithHeartbeat {
 *   protected doPublish(message: ClusterMessage) {          // to every node
 *     nc.publish(`io.${message.nsp}`, encode(message));
 *     return Promise.resolve("");
 *   }
 *   protected doPublishResponse(requesterUid: string, response: ClusterResponse) {   // to one node
 *     nc.publish(`io.${response.nsp}.${requesterUid}`, encode(response));
 *     return Promise.resolve();
 *   }
 * }
 * // and on receipt: adapter.onMessage(decode(bytes)) or adapter.onResponse(decode(bytes))
 * const io = new Server({ adapter: (nsp) => new NatsAdapter(nsp) });
 */
export { ClusterAdapter, type ClusterAdapterOptions } from "./adapters/cluster-adapter.ts";
export { ClusterAdapterWithHeartbeat, type ClusterAdapterWithHeartbeatOptions } from "./adapters/cluster-heartbeat.ts";
export {
  type ClusterMessage,
  type ClusterMessageBody,
  type ClusterResponse,
  type ClusterResponseBody,
  decodeOptions,
  EMITTER_UID,
  type EncodedOptions,
  encodeOptions,
  MessageType,
  RESPONSE_TYPES,
  randomId,
  type SocketDetails,
  serializeSocket,
} from "./adapters/cluster-protocol.ts";
export type { RequestKind, Responders } from "./adapters/cluster-requests.ts";
export { Adapter, type AnyNamespace, type AnySocket, InMemoryAdapter } from "./socket/adapter.ts";
export { SessionAwareAdapter } from "./socket/session-aware-adapter.ts";
export {
  isKeptForRecovery,
  type KeptTargets,
  MemorySessionStore,
  type MemorySessionStoreOptions,
  type SessionStore,
  wasRecipient,
} from "./socket/session-store.ts";
export type {
  BroadcastFlags,
  BroadcastOptions,
  PrivateSessionId,
  Room,
  Session,
  SessionToPersist,
  SocketId,
} from "./socket/types.ts";
export type { Packet } from "./protocol/socket-io-packet.ts";
