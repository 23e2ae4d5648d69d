/**
 * An adapter for servers that live in many Durable Objects (or any set of
 * peers reachable by request): `io.to(room).emit()` reaches the room's
 * members in every object. Each operation is applied locally and, unless
 * `local`, published to the other members as a plain message; a member
 * applies it to its own sockets and replies (client counts, socket details,
 * serverSideEmit answers). Acks of a broadcast travel back to the origin one
 * by one.
 *
 *   origin object                       transport (Workers: hub object)   member objects
 *   io.to("r").emit("x") ─┬─ local sockets
 *                         └─ publish(msg) ──────▶ fan-out ──────────────▶ handle(msg): local sockets
 *                            replies ◀────────────────────────────────────  { count, sockets, ... }
 *   ack callback ◀──────────────────────────────────────────── transport.ack(origin, id, args)
 *
 * The transport is injected (see src/runtimes/workers/cluster.ts), so this
 * file has nothing runtime-specific. Without one the adapter is local; with
 * a session store it also keeps connection state recovery data in SQL
 * (durable-object-sessions.ts), so recovery works across evictions.
 */
import { type Packet, PacketType } from "../protocol/socket-io-packet.ts";
import { Adapter, type AnyNamespace } from "../socket/adapter.ts";
import type { SocketDetails } from "../socket/broadcast-operator.ts";
import type { TimerTarget } from "../engine/scheduler.ts";
import type {
  BroadcastFlags,
  BroadcastOptions,
  PrivateSessionId,
  Room,
  Session,
  SessionToPersist,
  SocketId,
} from "../socket/types.ts";
import type { SqlSessionStore } from "./durable-object-sessions.ts";
import { generateId } from "../engine/id.ts";

/** Broadcast options as they travel: arrays instead of sets. */
export interface WireOptions {
  rooms: Room[];
  except: Room[];
  flags: BroadcastFlags;
}

export type ClusterMessage =
  | { type: "broadcast"; nsp: string; origin: string; packet: Packet; opts: WireOptions }
  | { type: "broadcastWithAck"; nsp: string; origin: string; packet: Packet; opts: WireOptions; requestId: string }
  | { type: "addSockets" | "delSockets"; nsp: string; origin: string; opts: WireOptions; rooms: Room[] }
  | { type: "disconnectSockets"; nsp: string; origin: string; opts: WireOptions; close: boolean }
  | { type: "fetchSockets"; nsp: string; origin: string; opts: WireOptions }
  | { type: "serverSideEmit"; nsp: string; origin: string; args: unknown[]; expectAck: boolean };

export interface ClusterReply {
  /** Clients a broadcast with ack reached on that member. */
  count?: number;
  sockets?: SocketDetails<unknown>[];
  /** The member's answer to a serverSideEmit with ack. */
  response?: unknown;
  answered?: boolean;
}

/** How messages reach the other members. */
export interface ClusterTransport {
  /** This member's address (the object id on Workers). */
  readonly self: string;
  /** Delivers to every other member; resolves with the replies of those that answered. */
  publish(msg: ClusterMessage): Promise<ClusterReply[]>;
  /** Sends one client's ack answer back to the member that broadcast. */
  ack(origin: string, requestId: string, args: unknown[]): void;
  /** This member now hosts sockets: make sure broadcasts reach it. */
  join(): void;
  /** Where answers to this member's broadcasts with ack are delivered (`onAck`). */
  expectAcks(requestId: string, fn: (args: unknown[]) => void): void;
  forgetAcks(requestId: string): void;
}

/** How long a member waits for its serverSideEmit listener to answer. */
const SERVER_SIDE_ACK_TIMEOUT = 5000;

function toWire(opts: BroadcastOptions): WireOptions {
  return { rooms: [...opts.rooms], except: [...(opts.except ?? [])], flags: { ...opts.flags } };
}

function fromWire(opts: WireOptions): BroadcastOptions {
  return { rooms: new Set(opts.rooms), except: new Set(opts.except), flags: opts.flags };
}

/** A copy the transport can clone, taken before the local send sets this member's ack id. */
function wirePacket(packet: Packet): Packet {
  return { type: packet.type, nsp: packet.nsp, data: (packet.data as unknown[]).slice() };
}

/** Whether connection state recovery keeps a broadcast (as SessionAwareAdapter decides). */
function recoverable(packet: Packet, opts: BroadcastOptions): boolean {
  return packet.type === PacketType.EVENT && packet.id === undefined && opts.flags?.volatile !== true;
}

/**
 * The adapter. The Workers shim creates it from the `cluster` and
 * `connectionStateRecovery` options of `defineDurableServer`.
 */
export class DurableObjectAdapter extends Adapter {
  /** Member count of the last broadcast with ack, for the `serverCount()` the operator asks right after. */
  #fanout: Promise<number> | null = null;

  constructor(
    nsp: AnyNamespace,
    readonly transport: ClusterTransport | null,
    readonly store?: SqlSessionStore,
  ) {
    super(nsp);
  }

  #publish(msg: ClusterMessage): Promise<ClusterReply[]> {
    if (!this.transport) return Promise.resolve([]);
    return this.transport.publish(msg).catch((err) => {
      console.error("unio: cluster publish failed", err);
      return [];
    });
  }

  #base() {
    return { nsp: this.nsp.name, origin: this.transport?.self ?? "" };
  }

  override addAll(id: SocketId, rooms: Set<Room>): void {
    super.addAll(id, rooms);
    this.transport?.join();
  }

  override persistSession(session: SessionToPersist): void {
    this.store?.persistSession(this.nsp.name, session);
  }

  override restoreSession(pid: PrivateSessionId, offset: string): Session | null {
    return this.store?.restoreSession(this.nsp.name, pid, offset) ?? null;
  }

  override serverCount(): Promise<number> {
    const fanout = this.#fanout;
    this.#fanout = null;
    return fanout ?? Promise.resolve(1);
  }

  override broadcast(packet: Packet, opts: BroadcastOptions): void {
    if (this.store && recoverable(packet, opts)) {
      // The offset goes last, as SessionAwareAdapter does; members store the packet under it too.
      (packet.data as unknown[]).push(generateId());
      this.store.storePacket(this.nsp.name, opts, packet.data as unknown[]);
    }
    if (!opts.flags?.local) {
      void this.#publish({ ...this.#base(), type: "broadcast", packet: wirePacket(packet), opts: toWire(opts) });
    }
    super.broadcast(packet, opts);
  }

  override broadcastWithAck(
    packet: Packet,
    opts: BroadcastOptions,
    clientCountCallback: (clientCount: number) => void,
    ack: (...args: unknown[]) => void,
  ): void {
    const transport = this.transport;
    if (opts.flags?.local || !transport) {
      this.#fanout = null;
      return super.broadcastWithAck(packet, opts, clientCountCallback, ack);
    }
    const requestId = generateId();
    let expected = -1;
    let received = 0;
    transport.expectAcks(requestId, (args) => {
      ack(...args);
      if (++received === expected) transport.forgetAcks(requestId);
    });
    const timeout = opts.flags?.timeout;
    if (timeout !== undefined) {
      const forget: TimerTarget = { onTimer: () => transport.forgetAcks(requestId) };
      this.nsp.server._scheduler.schedule(forget, 0, timeout);
    }
    const msg: ClusterMessage = {
      ...this.#base(),
      type: "broadcastWithAck",
      packet: wirePacket(packet),
      opts: toWire(opts),
      requestId,
    };
    this.#fanout = this.#publish(msg).then((replies) => {
      expected = 0;
      for (const r of replies) {
        expected += r.count ?? 0;
        clientCountCallback(r.count ?? 0);
      }
      if (received >= expected) transport.forgetAcks(requestId);
      return 1 + replies.length;
    });
    super.broadcastWithAck(packet, opts, clientCountCallback, ack);
  }

  override async fetchSockets(opts: BroadcastOptions): Promise<any[]> {
    const local = await super.fetchSockets(opts);
    if (opts.flags?.local) return local;
    const replies = await this.#publish({ ...this.#base(), type: "fetchSockets", opts: toWire(opts) });
    for (const r of replies) if (r.sockets) local.push(...r.sockets);
    return local;
  }

  override addSockets(opts: BroadcastOptions, rooms: Room[]): void {
    if (!opts.flags?.local) void this.#publish({ ...this.#base(), type: "addSockets", opts: toWire(opts), rooms });
    super.addSockets(opts, rooms);
  }

  override delSockets(opts: BroadcastOptions, rooms: Room[]): void {
    if (!opts.flags?.local) void this.#publish({ ...this.#base(), type: "delSockets", opts: toWire(opts), rooms });
    super.delSockets(opts, rooms);
  }

  override disconnectSockets(opts: BroadcastOptions, close: boolean): void {
    if (!opts.flags?.local) void this.#publish({ ...this.#base(), type: "disconnectSockets", opts: toWire(opts), close });
    super.disconnectSockets(opts, close);
  }

  override serverSideEmit(packet: unknown[]): void {
    if (!this.transport) return super.serverSideEmit(packet);
    const last = packet[packet.length - 1];
    if (typeof last !== "function") {
      void this.#publish({ ...this.#base(), type: "serverSideEmit", args: packet, expectAck: false });
      return;
    }
    const done = last as (err: Error | null, responses: unknown[]) => void;
    const args = packet.slice(0, -1);
    this.#publish({ ...this.#base(), type: "serverSideEmit", args, expectAck: true }).then((replies) =>
      done(
        null,
        replies.filter((r) => r.answered).map((r) => r.response),
      ),
    );
  }

  /** Applies a message from another member to this member's sockets. */
  async handle(msg: ClusterMessage): Promise<ClusterReply> {
    switch (msg.type) {
      case "broadcast": {
        const opts = fromWire(msg.opts);
        if (this.store && recoverable(msg.packet, opts)) this.store.storePacket(this.nsp.name, opts, msg.packet.data as unknown[]);
        super.broadcast(msg.packet, opts);
        return {};
      }
      case "broadcastWithAck": {
        let count = 0;
        const { origin, requestId } = msg;
        super.broadcastWithAck(
          msg.packet,
          fromWire(msg.opts),
          (n) => (count = n),
          (...args: unknown[]) => this.transport?.ack(origin, requestId, args),
        );
        return { count };
      }
      case "addSockets":
        super.addSockets(fromWire(msg.opts), msg.rooms);
        return {};
      case "delSockets":
        super.delSockets(fromWire(msg.opts), msg.rooms);
        return {};
      case "disconnectSockets":
        super.disconnectSockets(fromWire(msg.opts), msg.close);
        return {};
      case "fetchSockets": {
        const sockets = await super.fetchSockets(fromWire(msg.opts));
        return {
          sockets: sockets.map((s) => ({ id: s.id, handshake: s.handshake, rooms: [...s.rooms], data: s.data })),
        };
      }
      case "serverSideEmit":
        return this.#onServerSideEmit(msg.args, msg.expectAck);
    }
  }

  #onServerSideEmit(args: unknown[], expectAck: boolean): Promise<ClusterReply> {
    const nsp = this.nsp;
    if (!expectAck) {
      nsp._onServerSideEmit(args as [string, ...unknown[]]);
      return Promise.resolve({});
    }
    return new Promise((resolve) => {
      let settled = false;
      const finish = (reply: ClusterReply) => {
        if (!settled) resolve(reply);
        settled = true;
      };
      nsp.server._scheduler.schedule({ onTimer: () => finish({ answered: false }) }, 0, SERVER_SIDE_ACK_TIMEOUT);
      nsp._onServerSideEmit([...(args as [string, ...unknown[]]), (response: unknown) => finish({ answered: true, response })]);
    });
  }
}
