/**
 * The Redis Streams adapter: like the Pub/Sub adapter, but broadcasts go
 * through a Redis stream (XADD / XREAD). A stream entry id is an offset any
 * node can resume from, so connection state recovery works across nodes:
 * a client that reconnects to another node gets the packets it missed.
 * Sessions of disconnected sockets are kept in Redis keys.
 *
 * Wire-compatible with @socket.io/redis-streams-adapter 0.3: same stream
 * name and entry fields (`uid`, `nsp`, `type`, `data`), same Pub/Sub
 * channels for requests and responses, same session keys and encodings.
 *
 * @example
 * import { createClient } from "redis";
 * import { Server } from "unio";
 * import { createStreamsAdapter } from "unio/redis";
 *
 * const redisClient = createClient();
 * await redisClient.connect();
 * const io = new Server({
 *   adapter: createStreamsAdapter(redisClient),
 *   connectionStateRecovery: { maxDisconnectionDuration: 2 * 60 * 1000 },
 * });
 */
import type { AnyNamespace } from "../socket/adapter.ts";
import { ClusterAdapter } from "./cluster-adapter.ts";
import type { ClusterMessage, ClusterResponse } from "./cluster-protocol.ts";
import { decode as msgpackDecode, encode as msgpackEncode } from "./msgpack.ts";
import {
  assertSupportedClient,
  command,
  guardErrors,
  numsub,
  type PubSubHandler,
  publish,
  type RedisClient,
  replyString,
  subscribe,
  unsubscribe,
} from "./redis-clients.ts";
import { StreamsHub } from "./redis-streams-hub.ts";
import { StreamsSessionStore } from "./redis-streams-sessions.ts";
import {
  decodeEntry,
  encodeEntry,
  isEphemeral,
  type RawEntry,
  type RedisStreamsAdapterOptions,
  type ResolvedOptions,
  streamNameFor,
} from "./redis-streams-wire.ts";

export type { RedisStreamsAdapterOptions } from "./redis-streams-wire.ts";

/**
 * Returns the `adapter` option for `new Server()`. One extra connection per
 * stream (blocking reads) and one for Pub/Sub are duplicated from
 * `redisClient`; it keeps serving publishes and commands.
 */
export function createStreamsAdapter(
  redisClient: RedisClient,
  opts: RedisStreamsAdapterOptions = {},
): (nsp: AnyNamespace) => RedisStreamsAdapter {
  assertSupportedClient(redisClient, "redisClient");
  const options: ResolvedOptions = {
    streamName: "socket.io",
    streamCount: 1,
    channelPrefix: "socket.io",
    useShardedPubSub: false,
    maxLen: 10_000,
    readCount: 100,
    blockTimeInMs: 5000,
    sessionKeyPrefix: "sio:session:",
    onlyPlaintext: false,
    ...opts,
  };
  const hub = new StreamsHub(redisClient, options);
  return (nsp) => new RedisStreamsAdapter(nsp, hub);
}

/**
 * The adapter of one namespace: broadcasts and room operations through the
 * namespace's stream, requests and responses over Pub/Sub, sessions in
 * Redis keys (redis-streams-sessions.ts).
 */
export class RedisStreamsAdapter extends ClusterAdapter {
  readonly streamName: string;
  readonly publicChannel: string;
  readonly privateChannel: string;
  readonly #hub: StreamsHub;
  readonly #onPubSub: PubSubHandler;
  #ready: Promise<void> | undefined;

  constructor(nsp: AnyNamespace, hub: StreamsHub) {
    const opts = hub.opts;
    // Every namespace maps to one stream, which keeps its messages in order.
    const streamName = streamNameFor(nsp.name, opts);
    const sessionStore = new StreamsSessionStore({
      client: hub.client,
      nsp: nsp.name,
      streamName,
      sessionKeyPrefix: opts.sessionKeyPrefix,
      maxDisconnectionDuration: () => nsp.server._recovery?.maxDisconnectionDuration ?? 120_000,
      onError: (err) => this.onPublishError(err),
      recent: () => hub.recent(streamName),
    });
    super(nsp, { requestsTimeout: opts.requestsTimeout, sessionStore });
    this.#hub = hub;
    this.streamName = streamName;
    this.publicChannel = `${opts.channelPrefix}#${nsp.name}#`;
    this.privateChannel = `${opts.channelPrefix}#${nsp.name}#${this.uid}#`;
    this.#onPubSub = (_channel, payload) => {
      let message: unknown;
      try {
        message = msgpackDecode(payload);
      } catch {
        return;
      }
      // Requests and responses share this path: the base class routes response types.
      this.onMessage(message as ClusterMessage);
    };
    guardErrors(hub.client);
  }

  override init(): Promise<void> {
    this.#ready ??= (async () => {
      const kind = this.#hub.opts.useShardedPubSub ? "sharded" : "channel";
      const sub = await this.#hub.subscriber();
      await Promise.all([
        subscribe(sub, kind, this.publicChannel, this.#onPubSub),
        subscribe(sub, kind, this.privateChannel, this.#onPubSub),
        this.#hub.attach(this),
      ]);
    })();
    return this.#ready;
  }

  whenReady(): Promise<void> {
    return this.init();
  }

  protected override get providesOffsets(): boolean {
    return true;
  }

  /** An entry the stream reader got for this namespace. */
  onStreamEntry(fields: RawEntry, id: string): void {
    const message = decodeEntry(fields);
    if (message) this.onMessage(message, id);
  }

  protected doPublish(message: ClusterMessage): Promise<string> {
    const client = this.#hub.client;
    const opts = this.#hub.opts;
    if (isEphemeral(message)) {
      return publish(client, this.publicChannel, msgpackEncode(message), opts.useShardedPubSub).then(() => "");
    }
    const fields = encodeEntry(message, opts.onlyPlaintext);
    const args = ["XADD", this.streamName, "MAXLEN", "~", String(opts.maxLen), "*", ...fields];
    return command(client, args, this.streamName).then(replyString);
  }

  protected doPublishResponse(requesterUid: string, response: ClusterResponse): Promise<void> {
    const channel = `${this.#hub.opts.channelPrefix}#${this.nsp.name}#${requesterUid}#`;
    return publish(this.#hub.client, channel, msgpackEncode(response), this.#hub.opts.useShardedPubSub).then(
      () => undefined,
    );
  }

  /** Number of nodes: subscribers of the namespace's public channel. */
  override serverCount(): Promise<number> {
    return numsub(this.#hub.client, this.publicChannel, this.#hub.opts.useShardedPubSub);
  }

  override close(): Promise<void> {
    super.close();
    const kind = this.#hub.opts.useShardedPubSub ? "sharded" : "channel";
    const sub = this.#hub.currentSubscriber();
    const unsubscribed = sub
      ? sub.then((s) =>
          Promise.all([
            unsubscribe(s, kind, this.publicChannel, this.#onPubSub),
            unsubscribe(s, kind, this.privateChannel, this.#onPubSub),
          ]),
        )
      : Promise.resolve();
    const detach = () => this.#hub.detach(this);
    return unsubscribed.then(detach, detach);
  }
}
