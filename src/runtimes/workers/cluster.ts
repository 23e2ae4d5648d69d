/**
 * The Workers transport of DurableObjectAdapter: RPC between objects of the
 * same class through one hub object.
 *
 *   member A ──unioHubPublish(msg)──▶ hub ──unioDeliver(msg)──▶ member B, C, ...
 *            ◀──────── replies ──────     ◀────── replies ─────
 *   member B ──unioAck(id, args)──────────────────────────────▶ member A
 *
 * Members are the objects that host sockets: an object joins on its first
 * socket (one hub request, remembered in its SQLite storage so wake-ups do
 * not repeat it) and the hub drops a member that answers a delivery with no
 * sockets left. The hub keeps its member list in SQLite. Costs: a
 * cross-object broadcast is 1 + (members - 1) billed requests.
 */
import {
  type ClusterMessage,
  type ClusterReply,
  type ClusterTransport,
  DurableObjectAdapter,
} from "../../adapters/durable-object.ts";
import type { Server } from "../../socket/server.ts";
import type { DurableObjectNamespace, DurableObjectState, SqlStorage } from "./platform.ts";

// biome-ignore lint: any event typing
type AnyServer = Server<any, any, any, any>;

export interface ClusterOptions {
  /** The binding of this Durable Object class in the Worker's env (e.g. "CHAT"). */
  binding: string;
  /** The name of the hub object. Default "unio-hub". */
  hub?: string;
}

interface ClusterRpc {
  unioDeliver(msg: ClusterMessage): Promise<ClusterReply & { empty?: boolean }>;
  unioHubJoin(member: string): Promise<void>;
  unioHubPublish(msg: ClusterMessage): Promise<ClusterReply[]>;
  unioAck(requestId: string, args: unknown[]): Promise<void>;
}

export class DurableCluster implements ClusterTransport {
  readonly self: string;
  #server: AnyServer | null = null;
  #joined: boolean | undefined;
  #members: Set<string> | null = null;
  #table = false;
  readonly #acks = new Map<string, (args: unknown[]) => void>();

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
    this.#acks.clear();
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

  publish(msg: ClusterMessage): Promise<ClusterReply[]> {
    return this.#hub().unioHubPublish(msg);
  }

  ack(origin: string, requestId: string, args: unknown[]): void {
    this.ctx.waitUntil(this.#member(origin).unioAck(requestId, args).catch(() => {}));
  }

  expectAcks(requestId: string, fn: (args: unknown[]) => void): void {
    this.#acks.set(requestId, fn);
  }

  forgetAcks(requestId: string): void {
    this.#acks.delete(requestId);
  }

  onAck(requestId: string, args: unknown[]): void {
    this.#acks.get(requestId)?.(args);
  }

  /** A message from the hub: apply it in its namespace here. */
  async deliver(msg: ClusterMessage): Promise<ClusterReply & { empty?: boolean }> {
    const server = this.#server;
    const adapter = server?._nsps.get(msg.nsp)?.adapter;
    const reply = adapter instanceof DurableObjectAdapter ? await adapter.handle(msg) : {};
    let sockets = 0;
    if (server) for (const nsp of server._nsps.values()) sockets += nsp.sockets.size;
    if (sockets > 0) return reply;
    this.#setJoined(false);
    return { ...reply, empty: true };
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

  async hubPublish(msg: ClusterMessage): Promise<ClusterReply[]> {
    const members = this.#memberSet();
    const targets = [...members].filter((m) => m !== msg.origin);
    const settled = await Promise.allSettled(targets.map((m) => this.#member(m).unioDeliver(msg)));
    const replies: ClusterReply[] = [];
    settled.forEach((result, i) => {
      if (result.status !== "fulfilled") return;
      const { empty, ...reply } = result.value;
      if (empty) {
        members.delete(targets[i]!);
        this.#sql().exec("DELETE FROM unio_cluster WHERE kind = 'member' AND id = ?", targets[i]!);
      }
      replies.push(reply);
    });
    return replies;
  }
}
