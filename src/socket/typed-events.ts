/**
 * socket.io's generic event typing, re-stated for unio so that an app typed
 * against socket.io (`new Server<ClientToServer, ServerToClient, InterServer,
 * SocketData>()`) type-checks unchanged after switching its imports.
 *
 * The names and meanings follow socket.io v4.8's public typings; the
 * formulations are unio's own. Where unio is stricter it is per event name
 * (an `any` listener only widens its own event, not the whole map).
 */
import { Emitter } from "../engine/emitter.ts";

/** Maps event names to the listener type of that event. */
export interface EventsMap {
  // biome-ignore lint: an events map is deliberately open
  [event: string]: any;
}

/** The map used when none is given: any name, any arguments. */
export interface DefaultEventsMap {
  // biome-ignore lint: untyped by design
  [event: string]: (...args: any[]) => void;
}

/** Every event name of a map. */
export type EventNames<Map extends EventsMap> = keyof Map & (string | symbol);

/** The parameter tuple of an event's listener. */
export type EventParams<Map extends EventsMap, Ev extends EventNames<Map>> = Parameters<Map[Ev]>;

type IsAny<T> = 0 extends 1 & T ? true : false;

/** Parameters of `T` when it is a function, otherwise `never`. */
type ParamsOf<T> = T extends (...args: infer P) => unknown ? P : never;

/** The last element type of a tuple (the element type for plain arrays, `never` for `[]`). */
export type Last<T extends readonly unknown[]> = T extends readonly [...unknown[], infer L]
  ? L
  : T extends readonly (infer E)[]
    ? E
    : never;

/** A tuple without its last element (`any[]` when it has none to drop). */
// biome-ignore lint: mirrors socket.io's public helper
export type AllButLast<T extends any[]> = T extends [...infer Head, unknown] ? Head : any[];

/** The first element unless it is an `Error`, in which case the second. */
export type FirstNonErrorTuple<T extends unknown[]> = T[0] extends Error ? T[1] : T[0];

/** The first non-error argument an ack callback receives (what `emitWithAck` resolves to). */
// biome-ignore lint: `any` for non-functions mirrors socket.io
export type FirstNonErrorArg<T> = T extends (...args: infer P) => unknown ? FirstNonErrorTuple<P> : any;

/** Whether an event's listener ends with a callback (an acknowledgement). */
type HasAck<F> = IsAny<F> extends true
  ? true
  : IsAny<Last<ParamsOf<F>>> extends true
    ? true
    : ParamsOf<F> extends never[]
      ? false
      : Last<ParamsOf<F>> extends (...args: never[]) => unknown
        ? true
        : false;

/** Event names whose listener takes an acknowledgement callback last. */
export type EventNamesWithAck<Map extends EventsMap, K extends EventNames<Map> = EventNames<Map>> = K extends unknown
  ? HasAck<Map[K]> extends true
    ? K
    : never
  : never;

/** Event names whose listener takes no acknowledgement (what a broadcast without timeout may send). */
export type EventNamesWithoutAck<Map extends EventsMap, K extends EventNames<Map> = EventNames<Map>> = K extends unknown
  ? IsAny<Map[K]> extends true
    ? K
    : IsAny<Last<ParamsOf<Map[K]>>> extends true
      ? K
      : HasAck<Map[K]> extends true
        ? never
        : K
  : never;

/** Ack-taking event names whose callback starts with an `Error` (as after `timeout()`). */
export type EventNamesWithError<
  Map extends EventsMap,
  K extends EventNamesWithAck<Map> = EventNamesWithAck<Map>,
> = K extends unknown
  ? IsAny<Map[K]> extends true
    ? K
    : IsAny<Last<ParamsOf<Map[K]>>> extends true
      ? K
      : ParamsOf<Last<ParamsOf<Map[K]>>>[0] extends Error
        ? K
        : never
  : never;

/** The map restricted to events without acknowledgement. */
export type RemoveAcknowledgements<E extends EventsMap> = {
  [K in EventNamesWithoutAck<E>]: E[K];
};

/** Names that are reserved by the emitter itself or declared by the user. */
export type ReservedOrUserEventNames<ReservedEventsMap extends EventsMap, UserEvents extends EventsMap> =
  | EventNames<ReservedEventsMap>
  | EventNames<UserEvents>;

/**
 * An untyped listener when `T` is `never`: keeps `socket.on("x", ...)` usable
 * when TypeScript cannot resolve the name (socket.io issue #3833).
 */
type UntypedIfNever<T> = [T] extends [never] ? (...args: any[]) => void | Promise<void> : T;

/** The listener type for `Ev`, reserved events taking precedence over user ones. */
export type ReservedOrUserListener<
  ReservedEvents extends EventsMap,
  UserEvents extends EventsMap,
  Ev extends ReservedOrUserEventNames<ReservedEvents, UserEvents>,
> = UntypedIfNever<
  Ev extends EventNames<ReservedEvents> ? ReservedEvents[Ev] : Ev extends EventNames<UserEvents> ? UserEvents[Ev] : never
>;

/** Anything with a strictly typed `emit` (operators, remote sockets). */
export interface TypedEventBroadcaster<EmitEvents extends EventsMap> {
  emit<Ev extends EventNames<EmitEvents>>(ev: Ev, ...args: EventParams<EmitEvents, Ev>): boolean;
}

/** Each element's type turned into an array of it (one entry per responding client). */
export type MultiplyArray<T extends unknown[]> = { [K in keyof T]: T[K][] };

/** Adds `err: Error` in front of every callback parameter that does not start with one. */
type WithTimeoutError<T extends unknown[]> = {
  [K in keyof T]: T[K] extends (...args: infer P) => infer R
    ? P[0] extends Error
      ? T[K]
      : (err: Error, ...args: P) => R
    : T[K];
};

/** `[T[0]]`, keeping the element's label for editor hints (`[]` gives `never`). */
type OnlyFirst<T extends unknown[]> = T extends [unknown, ...infer Rest]
  ? T extends [...infer First, ...Rest]
    ? First
    : never
  : never;

/** Callbacks that receive one response per client: `(a: A)` becomes `(a: A[])`, extra args dropped. */
type WithMultipleResponses<T extends unknown[]> = {
  [K in keyof T]: T[K] extends (...args: infer P) => infer R
    ? P extends [Error]
      ? (err: Error) => R
      : P extends [Error, ...infer Rest]
        ? (err: Error, ...args: OnlyFirst<MultiplyArray<Rest>>) => R
        : P extends []
          ? () => R
          : (...args: OnlyFirst<MultiplyArray<P>>) => R
    : T[K];
};

/**
 * The events as seen after `timeout(ms)`: every ack callback gets an
 * `Error` first, because it may now fire with "operation has timed out".
 *
 * @example
 * interface Events { ask: (q: string, cb: (answer: number) => void) => void }
 * // socket.timeout(1000).emit("ask", "?", (err, answer) => { ... })
 */
export type DecorateAcknowledgements<E> = {
  [K in keyof E]: E[K] extends (...args: infer P) => infer R ? (...args: WithTimeoutError<P>) => R : E[K];
};

/** Broadcast acks with a timeout: an error first, then one array of responses. */
export type DecorateAcknowledgementsWithTimeoutAndMultipleResponses<E> = {
  [K in keyof E]: E[K] extends (...args: infer P) => infer R
    ? (...args: WithMultipleResponses<WithTimeoutError<P>>) => R
    : E[K];
};

/** Broadcast acks: one array of responses (one per client). */
export type DecorateAcknowledgementsWithMultipleResponses<E> = {
  [K in keyof E]: E[K] extends (...args: infer P) => infer R ? (...args: WithMultipleResponses<P>) => R : E[K];
};

type RawEmitter = {
  on(ev: unknown, l: unknown): unknown;
  prependListener(ev: unknown, l: unknown): unknown;
  once(ev: unknown, l: unknown): unknown;
  off(ev: unknown, l?: unknown): unknown;
  removeAllListeners(ev?: unknown): unknown;
  listeners(ev: unknown): Function[];
  listenerCount(ev: unknown): number;
  hasListeners(ev: unknown): boolean;
  emitReserved(ev: unknown, ...args: unknown[]): boolean;
};
/** `Emitter`'s methods, called with `this` bound to a subclass instance. */
const raw = Emitter.prototype as unknown as RawEmitter;

/**
 * `Emitter` at runtime, an empty shape for the type checker: socket.io's
 * typed `on`/`emit` signatures cannot be written as overrides of the
 * untyped ones, so the typed class re-declares them and forwards.
 */
const EmitterBase = Emitter as unknown as abstract new () => object;

/**
 * unio's `Emitter` with socket.io's typing: `on`/`once` accept reserved
 * events and the user's `ListenEvents`; `emit` is left to subclasses, which
 * give it the meaning "send to clients".
 */
export abstract class StrictEventEmitter<
    ListenEvents extends EventsMap,
    EmitEvents extends EventsMap,
    // biome-ignore lint: `{}` is the empty map, as in socket.io
    ReservedEvents extends EventsMap = {},
  >
  extends EmitterBase
  implements TypedEventBroadcaster<EmitEvents>
{
  /**
   * Where listeners are kept: this object, except for a Server, whose
   * listener methods act on its main namespace (as in socket.io).
   * @internal
   */
  protected _listenerHost(): object {
    return this;
  }

  /**
   * Adds a listener.
   * @example socket.on("chat", (text) => console.log(text));
   */
  on<Ev extends ReservedOrUserEventNames<ReservedEvents, ListenEvents>>(
    ev: Ev,
    listener: ReservedOrUserListener<ReservedEvents, ListenEvents, Ev>,
  ): this {
    raw.on.call(this._listenerHost(), ev, listener);
    return this;
  }

  addListener<Ev extends ReservedOrUserEventNames<ReservedEvents, ListenEvents>>(
    ev: Ev,
    listener: ReservedOrUserListener<ReservedEvents, ListenEvents, Ev>,
  ): this {
    raw.on.call(this._listenerHost(), ev, listener);
    return this;
  }

  prependListener<Ev extends ReservedOrUserEventNames<ReservedEvents, ListenEvents>>(
    ev: Ev,
    listener: ReservedOrUserListener<ReservedEvents, ListenEvents, Ev>,
  ): this {
    raw.prependListener.call(this._listenerHost(), ev, listener);
    return this;
  }

  once<Ev extends ReservedOrUserEventNames<ReservedEvents, ListenEvents>>(
    ev: Ev,
    listener: ReservedOrUserListener<ReservedEvents, ListenEvents, Ev>,
  ): this {
    raw.once.call(this._listenerHost(), ev, listener);
    return this;
  }

  off<Ev extends ReservedOrUserEventNames<ReservedEvents, ListenEvents>>(
    ev: Ev,
    listener?: ReservedOrUserListener<ReservedEvents, ListenEvents, Ev>,
  ): this {
    raw.off.call(this._listenerHost(), ev, listener);
    return this;
  }

  removeListener<Ev extends ReservedOrUserEventNames<ReservedEvents, ListenEvents>>(
    ev: Ev,
    listener: ReservedOrUserListener<ReservedEvents, ListenEvents, Ev>,
  ): this {
    raw.off.call(this._listenerHost(), ev, listener);
    return this;
  }

  removeAllListeners<Ev extends ReservedOrUserEventNames<ReservedEvents, ListenEvents>>(ev?: Ev): this {
    raw.removeAllListeners.call(this._listenerHost(), ev);
    return this;
  }

  listeners<Ev extends ReservedOrUserEventNames<ReservedEvents, ListenEvents>>(
    ev: Ev,
  ): ReservedOrUserListener<ReservedEvents, ListenEvents, Ev>[] {
    return raw.listeners.call(this._listenerHost(), ev) as ReservedOrUserListener<ReservedEvents, ListenEvents, Ev>[];
  }

  listenerCount<Ev extends ReservedOrUserEventNames<ReservedEvents, ListenEvents>>(ev: Ev): number {
    return raw.listenerCount.call(this._listenerHost(), ev);
  }

  hasListeners<Ev extends ReservedOrUserEventNames<ReservedEvents, ListenEvents>>(ev: Ev): boolean {
    return raw.hasListeners.call(this._listenerHost(), ev);
  }

  /** Sends (subclasses decide to whom). */
  abstract emit<Ev extends EventNames<EmitEvents>>(ev: Ev, ...args: EventParams<EmitEvents, Ev>): boolean;

  /** Calls local listeners of a reserved event ("connection", "disconnect", ...). */
  protected emitReserved<Ev extends EventNames<ReservedEvents>>(ev: Ev, ...args: EventParams<ReservedEvents, Ev>): boolean {
    return raw.emitReserved.call(this, ev, ...args);
  }

  /** Calls local listeners of any event, untyped (incoming client events, server-side events). */
  protected emitUntyped(ev: string, ...args: unknown[]): boolean {
    return raw.emitReserved.call(this, ev, ...args);
  }

  /** `emitUntyped` with the event name and arguments in one array, `[ev, ...args]`: no copy. */
  protected emitUntypedArray(eventAndArgs: unknown[]): boolean {
    return raw.emitReserved.apply(this, eventAndArgs as [unknown, ...unknown[]]);
  }
}
