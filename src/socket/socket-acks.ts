/**
 * A socket's ack bookkeeping: the acks it awaits from its client (an
 * `AckRegistry`, acks.ts, made on the first emit that asks for one), their
 * replies, their stored form for runtimes that rebuild sockets, and the
 * registrations adapters make for broadcasts. A base class of `Socket`
 * (socket.ts); the ack a listener sends back is the socket's own.
 */
import type { Packet } from "../protocol/socket-io-packet.ts";
import { type AckCallback, AckRegistry, restoredDelay } from "./acks.ts";
import type { AckSnapshot } from "./named-acks.ts";
import type { Socket } from "./socket.ts";
import { SocketListeners } from "./socket-listeners.ts";
import type { EventsMap } from "./typed-events.ts";

export abstract class SocketAcks<
  ListenEvents extends EventsMap,
  EmitEvents extends EventsMap,
  ServerSideEvents extends EventsMap,
  SocketData,
> extends SocketListeners<ListenEvents, EmitEvents, ServerSideEvents, SocketData> {
  #acks: AckRegistry | undefined;

  /** @internal Awaits the client's ack `id` of an emit, within `timeout` ms when set. */
  protected _awaitAck(id: number, fn: AckCallback, timeout: number | undefined): void {
    this.#ackRegistry().add(id, fn, timeout, this.nsp.server._scheduler);
  }

  #ackRegistry(): AckRegistry {
    if (this.#acks) return this.#acks;
    const server = this.nsp.server;
    const hooks = server._acks;
    return (this.#acks = new AckRegistry(this, server._counters, () => hooks.onChange?.(this as unknown as Socket)));
  }

  /** @internal The pending acks as stored state (runtimes that rebuild sockets keep them). */
  _ackSnapshot(): AckSnapshot[] | undefined {
    return this.#acks?.snapshot(this.nsp.server._clock);
  }

  /**
   * @internal Pending acks of a rebuilt socket: named ones call their handler
   * again, closures are reported lost when their reply or deadline comes; a
   * deadline keeps its time. Later emits get ids above every restored one.
   */
  _restoreAcks(entries: readonly AckSnapshot[]): void {
    const server = this.nsp.server;
    const scheduler = server._scheduler;
    for (const e of entries) {
      const timed = typeof e.d === "number";
      const fn = e.n !== undefined
        ? server._acks.callback({ name: e.n, context: e.c }, e.i, timed, true)
        : server._acks.lostCallback(e.i, timed);
      const delay = timed ? restoredDelay(e.d!, server._clock, scheduler.granularity) : undefined;
      this.#ackRegistry().add(e.i, fn, delay, scheduler);
      if (e.i >= this.nsp._ids) this.nsp._ids = e.i + 1;
    }
  }

  /** @internal Acks awaited from this client now (a metrics gauge; no registry is made to answer). */
  get _pendingAcks(): number {
    return this.#acks?.map.size ?? 0;
  }

  /** @internal Registers a broadcast's ack for this socket (used by adapters). */
  _registerAck(id: number, fn: AckCallback): void {
    this.#ackRegistry().add(id, fn);
  }

  /** @internal Forgets an awaited ack (broadcast timeouts). */
  _deleteAck(id: number): void {
    this.#acks?.delete(id);
  }

  /**
   * The awaited acks by packet id, as socket.io's `socket.acks`: adapters
   * built on socket.io-adapter register a broadcast's ack with `acks.set(id, fn)`,
   * and tools checking for leaks read its size.
   */
  get acks(): Map<number, unknown> {
    return this.#ackRegistry().map;
  }

  /** @internal An ACK from the client: settles the awaited ack of its id, if any. */
  protected _onack(packet: Packet): void {
    const id = packet.id;
    if (id === undefined || id === null || !this.#acks) return;
    this.#acks.settle(id, Array.isArray(packet.data) ? (packet.data as unknown[]) : []);
  }

  /** @internal The socket disconnected: acks still awaited are given up. */
  protected _abandonAcks(): void {
    this.#acks?.abandon();
  }
}
