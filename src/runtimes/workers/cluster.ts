/**
 * The Workers transport of DurableObjectAdapter: RPC between objects of the
 * same class through one hub object.
 *
 *   member A ──unioHubPublish(msg)──▶ hub ──unioDeliver(msg)──▶ member B, C, ...
 *            ◀──── delivery reports ──    ◀── answers given at once
 *   member B ──unioRespond(answer)────────────────────────────▶ member A   (later answers: acks)
 *   member A ──unioHubMembers()──────▶ hub                                  (who must answer a request)
 *
 * Members are the objects that host sockets: an object joins on its first
 * socket (one hub request, remembered in its SQLite storage so wake-ups do
 * not repeat it) and the hub drops a member that answers a delivery with no
 * sockets left. The hub keeps its member list in SQLite. Costs: a
 * cross-object broadcast is 1 + (members - 1) billed requests; a request
 * that waits for answers (fetchSockets, serverSideEmit with ack, a
 * broadcast with ack) one more, to ask the hub who the members are, and
 * each answer given later (an ack) one.
 */
import type { ClusterMessage, ClusterResponse } from "../../adapters/cluster-protocol.ts";
import type { Server } from "../../socket/server.ts";
import { type ClusterTransport, type DeliveryReport, DurableObjectAdapter } from "./durable-object-adapter.ts";
import type { DurableObjectNamespace, DurableObjectState, SqlStorage } from "./platform.ts";

// biome-ignore lint: any event typing
type AnyServer = Server<any, any, any, any>;

export interface ClusterOptions {
  /** The binding of this Durable Object class in the Worker's env (e.g. "CHAT"). */
  binding: string;
  /** The name of the hub object. Default "unio-hub". */
  hub?: string;
}

/** What a member answers the hub for one delivery. */
export interface Delivery {
  /** False when this object has no such namespace. */
  delivered: boolean;
  responses: ClusterResponse[];
  /** This object hosts no sockets any more: the hub forgets it. */
  empty?: boolean;
}

/** The RPC methods of the class (object.ts) the cluster calls on other objects. */
export interface ClusterRpc {
  unioDeliver(msg: ClusterMessage): Promise<Delivery>;
  unioHubJoin(member: string): Promise<void>;
  unioHubPublish(msg: ClusterMessage): Promise<DeliveryReport[]>;
  unioHubMembers(): Promise<string[]>;
  unioRespond(response: ClusterResponse): Promise<void>;
}

/**
 * One object's end of the cluster: the member side (join, publish, answer,
 * deliver to its adapters) and, in the hub object, the hub side (members,
 * fan-out). object.ts creates one per object when `cluster` is set.
 *
 * @example
 * const cluster = new DurableCluster(ctx, env, { binding: "CHAT" });
 * cluster.bind(io); // then: new DurableObjectAdapter(nsp, cluster, store)
 */
export class DurableCluster implements ClusterTransport {
  readonly self: string;
  #server: AnyServer | null = null;
  #joined: boolean | undefined;
  #members: Set<string> | null = null;
  #table = false;

  constructor(
    readonly ctx: DurableObjectState,
    readonly env: Record<string, unknown>,
    readonly options: ClusterOptions,
  ) {
    this.self = ctx.id.toString();
  }

  bind(server: AnyServer): void {
    this.#server = server;
  }

  /** Forgets what is cached in memory (test eviction). */
  reset(): void {
    this.#joined = undefined;
    this.#members = null;
  }

  #ns(): DurableObjectNamespace<ClusterRpc> {
    const ns = this.env[this.options.binding] as DurableObjectNamespace<ClusterRpc> | undefined;
    if (!ns) throw new Error(`unio: no Durable Object binding "${this.options.binding}" in env`);
    return ns;
  }

  #hub() {
    const ns = this.#ns();
    return ns.get(ns.idFromName(this.options.hub ?? "unio-hub"));
  }

  #member(id: string) {
    const ns = this.#ns();
    return ns.get(ns.idFromString(id));
  }

  #sql(): SqlStorage {
    const sql = this.ctx.storage.sql;
    if (!sql) throw new Error("unio: the cluster option needs a SQLite-backed class (new_sqlite_classes)");
    if (!this.#table) {
      sql.exec("CREATE TABLE IF NOT EXISTS unio_cluster (kind TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (kind, id))");
      this.#table = true;
    }
    return sql;
  }

  // ── member side ───────────────────────────────────────────────────────

  join(): void {
    if (this.#isJoined()) return;
    this.#setJoined(true);
    this.ctx.waitUntil(
      this.#hub()
        .unioHubJoin(this.self)
        .catch((err: unknown) => {
          console.error("unio: could not join the cluster", err);
          this.#setJoined(false);
        }),
    );
  }

  #isJoined(): boolean {
    this.#joined ??= this.#sql().exec("SELECT 1 FROM unio_cluster WHERE kind = 'self' AND id = ?", this.self).toArray().length > 0;
    return this.#joined;
  }

  #setJoined(joined: boolean): void {
    if (this.#joined === joined) return;
    this.#joined = joined;
    if (joined) this.#sql().exec("INSERT OR IGNORE INTO unio_cluster (kind, id) VALUES ('self', ?)", this.self);
    else this.#sql().exec("DELETE FROM unio_cluster WHERE kind = 'self' AND id = ?", this.self);
  }

  publish(msg: ClusterMessage): Promise<DeliveryReport[]> {
    return this.#hub().unioHubPublish(msg);
  }

  respond(uid: string, response: ClusterResponse): Promise<void> {
    const sent = this.#member(uid).unioRespond(response);
    // The answer may leave after the event that produced it settled.
    this.ctx.waitUntil(sent.catch(() => {}));
    return sent;
  }

  async members(): Promise<string[]> {
    return (await this.#hub().unioHubMembers()).filter((m) => m !== this.self);
  }

  /** A later answer to one of this object's requests. */
  onRespond(response: ClusterResponse): void {
    const adapter = typeof response?.nsp === "string" ? this.#server?._nsps.get(response.nsp)?.adapter : undefined;
    if (adapter instanceof DurableObjectAdapter) adapter.onResponse(response);
  }

  /** A message from the hub: apply it in its namespace here. */
  deliver(msg: ClusterMessage): Delivery {
    const server = this.#server;
    const adapter = server?._nsps.get(msg.nsp)?.adapter;
    const delivery: Delivery =
      adapter instanceof DurableObjectAdapter
        ? { delivered: true, responses: adapter.receive(msg) }
        : { delivered: false, responses: [] };
    let sockets = 0;
    if (server) for (const nsp of server._nsps.values()) sockets += nsp.sockets.size;
    if (sockets > 0) return delivery;
    this.#setJoined(false);
    return { ...delivery, empty: true };
  }

  // ── hub side ──────────────────────────────────────────────────────────

  #memberSet(): Set<string> {
    if (!this.#members) {
      const rows = this.#sql().exec<{ id: string }>("SELECT id FROM unio_cluster WHERE kind = 'member'").toArray();
      this.#members = new Set(rows.map((r) => r.id));
    }
    return this.#members;
  }

  hubJoin(member: string): void {
    const members = this.#memberSet();
    if (members.has(member)) return;
    members.add(member);
    this.#sql().exec("INSERT OR IGNORE INTO unio_cluster (kind, id) VALUES ('member', ?)", member);
  }

  hubMembers(): string[] {
    return [...this.#memberSet()];
  }

  async hubPublish(msg: ClusterMessage): Promise<DeliveryReport[]> {
    const members = this.#memberSet();
    const targets = [...members].filter((m) => m !== msg.uid);
    const settled = await Promise.allSettled(targets.map((m) => this.#member(m).unioDeliver(msg)));
    return settled.map((result, i) => {
      const member = targets[i]!;
      // Unreachable: the sender stops waiting for it; it stays a member until it answers empty.
      if (result.status !== "fulfilled") return { member, delivered: false, responses: [] };
      const { empty, delivered, responses } = result.value;
      if (empty) {
        members.delete(member);
        this.#sql().exec("DELETE FROM unio_cluster WHERE kind = 'member' AND id = ?", member);
      }
      return { member, delivered, responses };
    });
  }
}
