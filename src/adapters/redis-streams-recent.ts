/**
 * The stream entries a node's reader has read lately, newest last, with no
 * gap: a restore (connection state recovery) whose offset is among them
 * takes the entries after it from here instead of reading the stream again.
 *
 * Why: after a drain, one node restores thousands of sessions, and each
 * restore read every entry after its client's offset (its last packet,
 * often minutes old) from Redis, and parsed it: thousands of entries per
 * client, each read and parsed thousands of times (~8 ms of CPU per restore
 * at 1,000 clients, more at 5,000). The reader already got them all, once;
 * each is decoded here at most once for all the restores.
 */
import { isKeptForRecovery } from "../socket/session-store.ts";
import type { BroadcastOptions } from "../socket/types.ts";
import { decodeOptions, MessageType } from "./cluster-protocol.ts";
import { decodeEntry, type RawEntry } from "./redis-streams-wire.ts";

/** A broadcast kept for recovery: the event's arguments and whom it was for. */
export interface KeptBroadcast {
  data: unknown[];
  opts: BroadcastOptions;
}

/** What an entry means to a restore: a broadcast kept for recovery, or null for anything else. */
export function keptBroadcast(fields: RawEntry): KeptBroadcast | null {
  if (fields.type !== String(MessageType.BROADCAST)) return null;
  const message = decodeEntry(fields);
  if (!message || message.type !== MessageType.BROADCAST) return null;
  const { packet, requestId } = message.data;
  // A broadcast with ack travels over Pub/Sub, but an entry from elsewhere may still carry one.
  if (requestId !== undefined || !packet || !Array.isArray(packet.data)) return null;
  const opts = decodeOptions(message.data.opts);
  return isKeptForRecovery(packet, opts.flags) ? { data: packet.data as unknown[], opts } : null;
}

/** Stream ids ("ms-seq") in stream order. */
function compareIds(a: string, b: string): number {
  const da = a.indexOf("-");
  const db = b.indexOf("-");
  const ma = Number(a.slice(0, da));
  const mb = Number(b.slice(0, db));
  if (ma !== mb) return ma - mb;
  return Number(a.slice(da + 1)) - Number(b.slice(db + 1));
}

/**
 * One stream's recent entries, at most `capacity` (the stream's `maxLen`:
 * older ones are trimmed from Redis too).
 *
 * @example
 * const recent = new RecentEntries(10_000);
 * recent.push("1700000000000-0", { uid, nsp: "/", type: "3", data });
 * const last = recent.forEachAfter("1700000000000-0", (id, fields, kept) => {});
 */
export class RecentEntries {
  readonly #ids: string[] = [];
  readonly #fields: RawEntry[] = [];
  /** Each entry's `keptBroadcast`, computed on first use (undefined: not yet). */
  readonly #kept: Array<KeptBroadcast | null | undefined> = [];
  #start = 0;

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.#ids.length - this.#start;
  }

  /** Appends the entry the reader got next. */
  push(id: string, fields: RawEntry): void {
    this.#ids.push(id);
    this.#fields.push(fields);
    this.#kept.push(undefined);
    if (this.size > this.capacity) this.#start++;
    // Compacted now and then rather than shifted on every push.
    if (this.#start >= this.capacity) {
      this.#ids.splice(0, this.#start);
      this.#fields.splice(0, this.#start);
      this.#kept.splice(0, this.#start);
      this.#start = 0;
    }
  }

  /**
   * Calls `fn` for each entry after `offset`, oldest first, and returns the
   * last entry's id (or `offset` when none follows); null when `offset` is
   * not among these entries (older, or never read here): the caller reads
   * the stream instead.
   */
  forEachAfter(offset: string, fn: (id: string, fields: RawEntry, kept: () => KeptBroadcast | null) => void): string | null {
    const ids = this.#ids;
    let lo = this.#start;
    let hi = ids.length - 1;
    let at = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const c = compareIds(ids[mid]!, offset);
      if (c === 0) {
        at = mid;
        break;
      }
      if (c < 0) lo = mid + 1;
      else hi = mid - 1;
    }
    if (at === -1) return null;
    for (let i = at + 1; i < ids.length; i++) {
      fn(ids[i]!, this.#fields[i]!, () => {
        let k = this.#kept[i];
        if (k === undefined) k = this.#kept[i] = keptBroadcast(this.#fields[i]!);
        return k;
      });
    }
    return ids[ids.length - 1]!;
  }
}
