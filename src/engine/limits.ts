/**
 * Admission limits on handshakes (`maxConnections`, `handshakeRateLimit`):
 * a server under more load than it was sized for answers new clients with
 * a clear, protocol-shaped refusal (503 / 429, the Engine.IO error JSON and
 * `Retry-After`) instead of slowing every connection down. Only handshakes
 * (requests without a sid) are checked: a session that is already open,
 * and its upgrade, are never refused here.
 */
import { ErrorCode, type RequestError, requestError } from "./errors.ts";
import type { HandshakeRateLimit } from "./options.ts";

/** Seconds a client refused for `maxConnections` is asked to wait: a guess, the server cannot know. */
const FULL_RETRY_AFTER = 5;
/** Slots probed per address: a handful, so a lookup stays O(1) even when the table is full. */
const PROBES = 4;

/**
 * Handshake counts per address in fixed windows, in a table of fixed size.
 * Keys, window starts and counts sit in three flat arrays (no object per
 * address). An address hashes to a run of `PROBES` slots; when they all hold
 * live windows of other addresses, the one whose window started first is
 * replaced. Memory is therefore bounded whatever the addresses: a flood of
 * spoofed ones can only evict, which lets an evicted address start a fresh
 * window (the table errs on the side of admitting, never of refusing an
 * address that did not earn it).
 *
 * @example
 * const table = new AddressWindows({ max: 2, windowMs: 1000 });
 * table.hit("10.0.0.1", 0); // 0: admitted
 * table.hit("10.0.0.1", 0); // 0
 * table.hit("10.0.0.1", 0); // 1000: refused, the window ends in 1000 ms
 */
export class AddressWindows {
  readonly #keys: Array<string | undefined>;
  readonly #starts: Float64Array;
  readonly #counts: Uint32Array;
  readonly #mask: number;
  readonly #max: number;
  readonly #windowMs: number;

  constructor(limit: HandshakeRateLimit) {
    let size = 16;
    const wanted = Math.max(PROBES, Math.floor(limit.tableSize ?? 4096));
    while (size < wanted) size *= 2;
    this.#keys = new Array(size).fill(undefined);
    this.#starts = new Float64Array(size);
    this.#counts = new Uint32Array(size);
    this.#mask = size - 1;
    this.#max = Math.max(0, Math.floor(limit.max));
    this.#windowMs = Math.max(1, limit.windowMs);
  }

  /** Slots in the table (a power of two). */
  get size(): number {
    return this.#keys.length;
  }

  /**
   * Counts one handshake from `address` at time `now`: 0 if admitted,
   * otherwise the ms until this address's window ends.
   */
  hit(address: string, now: number): number {
    const keys = this.#keys;
    const starts = this.#starts;
    const counts = this.#counts;
    const home = hash(address) & this.#mask;
    let free = -1;
    let oldest = home;
    // The whole run is searched for the address before a slot is reused: an expired
    // neighbour must not give an address a second, fresh window beside its live one.
    for (let i = 0; i < PROBES; i++) {
      const slot = (home + i) & this.#mask;
      const key = keys[slot];
      const expired = now - starts[slot]! >= this.#windowMs;
      if (key === address) {
        if (expired) {
          starts[slot] = now;
          counts[slot] = 0;
        }
        if (counts[slot]! >= this.#max) return starts[slot]! + this.#windowMs - now;
        counts[slot] = counts[slot]! + 1;
        return 0;
      }
      if (free === -1 && (key === undefined || expired)) free = slot;
      if (starts[slot]! < starts[oldest]!) oldest = slot;
    }
    const victim = free !== -1 ? free : oldest;
    if (this.#max === 0) return this.#windowMs;
    keys[victim] = address;
    starts[victim] = now;
    counts[victim] = 1;
    return 0;
  }
}

/** FNV-1a over UTF-16 code units: cheap, and spreads similar addresses (10.0.0.1, 10.0.0.2). */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Why a handshake was refused by a limit (the `context.name` of its `connection_error`). */
export type LimitReason = "TOO_MANY_CONNECTIONS" | "TOO_MANY_REQUESTS" | "SERVER_DRAINING";

/** The engine's admission check for handshakes. */
export class HandshakeLimits {
  readonly #maxConnections: number;
  readonly #windows: AddressWindows | null;

  constructor(maxConnections: number, rate: HandshakeRateLimit | undefined) {
    this.#maxConnections = maxConnections > 0 ? maxConnections : 0;
    this.#windows = rate ? new AddressWindows(rate) : null;
  }

  /** Whether any limit is set (an engine without limits keeps none of this). */
  static wanted(maxConnections: number, rate: HandshakeRateLimit | undefined): boolean {
    return maxConnections > 0 || rate !== undefined;
  }

  /** Whether `open` sessions already reach `maxConnections` (re-checked when a WebSocket actually opens). */
  full(open: number): boolean {
    return this.#maxConnections > 0 && open >= this.#maxConnections;
  }

  /**
   * The refusal for a handshake from `address` while `open` sessions exist,
   * or undefined to admit it. The rate is counted first: a client hammering
   * a full server still spends its own budget.
   */
  check(address: string, open: number, now: number): RequestError | undefined {
    const windows = this.#windows;
    if (windows !== null && address !== "") {
      const wait = windows.hit(address, now);
      if (wait > 0) return limitError("TOO_MANY_REQUESTS", 429, Math.max(1, Math.ceil(wait / 1000)));
    }
    if (this.#maxConnections > 0 && open >= this.#maxConnections) {
      return limitError("TOO_MANY_CONNECTIONS", 503, FULL_RETRY_AFTER);
    }
    return undefined;
  }
}

/**
 * The refusal of a handshake while the server drains (`io.drain()`): 503,
 * context name `SERVER_DRAINING`, "Server is draining", and `Retry-After`
 * (seconds, at least 1) telling a balancer or client when to try elsewhere.
 */
export function drainingError(retryAfter: number): RequestError {
  return limitError("SERVER_DRAINING", 503, Math.max(1, Math.ceil(retryAfter)));
}

const LIMIT_MESSAGES: Record<LimitReason, string> = {
  TOO_MANY_REQUESTS: "Too many requests",
  TOO_MANY_CONNECTIONS: "Too many connections",
  SERVER_DRAINING: "Server is draining",
};

function limitError(name: LimitReason, status: 429 | 503, retryAfter: number): RequestError {
  return { ...requestError(ErrorCode.BAD_REQUEST, { name }, LIMIT_MESSAGES[name]), status, retryAfter };
}
