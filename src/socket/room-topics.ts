/**
 * The fan-out topics of one namespace, on a runtime that publishes to topics
 * natively (Bun): which connection is subscribed to which topic, and whether
 * a broadcast can go out as one publish instead of one send per socket.
 * Everything about topics lives here; the adapter tells it about joins and
 * leaves and offers it each broadcast first. Where the runtime has no
 * fan-out (`engine.fanout` null) every method returns at its first line.
 *
 * Invariant: a connected socket's WebSocket is subscribed to its namespace's
 * topic and to one topic per room it is in (its own room aside), and to
 * nothing else. Joins and leaves keep it; `subscribeAll` sets it up on
 * connect and after an upgrade. So a room's subscribers are exactly its
 * connected members, and a publish is taken only when every one of them is
 * `ready` (a WebSocket with nothing queued): all or nothing, in order.
 */
import type { WsConnection } from "../engine/facade.ts";
import type { OutboundMessage } from "../engine/outbound.ts";
import type { SessionFanout } from "../engine/types.ts";
import type { AnyNamespace, AnySocket } from "./adapter.ts";
import type { BroadcastOptions, Room, SocketId } from "./types.ts";
import { dropsVolatile } from "./volatile.ts";

/**
 * The fan-out topic of a room; a namespace's own topic (all its sockets) is
 * its name. Namespace names start with "/" and hold no NUL, so the two never meet.
 */
export function roomTopic(nsp: string, room: Room): string {
  return nsp + "\u0000" + room;
}

/** What the topics read of their adapter: the namespace and its room map. */
export interface TopicRooms {
  readonly nsp: AnyNamespace;
  readonly rooms: Map<Room, Set<SocketId>>;
  readonly sids: Map<SocketId, Set<Room>>;
}

export class RoomTopics {
  constructor(readonly adapter: TopicRooms) {}

  /** The fan-out of connected local socket `id`, when the runtime has one. */
  #of(id: SocketId): SessionFanout | null | undefined {
    const nsp = this.adapter.nsp;
    // Checked first: on runtimes without topics a join costs nothing more.
    return nsp.server.engine.fanout === null ? null : nsp.sockets.get(id)?.client.conn.fanout;
  }

  /** Socket `id` joined `rooms`. */
  joined(id: SocketId, rooms: Iterable<Room>): void {
    const fanout = this.#of(id);
    if (fanout) this.#roomTopics(fanout, id, rooms, true);
  }

  /** Socket `id` left `room`. */
  left(id: SocketId, room: Room): void {
    this.#of(id)?.unsubscribe(roomTopic(this.adapter.nsp.name, room));
  }

  /** Socket `id` leaves the namespace; `rooms` are those it was in. */
  leftAll(id: SocketId, rooms: Iterable<Room> | undefined): void {
    const fanout = this.#of(id);
    if (!fanout) return;
    fanout.unsubscribe(this.adapter.nsp.name);
    if (rooms) this.#roomTopics(fanout, id, rooms, false);
  }

  /** Subscribes a connected socket's WebSocket to every topic it belongs to (on connect, after an upgrade). */
  subscribeAll(id: SocketId): void {
    const fanout = this.#of(id);
    if (!fanout) return;
    fanout.subscribe(this.adapter.nsp.name);
    const mine = this.adapter.sids.get(id);
    if (mine) this.#roomTopics(fanout, id, mine, true);
  }

  /** (Un)subscribes socket `id`'s connection to the topics of `rooms`; its own room has none. */
  #roomTopics(fanout: SessionFanout, id: SocketId, rooms: Iterable<Room>, subscribe: boolean): void {
    const nsp = this.adapter.nsp.name;
    for (const room of rooms) {
      if (room === id) continue;
      if (subscribe) fanout.subscribe(roomTopic(nsp, room));
      else fanout.unsubscribe(roomTopic(nsp, room));
    }
  }

  /**
   * Sends `messages` with one native publish when the recipients are exactly
   * a topic's subscribers: the whole namespace or one room, every member
   * ready, and no `except` but, possibly, the sending socket itself
   * (`socket.broadcast`, `socket.to(room)`), which the runtime leaves out by
   * publishing from its WebSocket. False: the caller writes to each socket.
   */
  publish(opts: BroadcastOptions, messages: readonly OutboundMessage[], data: unknown[], volatile: boolean): boolean {
    const { nsp, rooms } = this.adapter;
    const runtime = nsp.server.engine.fanout;
    if (!runtime || opts.rooms.size > 1) return false;
    const sockets = nsp.sockets;
    let sender: SocketId | undefined;
    if (opts.except !== undefined && opts.except.size > 0) {
      if (opts.except.size > 1) return false;
      for (const room of opts.except) sender = room;
      // Only a socket's own room, holding just that socket, can be left out by the runtime.
      if (!sockets.has(sender!) || rooms.get(sender!)?.size !== 1) return false;
    }
    let topic = nsp.name;
    let members: ReadonlySet<SocketId> | undefined;
    for (const room of opts.rooms) {
      // A socket's own room has one member and no topic.
      if (sockets.has(room)) return false;
      members = rooms.get(room);
      if (!members) return false;
      topic = roomTopic(nsp.name, room);
    }
    const lowWaterMark = nsp.server.engine.opts.bufferedLowWaterMark;
    // The recipients are found once: one array per broadcast, not a second walk of the room
    // with a look-up per member (at thousands of members the walks cost more than the publish).
    const targets: AnySocket[] = [];
    const fanouts: SessionFanout[] = [];
    if (members === undefined) {
      for (const socket of sockets.values()) if (!this.#take(socket, sender, volatile, lowWaterMark, targets, fanouts)) return false;
    } else {
      for (const id of members) {
        const socket = sockets.get(id);
        // Joined in a middleware, not connected yet: not subscribed either.
        if (socket !== undefined && !this.#take(socket, sender, volatile, lowWaterMark, targets, fanouts)) return false;
      }
    }
    // One recipient gains nothing from a publish.
    if (targets.length < 2) return false;
    let except: WsConnection | undefined;
    if (sender !== undefined) {
      // The runtime leaves the sender out by its WebSocket: one it must have.
      const self = sockets.get(sender)!.client.conn.fanout?.self;
      if (!self) return false;
      except = self;
    }
    for (let i = 0; i < messages.length; i++) runtime.publish(topic, messages[i]!, except);
    for (let i = 0; i < targets.length; i++) {
      fanouts[i]!.delivered(messages);
      targets[i]!._notifyOutgoing(data);
    }
    return true;
  }

  /** Adds `socket` to a publish's recipients; false when it is not ready for one (a volatile packet skips busy sockets: only a publish that drops none is taken). */
  #take(socket: AnySocket, sender: SocketId | undefined, volatile: boolean, lowWaterMark: number, targets: AnySocket[], fanouts: SessionFanout[]): boolean {
    if (socket.id === sender) return true;
    const conn = socket.client.conn;
    const fanout = conn.fanout;
    if (!fanout?.ready || (volatile && dropsVolatile(conn, lowWaterMark))) return false;
    targets.push(socket);
    fanouts.push(fanout);
    return true;
  }
}
