/**
 * Three unio nodes on Node (two on ioredis, one on node-redis) sharing a
 * private redis-server through `createAdapter()`, driven by socket.io-client.
 * Each test uses fresh clients and its own room names.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  assertNotReceived,
  type Client,
  type ClusterNode,
  closeAllClients,
  connect,
  ctl,
  next,
  type RedisCluster,
  record,
  startRedisCluster,
} from "./harness.ts";
import { waitFor } from "../helpers/wait.ts";

let cluster: RedisCluster;
let n1: ClusterNode;
let n2: ClusterNode;
let n3: ClusterNode;
let roomSeq = 0;
const room = (label: string) => `${label}-${++roomSeq}`;

beforeAll(async () => {
  cluster = await startRedisCluster([
    { name: "n1", client: "ioredis", requestsTimeout: 2000 },
    { name: "n2", client: "node-redis", requestsTimeout: 2000 },
    { name: "n3", client: "ioredis", requestsTimeout: 2000 },
  ]);
  [n1, n2, n3] = cluster.nodes as [ClusterNode, ClusterNode, ClusterNode];
});

afterEach(() => closeAllClients());

afterAll(() => cluster?.stop());

/**
 * Proves `client` did NOT get `event`: the same node then broadcasts a
 * marker to everyone; Redis keeps one publisher's messages in order, so
 * once the marker arrived, an earlier `event` would have arrived too.
 */
describe("broadcasts across nodes", () => {
  it("a room broadcast reaches the members on every node and nobody else, binary intact", async () => {
    const r = room("chat");
    const [a, b, c, outsider1, outsider3] = await Promise.all([
      connect(n1.url),
      connect(n2.url),
      connect(n3.url),
      connect(n1.url),
      connect(n3.url),
    ]);
    await Promise.all([a, b, c].map((x) => ctl(x, "join", r)));
    const seen1 = record(outsider1, "hello");
    const seen3 = record(outsider3, "hello");
    const got = Promise.all([a, b, c].map((x) => next(x, "hello")));
    await ctl(outsider3, "broadcast", { rooms: [r], event: "hello", args: ["hi", { n: 1 }, new Uint8Array([1, 2, 255])] });
    for (const [text, obj, bytes] of await got) {
      expect(text).toBe("hi");
      expect(obj).toEqual({ n: 1 });
      expect([...(bytes as Uint8Array)]).toEqual([1, 2, 255]);
    }
    await assertNotReceived(seen1, outsider1, outsider3);
    await assertNotReceived(seen3, outsider3, outsider3);
  });

  it("every recipient gets a broadcast exactly once, the sender's node included", async () => {
    const r = room("once");
    const [a, b, c] = await Promise.all([connect(n1.url), connect(n2.url), connect(n3.url)]);
    await Promise.all([a, b, c].map((x) => ctl(x, "join", r)));
    const seen = [a, b, c].map((x) => record(x, "once"));
    await ctl(c, "broadcast", { rooms: [r], event: "once", args: [1] });
    // The marker leaves the same node after the broadcast: once it arrived, duplicates would have too.
    const markers = Promise.all([a, b, c].map((x) => next(x, "marker")));
    await ctl(c, "broadcast", { event: "marker" });
    await markers;
    expect(seen).toEqual([[[1]], [[1]], [[1]]]);
  });

  it("a broadcast to several rooms reaches a socket in both only once", async () => {
    const [r1, r2] = [room("x"), room("y")];
    const [a, b] = await Promise.all([connect(n1.url), connect(n2.url)]);
    await ctl(a, "join", [r1, r2]);
    await ctl(b, "join", r2);
    const seenA = record(a, "multi");
    const gotB = next(b, "multi");
    await ctl(b, "broadcast", { rooms: [r1, r2], event: "multi", args: [1] });
    await gotB;
    const marker = next(a, "marker");
    await ctl(b, "broadcast", { event: "marker" });
    await marker;
    expect(seenA).toEqual([[1]]);
  });

  it("except() excludes members of the excepted rooms on every node", async () => {
    const [r, vip] = [room("all"), room("vip")];
    const [a, b, c] = await Promise.all([connect(n1.url), connect(n2.url), connect(n3.url)]);
    await Promise.all([a, b, c].map((x) => ctl(x, "join", r)));
    await ctl(b, "join", vip);
    const seenB = record(b, "news");
    const got = Promise.all([next(a, "news"), next(c, "news")]);
    await ctl(a, "broadcast", { rooms: [r], except: [vip], event: "news", args: ["x"] });
    expect(await got).toEqual([["x"], ["x"]]);
    await assertNotReceived(seenB, b, a);
  });

  it("the local flag keeps a broadcast on the emitting node", async () => {
    const [a, other1, b, c] = await Promise.all([connect(n1.url), connect(n1.url), connect(n2.url), connect(n3.url)]);
    const seenB = record(b, "local-only");
    const seenC = record(c, "local-only");
    const got = Promise.all([next(a, "local-only"), next(other1, "local-only")]);
    await ctl(a, "broadcast", { local: true, event: "local-only", args: [42] });
    expect(await got).toEqual([[42], [42]]);
    await assertNotReceived(seenB, b, a);
    await assertNotReceived(seenC, c, a);
  });

  it("socket.broadcast-like targeting: a socket id is a room on any node", async () => {
    const [a, b] = await Promise.all([connect(n1.url), connect(n3.url)]);
    const got = next(b, "direct");
    await ctl(a, "broadcast", { rooms: [b.id], event: "direct", args: ["to-you"] });
    expect(await got).toEqual(["to-you"]);
  });
});

describe("fetchSockets", () => {
  it("returns matching sockets of every node with id, rooms, data and handshake", async () => {
    const r = room("fetch");
    const a = await connect(n1.url, { auth: { data: { user: "alice" } } });
    const b = await connect(n2.url, { auth: { data: { user: "bob" } } });
    const c = await connect(n3.url, { auth: { data: { user: "carol" } } });
    await Promise.all([a, b, c].map((x) => ctl(x, "join", r)));
    await ctl(c, "join", "extra-" + r);
    const res = await ctl(a, "fetchSockets", { rooms: [r] });
    expect(res.error).toBeUndefined();
    const byId = Object.fromEntries(res.sockets.map((s: any) => [s.id, s]));
    expect(Object.keys(byId).sort()).toEqual([a.id, b.id, c.id].sort());
    expect(byId[b.id].data).toEqual({ node: "n2", user: "bob" });
    expect(byId[b.id].rooms).toEqual([b.id, r].sort());
    expect(byId[c.id].rooms).toEqual([c.id, "extra-" + r, r].sort());
    expect(byId[c.id].handshakeAuth).toEqual({ data: { user: "carol" } });
  });

  it("honours except() and the local flag", async () => {
    const [r, ex] = [room("f"), room("fx")];
    const [a, b, c] = await Promise.all([connect(n1.url), connect(n2.url), connect(n3.url)]);
    await Promise.all([a, b, c].map((x) => ctl(x, "join", r)));
    await ctl(c, "join", ex);
    const all = await ctl(b, "fetchSockets", { rooms: [r], except: [ex] });
    expect(all.sockets.map((s: any) => s.id).sort()).toEqual([a.id, b.id].sort());
    const local = await ctl(b, "fetchSockets", { rooms: [r], local: true });
    expect(local.sockets.map((s: any) => s.id)).toEqual([b.id]);
  });
});

describe("remote socket operations", () => {
  it("socketsJoin and socketsLeave act on sockets of other nodes", async () => {
    const [target, late] = [room("tj"), room("joined")];
    const [a, b, c] = await Promise.all([connect(n1.url), connect(n2.url), connect(n3.url)]);
    await ctl(b, "join", target);
    await ctl(c, "join", target);
    await ctl(a, "socketsJoin", { rooms: [target], room: late });
    // The join is applied when each node handles the request: observe it through fetchSockets.
    await expectEventually(async () => {
      const res = await ctl(a, "fetchSockets", { rooms: [late] });
      return res.sockets.map((s: any) => s.id).sort().join() === [b.id, c.id].sort().join();
    });
    const got = Promise.all([next(b, "in-late"), next(c, "in-late")]);
    await ctl(a, "broadcast", { rooms: [late], event: "in-late", args: [1] });
    await got;

    await ctl(a, "socketsLeave", { rooms: [b.id], room: late });
    await expectEventually(async () => {
      const res = await ctl(a, "fetchSockets", { rooms: [late] });
      return res.sockets.map((s: any) => s.id).join() === c.id;
    });
    const seenB = record(b, "after-leave");
    const gotC = next(c, "after-leave");
    await ctl(a, "broadcast", { rooms: [late], event: "after-leave" });
    await gotC;
    await assertNotReceived(seenB, b, a);
  });

  it("disconnectSockets disconnects matching sockets on every node", async () => {
    const r = room("bye");
    const [a, b, c, stay] = await Promise.all([connect(n1.url), connect(n2.url), connect(n3.url), connect(n2.url)]);
    await Promise.all([b, c].map((x) => ctl(x, "join", r)));
    const reasons = Promise.all([next(b, "disconnect"), next(c, "disconnect")]);
    await ctl(a, "disconnectSockets", { rooms: [r] });
    expect((await reasons).map(([reason]) => reason)).toEqual(["io server disconnect", "io server disconnect"]);
    expect(stay.socket.connected).toBe(true);
    const res = await ctl(a, "fetchSockets", { rooms: [r] });
    expect(res.sockets).toEqual([]);
  });

  it("a RemoteSocket from fetchSockets emits to its socket on another node and gets its ack", async () => {
    const [a, b] = await Promise.all([connect(n1.url), connect(n3.url)]);
    b.socket.on("ask", (q: string, cb: (v: unknown) => void) => cb(`answer to ${q}`));
    const res = await ctl(a, "remoteEmit", { id: b.id, event: "ask", args: ["life"], ack: true });
    expect(res).toEqual({ response: "answer to life" });
  });
});

describe("server-side events", () => {
  it("serverSideEmit reaches every other node, not the sender", async () => {
    const [a, b, c] = await Promise.all([connect(n1.url), connect(n2.url), connect(n3.url)]);
    const seenA = record(a, "notice-received");
    const got = Promise.all([next(b, "notice-received"), next(c, "notice-received")]);
    await ctl(a, "serverSideEmit", { event: "notice", args: [{ v: 1 }] });
    expect((await got).map(([x]) => x)).toEqual([
      { node: "n2", arg: { v: 1 } },
      { node: "n3", arg: { v: 1 } },
    ]);
    await assertNotReceived(seenA, a, a);
  });

  it("serverSideEmitWithAck gathers one answer from each other node", async () => {
    const b = await connect(n2.url);
    const res = await ctl(b, "serverSideEmit", { event: "whoareyou", args: ["q"], withAck: true });
    expect(res.error).toBeUndefined();
    expect(res.responses.map((r: any) => r.from).sort()).toEqual(["n1", "n3"]);
    expect(res.responses.every((r: any) => r.arg === "q")).toBe(true);
  });

  it("serverCount counts the three nodes", async () => {
    const a = await connect(n1.url);
    expect(await ctl(a, "serverCount")).toEqual({ count: 3 });
  });

  it("allRooms lists the rooms of every node", async () => {
    const [r1, r3] = [room("ar"), room("ar")];
    const [a, c] = await Promise.all([connect(n1.url), connect(n3.url)]);
    await ctl(a, "join", r1);
    await ctl(c, "join", r3);
    const res = await ctl(a, "allRooms");
    expect(res.rooms).toEqual(expect.arrayContaining([r1, r3, a.id, c.id]));
  });
});

describe("broadcast with acknowledgements", () => {
  it("emitWithAck collects the answer of every client on every node", async () => {
    const r = room("poll");
    const [a, b, c] = await Promise.all([connect(n1.url), connect(n2.url), connect(n3.url)]);
    for (const [x, name] of [
      [a, "a"],
      [b, "b"],
      [c, "c"],
    ] as const) {
      await ctl(x, "join", r);
      x.socket.on("vote", (n: number, cb: (v: string) => void) => cb(`${name}${n}`));
    }
    const res = await ctl(b, "emitWithAck", { rooms: [r], event: "vote", args: [7], timeout: 3000 });
    expect(res.error).toBeUndefined();
    expect(res.responses.sort()).toEqual(["a7", "b7", "c7"]);
  });

  it("times out with the partial answers when a remote client does not answer", async () => {
    const r = room("poll");
    const [a, b, silent] = await Promise.all([connect(n1.url), connect(n2.url), connect(n3.url)]);
    await Promise.all([a, b, silent].map((x) => ctl(x, "join", r)));
    a.socket.on("vote", (cb: (v: string) => void) => cb("a"));
    b.socket.on("vote", (cb: (v: string) => void) => cb("b"));
    silent.socket.on("vote", () => {});
    const started = Date.now();
    const res = await ctl(a, "emitWithAck", { rooms: [r], event: "vote", timeout: 1000 });
    expect(res.error).toBe("operation has timed out");
    expect(res.responses.sort()).toEqual(["a", "b"]);
    expect(Date.now() - started).toBeLessThan(4000);
  });

  // Known gap in the socket layer: BroadcastOperator waits for serverCount() nodes to report
  // their client counts, but with `local` only this node reports, so the call times out
  // (socket.io 4.8 behaves the same). Marked as failing until the operator expects one node
  // for local broadcasts; then this test starts passing and `.fails` must go.
  it("local emitWithAck resolves with this node's answers only", async () => {
    const r = room("local-ack");
    const [a, b] = await Promise.all([connect(n1.url), connect(n2.url)]);
    await Promise.all([a, b].map((x) => ctl(x, "join", r)));
    a.socket.on("vote", (cb: (v: string) => void) => cb("a"));
    b.socket.on("vote", (cb: (v: string) => void) => cb("b"));
    const res = await ctl(a, "emitWithAck", { rooms: [r], local: true, event: "vote", timeout: 1000 });
    expect(res).toEqual({ responses: ["a"] });
  });

  it("resolves at once with no answers when no client matches", async () => {
    const a = await connect(n1.url);
    const res = await ctl(a, "emitWithAck", { rooms: [room("empty")], event: "vote", timeout: 3000 });
    expect(res).toEqual({ responses: [] });
  });
});

async function expectEventually(fn: () => Promise<boolean>, timeout = 5000): Promise<void> {
  await waitFor(fn, { timeout, interval: 50 });
}
