/**
 * A small typed event emitter for the public API (`engine.on("connection")`,
 * `socket.on("message")`). Internals call each other directly; this exists
 * because users of socket.io expect `on`/`once`/`off`.
 *
 * Listeners live in a null-prototype object by event: one function as it
 * is, several in an array; `emit` does not allocate, so it is cheap enough
 * to sit on a message path.
 */
// biome-ignore lint: listener types are checked by the EventMap generic
export type Listener = (...args: any[]) => void;
export type EventMap = Record<string, Listener>;

/** An event's listeners: one listener itself (the usual case), or two and more in an array. */
type Listeners = Listener | Listener[];
type ListenerTable = Record<string | symbol, Listeners | undefined>;

const asList = (l: Listeners): Listener[] => (typeof l === "function" ? [l] : l);

/**
 * Makes empty tables that inherit nothing (no `toString`, no `__proto__`
 * setter), like `Object.create(null)`, but which engines may keep as fast
 * objects: `Object.create(null)` was measured as a dictionary, four times the size.
 */
const Table = function Table() {} as unknown as new () => ListenerTable;
Table.prototype = Object.freeze(Object.create(null));

export class Emitter<Events extends EventMap = EventMap> {
  /**
   * Created on the first `on()`: many emitters (sessions, sockets) never get
   * a listener. An object rather than a Map, and a lone listener kept
   * without an array: a socket keeps these for life, and a Map with entries
   * was measured at about 260 bytes more than a small object.
   */
  #table: ListenerTable | undefined;

  get #listeners(): ListenerTable {
    return (this.#table ??= new Table());
  }

  on<E extends keyof Events>(event: E, listener: Events[E]): this {
    const table = this.#listeners;
    const list = table[event as string];
    if (list === undefined) table[event as string] = listener;
    else if (typeof list === "function") table[event as string] = [list, listener];
    else list.push(listener);
    return this;
  }

  addListener<E extends keyof Events>(event: E, listener: Events[E]): this {
    return this.on(event, listener);
  }

  prependListener<E extends keyof Events>(event: E, listener: Events[E]): this {
    const table = this.#listeners;
    const list = table[event as string];
    if (list === undefined) table[event as string] = listener;
    else if (typeof list === "function") table[event as string] = [listener, list];
    else list.unshift(listener);
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
    const entry = table[event as string];
    if (entry === undefined) return this;
    const list = asList(entry);
    const i = list.findIndex((l) => l === listener || (l as { listener?: Listener }).listener === listener);
    if (i !== -1) {
      // Copy on write: an emit in progress keeps iterating the old array.
      const next = list.slice();
      next.splice(i, 1);
      if (next.length > 1) table[event as string] = next;
      else if (next.length === 1) table[event as string] = next[0];
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
    const entry = this.#table?.[event as string];
    return entry === undefined ? [] : asList(entry).map((l) => (l as { listener?: Listener }).listener ?? l);
  }

  listenerCount<E extends keyof Events>(event: E): number {
    const entry = this.#table?.[event as string];
    return entry === undefined ? 0 : typeof entry === "function" ? 1 : entry.length;
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
    if (list === undefined) return false;
    if (typeof list === "function") list(...args);
    else for (const l of list) l(...args);
    return true;
  }
}
