/**
 * Runs a middleware chain (`io.use`, `nsp.use`, `socket.use`): each function
 * gets `next`; `next(err)` stops the chain. A middleware that throws counts
 * as `next(err)` (socket.io lets it escape and crash the process), and a
 * second call of the same `next` is ignored.
 */

export type Middleware<A, E extends Error = Error> = (arg: A, next: (err?: E) => void) => void;

/**
 * Calls `fns` in order with `arg`, then `done()` or `done(err)` once.
 *
 * @example
 * runMiddlewares([(s, next) => next(), (s, next) => next(new Error("no"))], socket, (err) => console.log(err?.message));
 */
export function runMiddlewares<A, E extends Error>(
  fns: readonly Middleware<A, E>[],
  arg: A,
  done: (err?: E) => void,
): void {
  step(fns, arg, done, 0);
}

function step<A, E extends Error>(fns: readonly Middleware<A, E>[], arg: A, done: (err?: E) => void, i: number): void {
  if (i >= fns.length) {
    done();
    return;
  }
  let called = false;
  const next = (err?: E): void => {
    if (called) return;
    called = true;
    if (err) done(err);
    else step(fns, arg, done, i + 1);
  };
  try {
    fns[i]!(arg, next);
  } catch (err) {
    next((err instanceof Error ? err : new Error(String(err))) as E);
  }
}
