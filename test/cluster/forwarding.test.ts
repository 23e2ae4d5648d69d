/**
 * The session router on the wire, with no balancer in between: the test
 * itself sends each request to the node it wants (the owner A, or B), with
 * fetch and ws, so every path is taken on purpose: a relayed upgrade, the
 * body cap applied before forwarding, shedding past `maxForwards`, an owner
 * that dies while a GET is forwarded.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { io as ioc, type Socket as ClientSocket } from "socket.io-client";
import WebSocket from "ws";
import { once, waitFor } from "../helpers/wait.ts";
import { type RedisServer, startAll, startRedis } from "../redis/harness.ts";
import { type Node, startNode } from "./harness.ts";

const ENV = { MAX_FORWARDS: "2", MAX_BUFFER: "1000", PING_INTERVAL: "2000", REQUEST_TIMEOUT: "1500" };

let redis: RedisServer;
let a: Node;
let b: Node;

beforeAll(async () => {
  redis = await startRedis();
  [a, b] = (await startAll([startNode("node", "node-a", redis.url, ENV), startNode("node", "node-b", redis.url, ENV)])) as [Node, Node];
});

afterAll(async () => {
  for (const c of statsClients.values()) c.disconnect();
  await Promise.all([a, b].map((n) => n?.kill()));
  await redis?.stop();
});

const path = (sid?: string) => `/socket.io/?EIO=4&transport=polling${sid ? `&sid=${sid}` : ""}`;

/** An Engine.IO session opened on `node` over polling; returns its sid. */
async function handshake(node: Node): Promise<string> {
  const res = await fetch(node.url + path());
  const text = await res.text();
  expect(text[0]).toBe("0");
  return JSON.parse(text.slice(1)).sid as string;
}

/** A Socket.IO session on `node`, connected to "/" (CONNECT posted, the CONNECT reply read). */
async function socketIoSession(node: Node): Promise<string> {
  const sid = await handshake(node);
  expect(await (await fetch(node.url + path(sid), { method: "POST", body: "40" })).text()).toBe("ok");
  const connected = await (await fetch(node.url + path(sid))).text();
  expect(connected).toMatch(/^40\{"sid":/);
  return sid;
}

/** One WebSocket socket.io-client per node, for its "stats" (its own session: never forwarded). */
const statsClients = new Map<Node, ClientSocket>();

/** The node's session-router counters: forwards under way from it, requests it served for others. */
async function routerStats(node: Node): Promise<{ inflight: number; served: number }> {
  let c = statsClients.get(node);
  if (!c) {
    c = ioc(node.url, { transports: ["websocket"], forceNew: true, reconnection: false });
    statsClients.set(node, c);
    await once(c, "connect", { failOn: "connect_error", what: `a stats client on ${node.name}` });
  }
  const { router } = await c.timeout(5000).emitWithAck("stats");
  return router;
}

/**
 * The frames `ws` receives but pings (answered, as a client does), kept in
 * order from the start: two frames read from one TCP chunk are emitted in
 * the same turn, so a listener added per frame would miss the second.
 */
function frames(ws: WebSocket): { next(timeout?: number): Promise<string> } {
  const queue: string[] = [];
  ws.on("message", (data: Buffer, binary: boolean) => {
    if (!binary && data.toString() === "2") return void ws.send("3");
    queue.push(binary ? `<binary ${data.toString("hex")}>` : data.toString());
  });
  return {
    async next(timeout = 5000) {
      await waitFor(() => queue.length > 0, { timeout, what: "a frame" });
      return queue.shift()!;
    },
  };
}

describe("two nodes, requests sent to the node the test picks", () => {
  it("sids name their node: sessions of A and B differ in their first 8 characters, and stay 28 characters long", async () => {
    const [sa, sb] = await Promise.all([handshake(a), handshake(b)]);
    expect(sa.slice(0, 8)).not.toBe(sb.slice(0, 8));
    expect(sa).toHaveLength(28);
    expect((await handshake(a)).slice(0, 8)).toBe(sa.slice(0, 8));
  });

  it("a polling session on A is served through B: POST and GET forwarded, replies as A would give them", async () => {
    const sid = await handshake(a);
    expect(await (await fetch(b.url + path(sid), { method: "POST", body: "40" })).text()).toBe("ok");
    expect(await (await fetch(b.url + path(sid))).text()).toMatch(/^40\{"sid":"[\w-]+"\}\x1e42\["welcome",\{"node":"node-a"/);
    expect(await (await fetch(b.url + path(sid), { method: "POST", body: '420["echo","via b"]' })).text()).toBe("ok");
    expect(await (await fetch(a.url + path(sid))).text()).toBe('430[{"node":"node-a","data":"via b"}]');
  });

  it("an upgrade landing on B is accepted there and relayed to the session on A, frames both ways, binary too", async () => {
    const sid = await socketIoSession(a);
    const ws = new WebSocket(`ws://127.0.0.1:${b.port}/socket.io/?EIO=4&transport=websocket&sid=${sid}`);
    const received = frames(ws);
    await once(ws, "open", { failOn: "error" });
    ws.send("2probe");
    expect(await received.next()).toBe("3probe");
    ws.send("5");
    ws.send('421["echo","relayed"]');
    expect(await received.next()).toBe('431[{"node":"node-a","data":"relayed"}]');
    ws.send('451-2["echo",{"_placeholder":true,"num":0}]');
    ws.send(Buffer.from([1, 2, 3]));
    expect(await received.next()).toBe('461-2[{"node":"node-a","data":{"_placeholder":true,"num":0}}]');
    expect(await received.next()).toBe("<binary 010203>");
    // The session is on the WebSocket now: polling for it is refused, by its owner, wherever it is sent.
    const res = await fetch(b.url + path(sid));
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: 3 });
    ws.close();
  });

  it("an upgrade for a sid B cannot reach is refused with 400 Session ID unknown", async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${b.port}/socket.io/?EIO=4&transport=websocket&sid=QQQQQQQQ${"A".repeat(20)}`);
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      ws.once("open", () => reject(new Error("upgraded")));
      ws.once("unexpected-response", (_req, res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      });
    });
    expect(status).toBe(400);
    expect(JSON.parse(body)).toEqual({ code: 1, message: "Session ID unknown" });
  });

  it("a POST over maxHttpBufferSize is refused by the node it reached (413), and the session carries on", async () => {
    const sid = await socketIoSession(a);
    const big = `42["echo","${"x".repeat(2000)}"]`;
    expect((await fetch(b.url + path(sid), { method: "POST", body: big })).status).toBe(413);
    expect(await (await fetch(b.url + path(sid), { method: "POST", body: '42["echo","small"]' })).text()).toBe("ok");
  });

  it("forwards past maxForwards are shed with 503 and the Engine.IO error body", async () => {
    const sids = await Promise.all([handshake(a), handshake(a), handshake(a)]);
    const served = (await routerStats(a)).served;
    // Two GETs held on A through B (nothing to write until the next ping) fill B's cap of 2.
    const held = sids.slice(0, 2).map((sid) => fetch(b.url + path(sid)));
    await waitFor(async () => (await routerStats(b)).inflight === 2 && (await routerStats(a)).served === served + 2, {
      what: "both GETs forwarded by B and held on A",
    });
    const shed = await fetch(b.url + path(sids[2]));
    expect(shed.status).toBe(503);
    expect(await shed.json()).toEqual({ code: 3, message: "Too many forwarded requests" });
    // The held ones complete normally (the ping), and B forwards again.
    for (const r of await Promise.all(held)) expect(await r.text()).toBe("2");
    expect((await fetch(b.url + path(sids[2]))).status).toBe(200);
  });

  it("the owner dies while B holds a forwarded GET: 400 Session ID unknown after the deadline, then at once", async () => {
    const sid = await handshake(a);
    const served = (await routerStats(a)).served;
    const pending = fetch(b.url + path(sid));
    await waitFor(async () => (await routerStats(b)).inflight === 1 && (await routerStats(a)).served === served + 1, {
      what: "the GET forwarded by B and held on A",
    });
    const started = Date.now();
    await a.kill();
    const res = await pending;
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ code: 1, message: "Session ID unknown" });
    // Within pingInterval + requestTimeout (+ the sweep's tick).
    expect(Date.now() - started).toBeLessThan(2000 + 1500 + 1000);
    const t = Date.now();
    expect((await fetch(b.url + path(sid))).status).toBe(400);
    expect(Date.now() - t).toBeLessThan(500);
  });
});
