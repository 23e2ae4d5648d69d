// Cluster entry: the base classes for writing a multi-node adapter (Postgres, NATS, a cloud queue...)
// without importing "unio/redis". Runtime-agnostic, like the core.
//
//   import { ClusterAdapterWithHeartbeat, type ClusterMessage } from "unio/cluster";
//   class MyAdapter extends ClusterAdapterWithHeartbeat {
//     protected doPublish(message: ClusterMessage) { ... }            // send to every other node
//     protected doPublishResponse(requester: string, response: ClusterResponse) { ... }
//   }

export {
  ClusterAdapter,
  ClusterAdapterWithHeartbeat,
  MessageType,
  type ClusterAdapterOptions,
  type ClusterAdapterWithHeartbeatOptions,
  type ClusterMessage,
  type ClusterResponse,
} from "./adapters/cluster-adapter.ts";
export { Adapter, InMemoryAdapter } from "./socket/adapter.ts";
export { SessionAwareAdapter } from "./socket/session-aware-adapter.ts";
