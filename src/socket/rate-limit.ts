/**
 * The per-socket incoming event rate (`eventRateLimit`): a token bucket of
 * two numbers per socket, refilled from the clock when an event arrives, so
 * it needs no timer. Events beyond it are dropped before any listener,
 * `onAny` or `socket.use` middleware sees them.
 */
import type { Socket } from "./socket.ts";

/**
 * `eventRateLimit` option: each socket may send `rate` events per second on
 * average, in bursts of up to `burst` (default: `rate`). An event over the
 * limit is dropped (its ack, if it asked for one, is never sent) and
 * `onLimited(socket, event)` is called, where the app decides what a flood
 * means: log it, warn the client, or disconnect it. Only EVENT packets
 * count; acks, CONNECT and DISCONNECT never do.
 *
 * @example
 * const io = new Server({
 *   eventRateLimit: {
 *     rate: 20,
 *     burst: 50,
 *     onLimited: (socket, event) => {
 *       console.warn(`${socket.id} flooding "${event}"`);
 *       socket.disconnect(true);
 *     },
 *   },
 * });
 */
export interface EventRateLimit {
  /** Events per second a socket may send, on average. */
  rate: number;
  /** Events a socket may send at once after a quiet spell. Default `rate`. */
  burst?: number;
  /**
   * Called for every dropped event, with its name (as the listener would
   * have seen it). An option, not an event on the socket: no name a client
   * could send for its own event is taken.
   */
  onLimited?: (socket: Socket, event: string) => void;
}

/**
 * Tokens and the time they were counted; a full bucket to start with.
 *
 * @example
 * const bucket = new TokenBucket(2, 0);   // burst 2
 * bucket.take(0, 1, 2);   // true
 * bucket.take(0, 1, 2);   // true
 * bucket.take(0, 1, 2);   // false: empty
 * bucket.take(1000, 1, 2); // true: one token refilled in 1 s at rate 1
 */
export class TokenBucket {
  constructor(
    public tokens: number,
    public at: number,
  ) {}

  /** Takes one token at `now` (ms), refilling at `rate` per second up to `burst`; false when none is left. */
  take(now: number, rate: number, burst: number): boolean {
    const elapsed = now - this.at;
    if (elapsed > 0) {
      this.tokens = Math.min(burst, this.tokens + (elapsed * rate) / 1000);
      this.at = now;
    }
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/** The option after defaults; `undefined` when off. */
export interface ResolvedEventRateLimit {
  rate: number;
  burst: number;
  onLimited: ((socket: Socket, event: string) => void) | undefined;
}

export function resolveEventRateLimit(o: EventRateLimit | undefined): ResolvedEventRateLimit | undefined {
  if (!o || !(o.rate > 0)) return undefined;
  return { rate: o.rate, burst: Math.max(1, o.burst ?? o.rate), onLimited: o.onLimited };
}
