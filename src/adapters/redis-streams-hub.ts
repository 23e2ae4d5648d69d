/**
 * What the Redis Streams adapters of one `createStreamsAdapter()` call
 * share: one reading loop per stream (XREAD blocks, so each on its own
 * connection) that hands every entry to the adapter of its namespace and
 * keeps the recent ones for restores (redis-streams-recent.ts), and the
 * subscriber connection for requests and responses.
 */
import { command, destroy, duplicate, type RedisClient } from "./redis-clients.ts";
import { RecentEntries } from "./redis-streams-recent.ts";
import { parseEntries, parseXRead, type RawEntry, type ResolvedOptions } from "./redis-streams-wire.ts";

/** What the hub needs of an adapter: its namespace, its stream, and where entries go. */
export interface StreamReader {
  readonly nsp: { readonly name: string };
  readonly streamName: string;
  onStreamEntry(fields: RawEntry, id: string): void;
}

/** Entries kept per stream at most, whatever `maxLen` says (a restore from older ones reads Redis). */
const MAX_RECENT = 50_000;

export class StreamsHub {
  readonly adapters = new Map<string, StreamReader>();
  readonly #client: RedisClient;
  readonly opts: ResolvedOptions;
  readonly #readers = new Map<string, { stop: () => void }>();
  /** Per stream, the entries its reader got since it started (a new reader starts a new list). */
  readonly #recent = new Map<string, RecentEntries>();
  #sub: Promise<RedisClient> | undefined;
  #stopped = false;

  constructor(client: RedisClient, opts: ResolvedOptions) {
    this.#client = client;
    this.opts = opts;
  }

  get client(): RedisClient {
    return this.#client;
  }

  /** The entries the reader of `stream` got lately, with no gap; undefined before it started. */
  recent(stream: string): RecentEntries | undefined {
    return this.#recent.get(stream);
  }

  /** The shared subscriber connection, created on first use. */
  subscriber(): Promise<RedisClient> {
    this.#sub ??= duplicate(this.#client);
    return this.#sub;
  }

  /** The subscriber connection if one was created (closing must not create one). */
  currentSubscriber(): Promise<RedisClient> | undefined {
    return this.#sub;
  }

  attach(adapter: StreamReader): Promise<void> {
    this.#stopped = false;
    this.adapters.set(adapter.nsp.name, adapter);
    const starts: Promise<void>[] = [];
    for (let i = 0; i < this.opts.streamCount; i++) {
      starts.push(this.#ensureReader(this.opts.streamCount === 1 ? this.opts.streamName : `${this.opts.streamName}-${i}`));
    }
    starts.push(this.#ensureReader(adapter.streamName));
    return Promise.all(starts).then(() => undefined);
  }

  detach(adapter: StreamReader): void {
    if (this.adapters.get(adapter.nsp.name) === adapter) this.adapters.delete(adapter.nsp.name);
    if (this.adapters.size > 0) return;
    this.#stopped = true;
    for (const reader of this.#readers.values()) reader.stop();
    this.#readers.clear();
    this.#recent.clear();
    const sub = this.#sub;
    this.#sub = undefined;
    sub?.then(destroy, () => {});
  }

  /** Starts the reading loop of a stream; resolves once it knows where the stream ends. */
  #ensureReader(stream: string): Promise<void> {
    if (this.#readers.has(stream)) return Promise.resolve();
    let stopped = false;
    let connection: RedisClient | undefined;
    this.#readers.set(stream, {
      stop: () => {
        stopped = true;
        // Destroying the connection aborts the blocking XREAD at once.
        if (connection) destroy(connection);
      },
    });
    let started!: () => void;
    const ready = new Promise<void>((resolve) => (started = resolve));
    const loop = async () => {
      try {
        connection = await duplicate(this.#client);
      } catch {
        started();
        return;
      }
      if (stopped) {
        destroy(connection);
        started();
        return;
      }
      // Start after the last entry, with an explicit id: retrying "$" after a
      // reconnection would skip what was added in between.
      let offset = "0-0";
      try {
        const last = await command(connection, ["XREVRANGE", stream, "+", "-", "COUNT", "1"], stream);
        const entries = parseEntries(last);
        if (entries.length > 0) offset = entries[0]!.id;
      } catch {
        // The stream is read from its start instead; old entries are older than this node anyway.
      }
      // From here on every entry after `offset` is read, in order (a failed XREAD is retried
      // from the same id): the list has no gap.
      const recent = new RecentEntries(Math.min(this.opts.maxLen, MAX_RECENT));
      if (offset !== "0-0") recent.push(offset, {});
      this.#recent.set(stream, recent);
      started();
      let failures = 0;
      while (!stopped && !this.#stopped) {
        try {
          const reply = await command(
            connection,
            [
              "XREAD",
              "COUNT",
              String(this.opts.readCount),
              "BLOCK",
              String(this.opts.blockTimeInMs),
              "STREAMS",
              stream,
              offset,
            ],
            stream,
          );
          failures = 0;
          for (const entry of parseXRead(reply)) {
            offset = entry.id;
            recent.push(entry.id, entry.fields);
            const nsp = entry.fields.nsp;
            if (nsp) this.adapters.get(nsp)?.onStreamEntry(entry.fields, entry.id);
          }
        } catch {
          if (stopped || this.#stopped) break;
          // Redis is down or restarting: the client reconnects on its own, we back off meanwhile.
          failures++;
          await new Promise((r) => setTimeout(r, Math.min(2000, 50 * 2 ** Math.min(failures, 6))));
        }
      }
      if (this.#recent.get(stream) === recent) this.#recent.delete(stream);
      destroy(connection);
    };
    loop();
    return ready;
  }
}

