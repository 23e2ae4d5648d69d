/**
 * A socket's incoming events on their way to its listeners: the event rate
 * limit (`eventRateLimit`), the catch-all listeners (`onAny`, and
 * `onAnyOutgoing` for what the socket sends) and the per-packet middlewares
 * (`use`). A base class of `Socket` (socket.ts), so a socket that uses none
 * of them keeps four empty fields and nothing else.
 */
import type { Packet } from "../protocol/socket-io-packet.ts";
import type { AckCallback } from "./acks.ts";
import type { Client } from "./client.ts";
import { type Middleware, runMiddlewares } from "./middleware.ts";
import type { Namespace } from "./namespace.ts";
import type { TokenBucket } from "./rate-limit.ts";
import type { Socket } from "./socket.ts";
import type { EventsMap } from "./typed-events.ts";
import { StrictEventEmitter } from "./typed-events.ts";
import type { Event, SocketReservedEventsMap } from "./types.ts";
import { rethrowAsync } from "./util.ts";

type AnyListener = (...args: any[]) => void;
type EventMiddleware = Middleware<Event>;

export abstract class SocketListeners<
  ListenEvents extends EventsMap,
  EmitEvents extends EventsMap,
  ServerSideEvents extends EventsMap,
  SocketData,
> extends StrictEventEmitter<ListenEvents, EmitEvents, SocketReservedEventsMap> {
  /** `eventRateLimit`'s bucket; only when the option is set. */
  readonly #bucket: TokenBucket | undefined;
  #fns: EventMiddleware[] | undefined;
  #anyListeners: AnyListener[] | undefined;
  #anyOutgoingListeners: AnyListener[] | undefined;

  abstract readonly nsp: Namespace<ListenEvents, EmitEvents, ServerSideEvents, SocketData>;
  abstract readonly client: Client<ListenEvents, EmitEvents, ServerSideEvents, SocketData>;

  constructor(bucket: TokenBucket | undefined) {
    super();
    this.#bucket = bucket;
  }

  /** @internal The ack function handed to listeners of an event that asks for one. */
  protected abstract _ackFunction(id: number): AckCallback;

  /**
   * Per-packet middleware, run for each incoming event before listeners.
   * @example socket.use(([event, ...args], next) => (event === "admin" ? next(new Error("no")) : next()));
   */
  use(fn: EventMiddleware): this {
    (this.#fns ??= []).push(fn);
    return this;
  }

  /** Catch-all for incoming events; runs before `use()` middlewares, as in socket.io. */
  onAny(listener: AnyListener): this {
    (this.#anyListeners ??= []).push(listener);
    return this;
  }

  prependAny(listener: AnyListener): this {
    (this.#anyListeners ??= []).unshift(listener);
    return this;
  }

  offAny(listener?: AnyListener): this {
    this.#anyListeners = removeListener(this.#anyListeners, listener);
    return this;
  }

  listenersAny(): AnyListener[] {
    return this.#anyListeners ?? [];
  }

  /** Catch-all for outgoing events and broadcasts (acks excluded). */
  onAnyOutgoing(listener: AnyListener): this {
    (this.#anyOutgoingListeners ??= []).push(listener);
    return this;
  }

  prependAnyOutgoing(listener: AnyListener): this {
    (this.#anyOutgoingListeners ??= []).unshift(listener);
    return this;
  }

  offAnyOutgoing(listener?: AnyListener): this {
    this.#anyOutgoingListeners = removeListener(this.#anyOutgoingListeners, listener);
    return this;
  }

  listenersAnyOutgoing(): AnyListener[] {
    return this.#anyOutgoingListeners ?? [];
  }

  /** socket.io's name for `_notifyOutgoing`, called by socket.io-adapter's broadcasts with the packet. */
  notifyOutgoingListeners(packet: Packet): void {
    if (Array.isArray(packet?.data)) this._notifyOutgoing(packet.data as unknown[]);
  }

  /** @internal Calls the outgoing catch-all listeners (used by adapters for broadcasts). */
  _notifyOutgoing(data: unknown[]): void {
    const listeners = this.#anyOutgoingListeners;
    if (!listeners || listeners.length === 0) return;
    for (const listener of listeners.slice()) listener.apply(this, data);
  }

  /**
   * @internal An incoming EVENT of a connected socket: the rate limit, the
   * catch-all listeners, then middlewares, then the client dispatches it.
   */
  protected _onevent(packet: Packet): void {
    if (this.#bucket !== undefined && !this.#withinRate(packet)) return;
    const args = Array.isArray(packet.data) ? (packet.data as unknown[]) : [];
    // socket.io's emitter coerces names to property keys; a numeric event name must match `on("5")`.
    if (typeof args[0] === "number") args[0] = String(args[0]);
    if (packet.id !== undefined && packet.id !== null) args.push(this._ackFunction(packet.id));
    const any = this.#anyListeners;
    if (any && any.length > 0) for (const listener of any.slice()) listener.apply(this, args);
    const fns = this.#fns;
    const self = this as unknown as Socket<ListenEvents, EmitEvents, ServerSideEvents, SocketData>;
    if (!fns || fns.length === 0) {
      this.client._dispatch(self, args);
      return;
    }
    runMiddlewares(fns.slice(), args as Event, (err) => {
      try {
        this.client._dispatch(self, err ?? args);
      } catch (e) {
        rethrowAsync(e);
      }
    });
  }

  /** `eventRateLimit`: whether this event may go on; an excess one is counted and reported here. */
  #withinRate(packet: Packet): boolean {
    const server = this.nsp.server;
    const rate = server._eventRate;
    if (!rate || this.#bucket!.take(server._clock.now(), rate.rate, rate.burst)) return true;
    if (server._counters) server._counters.eventsRateLimited++;
    if (rate.onLimited) {
      const name = Array.isArray(packet.data) ? packet.data[0] : undefined;
      try {
        rate.onLimited(this as unknown as Socket, String(name));
      } catch (err) {
        rethrowAsync(err);
      }
    }
    return false;
  }
}

function removeListener(list: AnyListener[] | undefined, listener: AnyListener | undefined): AnyListener[] | undefined {
  if (!list) return list;
  if (!listener) return [];
  const i = list.indexOf(listener);
  if (i !== -1) list.splice(i, 1);
  return list;
}
