/**
 * Cloudflare Workers shim: Socket.IO on Durable Objects, with hibernation.
 *
 * - `defineDurableServer(setup, options)`: a Durable Object class; each
 *   instance hosts a `Server`, both transports, WebSockets through the
 *   Hibernation API, every deadline on the object's one alarm.
 * - `route(binding, { name })`: the Worker that sends each request to its
 *   object (by the sid for existing sessions, by `name(request)` for new
 *   ones) and refuses malformed requests before they reach an object.
 *
 * @example
 * import { defineDurableServer, route } from "unio/workers";
 * export const Chat = defineDurableServer((io) => {
 *   io.on("connection", (socket) => socket.on("msg", (m) => io.emit("msg", m)));
 * });
 * export default route("CHAT");
 */
export {
  defineDurableServer,
  defineDurableEngine,
  type DurableServerOptions,
  type DurableEngineOptions,
  type Setup,
  type DurableObjectClass,
  type UnioDurableObject,
} from "./workers/object.ts";
export { route, type RouteOptions, type RouteConfig, type ConfiguredClass } from "./workers/router.ts";
export type { ClusterOptions } from "./workers/cluster.ts";
export type { WorkersOptions, HostStats } from "./workers/host.ts";
export { objectIdOfSid, sidPrefix } from "./workers/sid.ts";
export { DurableObjectAdapter, type ClusterTransport, type DeliveryReport } from "./workers/durable-object-adapter.ts";
export { SqlSessionStore } from "./workers/durable-object-sessions.ts";
