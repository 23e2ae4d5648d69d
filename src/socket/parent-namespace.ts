/**
 * ParentNamespace: what `io.of(/regex/)` or `io.of(fn)` returns. Child
 * namespaces are created on demand when a client connects to a name the
 * parent accepts. Unlike socket.io, the parent's middlewares and
 * "connection" listeners apply to children live: ones added after a child
 * was created reach it too.
 */
import { Adapter, type AnyNamespace } from "./adapter.ts";
import type { RemoteSocket } from "./broadcast-operator.ts";
import { Namespace } from "./namespace.ts";
import type { Server } from "./server.ts";
import type { DefaultEventsMap, EventNamesWithoutAck, EventParams, EventsMap } from "./typed-events.ts";
import type { Packet } from "../protocol/socket-io-packet.ts";
import type { BroadcastOptions, Room } from "./types.ts";

let parentCount = 0;

/**
 * A parent of dynamic namespaces.
 *
 * @example
 * const workspaces = io.of(/^\/workspace-\d+$/);
 * workspaces.on("connection", (socket) => socket.emit("hello", socket.nsp.name));
 * workspaces.emit("maintenance"); // every existing child
 */
export class ParentNamespace<
  ListenEvents extends EventsMap = DefaultEventsMap,
  EmitEvents extends EventsMap = ListenEvents,
  ServerSideEvents extends EventsMap = DefaultEventsMap,
  SocketData = any,
> extends Namespace<ListenEvents, EmitEvents, ServerSideEvents, SocketData> {
  /** @internal */
  readonly _children = new Set<Namespace<ListenEvents, EmitEvents, ServerSideEvents, SocketData>>();

  /** The child namespaces: socket.io's private `children`, aliased for code that reads it. */
  get children(): Set<Namespace<ListenEvents, EmitEvents, ServerSideEvents, SocketData>> {
    return this._children;
  }

  constructor(server: Server<ListenEvents, EmitEvents, ServerSideEvents, SocketData>) {
    super(server, "/_" + parentCount++);
  }

  /** @internal */
  override _initAdapter(): void {
    this.adapter = new ParentBroadcastAdapter(this as unknown as AnyNamespace);
  }

  /** Emits on every existing child namespace. */
  override emit<Ev extends EventNamesWithoutAck<EmitEvents>>(ev: Ev, ...args: EventParams<EmitEvents, Ev>): boolean {
    for (const child of this._children) {
      // Each child's adapter may append to the argument array (CSR offsets): give each its own copy.
      (child.emit as (ev: string, ...a: unknown[]) => boolean)(ev as string, ...(args as unknown[]));
    }
    return true;
  }

  /** Creates and registers the child `name` (the server has checked that this parent accepts it). */
  createChild(name: string): Namespace<ListenEvents, EmitEvents, ServerSideEvents, SocketData> {
    const child = new Namespace(this.server, name);
    child._parent = this;
    this._children.add(child);
    this.server._nsps.set(name, child);
    this.server.sockets._emitNewNamespace(child);
    return child;
  }

  override fetchSockets(): Promise<RemoteSocket<EmitEvents, SocketData>[]> {
    // A dynamic child may exist on one node and not another, so there is no cluster-wide answer.
    throw new Error("fetchSockets() is not supported on parent namespaces");
  }

  /** @internal A child lost its last socket: drop it when `cleanupEmptyChildNamespaces` is on. */
  _childEmptied(child: Namespace<ListenEvents, EmitEvents, ServerSideEvents, SocketData>): void {
    if (!this.server._opts.cleanupEmptyChildNamespaces || !this._children.has(child)) return;
    if (this.server._nsps.get(child.name) === child) this.server._nsps.delete(child.name);
    this._children.delete(child);
    try {
      const closing = child.adapter.close();
      if (closing) closing.then(undefined, () => {});
    } catch {
      // Closing an adapter is best effort.
    }
  }
}

/** Forwards a parent's broadcasts and bulk operations to each child's adapter. */
class ParentBroadcastAdapter extends Adapter {
  #children(): Set<Namespace<any, any, any, any>> {
    return (this.nsp as unknown as ParentNamespace)._children;
  }

  override broadcast(packet: Packet, opts: BroadcastOptions): void {
    for (const child of this.#children()) child.adapter.broadcast(copyPacket(packet), opts);
  }

  override broadcastWithAck(
    packet: Packet,
    opts: BroadcastOptions,
    clientCountCallback: (clientCount: number) => void,
    ack: (...args: unknown[]) => void,
  ): void {
    // The operator expects one count per server: add the children's up.
    let total = 0;
    for (const child of this.#children()) {
      child.adapter.broadcastWithAck(copyPacket(packet), opts, (n) => (total += n), ack);
    }
    clientCountCallback(total);
  }

  override addSockets(opts: BroadcastOptions, rooms: Room[]): void {
    for (const child of this.#children()) child.adapter.addSockets(opts, rooms);
  }

  override delSockets(opts: BroadcastOptions, rooms: Room[]): void {
    for (const child of this.#children()) child.adapter.delSockets(opts, rooms);
  }

  override disconnectSockets(opts: BroadcastOptions, close: boolean): void {
    for (const child of this.#children()) child.adapter.disconnectSockets(opts, close);
  }
}

function copyPacket(packet: Packet): Packet {
  const copy: Packet = { type: packet.type, nsp: packet.nsp, data: (packet.data as unknown[]).slice() };
  if (packet.id !== undefined) copy.id = packet.id;
  return copy;
}
