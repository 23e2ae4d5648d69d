/**
 * The default adapter when `connectionStateRecovery` is on: the in-memory
 * adapter plus a `SessionStore` (session-store.ts) that keeps the
 * broadcasts a reconnecting client may have missed and the state of
 * sockets that disconnected for a recoverable reason, both for
 * `maxDisconnectionDuration`. Each kept packet carries its offset as last
 * argument: the client remembers the last one it saw and sends it back.
 */
import type { Packet } from "../protocol/socket-io-packet.ts";
import { Adapter, type AnyNamespace } from "./adapter.ts";
import { generateId } from "../engine/id.ts";
import { isKeptForRecovery, MemorySessionStore, type SessionStore } from "./session-store.ts";
import type { BroadcastOptions, PrivateSessionId, Session, SessionToPersist } from "./types.ts";

const DEFAULT_MAX_DISCONNECTION_DURATION = 2 * 60 * 1000;

/**
 * In-memory adapter that also stores sessions and missed packets, in this
 * process's memory unless another `SessionStore` is given.
 *
 * @example
 * const io = new Server({ connectionStateRecovery: {} }); // uses SessionAwareAdapter
 * io.on("connection", (socket) => { if (socket.recovered) console.log("welcome back", socket.id); });
 */
export class SessionAwareAdapter extends Adapter {
  readonly store: SessionStore;
  /** Offsets are this adapter's prefix plus a counter: unique, and short on the wire. */
  readonly #offsetPrefix = generateId().slice(0, 6) + "-";
  #nextOffset = 0;

  constructor(nsp: AnyNamespace, store?: SessionStore) {
    super(nsp);
    this.store =
      store ??
      new MemorySessionStore({
        maxDisconnectionDuration: nsp.server._recovery?.maxDisconnectionDuration ?? DEFAULT_MAX_DISCONNECTION_DURATION,
        now: () => nsp.server._clock.now(),
        scheduler: nsp.server._scheduler,
      });
  }

  override persistSession(session: SessionToPersist): void | Promise<void> {
    return this.store.persistSession(session);
  }

  /**
   * The session of `pid` plus the packets emitted after `offset` that its
   * rooms would have received, or null when unknown, expired, or the offset
   * is no longer stored. A restored session is removed (unlike socket.io,
   * Q-10), so one pid cannot be restored by two connections.
   */
  override restoreSession(pid: PrivateSessionId, offset: string): Promise<Session | null> {
    try {
      return Promise.resolve(this.store.restoreSession(pid, offset));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  override broadcast(packet: Packet, opts: BroadcastOptions): void {
    if (isKeptForRecovery(packet, opts.flags)) {
      const data = packet.data as unknown[];
      // Last position, so old clients simply see one more argument.
      data.push(this.#offsetPrefix + (this.#nextOffset++).toString(36));
      this.store.keepPacket(data, opts);
    }
    super.broadcast(packet, opts);
  }

  override close(): void {
    this.store.close?.();
  }

  /** Number of stored packets and sessions, when the store is in memory (tests and monitoring). */
  get storedCounts(): { packets: number; sessions: number } {
    return this.store instanceof MemorySessionStore ? this.store.counts : { packets: 0, sessions: 0 };
  }
}
