/**
 * Rooms and requests spanning Durable Objects (the DurableObjectAdapter, a
 * ClusterAdapter over the objects' RPC), in workerd, with socket.io-client:
 * serverSideEmit with acks, fetchSockets when an object lacks the
 * namespace, and connection state recovery of a broadcast that came from
 * another object. The room/ack/socketsJoin basics are in socketio.test.ts.
 */
import { io as connect, type Socket as ClientSocket } from "socket.io-client";
import { afterEach, describe, expect, it } from "vitest";
import { once, waitFor, within } from "../helpers/wait.ts";
import { useWorker } from "./harness.ts";

const w = useWorker(new URL("./io-app.ts", import.meta.url).pathname, { IO: "IoObject" });
const clients: ClientSocket[] = [];

afterEach(() => {
  for (const c of clients.splice(0)) c.disconnect();
});

function open(shard: string, nsp = "/"): ClientSocket {
  const c = connect(`${w.url}${nsp}`, { transports: ["websocket"], query: { shard }, forceNew: true, reconnection: false });
  clients.push(c);
  return c;
}

async function connected(c: ClientSocket): Promise<void> {
  await once(c, "connect", { failOn: "connect_error", timeout: 5000, what: "connect" });
}

async function client(shard: string, nsp = "/"): Promise<ClientSocket> {
  const c = open(shard, nsp);
  await connected(c);
  return c;
}

function ask<T = any>(c: ClientSocket, event: string, ...args: unknown[]): Promise<T> {
  return within(c.timeout(6000).emitWithAck(event, ...args) as Promise<T>, { timeout: 7000, what: event });
}

/** Until the hub lists the objects of `shards` as members of the cluster (their joins reached it). */
async function members(...shards: string[]): Promise<void> {
  await Promise.all(
    shards.map((shard) =>
      waitFor(async () => (await fetch(`${w.url}/__test/member?shard=${shard}`)).json() as Promise<boolean>, {
        timeout: 5000,
        what: `the object of shard ${shard} a member of the cluster`,
      }),
    ),
  );
}

/** What the shard's object hosts: its Engine.IO sessions and sockets. */
async function stats(shard: string): Promise<{ sessions: number; sockets: number }> {
  return (await fetch(`${w.url}/__test/stats?shard=${shard}`)).json() as Promise<{ sessions: number; sockets: number }>;
}

describe("the cluster of Durable Objects", () => {
  it("serverSideEmitWithAck: every other object answers once, the asking object does not", async () => {
    const a = await client("sse-1");
    const b = await client("sse-2");
    const c = await client("sse-3");
    const b2 = await client("sse-2");
    await members("sse-1", "sse-2", "sse-3");
    const answers = await ask<string[][] | { error: string }>(a, "servers");
    expect(Array.isArray(answers)).toBe(true);
    const ids = (answers as string[][]).flat();
    expect(ids.sort()).toEqual([b.id, b2.id, c.id].sort());
    // One answer per object, not per socket.
    expect((answers as string[][]).filter((list) => list.length > 0).length).toBe(2);
  });

  it("fetchSockets does not wait for an object that lacks the namespace", async () => {
    const here = await client("nsp-1", "/dyn-7");
    const there = await client("nsp-3", "/dyn-7");
    await client("nsp-2"); // a member object whose server never created /dyn-7
    await members("nsp-1", "nsp-2", "nsp-3");
    const started = Date.now();
    const ids = await ask<string[]>(here, "fetch", here.id);
    expect(ids).toEqual([here.id]);
    const all = await ask<string[]>(here, "fetch", "nowhere");
    expect(all).toEqual([]);
    // Socket ids are rooms: the other object's socket is found through it.
    expect(await ask<string[]>(here, "fetch", there.id)).toEqual([there.id]);
    // Well under the 5 s requests timeout the absent namespace would otherwise cost.
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it("a client that dropped recovers a broadcast another object sent while it was away", async () => {
    const x = open("csr-1");
    // The first packet, with an offset (what the client presents to recover).
    const hello = once(x, "hello", { timeout: 5000 });
    await connected(x);
    await hello;
    const id = x.id;
    await ask(x, "join", "cross");
    const stay = await client("csr-1"); // keeps the object a member of the cluster
    await ask(stay, "join", "cross"); // and sees the broadcast arrive there (below)
    const sender = await client("csr-2");
    await members("csr-1", "csr-2");

    const dropped = once(x, "disconnect", { timeout: 3000 });
    x.io.engine.close();
    await dropped;
    // The object saw the drop (only `stay`'s session is left): what is sent now is missed, and kept for the recovery.
    await waitFor(async () => (await stats("csr-1")).sessions === 1, { timeout: 5000, what: "csr-1 dropping x's session" });
    const atStay = once(stay, "missed", { timeout: 5000 });
    sender.emit("to", "cross", "missed", "from the other object");
    // The object applied the broadcast (and kept it for x) when `stay` got it.
    expect(await atStay).toBe("from the other object");

    const missed = once<string>(x, "missed", { timeout: 5000 });
    x.connect();
    await connected(x);
    expect(x.recovered).toBe(true);
    expect(x.id).toBe(id);
    expect(await missed).toBe("from the other object");
    expect(stay.connected).toBe(true);
  });
});
