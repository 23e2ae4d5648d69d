/**
 * Waiting on events and states, never on time: the one set of wait helpers
 * for the whole suite. Every wait is bounded and fails loudly, naming what it
 * waited for. The defaults are generous (a loaded 2-core CI box); a test that
 * needs a tighter bound says so.
 *
 * `sleep` is here only for windows that assert silence: a test that proves
 * nothing happens during a time window ("the server did NOT close", "a
 * volatile packet is NOT delivered"). Each use says so in a comment
 * ("asserting silence"). Where a later marker can prove the absence (send X,
 * then a marker; once the marker arrived, X would have too), that is better.
 * (Also, said so at the call, for the time a scenario is made of: the pacing
 * of a load, the length of an outage.)
 */

/** What a wait fails with after `timeout` ms; how long it gives. */
export interface WaitOptions {
  /** ms before the wait fails (default 10,000). */
  timeout?: number;
  /** Names what was waited for in the failure message. */
  what?: string;
}

export const DEFAULT_TIMEOUT = 10_000;

type Listener = (...args: any[]) => void;

/**
 * Anything that emits: socket.io and engine.io clients and servers (theirs
 * and unio's), Node's EventEmitter (ws, net, child processes), or a DOM-style
 * EventTarget (a WHATWG WebSocket).
 */
export type Emitterish =
  | { on(...args: any[]): unknown; off?(...args: any[]): unknown; removeListener?(...args: any[]): unknown }
  | { addEventListener(...args: any[]): unknown; removeEventListener(...args: any[]): unknown };

function listen(emitter: Emitterish, event: string, listener: Listener): () => void {
  const e = emitter as any;
  if (typeof e.on === "function") {
    e.on(event, listener);
    return () => (typeof e.off === "function" ? e.off(event, listener) : e.removeListener(event, listener));
  }
  e.addEventListener(event, listener);
  return () => e.removeEventListener(event, listener);
}

/** `p`, or a rejection naming `what` when it has not settled within `timeout` ms. */
export function within<T>(p: Promise<T>, { timeout = DEFAULT_TIMEOUT, what = "a promise" }: WaitOptions = {}): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${timeout} ms waiting for ${what}`)), timeout);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

export interface OnceOptions extends WaitOptions {
  /** Only an `event` whose arguments satisfy this counts (the others are let pass). */
  match?: (...args: any[]) => boolean;
  /** Events that fail the wait at once (e.g. "connect_error", "error", "close"). */
  failOn?: string | string[];
}

/** All the arguments of the next `event` (the next matching one with `match`). */
export function onceArgs<T extends unknown[] = any[]>(emitter: Emitterish, event: string, opts: OnceOptions = {}): Promise<T> {
  const { timeout = DEFAULT_TIMEOUT, match, failOn = [] } = opts;
  const what = opts.what ?? `"${event}"`;
  return new Promise<T>((resolve, reject) => {
    const offs: Array<() => void> = [];
    const done = () => {
      clearTimeout(timer);
      for (const off of offs) off();
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`timed out after ${timeout} ms waiting for ${what}`));
    }, timeout);
    offs.push(
      listen(emitter, event, (...args: unknown[]) => {
        if (match && !match(...args)) return;
        done();
        resolve(args as T);
      }),
    );
    for (const bad of typeof failOn === "string" ? [failOn] : failOn) {
      offs.push(
        listen(emitter, bad, (err?: unknown) => {
          done();
          const detail = err instanceof Error ? err.message : err === undefined ? "" : String(err);
          reject(new Error(`"${bad}" while waiting for ${what}${detail ? `: ${detail}` : ""}`));
        }),
      );
    }
  });
}

/** The first argument of the next `event` (the next matching one with `match`). */
export async function once<T = any>(emitter: Emitterish, event: string, opts: OnceOptions = {}): Promise<T> {
  const [first] = await onceArgs<[T]>(emitter, event, opts);
  return first;
}

export interface WaitForOptions extends WaitOptions {
  /** ms between two looks (default 10). */
  interval?: number;
}

/**
 * Resolves with `predicate()`'s value once it is truthy, looking every
 * `interval` ms. A predicate that throws is asked again (a node restarting,
 * a request refused meanwhile); the last error goes into the failure message.
 * Fails after `timeout` ms naming `what` (or, without it, the predicate's source).
 */
export async function waitFor<T>(predicate: () => T | Promise<T>, opts: WaitForOptions = {}): Promise<NonNullable<T>> {
  const { timeout = DEFAULT_TIMEOUT, interval = 10 } = opts;
  const deadline = Date.now() + timeout;
  let last: unknown;
  for (;;) {
    try {
      const v = await predicate();
      if (v) return v as NonNullable<T>;
      last = undefined;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) {
      const what = opts.what ?? String(predicate).replace(/\s+/g, " ");
      const why = last === undefined ? "" : ` (last error: ${last instanceof Error ? last.message : String(last)})`;
      throw new Error(`timed out after ${timeout} ms waiting for ${what}${why}`);
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}

/**
 * Waits `ms`. Never to wait for an outcome. Only for a window that asserts
 * silence (the test proves that something does NOT happen during it: say
 * "asserting silence" at the call), or for the time a scenario itself is
 * made of (pacing a load, an outage's length: say so at the call).
 */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
