/**
 * Storage for connection state recovery (CSR): the default adapter when
 * `connectionStateRecovery` is on. It keeps
 * - every broadcast EVENT without ack id and not volatile, tagged with an
 *   offset string appended as the packet's last argument (the client
 *   remembers the last one it saw and sends it back when reconnecting);
 * - the state of sockets that disconnected for a recoverable reason.
 * Both are dropped after `maxDisconnectionDuration`.
 */
import type { TimerEntry, TimerTarget } from "../engine/scheduler.ts";
import { type Packet, PacketType } from "../protocol/socket-io-packet.ts";
import { Adapter, type AnyNamespace } from "./adapter.ts";
import { generateId } from "../engine/id.ts";
import type { BroadcastOptions, PrivateSessionId, Room, Session, SessionToPersist } from "./types.ts";

interface StoredPacket {
  /** The offset the client echoes back. */
  id: string;
  opts: BroadcastOptions;
  data: unknown[];
  emittedAt: number;
}

type StoredSession = SessionToPersist & { disconnectedAt: number };

const DEFAULT_MAX_DISCONNECTION_DURATION = 2 * 60 * 1000;
/** Expired sessions and packets are swept at this period, as in socket.io. */
const SWEEP_INTERVAL = 60 * 1000;

/**
 * In-memory adapter that also stores sessions and missed packets.
 *
 * @example
 * const io = new Server({ connectionStateRecovery: {} }); // uses SessionAwareAdapter
 * io.on("connection", (socket) => { if (socket.recovered) console.log("welcome back", socket.id); });
 */
export class SessionAwareAdapter extends Adapter implements TimerTarget {
  readonly #maxDisconnectionDuration: number;
  readonly #sessions = new Map<PrivateSessionId, StoredSession>();
  /** Stored packets in emission order; `#packets[0]` has sequence number `#base`. */
  #packets: StoredPacket[] = [];
  #base = 0;
  /** Offset string to sequence number, for O(1) restore lookups. */
  readonly #seqByOffset = new Map<string, number>();
  /** Offsets are this adapter's prefix plus a counter: unique, and short on the wire. */
  readonly #offsetPrefix = generateId().slice(0, 6) + "-";
  #nextOffset = 0;
  #sweep: TimerEntry | undefined;
  #closed = false;

  constructor(nsp: AnyNamespace) {
    super(nsp);
    this.#maxDisconnectionDuration =
      nsp.server._recovery?.maxDisconnectionDuration ?? DEFAULT_MAX_DISCONNECTION_DURATION;
  }

  /** The monotonic clock: these times never leave this node and are only compared with each other. */
  #now(): number {
    return this.nsp.server._clock.now();
  }

  override persistSession(session: SessionToPersist): void {
    this.#sessions.set(session.pid, { ...session, disconnectedAt: this.#now() });
    this.#ensureSweep();
  }

  /**
   * The session of `pid` plus the packets emitted after `offset` that its
   * rooms would have received, or null when unknown, expired, or the offset
   * is no longer stored. A restored session is removed (unlike socket.io,
   * Q-10), so one pid cannot be restored by two connections.
   */
  override restoreSession(pid: PrivateSessionId, offset: string): Promise<Session | null> {
    const session = this.#sessions.get(pid);
    if (!session) return Promise.resolve(null);
    if (session.disconnectedAt + this.#maxDisconnectionDuration < this.#now()) {
      this.#sessions.delete(pid);
      return Promise.resolve(null);
    }
    const seq = this.#seqByOffset.get(offset);
    if (seq === undefined) return Promise.resolve(null);
    this.#sessions.delete(pid);
    const missedPackets: unknown[][] = [];
    for (let i = seq - this.#base + 1; i < this.#packets.length; i++) {
      const packet = this.#packets[i]!;
      if (shouldInclude(session.rooms, packet.opts)) missedPackets.push(packet.data);
    }
    const { disconnectedAt: _, ...rest } = session;
    return Promise.resolve({ ...rest, missedPackets });
  }

  override broadcast(packet: Packet, opts: BroadcastOptions): void {
    // Packets with an ack id are not stored: the callback cannot be replayed on reconnection.
    if (packet.type === PacketType.EVENT && packet.id === undefined && opts.flags?.volatile !== true) {
      const id = this.#offsetPrefix + (this.#nextOffset++).toString(36);
      const data = packet.data as unknown[];
      // Last position, so old clients simply see one more argument.
      data.push(id);
      this.#seqByOffset.set(id, this.#base + this.#packets.length);
      this.#packets.push({ id, opts, data, emittedAt: this.#now() });
      this.#ensureSweep();
    }
    super.broadcast(packet, opts);
  }

  override close(): void {
    this.#closed = true;
    this.#sweep?.cancel();
    this.#sweep = undefined;
  }

  /** Number of stored packets and sessions (for tests and monitoring). */
  get storedCounts(): { packets: number; sessions: number } {
    return { packets: this.#packets.length, sessions: this.#sessions.size };
  }

  #ensureSweep(): void {
    if (this.#sweep || this.#closed) return;
    this.#sweep = this.nsp.server._scheduler.schedule(this, 0, SWEEP_INTERVAL);
  }

  /** The periodic sweep; re-armed only while something is stored, so an idle server has no timer. */
  onTimer(_kind: number): void {
    this.#sweep = undefined;
    const threshold = this.#now() - this.#maxDisconnectionDuration;
    for (const [pid, session] of this.#sessions) {
      if (session.disconnectedAt < threshold) this.#sessions.delete(pid);
    }
    // Packets are in emission order: the expired ones form a prefix.
    let drop = 0;
    while (drop < this.#packets.length && this.#packets[drop]!.emittedAt < threshold) {
      this.#seqByOffset.delete(this.#packets[drop]!.id);
      drop++;
    }
    if (drop > 0) {
      this.#packets = this.#packets.slice(drop);
      this.#base += drop;
    }
    if (this.#sessions.size > 0 || this.#packets.length > 0) this.#ensureSweep();
  }
}

/** Whether a socket in `rooms` was a recipient of a broadcast with `opts`. */
function shouldInclude(rooms: Room[], opts: BroadcastOptions): boolean {
  const included = opts.rooms.size === 0 || rooms.some((room) => opts.rooms.has(room));
  if (!included) return false;
  const except = opts.except;
  return !except || except.size === 0 || rooms.every((room) => !except.has(room));
}
