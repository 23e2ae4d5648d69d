/**
 * A small typed event emitter for the public API (`engine.on("connection")`,
 * `socket.on("message")`). Internals call each other directly; this exists
 * because users of socket.io expect `on`/`once`/`off`.
 *
 * Listeners live in an array per event; `emit` does not allocate, so it is
 * cheap enough to sit on a message path.
 */
// biome-ignore lint: listener types are checked by the EventMap generic
export type Listener = (...args: any[]) => void;
export type EventMap = Record<string, Listener>;

type ListenerTable = Record<string | symbol, Listener[] | undefined>;

export class Emitter<Events extends EventMap = EventMap> {
  /**
   * Created on the first `on()`: many emitters (sessions, sockets) never get
   * a listener. A null-prototype object rather than a Map: a socket keeps
   * one for life, and a Map with entries costs several times as much (about
   * 260 bytes more on Bun), while a few listed events fit in the object.
   */
  #table: ListenerTable | undefined;

  get #listeners(): ListenerTable {
    return (this.#table ??= Object.create(null) as ListenerTable);
  }

  on<E extends keyof Events>(event: E, listener: Events[E]): this {
    const table = this.#listeners;
    const list = table[event as string];
    if (list) list.push(listener);
    else table[event as string] = [listener];
    return this;
  }

  addListener<E extends keyof Events>(event: E, listener: Events[E]): this {
    return this.on(event, listener);
  }

  prependListener<E extends keyof Events>(event: E, listener: Events[E]): this {
    const table = this.#listeners;
    const list = table[event as string];
    if (list) list.unshift(listener);
    else table[event as string] = [listener];
    return this;
  }

  once<E extends keyof Events>(event: E, listener: Events[E]): this {
    const wrapper = ((...args: unknown[]) => {
      this.off(event, wrapper as Events[E]);
      listener(...args);
    }) as Events[E] & { listener?: Listener };
    wrapper.listener = listener;
    return this.on(event, wrapper);
  }

  off<E extends keyof Events>(event: E, listener?: Events[E]): this {
    const table = this.#table;
    if (!table) return this;
    if (!listener) {
      delete table[event as string];
      return this;
    }
    const list = table[event as string];
    if (!list) return this;
    const i = list.findIndex((l) => l === listener || (l as { listener?: Listener }).listener === listener);
    if (i !== -1) {
      // Copy on write: an emit in progress keeps iterating the old array.
      const next = list.slice();
      next.splice(i, 1);
      if (next.length) table[event as string] = next;
      else delete table[event as string];
    }
    return this;
  }

  removeListener<E extends keyof Events>(event: E, listener: Events[E]): this {
    return this.off(event, listener);
  }

  removeAllListeners<E extends keyof Events>(event?: E): this {
    if (event === undefined) this.#table = undefined;
    else if (this.#table) delete this.#table[event as string];
    return this;
  }

  listeners<E extends keyof Events>(event: E): Listener[] {
    return (this.#table?.[event as string] ?? []).map((l) => (l as { listener?: Listener }).listener ?? l);
  }

  listenerCount<E extends keyof Events>(event: E): number {
    return this.#table?.[event as string]?.length ?? 0;
  }

  hasListeners<E extends keyof Events>(event: E): boolean {
    return this.#table?.[event as string] !== undefined;
  }

  /** Calls every listener of `event` in order; returns whether there was any. */
  emit<E extends keyof Events>(event: E, ...args: Parameters<Events[E]>): boolean {
    return this.emitReserved(event, ...args);
  }

  /**
   * Dispatches to local listeners. Kept apart from `emit` because socket.io's
   * Socket and Namespace override `emit` to mean "send to the client".
   */
  protected emitReserved<E extends keyof Events>(event: E, ...args: Parameters<Events[E]>): boolean {
    const list = this.#table?.[event as string];
    if (!list) return false;
    if (list.length === 1) list[0]!(...args);
    else for (const l of list) l(...args);
    return true;
  }
}
