/**
 * The cluster adapter for transports that cannot count subscribers (a
 * Postgres NOTIFY channel, a MongoDB change stream, a NATS subject): the
 * nodes announce themselves and are forgotten when silent.
 */
import type { TimerEntry, TimerTarget } from "../engine/scheduler.ts";
import type { AnyNamespace } from "../socket/adapter.ts";
import { ClusterAdapter, type ClusterAdapterOptions } from "./cluster-adapter.ts";
import { type ClusterMessage, type ClusterMessageBody, EMITTER_UID, MessageType } from "./cluster-protocol.ts";
import type { Responders } from "./cluster-requests.ts";

export interface ClusterAdapterWithHeartbeatOptions extends ClusterAdapterOptions {
  /** How often this node says it is alive, in ms (default 5000). */
  heartbeatInterval?: number;
  /** After how long without news a node is considered gone, in ms (default 10000). */
  heartbeatTimeout?: number;
}

const HEARTBEAT_TICK = 0;

/**
 * A cluster adapter whose nodes announce themselves (INITIAL_HEARTBEAT on
 * init, HEARTBEAT when idle for `heartbeatInterval`, ADAPTER_CLOSE on
 * close); a node silent for `heartbeatTimeout` is forgotten.
 * `serverCount()` is 1 plus the live nodes, and requests wait for exactly
 * those nodes: when one goes silent, the requests waiting for it complete
 * without it.
 *
 * @example
 * class NatsAdapter extends ClusterAdapterWithHeartbeat {
 *   protected doPublish(msg) { nc.publish(`io.${msg.nsp}`, encode(msg)); return Promise.resolve(""); }
 *   protected doPublishResponse(uid, res) { nc.publish(`io.${res.nsp}.${uid}`, encode(res)); return Promise.resolve(); }
 * }
 */
export abstract class ClusterAdapterWithHeartbeat extends ClusterAdapter implements TimerTarget {
  readonly #interval: number;
  readonly #timeout: number;
  /** Live nodes: uid to the time of the last message heard from it. */
  readonly #nodes = new Map<string, number>();
  #lastPublish = -Infinity;
  #tick: TimerEntry | undefined;

  constructor(nsp: AnyNamespace, opts: ClusterAdapterWithHeartbeatOptions = {}) {
    super(nsp, opts);
    this.#interval = opts.heartbeatInterval ?? 5000;
    this.#timeout = opts.heartbeatTimeout ?? 10000;
  }

  #now(): number {
    return this.nsp.server._clock.now();
  }

  override init(): Promise<void> | void {
    this.publish({ type: MessageType.INITIAL_HEARTBEAT });
    this.#scheduleTick();
  }

  #scheduleTick(): void {
    if (this.closed) return;
    // One timer per adapter: it both sends idle heartbeats and sweeps silent nodes.
    const period = Math.max(10, Math.min(1000, this.#interval, this.#timeout / 2));
    this.#tick = this.nsp.server._scheduler.schedule(this, HEARTBEAT_TICK, period);
  }

  onTimer(_kind: number): void {
    this.#tick = undefined;
    if (this.closed) return;
    const now = this.#now();
    if (now - this.#lastPublish >= this.#interval) this.publish({ type: MessageType.HEARTBEAT });
    for (const [uid, lastSeen] of this.#nodes) {
      if (now - lastSeen > this.#timeout) this.#removeNode(uid);
    }
    this.#scheduleTick();
  }

  protected override publishAndReturnOffset(message: ClusterMessageBody): Promise<string | void> {
    this.#lastPublish = this.#now();
    return super.publishAndReturnOffset(message);
  }

  override onMessage(message: ClusterMessage, offset?: string): void {
    if (!message || typeof message !== "object" || message.uid === this.uid || message.nsp !== this.nsp.name) return;
    if (typeof message.uid === "string" && message.uid !== EMITTER_UID) this.#nodes.set(message.uid, this.#now());
    switch (message.type) {
      case MessageType.INITIAL_HEARTBEAT:
        // A newcomer: tell it we exist.
        this.publish({ type: MessageType.HEARTBEAT });
        return;
      case MessageType.HEARTBEAT:
        return;
      case MessageType.ADAPTER_CLOSE:
        this.#removeNode(message.uid);
        return;
      default:
        super.onMessage(message, offset);
    }
  }

  #removeNode(uid: string): void {
    this.#nodes.delete(uid);
    this.forgetNode(uid);
  }

  override serverCount(): Promise<number> {
    return Promise.resolve(1 + this.#nodes.size);
  }

  protected override expectedResponders(): Promise<Responders> {
    return Promise.resolve({ count: this.#nodes.size, uids: new Set(this.#nodes.keys()) });
  }

  override close(): Promise<void> | void {
    if (!this.closed) this.publish({ type: MessageType.ADAPTER_CLOSE });
    this.#tick?.cancel();
    this.#tick = undefined;
    return super.close();
  }
}
