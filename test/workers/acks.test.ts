/**
 * Pending acks survive an eviction as far as the platform allows (issue 13),
 * in workerd (Miniflare) with socket.io-client: a named ack's reply or
 * deadline reaches its `io.onAck()` handler after the object was rebuilt
 * from its WebSockets; a closure cannot be rebuilt, and its reply or
 * deadline goes to `io.onLostAck()`. Evictions go through the test hook: at
 * once (a new host rebuilds in the same call), or lazily (nothing in memory
 * until the next event, here the alarm of the deadline, builds it).
 */
import { io as connect, type Socket as ClientSocket } from "socket.io-client";
import { afterEach, describe, expect, it } from "vitest";
import { once, within } from "../helpers/wait.ts";
import { useWorker } from "./harness.ts";

type Stats = Record<string, number>;
interface AckResult {
  tag: string;
  id: number;
  restored: boolean;
  err: string | null;
  args: unknown[];
  late: number | null;
}

const w = useWorker(new URL("./acks-app.ts", import.meta.url).pathname, { ACKS: "AckObject" });
const clients: ClientSocket[] = [];

afterEach(() => {
  for (const c of clients.splice(0)) c.disconnect();
});

/** A client whose "job" acks are kept, by tag, for the test to answer (or not) later. */
async function client(shard: string) {
  const c = connect(w.url, { transports: ["websocket"], query: { shard }, forceNew: true, reconnection: false });
  clients.push(c);
  const jobs = new Map<string, (...args: unknown[]) => void>();
  c.on("job", (tag: string, ack: (...args: unknown[]) => void) => jobs.set(tag, ack));
  await once(c, "connect", { failOn: "connect_error" });
  return { c, jobs };
}

async function start(c: ClientSocket, opts: { tag: string; ms?: number; closure?: boolean }): Promise<number> {
  return within(c.timeout(4000).emitWithAck("start", opts) as Promise<number>, { what: `start ${opts.tag}` });
}

/** A round trip: the object handled every earlier event, and their write-backs are done. */
async function settle(c: ClientSocket): Promise<void> {
  await within(c.timeout(4000).emitWithAck("whoami"), { what: "whoami" });
}

async function evict(shard: string, lazy = false): Promise<void> {
  const res = await fetch(`${w.url}/__test/evict?shard=${shard}${lazy ? "&lazy" : ""}`);
  expect(res.status).toBe(200);
}

async function stats(shard: string): Promise<Stats> {
  return (await (await fetch(`${w.url}/__test/stats?shard=${shard}`)).json()) as Stats;
}

describe("named acks across an eviction", () => {
  it("a reply after the rebuild reaches the handler registered by name, with its arguments and context", async () => {
    const shard = "named-reply";
    const { c, jobs } = await client(shard);
    const id = await start(c, { tag: "a" });
    await settle(c);
    await evict(shard);
    expect((await stats(shard)).rebuilds).toBe(1);
    expect(await within(c.timeout(4000).emitWithAck("whoami"), { what: "whoami" })).toEqual({ id: c.id, recovered: true });

    const result = once<AckResult>(c, "ack-result");
    jobs.get("a")!("late", { n: 1 });
    expect(await result).toEqual({ tag: "a", id, restored: true, err: null, args: ["late", { n: 1 }], late: null });
  });

  it("a reply before the deadline, after the rebuild: the handler gets it, and the deadline does not fire", async () => {
    const shard = "named-reply-timed";
    const { c, jobs } = await client(shard);
    await start(c, { tag: "t", ms: 1500 });
    await settle(c);
    await evict(shard);
    const results: AckResult[] = [];
    c.on("ack-result", (r: AckResult) => results.push(r));
    jobs.get("t")!(7);
    await once(c, "ack-result");
    // A second job whose deadline comes after the first's: once its timeout arrived, the first's would have.
    await start(c, { tag: "marker", ms: 1700 });
    await once(c, "ack-result", { timeout: 5000 });
    expect(results.map((r) => [r.tag, r.err, r.args])).toEqual([
      ["t", null, [7]],
      ["marker", "operation has timed out", []],
    ]);
  });

  it("no reply: the deadline passes while nothing is in memory, the alarm rebuilds the object, the handler gets the timeout on time", async () => {
    const shard = "named-timeout";
    const { c, jobs } = await client(shard);
    const ms = 1500;
    const t0 = Date.now();
    const id = await start(c, { tag: "slow", ms });
    await settle(c);
    const before = await stats(shard);
    await evict(shard, true);
    const result = await once<AckResult>(c, "ack-result", { timeout: ms + 5000 });
    const elapsed = Date.now() - t0;
    if (process.env.UNIO_ACKS_LOG) console.log(`late ${result.late} elapsed ${elapsed}`);
    expect(result).toMatchObject({ tag: "slow", id, restored: true, err: "operation has timed out", args: [] });
    // Server side, from the deadline the emit computed: within 100 ms, never early.
    expect(result.late).toBeGreaterThanOrEqual(0);
    expect(result.late).toBeLessThanOrEqual(100);
    // Client side, from before the emit: the round trips add a little.
    expect(elapsed).toBeGreaterThanOrEqual(ms);
    expect(elapsed).toBeLessThan(ms + 300);
    const after = await stats(shard);
    // The new instance was built by the alarm (its first event), and rebuilt the session.
    expect(after.rebuilds).toBe(1);
    expect(after.alarms).toBeGreaterThanOrEqual(1);
    // Nothing but the alarm woke it: no request (stats is an RPC), no message.
    expect(after.fetches).toBe(0);
    expect(after.messages).toBe(0);
    expect(before.rebuilds).toBe(0);
    // A reply after the timeout is ignored, as on a live server.
    jobs.get("slow")!("too late");
    await settle(c);
    expect(c.connected).toBe(true);
  });

  it("the deadline fires on time after an immediate rebuild too, and survives two evictions", async () => {
    const shard = "named-timeout-twice";
    const { c } = await client(shard);
    const ms = 1200;
    await start(c, { tag: "twice", ms });
    await settle(c);
    await evict(shard);
    await settle(c);
    await evict(shard, true);
    const result = await once<AckResult>(c, "ack-result", { timeout: ms + 5000 });
    expect(result).toMatchObject({ tag: "twice", restored: true, err: "operation has timed out" });
    expect(result.late).toBeGreaterThanOrEqual(0);
    expect(result.late).toBeLessThanOrEqual(100);
  });
});

describe("closures across an eviction", () => {
  it("cannot be rebuilt: the reply goes to onLostAck, and a new ack after the rebuild is not confused with it", async () => {
    const shard = "closure-reply";
    const { c, jobs } = await client(shard);
    const id = await start(c, { tag: "old", closure: true });
    await settle(c);
    await evict(shard);
    // A new ack asked after the rebuild gets a fresh id.
    const fresh = await start(c, { tag: "new", closure: true });
    expect(fresh).toBeGreaterThan(id);
    const lost = once<{ id: number; outcome: string; args: unknown[] }>(c, "lost-ack");
    jobs.get("old")!("for the old closure");
    expect(await lost).toEqual({ id, outcome: "reply", args: ["for the old closure"] });
    const answered = once<{ tag: string; args: unknown[] }>(c, "closure-result");
    jobs.get("new")!("for the new one");
    expect(await answered).toEqual({ tag: "new", args: ["for the new one"] });
  });

  it("with a deadline: onLostAck hears of the timeout at its time (the closure itself is gone)", async () => {
    const shard = "closure-timeout";
    const { c } = await client(shard);
    const ms = 1000;
    const t0 = Date.now();
    const id = await start(c, { tag: "gone", ms, closure: true });
    await settle(c);
    await evict(shard, true);
    const lost = await once<{ id: number; outcome: string }>(c, "lost-ack", { timeout: ms + 5000 });
    expect(lost).toMatchObject({ id, outcome: "timeout" });
    expect(Date.now() - t0).toBeLessThan(ms + 300);
  });
});
