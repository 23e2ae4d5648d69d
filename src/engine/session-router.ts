/**
 * The engine's one seam for running several nodes without sticky sessions.
 *
 * Long-polling sends many HTTP requests per session, and a load balancer
 * without affinity spreads them over every node; a WebSocket upgrade may land
 * anywhere too. A `SessionRouter` lets a node serve a request for a session it
 * does not hold: the engine asks it before answering "Session ID unknown", and
 * the router gets the answer from the node that owns the session. To find that
 * node without a lookup table, the router also names the session ids this node
 * hands out (`localId`), so a sid says where it lives.
 *
 * The core knows nothing of how the owner is reached; `unio/redis`'s
 * `createSessionRouter` does it over Redis Pub/Sub.
 *
 *   client ─▶ node B: GET ?sid=A… (not local)
 *              engine B ─▶ router.forward(req, sid) ─▶ node A (owner)
 *                                                       engine A.handleRequest(req)
 *   client ◀─ node B   ◀──────────── response ◀────────┘
 *
 * @example
 * // A router that knows a single peer, reached over HTTP (a sketch; see unio/redis):
 * const router: SessionRouter = {
 *   bind(engine) {},
 *   localId: (id) => "n1" + id,
 *   forward: (req, sid) => (sid.startsWith("n2") ? askPeer(req) : undefined),
 *   forwardUpgrade: () => undefined,
 * };
 * new Server({ sessionRouter: router });
 */
import type { IncomingRequest, OutgoingResponse, UpgradeResult } from "./facade.ts";

/** What a router may use of the engine it serves: the engine's own entry points. */
export interface RoutedEngine {
  handleRequest(req: IncomingRequest): Promise<OutgoingResponse>;
  handleUpgrade(req: IncomingRequest): Promise<UpgradeResult>;
  readonly maxPayload: number;
  readonly maxBufferedBytes: number;
  readonly opts: { readonly pingInterval: number; readonly pingTimeout: number };
}

export interface SessionRouter {
  /**
   * Called by every engine built with this router (a Server that rebuilds its
   * engine binds the new one): requests forwarded here are served by it.
   */
  bind(engine: RoutedEngine): void;
  /** The session id to hand out for a fresh `id`: it must name this node, and keep `id`'s randomness. */
  localId(id: string): string;
  /**
   * A polling request for a sid this node does not hold. The owner's
   * response, or `undefined` when no other node can own it (the engine then
   * answers 400 "Session ID unknown"). `headers` are the CORS headers this
   * node would answer with, for answers the router makes itself.
   */
  forward(req: IncomingRequest, sid: string, headers: Record<string, string>): Promise<OutgoingResponse> | undefined;
  /** The same for a WebSocket upgrade: the socket is accepted here and served by the owner. */
  forwardUpgrade(req: IncomingRequest, sid: string, headers: Record<string, string>): Promise<UpgradeResult> | undefined;
}
