/**
 * The cluster adapter of servers that live in many Durable Objects:
 * `io.to(room).emit()` reaches the room's members in every object. It is a
 * `ClusterAdapter` (the cluster protocol and its request bookkeeping are
 * the ones the Redis adapters use) over an RPC transport between the
 * objects (cluster.ts): a message goes to a hub object that delivers it to
 * every member object; the answers a member gives at once (socket details,
 * client counts) come back with the delivery, later ones (acks) by RPC to
 * the member that asked.
 *
 *   origin object                         hub object                 member objects
 *   io.to("r").emit("x") ─┬─ local sockets
 *                         └─ publish(msg) ──▶ unioHubPublish ──▶ unioDeliver(msg): receive(msg) ─▶ local sockets
 *      onResponse() ◀──────── reports ◀──────────────────────────── answers given at once
 *      onResponse() ◀───────────────────────────────────────────── unioRespond(answer): later ones (acks)
 *
 * An object's uid in the cluster is its Durable Object id, so answers are
 * addressed to it directly. With a `SessionStore` (the object's SQLite),
 * connection state recovery keeps each broadcast under the offset its
 * origin gave it, in every member, and survives evictions.
 */
import type { AnyNamespace } from "../../socket/adapter.ts";
import type { SessionStore } from "../../socket/session-store.ts";
import type { SocketId, Room } from "../../socket/types.ts";
import { ClusterAdapter } from "../../adapters/cluster-adapter.ts";
import { type ClusterMessage, type ClusterResponse, MessageType } from "../../adapters/cluster-protocol.ts";
import type { Responders } from "../../adapters/cluster-requests.ts";

/** What one member did with a published message. */
export interface DeliveryReport {
  /** The member's object id (its adapter's uid). */
  member: string;
  /** False when the member could not be reached or has no such namespace: it will not answer. */
  delivered: boolean;
  /** The answers it gave while handling the message. */
  responses: ClusterResponse[];
}

/**
 * How the adapter reaches the other objects (cluster.ts implements it
 * with Durable Object RPC).
 *
 * @example
 * const adapter = new DurableObjectAdapter(nsp, transport, store);
 */
export interface ClusterTransport {
  /** This object's id, the adapter's uid in the cluster. */
  readonly self: string;
  /** Delivers to every other member; resolves once each member handled it. */
  publish(message: ClusterMessage): Promise<DeliveryReport[]>;
  /** Sends a later answer to the member `uid` (its `onResponse`). */
  respond(uid: string, response: ClusterResponse): Promise<void>;
  /** The other members (object ids) right now. */
  members(): Promise<string[]>;
  /** This object now hosts sockets: make sure broadcasts reach it. */
  join(): void;
}

/**
 * The adapter. The Workers shim creates one per namespace from the
 * `cluster` and `connectionStateRecovery` options of `defineDurableServer`.
 */
export class DurableObjectAdapter extends ClusterAdapter {
  /** While a member handles a message: the answers for its sender, returned with the delivery. */
  #inline: { to: string; responses: ClusterResponse[] } | null = null;

  constructor(
    nsp: AnyNamespace,
    readonly transport: ClusterTransport,
    store?: SessionStore,
  ) {
    super(nsp, { uid: transport.self, sessionStore: store });
  }

  override addAll(id: SocketId, rooms: Set<Room>): void {
    super.addAll(id, rooms);
    this.transport.join();
  }

  protected async doPublish(message: ClusterMessage): Promise<string> {
    const reports = await this.transport.publish(message);
    for (const report of reports) {
      for (const response of report.responses) this.onResponse(response);
      if (report.delivered) continue;
      // It will not answer: requests stop waiting for it, and a broadcast with ack counts it as reaching nobody.
      this.forgetNode(report.member);
      if (message.type === MessageType.BROADCAST && message.data.requestId !== undefined) {
        this.onResponse({
          uid: report.member,
          nsp: message.nsp,
          type: MessageType.BROADCAST_CLIENT_COUNT,
          data: { requestId: message.data.requestId, clientCount: 0 },
        });
      }
    }
    return "";
  }

  protected doPublishResponse(requesterUid: string, response: ClusterResponse): Promise<void> {
    const inline = this.#inline;
    if (inline && inline.to === requesterUid) {
      inline.responses.push(response);
      return Promise.resolve();
    }
    return this.transport.respond(requesterUid, response);
  }

  /**
   * Applies a message from another member to this object's sockets and
   * returns the answers it gave at once; later ones go by `respond`.
   */
  receive(message: ClusterMessage): ClusterResponse[] {
    const inline = { to: message.uid, responses: [] as ClusterResponse[] };
    this.#inline = inline;
    try {
      this.onMessage(message);
    } finally {
      this.#inline = null;
    }
    return inline.responses;
  }

  override async serverCount(): Promise<number> {
    return 1 + (await this.transport.members()).length;
  }

  protected override async expectedResponders(): Promise<Responders> {
    const members = await this.transport.members();
    return { count: members.length, uids: new Set(members) };
  }

  /** Nobody listens for "error" on a Worker: a failed publish is logged (it then happened only here). */
  protected override onPublishError(err: unknown): void {
    if (this.listenerCount("error") > 0) this.emit("error", err);
    else console.error("unio: cluster publish failed", err);
  }
}

