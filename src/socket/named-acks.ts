/**
 * Named acks: an ack whose callback is a handler registered on the server by
 * name, plus a small JSON context, instead of a closure. On every runtime it
 * behaves as an ordinary ack; it exists for runtimes that drop the server's
 * memory while the client stays connected (Workers hibernation): a name and
 * a context can be stored with the socket's state, a closure cannot, so a
 * named ack still gets its reply, or its timeout, after the server is
 * rebuilt. Handlers are registered at setup, so they exist again then.
 *
 * @example
 * io.onAck("job-done", ({ socket, context }, err, result) => {
 *   if (err) return console.log(`job ${context.job} on ${socket.id}: no answer`);
 *   console.log(`job ${context.job}:`, result);
 * });
 * io.on("connection", (socket) => {
 *   socket.timeout(5000).emit("job", data, ackNamed("job-done", { job: 7 }));
 * });
 */
import type { AckCallback } from "./acks.ts";
import type { Socket } from "./socket.ts";

/** What a named ack's handler learns besides the reply. */
export interface NamedAckCall<Context = any> {
  /** The socket the event was emitted to. */
  socket: Socket;
  /** The handler's name. */
  name: string;
  /** The context given to `ackNamed()` (a JSON copy of it). */
  context: Context;
  /** The packet's ack id. */
  id: number;
  /** Whether the ack was rebuilt from stored state (the server was evicted while it was pending). */
  restored: boolean;
}

/**
 * A named ack's handler: `err` is null when the client answered (its
 * arguments follow), Error("operation has timed out") when the deadline of
 * `timeout()` / `ackTimeout` passed first. Error-first with or without a
 * timeout, so one handler serves both.
 */
export type NamedAckHandler<Context = any> = (ack: NamedAckCall<Context>, err: Error | null, ...args: any[]) => void;

/** An ack callback that did not survive a rebuild (a closure), reported when its reply or deadline comes. */
export interface LostAck {
  socket: Socket;
  id: number;
  /** What came: the client's reply (`args`), or the deadline the callback was waiting with. */
  outcome: "reply" | "timeout";
  /** The reply's arguments; empty on "timeout". */
  args: unknown[];
  /** Set when the ack was named but the server has no `onAck()` handler by that name (any more). */
  name?: string;
}

export type LostAckHandler = (lost: LostAck) => void;

const NAMED: unique symbol = Symbol("unio.namedAck");

interface NamedRef {
  name: string;
  context: unknown;
}

/** The function `ackNamed()` returns: recognised by `socket.emit()`, never called itself. */
export type NamedAck = ((...args: any[]) => void) & { readonly [NAMED]: NamedRef };

/** A registered ack callback built from a name (the snapshot reads `[NAMED]`). */
type NamedCallback = AckCallback & { [NAMED]: NamedRef };

/** A registered ack callback standing for a closure lost in a rebuild. */
const LOST: unique symbol = Symbol("unio.lostAck");
type LostCallback = AckCallback & { [LOST]: true };

/**
 * An ack callback that names a handler registered with `io.onAck(name, …)`,
 * with a JSON context for it. Pass it last to `socket.emit()`, with or
 * without `timeout()`. The context is copied as JSON now (so it must be
 * JSON: a cycle or a BigInt throws here) and should stay small: it is
 * stored with the socket's state where runtimes persist it.
 *
 * @example socket.timeout(5000).emit("job", data, ackNamed("job-done", { job: 7 }));
 */
export function ackNamed<Context = undefined>(name: string, context?: Context): NamedAck {
  if (typeof name !== "string" || name === "") throw new TypeError("ackNamed(name): name must be a non-empty string");
  const ref: NamedRef = { name, context: context === undefined ? undefined : JSON.parse(JSON.stringify(context)) };
  const fn = () => {
    throw new Error(`ackNamed("${name}") is handled by io.onAck("${name}"); pass it as the last argument of socket.emit()`);
  };
  return Object.assign(fn, { [NAMED]: ref }) as NamedAck;
}

/** Whether `fn` came from `ackNamed()`. */
export function isNamedAck(fn: unknown): fn is NamedAck {
  return typeof fn === "function" && (fn as Partial<NamedAck>)[NAMED] !== undefined;
}

/**
 * One pending ack as stored with its socket's state: JSON, short keys (it
 * rides in a size-limited WebSocket attachment).
 */
export interface AckSnapshot {
  /** The ack id. */
  i: number;
  /** The handler name of a named ack; absent for a closure, which cannot be rebuilt. */
  n?: string;
  /** The named ack's context, when it has one. */
  c?: unknown;
  /** The deadline, wall-clock ms; absent when the ack waits for ever. */
  d?: number;
}

/** What the snapshot of one registered ack says, beyond its id and deadline. */
export function describeAck(fn: AckCallback): { name?: string; context?: unknown } {
  const ref = (fn as Partial<NamedCallback>)[NAMED];
  return ref ? { name: ref.name, context: ref.context } : {};
}

/**
 * The server's named-ack handlers and its lost-ack report (`io.onAck`,
 * `io.onLostAck`), and the hook a runtime that persists socket state sets
 * to learn that a socket's pending acks changed.
 */
export class AckHandlers {
  readonly #handlers = new Map<string, NamedAckHandler>();
  #lost: LostAckHandler | undefined;
  /** @internal Set by a runtime that stores pending acks (Workers): called when a socket's acks change. */
  onChange: ((socket: Socket) => void) | undefined;

  register(name: string, handler: NamedAckHandler): void {
    if (typeof name !== "string" || name === "") throw new TypeError("onAck(name, handler): name must be a non-empty string");
    if (typeof handler !== "function") throw new TypeError("onAck(name, handler): handler must be a function");
    if (this.#handlers.has(name)) throw new Error(`onAck("${name}"): a handler is already registered by that name`);
    this.#handlers.set(name, handler);
  }

  onLost(handler: LostAckHandler | undefined): void {
    this.#lost = handler;
  }

  /**
   * The callback registered for a named ack. `errorFirst`: the ack has a
   * deadline, so the registry calls it `(err)` or `(null, ...args)`;
   * without, `(...args)`.
   */
  callback(named: NamedAck | NamedRef, id: number, errorFirst: boolean, restored: boolean): AckCallback {
    const ref = NAMED in named ? named[NAMED] : named;
    if (!restored && !this.#handlers.has(ref.name)) {
      throw new Error(`ackNamed("${ref.name}"): no io.onAck("${ref.name}", handler) is registered`);
    }
    const handlers = this;
    const fn = function (this: Socket, ...args: unknown[]): void {
      const err = errorFirst ? ((args.shift() as Error | null) ?? null) : null;
      handlers.#call(this, ref, id, restored, err, args);
    } as NamedCallback;
    fn[NAMED] = ref;
    return fn;
  }

  /** The callback standing for a closure that did not survive a rebuild. */
  lostCallback(id: number, errorFirst: boolean): AckCallback {
    const handlers = this;
    const fn = function (this: Socket, ...args: unknown[]): void {
      // A reply comes as (null, ...args) with a deadline: only the deadline passes an Error.
      if (errorFirst && args[0] != null) handlers.#report({ socket: this, id, outcome: "timeout", args: [] });
      else handlers.#report({ socket: this, id, outcome: "reply", args: errorFirst ? args.slice(1) : args });
    } as LostCallback;
    fn[LOST] = true;
    return fn;
  }

  #call(socket: Socket, ref: NamedRef, id: number, restored: boolean, err: Error | null, args: unknown[]): void {
    const handler = this.#handlers.get(ref.name);
    if (!handler) {
      const outcome = err ? "timeout" : "reply";
      this.#report({ socket, id, outcome, args: err ? [] : args, name: ref.name });
      return;
    }
    handler({ socket, name: ref.name, context: ref.context, id, restored }, err, ...args);
  }

  #report(lost: LostAck): void {
    if (this.#lost) {
      this.#lost(lost);
      return;
    }
    const what = lost.name === undefined ? "its callback did not survive a rebuild of the server (only ackNamed() acks do)" : `no io.onAck("${lost.name}") handler is registered`;
    console.warn(`unio: ack ${lost.id} of socket ${lost.socket.id}: ${lost.outcome === "reply" ? "reply" : "deadline"} dropped, ${what}`);
  }
}
