/**
 * Restoring a session on the Redis Streams adapter from the entries the
 * node's stream reader kept (redis-streams-recent.ts) gives what reading
 * the stream from Redis gives, on a real redis-server: the same missed
 * packets for broadcasts to the session's rooms, to everyone, with an
 * `except`, volatile ones, ones with acks, other namespaces, binary
 * entries; an offset the reader never saw is read from Redis; one trimmed
 * from the stream and never seen restores nothing.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ClusterMessage, MessageType } from "../../src/adapters/cluster-protocol.ts";
import { command } from "../../src/adapters/redis-clients.ts";
import { RecentEntries } from "../../src/adapters/redis-streams-recent.ts";
import { StreamsSessionStore } from "../../src/adapters/redis-streams-sessions.ts";
import { encodeEntry, parseEntries } from "../../src/adapters/redis-streams-wire.ts";
import { type RedisServer, startRedis } from "./harness.ts";

let redis: RedisServer;
let client: Redis;

beforeAll(async () => {
  redis = await startRedis();
  client = new Redis(redis.url);
});
afterAll(async () => {
  client?.disconnect();
  await redis?.stop();
});

const STREAM = "restore-test";

function broadcast(event: string, opts: { rooms?: string[]; except?: string[]; flags?: object; nsp?: string; requestId?: string; arg?: unknown }): ClusterMessage {
  const data: Record<string, unknown> = {
    packet: { type: 2, nsp: opts.nsp ?? "/", data: [event, opts.arg ?? event] },
    opts: { rooms: opts.rooms ?? [], except: opts.except ?? [], flags: opts.flags ?? {} },
  };
  if (opts.requestId) data.requestId = opts.requestId;
  return { uid: "other-node", nsp: opts.nsp ?? "/", type: MessageType.BROADCAST, data } as unknown as ClusterMessage;
}

async function add(message: ClusterMessage): Promise<string> {
  return (await command(client, ["XADD", STREAM, "*", ...encodeEntry(message, false)])) as string;
}

function store(recent?: RecentEntries): StreamsSessionStore {
  return new StreamsSessionStore({
    client: client as never,
    nsp: "/",
    streamName: STREAM,
    sessionKeyPrefix: "restore-test:",
    maxDisconnectionDuration: () => 60_000,
    onError: (err) => {
      throw err;
    },
    recent: recent ? () => recent : undefined,
  });
}

/** Restores a fresh copy of the session in `rooms` from `offset` through `s`. */
async function restore(s: StreamsSessionStore, pid: string, rooms: string[], offset: string) {
  await s.persistSession({ sid: `sid-${pid}`, pid, rooms, data: { pid } } as never);
  return s.restoreSession(pid as never, offset);
}

describe("Redis Streams restore from the reader's recent entries", () => {
  it("gives the missed packets reading the stream from Redis gives, whatever the entries", async () => {
    const offset = await add(broadcast("before", { rooms: ["mine"] }));
    await add(broadcast("to-mine", { rooms: ["mine"] }));
    await add(broadcast("to-other", { rooms: ["other"] }));
    await add(broadcast("to-all", {}));
    await add(broadcast("all-but-mine", { except: ["mine"] }));
    await add(broadcast("both-rooms", { rooms: ["other", "mine"] }));
    await add(broadcast("volatile", { rooms: ["mine"], flags: { volatile: true } }));
    await add(broadcast("with-ack", { rooms: ["mine"], requestId: "r1" }));
    await add(broadcast("other-nsp", { rooms: ["mine"], nsp: "/admin" }));
    await add(broadcast("binary", { rooms: ["mine"], arg: new Uint8Array([1, 2, 3]) }));
    await add({ uid: "other-node", nsp: "/", type: MessageType.SOCKETS_JOIN, data: { opts: { rooms: ["mine"], except: [] }, rooms: ["x"] } } as never);
    await add(broadcast("to-sid", { rooms: ["sid-room"] }));

    // What the reader would have kept: the entries from `offset` on, read from the stream in order.
    const recent = new RecentEntries(100);
    for (const e of parseEntries(await command(client, ["XRANGE", STREAM, offset, "+"]))) recent.push(e.id, e.fields);
    // One entry the reader has not reached yet: taken from Redis after the kept ones.
    await add(broadcast("after-the-reader", { rooms: ["mine"] }));

    const fromRedis = await restore(store(), "p1", ["mine", "sid-room"], offset);
    const fromMemory = await restore(store(recent), "p2", ["mine", "sid-room"], offset);
    const events = (s: typeof fromRedis) => s!.missedPackets.map((p) => p[0]);
    expect(events(fromRedis)).toEqual(["to-mine", "to-all", "both-rooms", "binary", "to-sid", "after-the-reader"]);
    expect(fromMemory!.missedPackets).toEqual(fromRedis!.missedPackets);
    expect(fromMemory!.sid).toBe("sid-p2");
    expect(fromMemory!.data).toEqual({ pid: "p2" });
    // Each missed packet ends with its offset, the stream id.
    for (const p of fromMemory!.missedPackets) expect(p[p.length - 1]).toMatch(/^\d+-\d+$/);
    // A second restore from memory (entries decoded once, kept) gives the same again.
    expect((await restore(store(recent), "p3", ["mine", "sid-room"], offset))!.missedPackets).toEqual(fromRedis!.missedPackets);
  });

  it("an offset the reader never saw is read from Redis; one trimmed from the stream restores nothing", async () => {
    const old = await add(broadcast("old", { rooms: ["r"] }));
    const later = await add(broadcast("later", { rooms: ["r"] }));
    await add(broadcast("latest", { rooms: ["r"] }));
    const recent = new RecentEntries(100);
    // The reader started after `old` (a node that joined later).
    for (const e of parseEntries(await command(client, ["XRANGE", STREAM, later, "+"]))) recent.push(e.id, e.fields);
    const fromOld = await restore(store(recent), "q1", ["r"], old);
    expect(fromOld!.missedPackets.map((p) => p[0])).toEqual(["later", "latest"]);
    // `old` trimmed from the stream: packets after it may be gone, nothing is restored.
    await command(client, ["XDEL", STREAM, old]);
    expect(await restore(store(recent), "q2", ["r"], old)).toBeNull();
    expect(await restore(store(), "q3", ["r"], old)).toBeNull();
    // The session key is consumed either way.
    expect(await client.exists("restore-test:q2")).toBe(0);
  });

  it("keeps at most its capacity, the newest", () => {
    const recent = new RecentEntries(3);
    for (let i = 1; i <= 10; i++) recent.push(`100-${i}`, { nsp: "/", type: "0" });
    expect(recent.size).toBe(3);
    expect(recent.forEachAfter("100-7", () => {})).toBeNull();
    const seen: string[] = [];
    expect(recent.forEachAfter("100-8", (id) => seen.push(id))).toBe("100-10");
    expect(seen).toEqual(["100-9", "100-10"]);
    // Ids compare as numbers, not strings.
    const ordered = new RecentEntries(10);
    for (const id of ["9-0", "10-0", "10-2", "10-10", "100-0"]) ordered.push(id, {});
    const after: string[] = [];
    ordered.forEachAfter("10-2", (id) => after.push(id));
    expect(after).toEqual(["10-10", "100-0"]);
  });
});
