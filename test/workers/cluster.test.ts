/**
 * Rooms and requests spanning Durable Objects (the DurableObjectAdapter, a
 * ClusterAdapter over the objects' RPC), in workerd, with socket.io-client:
 * serverSideEmit with acks, fetchSockets when an object lacks the
 * namespace, and connection state recovery of a broadcast that came from
 * another object. The room/ack/socketsJoin basics are in socketio.test.ts.
 */
import { io as connect, type Socket as ClientSocket } from "socket.io-client";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type RunningWorker, startWorker } from "./harness.ts";

let w: RunningWorker;
const clients: ClientSocket[] = [];

beforeAll(async () => {
  w = await startWorker(new URL("./io-app.ts", import.meta.url).pathname, { IO: "IoObject" });
});
afterEach(() => {
  for (const c of clients.splice(0)) c.disconnect();
});
afterAll(async () => {
  await w?.dispose();
});

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

function open(shard: string, nsp = "/"): ClientSocket {
  const c = connect(`${w.url}${nsp}`, { transports: ["websocket"], query: { shard }, forceNew: true, reconnection: false });
  clients.push(c);
  return c;
}

function connected(c: ClientSocket): Promise<void> {
  return within(
    new Promise<void>((resolve, reject) => {
      c.once("connect", () => resolve());
      c.once("connect_error", reject);
    }),
    5000,
    "connect",
  );
}

async function client(shard: string, nsp = "/"): Promise<ClientSocket> {
  const c = open(shard, nsp);
  await connected(c);
  return c;
}

function ask<T = any>(c: ClientSocket, event: string, ...args: unknown[]): Promise<T> {
  return within(c.timeout(6000).emitWithAck(event, ...args) as Promise<T>, 7000, event);
}

function next<T = unknown>(c: ClientSocket, event: string, ms = 3000): Promise<T> {
  return within(new Promise<T>((resolve) => c.once(event, (v: T) => resolve(v))), ms, event);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("the cluster of Durable Objects", () => {
  it("serverSideEmitWithAck: every other object answers once, the asking object does not", async () => {
    const a = await client("sse-1");
    const b = await client("sse-2");
    const c = await client("sse-3");
    const b2 = await client("sse-2");
    await sleep(100); // the objects' joins reach the hub
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
    await sleep(100);
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
    await connected(x);
    await next(x, "hello").catch(() => {}); // the first packet, with an offset, came before "connect" resolved or now
    const id = x.id;
    await ask(x, "join", "cross");
    const stay = await client("csr-1"); // keeps the object a member of the cluster
    const sender = await client("csr-2");
    await sleep(100);

    const dropped = within(new Promise<void>((r) => x.once("disconnect", () => r())), 3000, "disconnect");
    x.io.engine.close();
    await dropped;
    await sleep(100);
    sender.emit("to", "cross", "missed", "from the other object");
    await sleep(300);

    const missed = next<string>(x, "missed", 5000);
    x.connect();
    await connected(x);
    expect(x.recovered).toBe(true);
    expect(x.id).toBe(id);
    expect(await missed).toBe("from the other object");
    expect(stay.connected).toBe(true);
  });
});
