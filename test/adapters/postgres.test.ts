/**
 * @socket.io/postgres-adapter 0.5 (pg 8) on unio nodes, unchanged, with a
 * real PostgreSQL server started for this file (harness.ts: initdb into a
 * temp dir, trust auth, 127.0.0.1, a free port): two unio nodes on Node, a
 * unio node with a socket.io 4.8 node, and a unio node on Bun with one on
 * Deno (pg runs on both). Broadcasts (with binary, which the
 * adapter sends as a msgpack attachment row), rooms, fetchSockets,
 * serverSideEmit with acks; a malformed NOTIFY on the adapter's channel is
 * dropped without ending a node or reaching a client.
 */
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  type Client,
  closeAllClients,
  connect,
  ctl,
  type FixtureProcess,
  next,
  type PostgresServer,
  record,
  startFixture,
  startPostgres,
} from "./harness.ts";
import { waitFor } from "../helpers/wait.ts";

afterEach(() => closeAllClients());

let postgres: PostgresServer;
let raw: pg.Client;

beforeAll(async () => {
  postgres = await startPostgres();
  raw = new pg.Client(postgres.url);
  await raw.connect();
  // The table the adapter's README has every deployment create (binary and large payloads go there).
  await raw.query(`CREATE TABLE IF NOT EXISTS socket_io_attachments (
    id bigserial UNIQUE, created_at timestamptz DEFAULT NOW(), payload bytea)`);
}, 60_000);

afterAll(async () => {
  await raw?.end().catch(() => {});
  await postgres?.stop();
});

type Kind = "unio" | "socketio" | "unio-bun" | "unio-deno";
/** unio on Node, Bun or Deno, or socket.io 4.8 on Node. */
const startNode = (name: string, kind: Kind) =>
  kind === "unio-bun" || kind === "unio-deno"
    ? startFixture(`postgres-${kind.slice(5)}.ts`, { PG_URL: postgres.url, NODE_NAME: name }, 30_000, kind.slice(5) as "bun" | "deno")
    : startFixture("postgres-node.ts", { PG_URL: postgres.url, NODE_NAME: name, KIND: kind });

async function expectNotReceived(seen: unknown[][], watcher: Client, from: Client): Promise<void> {
  const marker = next(watcher, "marker", 5000);
  await ctl(from, "broadcast", { event: "marker" });
  await marker;
  expect(seen).toEqual([]);
}

for (const pair of [
  ["unio", "unio"],
  ["unio", "socketio"],
  ["unio-bun", "unio-deno"],
] as const) {
  describe(`@socket.io/postgres-adapter 0.5: ${pair.join(" + ")} nodes`, () => {
    let nodes: FixtureProcess[] = [];
    const names = pair.map((kind, i) => `${kind}-${i + 1}`);
    /** One client per node (a on node 1, b on node 2). */
    let clients: () => Promise<[Client, Client]>;

    beforeAll(async () => {
      nodes = await Promise.all(pair.map((kind, i) => startNode(names[i]!, kind)));
      clients = () => Promise.all(nodes.map((n) => connect(n.url))) as Promise<[Client, Client]>;
      // Heartbeats every second: wait until both nodes count each other.
      const [a, b] = await clients();
      for (const c of [a, b]) await waitFor(async () => (await ctl(c, "serverCount")).count === 2, { timeout: 10_000, what: `serverCount on ${c.node}` });
      closeAllClients();
    }, 60_000);

    afterAll(async () => {
      closeAllClients();
      await Promise.all(nodes.map((n) => n.kill()));
    });

    it("broadcasts both ways, with binary (an attachment row) and a payload over the NOTIFY threshold", async () => {
      const [a, b] = await clients();
      expect([a.node, b.node]).toEqual(names);
      const big = "x".repeat(10_000);
      for (const [sender, other] of [
        [a, b],
        [b, a],
      ] as const) {
        const got = Promise.all([sender, other].map((c) => next(c, "hello")));
        await ctl(sender, "broadcast", { event: "hello", args: [{ from: sender.node }, Buffer.from([1, 2, 3]), big] });
        for (const [obj, bin, text] of await got) {
          expect(obj).toEqual({ from: sender.node });
          expect([...new Uint8Array(bin)]).toEqual([1, 2, 3]);
          expect(text).toBe(big);
        }
      }
    });

    it("rooms and except across nodes", async () => {
      const [a, b] = await clients();
      const [a2, b2] = await clients();
      await ctl(b, "join", "green");
      await ctl(b2, "join", ["green", "muted"]);
      await ctl(a2, "join", "green");
      for (const sender of [a, b]) {
        const seenA = record(a, "to-green");
        const seenB2 = record(b2, "to-green");
        const got = Promise.all([b, a2].map((c) => next(c, "to-green")));
        await ctl(sender, "broadcast", { rooms: ["green"], except: ["muted"], event: "to-green", args: [sender.node] });
        for (const args of await got) expect(args).toEqual([sender.node]);
        await expectNotReceived(seenA, a, sender);
        await expectNotReceived(seenB2, b2, sender);
        a.socket.off("to-green");
        b2.socket.off("to-green");
      }
    });

    it("fetchSockets returns both nodes' sockets, with rooms and data", async () => {
      const [a, b] = await clients();
      await ctl(b, "join", "fetched");
      for (const asker of [a, b]) {
        const all = await ctl(asker, "fetchSockets", {});
        expect(all.error).toBeUndefined();
        expect(all.sockets.map((s: { id: string }) => s.id)).toEqual([a.id, b.id].sort());
        const inRoom = await ctl(asker, "fetchSockets", { rooms: ["fetched"] });
        expect(inRoom.sockets).toEqual([{ id: b.id, rooms: [b.id, "fetched"].sort(), data: { node: b.node } }]);
      }
    });

    it("serverSideEmit with ack both ways, broadcast acks, socketsJoin and remote emits", async () => {
      const [a, b] = await clients();
      for (const [asker, other] of [
        [a, b],
        [b, a],
      ] as const) {
        const r = await ctl(asker, "serverSideEmit", { event: "whoareyou", args: ["ping"], withAck: true });
        expect(r).toEqual({ ms: expect.any(Number), responses: [{ from: other.node, arg: "ping" }] });
        const heard = next(other, "notice-received");
        await ctl(asker, "serverSideEmit", { event: "notice", args: ["n"] });
        expect(await heard).toEqual([{ node: other.node, arg: "n" }]);
      }
      for (const x of [a, b]) x.socket.on("question", (n: number, cb: (v: unknown) => void) => cb({ node: x.node, n: n + 1 }));
      const acked = await ctl(a, "emitWithAck", { event: "question", args: [1], timeout: 3000 });
      expect(acked.responses.map((r: { node: string }) => r.node).sort()).toEqual([a.node, b.node].sort());

      await ctl(b, "socketsJoin", { room: "joined" });
      await waitFor(async () => (await ctl(a, "fetchSockets", { rooms: ["joined"] })).sockets?.length === 2, { timeout: 5000, what: "socketsJoin" });
      const direct = next(a, "direct");
      expect(await ctl(b, "remoteEmit", { id: a.id, event: "direct", args: ["to a"] })).toEqual({ ok: true });
      expect(await direct).toEqual(["to a"]);
    });

    it("a malformed NOTIFY on the adapter's channel is dropped: no node ends, no unio client sees it", async () => {
      const [a, b] = await clients();
      // Watched: the clients of unio nodes. A socket.io 4.8 node writes some of these packets
      // (an event whose data is not an array, an unknown packet type) to its clients as they
      // come, and socket.io-client closes with "parse error"; unio's seam drops them.
      const watched = [a, b].filter((_, i) => pair[i] !== "socketio");
      const seen = watched.map((c) => {
        const s: unknown[] = [];
        c.socket.onAny((...args: unknown[]) => s.push(args));
        c.socket.on("disconnect", (reason: string) => s.push(["disconnect", reason]));
        return s;
      });
      const before = await Promise.all([a, b].map((c) => ctl(c, "adapterErrors")));
      const uid = "f00dfeedf00dfeed";
      const event = (packet: unknown, opts: unknown = { rooms: [], except: [] }) =>
        JSON.stringify({ uid, nsp: "/", type: 3, data: { packet, opts } });
      const payloads = [
        "not json",
        "null",
        "42",
        "[]",
        '"a string"',
        JSON.stringify({ uid, nsp: "/", type: 3 }),
        JSON.stringify({ uid, nsp: "/", type: 3, data: null }),
        event(null, {}),
        event({ type: 2, nsp: "/", data: "not an array" }),
        event({ type: 99, nsp: "/", data: ["x"] }),
        event({ type: 2, nsp: "/", data: [] }),
        event({ type: 2, nsp: "/", data: [42] }),
        event({ type: "2", nsp: "/", data: ["string type"] }),
        event({ type: 2, nsp: "/", data: ["ok"], id: "not a number" }),
        event({ type: 2, nsp: "/", data: ["x"] }, { rooms: 7, except: "y" }),
        JSON.stringify({ uid, nsp: "/", type: 4, data: { opts: null, rooms: 5 } }),
        JSON.stringify({ uid, nsp: "/", type: 7, data: { requestId: "r", opts: 3 } }),
        JSON.stringify({ uid, nsp: "/", type: 9, data: { packet: "nope" } }),
        JSON.stringify({ uid, nsp: "/", type: 1234 }),
        JSON.stringify({ uid, type: 3, attachmentId: "999999" }),
        JSON.stringify({ uid, type: 3, attachmentId: "not a number" }),
      ];
      for (const p of payloads) await raw.query("SELECT pg_notify($1, $2)", ["socket.io#/", p]);
      // NOTIFYs arrive in order; the last one fails in the adapter's own query, and its errorHandler
      // (the fixture prints it) says each node got that far.
      await waitFor(() => nodes.every((n) => n.stderr().includes('invalid input syntax for type bigint: "not a number"')), { timeout: 5000, what: "NOTIFYs handled" });

      // Every node still serves and relays: fresh clients on both, and the watched ones, get a broadcast from each.
      const [a2, b2] = await clients();
      for (const sender of [a2, b2]) {
        const got = Promise.all([a2, b2, ...watched].map((c) => next(c, "after")));
        await ctl(sender, "broadcast", { event: "after", args: [sender.node] });
        for (const args of await got) expect(args).toEqual([sender.node]);
      }
      for (const n of nodes) expect(n.child.exitCode).toBeNull();
      for (const s of seen) expect(s).toEqual([["after", a.node], ["after", b.node]]);
      for (const c of watched) expect(c.socket.connected).toBe(true);
      // The adapter reported what it could not parse, fetch or apply (its errorHandler).
      const after = await Promise.all([a2, b2].map((c) => ctl(c, "adapterErrors")));
      for (let i = 0; i < 2; i++) expect(after[i].errors.length).toBeGreaterThan(before[i].errors.length);
      // socket.io-adapter counted the forged uid as a server until its heartbeat timeout (3 s here).
      for (const c of [a2, b2]) await waitFor(async () => (await ctl(c, "serverCount")).count === 2, { timeout: 10_000, what: "serverCount back to 2" });
    });
  });
}
