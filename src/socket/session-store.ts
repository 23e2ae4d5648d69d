/**
 * Connection state recovery (CSR) storage: what a reconnecting client needs
 * to get its socket back. Every adapter that recovers sessions (in memory,
 * Redis Streams, a Durable Object's SQLite) stores through a `SessionStore`
 * and decides with the two functions below which broadcasts to keep and
 * which kept packets a restored session missed: the rule lives here only.
 *
 *   socket disconnects ──▶ persistSession({ sid, pid, rooms, data })
 *   broadcast ──isKeptForRecovery?──▶ data.push(offset) ──▶ keepPacket(data, opts)
 *   client reconnects with (pid, offset) ──▶ restoreSession: the session, plus
 *       every kept packet after `offset` it `wasRecipient` of
 */
import type { Scheduler, TimerEntry, TimerTarget } from "../engine/scheduler.ts";
import { type Packet, PacketType } from "../protocol/socket-io-packet.ts";
import type { BroadcastFlags, PrivateSessionId, Room, Session, SessionToPersist } from "./types.ts";

/**
 * Where an adapter keeps sessions and broadcasts for connection state
 * recovery. Sync or async, as the storage allows.
 *
 * @example
 * // A cluster adapter whose sessions live in a shared database:
 * class MyStore implements SessionStore {
 *   persistSession(session) { return db.put(session.pid, session, { ttl }); }
 *   async restoreSession(pid, offset) { ... return { ...session, missedPackets }; }
 *   keepPacket(data, opts) { db.append(data.at(-1), { data, rooms: [...opts.rooms], except: [...opts.except ?? []] }); }
 * }
 */
export interface SessionStore {
  /** Keeps the state of a socket that disconnected for a recoverable reason, for `maxDisconnectionDuration`. */
  persistSession(session: SessionToPersist): void | Promise<void>;
  /**
   * The session of `pid` with the kept packets after `offset` it would have
   * received (see `wasRecipient`), or null when the session is unknown or
   * expired, or `offset` is no longer kept. A restored session is consumed.
   */
  restoreSession(pid: PrivateSessionId, offset: string): Session | null | Promise<Session | null>;
  /**
   * Keeps a broadcast that `isKeptForRecovery` accepted. `data` already ends
   * with the packet's offset (the string clients echo back when they
   * reconnect); `opts` are the broadcast's targets.
   */
  keepPacket(data: unknown[], opts: KeptTargets): void;
  /** Stops timers; nothing is kept any more. */
  close?(): void;
}

/** The targets of a kept broadcast: sets in memory, arrays once stored or carried. */
export interface KeptTargets {
  rooms: ReadonlySet<Room> | readonly Room[];
  except?: ReadonlySet<Room> | readonly Room[];
}

/**
 * Whether connection state recovery keeps a broadcast: a plain EVENT, with
 * no ack id (the callback could not be replayed after a reconnection) and
 * not volatile (a volatile packet may be dropped anyway).
 */
export function isKeptForRecovery(packet: Pick<Packet, "type" | "id">, flags: BroadcastFlags | undefined): boolean {
  return packet.type === PacketType.EVENT && packet.id === undefined && flags?.volatile !== true;
}

/** Whether a socket in `rooms` was a recipient of a broadcast to `targets`. */
export function wasRecipient(rooms: readonly Room[], targets: KeptTargets): boolean {
  const to = targets.rooms;
  if (sizeOf(to) > 0 && !rooms.some((room) => contains(to, room))) return false;
  const except = targets.except;
  return !except || sizeOf(except) === 0 || !rooms.some((room) => contains(except, room));
}

function sizeOf(list: ReadonlySet<Room> | readonly Room[]): number {
  return list instanceof Set ? list.size : (list as readonly Room[]).length;
}

function contains(list: ReadonlySet<Room> | readonly Room[], room: Room): boolean {
  return list instanceof Set ? list.has(room) : (list as readonly Room[]).includes(room);
}

interface KeptPacket {
  offset: string;
  targets: KeptTargets;
  data: unknown[];
  keptAt: number;
}

type StoredSession = SessionToPersist & { disconnectedAt: number };

/** Expired sessions and packets are swept at this period, as in socket.io. */
const SWEEP_INTERVAL = 60 * 1000;

export interface MemorySessionStoreOptions {
  maxDisconnectionDuration: number;
  /** The time, in ms (the server's clock). */
  now: () => number;
  /** Runs the periodic sweep (the server's scheduler): armed only while something is kept. */
  scheduler: Scheduler;
}

/**
 * Sessions and packets in this process's memory (the default store of
 * `SessionAwareAdapter`). Restores in O(missed packets): offsets map to
 * their position in the kept list.
 *
 * @example
 * const store = new MemorySessionStore({ maxDisconnectionDuration: 120_000, now: Date.now, scheduler: io._scheduler });
 */
export class MemorySessionStore implements SessionStore, TimerTarget {
  readonly #opts: MemorySessionStoreOptions;
  readonly #sessions = new Map<PrivateSessionId, StoredSession>();
  /** Kept packets in order; `#packets[0]` has sequence number `#base`. */
  #packets: KeptPacket[] = [];
  #base = 0;
  readonly #seqByOffset = new Map<string, number>();
  #sweep: TimerEntry | undefined;
  #closed = false;

  constructor(opts: MemorySessionStoreOptions) {
    this.#opts = opts;
  }

  persistSession(session: SessionToPersist): void {
    this.#sessions.set(session.pid, { ...session, disconnectedAt: this.#opts.now() });
    this.#ensureSweep();
  }

  restoreSession(pid: PrivateSessionId, offset: string): Session | null {
    const session = this.#sessions.get(pid);
    if (!session) return null;
    if (session.disconnectedAt + this.#opts.maxDisconnectionDuration < this.#opts.now()) {
      this.#sessions.delete(pid);
      return null;
    }
    const seq = this.#seqByOffset.get(offset);
    if (seq === undefined) return null;
    // Consumed: one pid cannot be restored by two connections.
    this.#sessions.delete(pid);
    const missedPackets: unknown[][] = [];
    for (let i = seq - this.#base + 1; i < this.#packets.length; i++) {
      const packet = this.#packets[i]!;
      if (wasRecipient(session.rooms, packet.targets)) missedPackets.push(packet.data);
    }
    const { disconnectedAt: _, ...rest } = session;
    return { ...rest, missedPackets };
  }

  keepPacket(data: unknown[], targets: KeptTargets): void {
    const offset = data[data.length - 1];
    if (typeof offset !== "string" || this.#seqByOffset.has(offset)) return;
    this.#seqByOffset.set(offset, this.#base + this.#packets.length);
    this.#packets.push({ offset, targets, data, keptAt: this.#opts.now() });
    this.#ensureSweep();
  }

  close(): void {
    this.#closed = true;
    this.#sweep?.cancel();
    this.#sweep = undefined;
  }

  /** Number of kept packets and sessions (tests, monitoring). */
  get counts(): { packets: number; sessions: number } {
    return { packets: this.#packets.length, sessions: this.#sessions.size };
  }

  #ensureSweep(): void {
    if (this.#sweep || this.#closed) return;
    this.#sweep = this.#opts.scheduler.schedule(this, 0, SWEEP_INTERVAL);
  }

  /** The periodic sweep; re-armed only while something is kept, so an idle server has no timer. */
  onTimer(_kind: number): void {
    this.#sweep = undefined;
    const threshold = this.#opts.now() - this.#opts.maxDisconnectionDuration;
    for (const [pid, session] of this.#sessions) {
      if (session.disconnectedAt < threshold) this.#sessions.delete(pid);
    }
    // Packets are in keeping order: the expired ones form a prefix.
    let drop = 0;
    while (drop < this.#packets.length && this.#packets[drop]!.keptAt < threshold) {
      this.#seqByOffset.delete(this.#packets[drop]!.offset);
      drop++;
    }
    if (drop > 0) {
      this.#packets = this.#packets.slice(drop);
      this.#base += drop;
    }
    if (this.#sessions.size > 0 || this.#packets.length > 0) this.#ensureSweep();
  }
}
