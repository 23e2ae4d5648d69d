/**
 * The options of `new Server()` (socket.io's, plus every Engine option) and
 * the helpers that read them, shared by the constructor and a runtime's
 * `attach()`/`listen()` (server.ts, `_reconfigure`).
 */
import type { EngineOptions } from "../engine/options.ts";
import type { AdapterConstructor } from "./adapter.ts";
import type { EventRateLimit } from "./rate-limit.ts";

/** `of(fn)`: decides whether a dynamic namespace `name` may be created. */
export type ParentNspNameMatchFn = (
  name: string,
  auth: { [key: string]: any },
  fn: (err: Error | null, success: boolean) => void,
) => void;

/** Options of `new Server()`: socket.io's, plus every Engine option. */
export interface ServerOptions extends EngineOptions {
  /** Path of the endpoint; default "/socket.io" (requests go to "/socket.io/..."). */
  path: string;
  /** Serve the client bundle under the path (default true; needs a registered bundle loader, see client-files.ts). */
  serveClient: boolean;
  /** Adapter class or factory, created once per namespace. */
  adapter: AdapterConstructor;
  /** A module with `Encoder` and `Decoder` classes (e.g. socket.io-msgpack-parser). */
  parser: any;
  /** ms before closing a connection that joined no namespace; default 45000. */
  connectTimeout: number;
  /** Turns connection state recovery on (merged over its defaults). */
  connectionStateRecovery: { maxDisconnectionDuration?: number; skipMiddlewares?: boolean };
  /** Remove a dynamic child namespace once its last socket left. */
  cleanupEmptyChildNamespaces: boolean;
  /**
   * Default deadline, in ms, for every ack the server waits for (unio
   * addition, as socket.io-client's option of the same name): a
   * `socket.emit(..., ack)` or broadcast emit with an ack that sets no
   * `timeout()` behaves as `timeout(ackTimeout)`. Its callback is then
   * error-first: `(err, ...answer)`, with `Error("operation has timed out")`
   * when the client did not answer in time; `socket.emitWithAck()` rejects
   * then. Default: unset, acks without `timeout()` wait for ever (socket.io).
   *
   * @example
   * const io = new Server({ ackTimeout: 10_000 });
   * socket.emit("job", spec, (err, result) => { if (err) retry(spec); });
   * const results = await io.to("workers").emitWithAck("status"); // rejects after 10 s
   */
  ackTimeout: number;
  /** Per-socket incoming event rate: see `EventRateLimit` (unio addition). Default: unlimited. */
  eventRateLimit: EventRateLimit;
}

/** A usable `ackTimeout` (a finite number of ms, at least 0), or undefined. */
export function validAckTimeout(v: unknown): number | undefined {
  return typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : undefined;
}

/** `o` without its undefined values: an option given as `undefined` does not override a default. */
export function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
