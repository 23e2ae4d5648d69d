/** Small helpers shared by the socket layer. */

export function noop(): void {}

/**
 * The auth of a CONNECT that carried none. Shared and frozen, never handed
 * to user code: the socket's handshake gets a fresh `{}` in its place when
 * it is built, so a connection without auth keeps no object for it.
 */
export const NO_AUTH: Readonly<Record<string, unknown>> = Object.freeze({});

/**
 * Surfaces an error thrown by user code (an event handler, a listener) as
 * an uncaught error on a later microtask, the way socket.io's
 * `process.nextTick` dispatch does, without unwinding unio's own loop:
 * the other packets of a batch still get delivered.
 */
export function rethrowAsync(err: unknown): void {
  queueMicrotask(() => {
    throw err;
  });
}

/** Whether `v` looks like a Promise (adapter hooks may be sync or async). */
export function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && typeof v === "object" && typeof (v as { then?: unknown }).then === "function";
}

/** Attaches a no-op rejection handler to a possibly-async hook result. */
export function ignoreRejection(v: unknown): void {
  if (isThenable(v)) (v as Promise<unknown>).then(undefined, noop);
}

/** `room | rooms` as an array, without copying an array argument. */
export function toArray<T>(value: T | readonly T[]): readonly T[] {
  return Array.isArray(value) ? (value as readonly T[]) : [value as T];
}

/** The `message` of whatever a middleware passed to `next()`. */
export function errorMessage(err: unknown): string {
  if (err !== null && typeof err === "object" && "message" in err) return String((err as Error).message);
  return String(err);
}
