/**
 * BroadcastOperator: an immutable description of "which sockets, with which
 * flags" (every modifier returns a new operator), and RemoteSocket, the view
 * of a socket `fetchSockets()` returns when it lives on another node.
 */
import { collectResponses, type ResponseCallback } from "./acks.ts";
import { isNamedAck } from "./named-acks.ts";
import type { TimerEntry, TimerTarget } from "../engine/scheduler.ts";
import { type Packet, PacketType } from "../protocol/socket-io-packet.ts";
import type { Adapter } from "./adapter.ts";
import type { Socket } from "./socket.ts";
import type {
  AllButLast,
  DecorateAcknowledgements,
  EventNames,
  EventNamesWithError,
  EventParams,
  EventsMap,
  FirstNonErrorArg,
  Last,
  TypedEventBroadcaster,
} from "./typed-events.ts";
import { type BroadcastFlags, type Handshake, RESERVED_EVENTS, type Room, type SocketId } from "./types.ts";
import { toArray } from "./util.ts";

type BroadcastAck = (err: Error | null, responses: unknown) => void;

/**
 * Collects the answers to one broadcast with ack: complete once every
 * server reported its client count and every counted client answered or
 * disconnected; fails at the deadline with the responses gathered so far,
 * or at once when the number of servers cannot be known. Once done it
 * leaves nothing behind on the sockets.
 */
class AckCollector implements TimerTarget {
  readonly responses: unknown[] = [];
  expectedServerCount = -1;
  actualServerCount = 0;
  expectedClientCount = 0;
  /** Counted recipients that disconnected before answering. */
  gone = 0;
  done = false;
  entry: TimerEntry | undefined;
  packetId: number | undefined;
  /** What each recipient socket holds for this broadcast. */
  readonly respond: ResponseCallback;

  constructor(
    readonly adapter: Adapter,
    readonly ack: BroadcastAck,
    readonly single: boolean,
  ) {
    const respond: ResponseCallback = (response: unknown) => this.onResponse(response);
    respond.gone = () => this.onGone();
    this.respond = respond;
  }

  onClientCount(count: number): void {
    this.expectedClientCount += count;
    this.actualServerCount++;
    this.check();
  }

  onResponse(response: unknown): void {
    if (this.done) return;
    this.responses.push(response);
    this.check();
  }

  onGone(): void {
    if (this.done) return;
    this.gone++;
    this.check();
  }

  check(): void {
    if (
      !this.done &&
      this.expectedServerCount === this.actualServerCount &&
      this.responses.length + this.gone === this.expectedClientCount
    ) {
      this.done = true;
      this.entry?.cancel();
      if (this.single && this.responses.length === 0 && this.gone > 0) {
        this.ack(new Error("the socket disconnected before answering"), null);
      } else {
        this.ack(null, this.single ? this.responses[0] : this.responses);
      }
    }
  }

  onTimer(): void {
    const counters = this.adapter.nsp.server._counters;
    if (counters && !this.done) counters.acksTimedOut++;
    this.fail(new Error("operation has timed out"));
  }

  /** Ends with `err` and the responses so far; the sockets that never answered forget the ack. */
  fail(err: Error): void {
    if (this.done) return;
    this.done = true;
    this.entry?.cancel();
    const id = this.packetId;
    if (id !== undefined) {
      for (const socket of this.adapter.nsp.sockets.values()) socket._deleteAck(id);
    }
    this.ack(err, this.single ? null : this.responses);
  }
}

/**
 * Targets sockets by room for emits and bulk operations.
 *
 * @example
 * io.to("room1").except("room2").emit("news", payload);
 * const answers = await io.timeout(5000).emitWithAck("poll");
 */
export class BroadcastOperator<EmitEvents extends EventsMap, SocketData = any>
  implements TypedEventBroadcaster<EmitEvents>
{
  constructor(
    private readonly adapter: Adapter,
    private readonly rooms: Set<Room> = new Set(),
    private readonly exceptRooms: Set<Room> = new Set(),
    private readonly flags: BroadcastFlags = {},
  ) {}

  /** Adds rooms to target (union). */
  to(room: Room | Room[]): BroadcastOperator<EmitEvents, SocketData> {
    const rooms = new Set(this.rooms);
    for (const r of toArray(room)) rooms.add(r);
    return new BroadcastOperator(this.adapter, rooms, this.exceptRooms, this.flags);
  }

  in(room: Room | Room[]): BroadcastOperator<EmitEvents, SocketData> {
    return this.to(room);
  }

  /** Excludes the members of rooms. */
  except(room: Room | Room[]): BroadcastOperator<EmitEvents, SocketData> {
    const except = new Set(this.exceptRooms);
    for (const r of toArray(room)) except.add(r);
    return new BroadcastOperator(this.adapter, this.rooms, except, this.flags);
  }

  compress(compress: boolean): BroadcastOperator<EmitEvents, SocketData> {
    return this.#withFlags({ ...this.flags, compress });
  }

  get volatile(): BroadcastOperator<EmitEvents, SocketData> {
    return this.#withFlags({ ...this.flags, volatile: true });
  }

  /** Do not forward to other nodes of a cluster. */
  get local(): BroadcastOperator<EmitEvents, SocketData> {
    return this.#withFlags({ ...this.flags, local: true });
  }

  /** Deadline for the acks of the next emit; the callback then gets an error first. */
  timeout(timeout: number): BroadcastOperator<DecorateAcknowledgements<EmitEvents>, SocketData> {
    return this.#withFlags({ ...this.flags, timeout }) as BroadcastOperator<
      DecorateAcknowledgements<EmitEvents>,
      SocketData
    >;
  }

  #withFlags(flags: BroadcastFlags): BroadcastOperator<EmitEvents, SocketData> {
    return new BroadcastOperator(this.adapter, this.rooms, this.exceptRooms, flags);
  }

  /**
   * Broadcasts an event. With a trailing callback it collects every
   * targeted client's answer: `(err, responses)`. Without `timeout()` it
   * waits for all of them (socket.io instead times out at once, Q-6).
   */
  emit<Ev extends EventNames<EmitEvents>>(ev: Ev, ...args: EventParams<EmitEvents, Ev>): boolean {
    if (RESERVED_EVENTS.has(ev)) throw new Error(`"${String(ev)}" is a reserved event name`);
    const data = args as unknown[];
    data.unshift(ev);
    const packet: Packet = { type: PacketType.EVENT, nsp: this.adapter.nsp.name, data };
    const opts = { rooms: this.rooms, except: this.exceptRooms, flags: this.flags };
    const last = data[data.length - 1];
    if (typeof last !== "function") {
      this.adapter.broadcast(packet, opts);
      return true;
    }
    if (isNamedAck(last)) {
      throw new Error("ackNamed() works with socket.emit(); a broadcast collects its answers in memory, with a closure");
    }
    data.pop();
    const collector = new AckCollector(
      this.adapter,
      last as BroadcastAck,
      this.flags.expectSingleResponse === true,
    );
    // Without `timeout()`, the server's `ackTimeout` (if any) bounds the wait, here and,
    // carried in the flags as `timeout()` would be, on the other nodes of a cluster.
    const server = this.adapter.nsp.server;
    const timeout = this.flags.timeout ?? server._ackTimeout;
    if (timeout !== undefined) collector.entry = server._scheduler.schedule(collector, 0, timeout);
    if (this.flags.timeout === undefined && timeout !== undefined) opts.flags = { ...this.flags, timeout };
    this.adapter.broadcastWithAck(packet, opts, (count) => collector.onClientCount(count), collector.respond);
    collector.packetId = packet.id;
    // A local broadcast reaches this node only, so only this node will report a client count.
    const servers = this.flags.local ? Promise.resolve(1) : this.adapter.serverCount();
    servers.then(
      (count) => {
        collector.expectedServerCount = count;
        collector.check();
      },
      // Without the number of servers the broadcast could never be known complete.
      (err: unknown) => collector.fail(err instanceof Error ? err : new Error(String(err))),
    );
    return true;
  }

  /**
   * Broadcasts and resolves with every client's answer; on timeout rejects
   * with an error whose `responses` holds the answers received.
   * @example const results = await io.to("workers").timeout(2000).emitWithAck("job", spec);
   */
  emitWithAck<Ev extends EventNamesWithError<EmitEvents>>(
    ev: Ev,
    ...args: AllButLast<EventParams<EmitEvents, Ev>>
  ): Promise<FirstNonErrorArg<Last<EventParams<EmitEvents, Ev>>>> {
    return collectResponses((cb) => (this.emit as (ev: string, ...a: unknown[]) => boolean)(ev as string, ...(args as unknown[]), cb));
  }

  /** Ids of the targeted sockets (deprecated in socket.io; use `fetchSockets()`). */
  allSockets(): Promise<Set<SocketId>> {
    return this.adapter.sockets(this.rooms);
  }

  /** The targeted sockets: local ones as `Socket`, remote ones as `RemoteSocket`. */
  fetchSockets(): Promise<RemoteSocket<EmitEvents, SocketData>[]> {
    return this.adapter
      .fetchSockets({ rooms: this.rooms, except: this.exceptRooms, flags: this.flags })
      .then((sockets) =>
        sockets.map((s) =>
          isLocalSocket(s) ? (s as unknown as RemoteSocket<EmitEvents, SocketData>) : new RemoteSocket(this.adapter, s),
        ),
      );
  }

  socketsJoin(room: Room | Room[]): void {
    this.adapter.addSockets({ rooms: this.rooms, except: this.exceptRooms, flags: this.flags }, [...toArray(room)]);
  }

  socketsLeave(room: Room | Room[]): void {
    this.adapter.delSockets({ rooms: this.rooms, except: this.exceptRooms, flags: this.flags }, [...toArray(room)]);
  }

  disconnectSockets(close = false): void {
    this.adapter.disconnectSockets({ rooms: this.rooms, except: this.exceptRooms, flags: this.flags }, close);
  }
}

function isLocalSocket(s: unknown): s is Socket {
  return s !== null && typeof s === "object" && "client" in s && "nsp" in s;
}

/** What a cluster adapter sends about a socket on another node. */
export interface SocketDetails<SocketData> {
  id: SocketId;
  handshake: Handshake;
  rooms: Room[];
  data: SocketData;
}

/**
 * A socket as `fetchSockets()` describes it: possibly on another node, so
 * every action goes through the adapter.
 *
 * @example
 * for (const s of await io.in("room").fetchSockets()) s.emit("bye");
 */
export class RemoteSocket<EmitEvents extends EventsMap, SocketData> implements TypedEventBroadcaster<EmitEvents> {
  readonly id: SocketId;
  readonly handshake: Handshake;
  readonly rooms: Set<Room>;
  readonly data: SocketData;
  readonly #operator: BroadcastOperator<EmitEvents, SocketData>;

  constructor(adapter: Adapter, details: SocketDetails<SocketData>) {
    this.id = details.id;
    this.handshake = details.handshake;
    this.rooms = new Set(details.rooms);
    this.data = details.data;
    // A single response, so an ack behaves as with `socket.emit()`.
    this.#operator = new BroadcastOperator(adapter, new Set([this.id]), new Set(), { expectSingleResponse: true });
  }

  timeout(timeout: number): BroadcastOperator<DecorateAcknowledgements<EmitEvents>, SocketData> {
    return this.#operator.timeout(timeout);
  }

  emit<Ev extends EventNames<EmitEvents>>(ev: Ev, ...args: EventParams<EmitEvents, Ev>): boolean {
    return this.#operator.emit(ev, ...args);
  }

  join(room: Room | Room[]): void {
    this.#operator.socketsJoin(room);
  }

  leave(room: Room): void {
    this.#operator.socketsLeave(room);
  }

  disconnect(close = false): this {
    this.#operator.disconnectSockets(close);
    return this;
  }
}
