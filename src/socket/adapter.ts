/**
 * The Adapter: room membership and fan-out for one namespace. This in-memory
 * implementation is the default and the base class scale-out adapters
 * (Redis, Durable Objects, ...) extend: they override the methods that must
 * reach other nodes (`broadcast`, `broadcastWithAck`, `fetchSockets`,
 * `addSockets`, `delSockets`, `disconnectSockets`, `serverSideEmit`,
 * `serverCount`, the session methods) and call `super` for the local part.
 *
 * A broadcast is encoded exactly once: one `Encoder.encode()` call, one
 * `OutboundMessage` per encoded element, and that same array is handed to
 * every recipient's engine socket.
 */
import { Emitter } from "../engine/emitter.ts";
import { OutboundMessage } from "../engine/outbound.ts";
import type { Packet } from "../protocol/socket-io-packet.ts";
import type { Namespace } from "./namespace.ts";
import type { Socket } from "./socket.ts";
import { type AdapterLike, guardForeignAdapter } from "./adapter-contract.ts";
import { RoomTopics } from "./room-topics.ts";
import type {
  BroadcastFlags,
  BroadcastOptions,
  PrivateSessionId,
  Room,
  Session,
  SessionToPersist,
  SocketId,
} from "./types.ts";

/** Events an adapter emits about rooms (`io.of("/").adapter.on("join-room", ...)`). */
export interface AdapterEvents {
  [event: string]: (...args: any[]) => void;
  "create-room": (room: Room) => void;
  "delete-room": (room: Room) => void;
  "join-room": (room: Room, id: SocketId) => void;
  "leave-room": (room: Room, id: SocketId) => void;
}

// biome-ignore lint: an adapter serves namespaces of any event typing
export type AnyNamespace = Namespace<any, any, any, any>;
// biome-ignore lint: as above
export type AnySocket = Socket<any, any, any, any>;

/**
 * The `adapter` option: an adapter class, or a factory called once per
 * namespace. unio's `Adapter` and its subclasses, and socket.io-adapter's
 * classes and factories (`createAdapter(...)` of @socket.io/redis-adapter...)
 * are accepted: see adapter-contract.ts.
 */
export type AdapterConstructor = (new (nsp: AnyNamespace) => AdapterLike) | ((nsp: AnyNamespace) => AdapterLike);

/**
 * Creates the adapter of `nsp` from the option: classes are `new`ed, arrow
 * factories called. An adapter that is not unio's (socket.io-adapter's) is
 * typed as unio's `Adapter` from here on: unio calls on it only what
 * `AdapterLike` lists, and it gets a guarded encoder (adapter-contract.ts).
 */
export function createAdapter(ctor: AdapterConstructor, nsp: AnyNamespace): Adapter {
  // Arrow functions have no prototype and cannot be `new`ed; a plain function
  // factory (`function (nsp) { return new X(nsp) }`) works either way.
  const adapter =
    typeof ctor === "function" && ctor.prototype !== undefined
      ? new (ctor as new (nsp: AnyNamespace) => AdapterLike)(nsp)
      : (ctor as (nsp: AnyNamespace) => AdapterLike)(nsp);
  if (!(adapter instanceof Adapter)) guardForeignAdapter(adapter, nsp.name, nsp.server.encoder);
  return adapter as Adapter;
}

/**
 * Turns an encoder's output into shared Engine.IO messages. Custom parsers
 * may hand back `ArrayBuffer`s; the engine wants `Uint8Array`s.
 */
export function toOutboundMessages(
  encoded: ReadonlyArray<string | Uint8Array | ArrayBuffer>,
  compress: boolean,
): OutboundMessage[] {
  const out = new Array<OutboundMessage>(encoded.length);
  for (let i = 0; i < encoded.length; i++) {
    const part = encoded[i]!;
    out[i] = new OutboundMessage(part instanceof ArrayBuffer ? new Uint8Array(part) : part, compress);
  }
  return out;
}

const EMPTY_SET: ReadonlySet<string> = new Set();

/**
 * In-memory adapter: rooms and socket ids of one namespace on this node.
 *
 * @example
 * io.of("/").adapter.on("join-room", (room, id) => console.log(`${id} joined ${room}`));
 */
export class Adapter extends Emitter<AdapterEvents> {
  /** Room name to the ids of its members. */
  rooms: Map<Room, Set<SocketId>> = new Map();
  /** Socket id to the rooms it is in. */
  sids: Map<SocketId, Set<Room>> = new Map();
  /** @internal The runtime fan-out's topics of this namespace (subscriptions follow joins and leaves; see room-topics.ts). */
  readonly _topics: RoomTopics = new RoomTopics(this);
  #warnedServerSideEmit = false;

  constructor(readonly nsp: AnyNamespace) {
    super();
  }

  /** Called once after construction; may be async (connect to a broker...). */
  init(): Promise<void> | void {}

  /** Called when the namespace or the server closes. */
  close(): Promise<void> | void {}

  /** How many servers take part in broadcasts (1 here; cluster adapters count their peers). */
  serverCount(): Promise<number> {
    return Promise.resolve(1);
  }

  // A socket that is only in its own room has `sids.get(id)` and
  // `rooms.get(id)` equal to {id}: the two maps then hold one shared Set, as
  // every connected socket keeps these for life and a Set was measured at
  // about 250 bytes. The Set is split (copied) before either side changes,
  // so each map still reads as its own: see `#unshared`.

  /** `map.get(key)`, copied apart first if `other` holds the same Set under that key. */
  #unshared(map: Map<string, Set<string>>, other: Map<string, Set<string>>, key: string): Set<string> | undefined {
    const set = map.get(key);
    if (set === undefined || set !== other.get(key)) return set;
    const copy = new Set(set);
    map.set(key, copy);
    return copy;
  }

  /** Adds a socket to rooms. */
  addAll(id: SocketId, rooms: Set<Room>): Promise<void> | void {
    let mine = this.sids.get(id);
    if (!mine && rooms.size === 1 && rooms.has(id) && !this.rooms.has(id)) {
      // The usual first join, a socket's own room: one Set for both maps (see above).
      const own = new Set([id]);
      this.sids.set(id, own);
      this.rooms.set(id, own);
      this.emit("create-room", id);
      this.emit("join-room", id, id);
      return;
    }
    if (!mine) this.sids.set(id, (mine = new Set()));
    for (const room of rooms) {
      if (room !== id) mine = this.#unshared(this.sids, this.rooms, id)!;
      mine.add(room);
      let members = room === id ? this.rooms.get(room) : this.#unshared(this.rooms, this.sids, room);
      if (!members) {
        this.rooms.set(room, (members = new Set()));
        this.emit("create-room", room);
      }
      if (!members.has(id)) {
        members.add(id);
        this.emit("join-room", room, id);
      }
    }
    this._topics.joined(id, rooms);
  }

  /** Removes a socket from one room. */
  del(id: SocketId, room: Room): Promise<void> | void {
    this.#unshared(this.sids, this.rooms, id)?.delete(room);
    this.#leave(room, id);
    this._topics.left(id, room);
  }

  /** Removes a socket from every room. */
  delAll(id: SocketId): void {
    const mine = this.sids.get(id);
    this._topics.leftAll(id, mine);
    if (!mine) return;
    this.sids.delete(id);
    // (A Set shared with the own room loses its one member in #leave: hence the copy.)
    for (const room of mine === this.rooms.get(id) ? [id] : mine) this.#leave(room, id);
  }

  #leave(room: Room, id: SocketId): void {
    const members = this.rooms.get(room);
    if (!members) return;
    if (members.delete(id)) this.emit("leave-room", room, id);
    if (members.size === 0 && this.rooms.delete(room)) this.emit("delete-room", room);
  }

  /**
   * Sends a packet to every matching socket: encoded once, the same messages
   * handed to each engine socket.
   */
  broadcast(packet: Packet, opts: BroadcastOptions): void {
    const flags = opts.flags;
    packet.nsp = this.nsp.name;
    const messages = this.encode(packet, flags);
    const volatile = flags?.volatile === true;
    this.#deliver(opts, messages, packet.data as unknown[], volatile);
  }

  /**
   * The one way a broadcast reaches the local sockets `opts` selects: one
   * native publish where the runtime has topics and the recipients are
   * exactly one topic's subscribers (room-topics.ts), else socket by socket.
   */
  #deliver(opts: BroadcastOptions, messages: readonly OutboundMessage[], data: unknown[], volatile: boolean): void {
    if (this._topics.publish(opts, messages, data, volatile)) return;
    this.apply(opts, (socket) => {
      if (socket.client._writeMessages(messages, volatile)) socket._notifyOutgoing(data);
    });
  }

  /**
   * Broadcast with an acknowledgement: every recipient's answer reaches
   * `ack`; `clientCountCallback` learns how many answers to expect from
   * this node. Ack ids come from the namespace counter, so one id serves
   * every recipient.
   */
  broadcastWithAck(
    packet: Packet,
    opts: BroadcastOptions,
    clientCountCallback: (clientCount: number) => void,
    ack: (...args: unknown[]) => void,
  ): void {
    const flags = opts.flags;
    packet.nsp = this.nsp.name;
    const id = this.nsp._ids++;
    packet.id = id;
    const messages = this.encode(packet, flags);
    const volatile = flags?.volatile === true;
    const data = packet.data as unknown[];
    let count = 0;
    this.apply(opts, (socket) => {
      // A volatile packet that is dropped will never be answered: do not count it.
      if (!socket.client._writeMessages(messages, volatile)) return;
      count++;
      socket._registerAck(id, ack);
      socket._notifyOutgoing(data);
    });
    clientCountCallback(count);
  }

  /** Encodes once into shared messages (subclasses may reuse this for their own fan-out). */
  protected encode(packet: Packet, flags: BroadcastFlags | undefined): OutboundMessage[] {
    return toOutboundMessages(this.nsp.server.encoder.encode(packet), flags?.compress !== false);
  }

  /** Ids of the local sockets in any of `rooms` (all sockets when empty). */
  sockets(rooms: Set<Room>): Promise<Set<SocketId>> {
    const ids = new Set<SocketId>();
    this.apply({ rooms }, (socket) => ids.add(socket.id));
    return Promise.resolve(ids);
  }

  /** The rooms a local socket is in. */
  socketRooms(id: SocketId): Set<Room> | undefined {
    return this.sids.get(id);
  }

  /** The matching local sockets (cluster adapters add remote ones as plain details). */
  fetchSockets(opts: BroadcastOptions): Promise<any[]> {
    return Promise.resolve(this.collect(opts));
  }

  /** Makes the matching sockets join `rooms`. */
  addSockets(opts: BroadcastOptions, rooms: Room[]): void {
    for (const socket of this.collect(opts)) socket.join(rooms);
  }

  /** Makes the matching sockets leave `rooms`. */
  delSockets(opts: BroadcastOptions, rooms: Room[]): void {
    for (const socket of this.collect(opts)) for (const room of rooms) socket.leave(room);
  }

  /** Disconnects the matching sockets. */
  disconnectSockets(opts: BroadcastOptions, close: boolean): void {
    for (const socket of this.collect(opts)) socket.disconnect(close);
  }

  /**
   * Sends an event to the other servers of a cluster. This node has no
   * peers: an ack (last argument) is answered with no responses.
   */
  serverSideEmit(packet: unknown[]): void {
    const last = packet[packet.length - 1];
    if (typeof last === "function") {
      queueMicrotask(() => (last as (err: Error | null, responses: unknown[]) => void)(null, []));
      return;
    }
    if (!this.#warnedServerSideEmit) {
      this.#warnedServerSideEmit = true;
      console.warn("unio: this adapter has no other servers to reach; serverSideEmit() is a no-op");
    }
  }

  /** Stores a session at disconnect (connection state recovery); no-op here. */
  persistSession(_session: SessionToPersist): Promise<void> | void {}

  /** Looks a session up for a reconnecting client; none here. */
  restoreSession(_pid: PrivateSessionId, _offset: string): Promise<Session | null> | Session | null {
    return null;
  }

  /** The matching local sockets, as an array (safe to act on while rooms change). */
  protected collect(opts: BroadcastOptions): AnySocket[] {
    const out: AnySocket[] = [];
    this.apply(opts, (socket) => out.push(socket));
    return out;
  }

  /**
   * Calls `fn` once per local connected socket matching `opts`: members of
   * any of `opts.rooms` (every socket when empty) that are in none of
   * `opts.except`. A socket in several rooms is visited once.
   */
  protected apply(opts: BroadcastOptions, fn: (socket: AnySocket) => void): void {
    const sockets = this.nsp.sockets;
    const except = this.#exceptIds(opts.except);
    const rooms = opts.rooms;
    if (rooms.size === 0) {
      for (const [id, socket] of sockets) if (!except.has(id)) fn(socket);
      return;
    }
    if (rooms.size === 1) {
      // The common case (`to(room)`, a socket's own emit): no dedup set needed.
      for (const room of rooms) {
        const members = this.rooms.get(room);
        if (!members) return;
        for (const id of members) {
          if (except.has(id)) continue;
          const socket = sockets.get(id);
          if (socket) fn(socket);
        }
      }
      return;
    }
    const seen = new Set<SocketId>();
    for (const room of rooms) {
      const members = this.rooms.get(room);
      if (!members) continue;
      for (const id of members) {
        if (seen.has(id) || except.has(id)) continue;
        const socket = sockets.get(id);
        if (socket) {
          seen.add(id);
          fn(socket);
        }
      }
    }
  }

  #exceptIds(except: Set<Room> | undefined): ReadonlySet<SocketId> {
    if (!except || except.size === 0) return EMPTY_SET;
    if (except.size === 1) {
      // Usually a socket's own id (`socket.broadcast`): its room is the set itself.
      for (const room of except) return this.rooms.get(room) ?? EMPTY_SET;
    }
    const ids = new Set<SocketId>();
    for (const room of except) {
      const members = this.rooms.get(room);
      if (members) for (const id of members) ids.add(id);
    }
    return ids;
  }
}

/** The default adapter under its descriptive name. */
export { Adapter as InMemoryAdapter };

