/**
 * `unio/cluster` is enough to write an adapter: a tiny one over an
 * in-process bus (what a Postgres, NATS or cloud-queue adapter would do
 * over its broker), built only from that entry, carries broadcasts,
 * fetchSockets, serverSideEmit with acks and broadcast acks between two
 * unio servers, seen by real socket.io-client clients.
 */
import { io as connect, type Socket as ClientSocket } from "socket.io-client";
import { afterEach, describe, expect, it } from "vitest";
import {
  type AnyNamespace,
  ClusterAdapterWithHeartbeat,
  type ClusterMessage,
  type ClusterResponse,
  MessageType,
} from "../../src/cluster.ts";
import { Server } from "../../src/index.ts";
import { type Running, startNode } from "../helpers/node.ts";
import { once, waitFor } from "../helpers/wait.ts";

/** The "broker": every message is serialized, as a real one would, and arrives on a later turn. */
class Bus {
  readonly nodes = new Map<string, BusAdapter>();
  readonly seen: number[] = [];

  publish(from: string, message: ClusterMessage): void {
    const bytes = JSON.stringify(message);
    this.seen.push(message.type);
    for (const [uid, node] of this.nodes) if (uid !== from) setImmediate(() => node.onMessage(JSON.parse(bytes)));
  }

  respond(to: string, response: ClusterResponse): void {
    const bytes = JSON.stringify(response);
    setImmediate(() => this.nodes.get(to)?.onResponse(JSON.parse(bytes)));
  }
}

/** The whole adapter: two methods to send, two to receive (inherited), nodes found by heartbeats. */
class BusAdapter extends ClusterAdapterWithHeartbeat {
  constructor(
    nsp: AnyNamespace,
    readonly bus: Bus,
  ) {
    super(nsp, { heartbeatInterval: 200, heartbeatTimeout: 1000, requestsTimeout: 2000 });
    bus.nodes.set(this.uid, this);
  }

  protected doPublish(message: ClusterMessage): Promise<string> {
    this.bus.publish(this.uid, message);
    return Promise.resolve("");
  }

  protected doPublishResponse(requesterUid: string, response: ClusterResponse): Promise<void> {
    this.bus.respond(requesterUid, response);
    return Promise.resolve();
  }

  override close(): Promise<void> | void {
    const closed = super.close();
    this.bus.nodes.delete(this.uid);
    return closed;
  }
}

const running: Running[] = [];
const clients: ClientSocket[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.disconnect();
  for (const r of running.splice(0)) await r.close();
});

async function node(bus: Bus, name: string): Promise<{ io: Server; url: string }> {
  const io = new Server({ adapter: (nsp: AnyNamespace) => new BusAdapter(nsp, bus) });
  io.on("connection", (socket) => {
    socket.on("join", (room: string, ack: () => void) => {
      socket.join(room);
      ack();
    });
  });
  io.on("who", (ack: (name: string) => void) => ack(name));
  const r = await startNode(io);
  running.push(r);
  return { io, url: r.url };
}

async function client(url: string): Promise<ClientSocket> {
  const c = connect(url, { transports: ["websocket"], forceNew: true, reconnection: false });
  clients.push(c);
  await once(c, "connect", { failOn: "connect_error", timeout: 3000, what: "connect" });
  return c;
}

describe("an adapter written with unio/cluster only", () => {
  it("broadcasts, fetchSockets, serverSideEmit with ack and broadcast acks cross two servers", async () => {
    const bus = new Bus();
    const one = await node(bus, "one");
    const two = await node(bus, "two");
    // The heartbeats introduce the nodes to each other.
    await waitFor(async () => (await one.io.of("/").adapter.serverCount()) === 2, { timeout: 3000, what: "node discovery" });

    const a = await client(one.url);
    const b = await client(two.url);
    await a.timeout(2000).emitWithAck("join", "room");
    await b.timeout(2000).emitWithAck("join", "room");

    // A broadcast from server one reaches the client of server two, once.
    const got: string[] = [];
    b.on("news", (v: string) => got.push(v));
    const atA = once<string>(a, "news", { timeout: 2000, what: "news on a" });
    const atB = once<string>(b, "news", { timeout: 3000, what: "news on b" });
    one.io.to("room").emit("news", "hello everyone");
    expect(await atA).toBe("hello everyone");
    expect(await atB).toBe("hello everyone");
    // A marker broadcast after it takes the same way (the bus keeps one sender's order, the socket too):
    // once it reached b, a duplicate of the news would have.
    const marker = once(b, "marker", { timeout: 3000, what: "the marker on b" });
    one.io.to("room").emit("marker");
    await marker;
    expect(got).toEqual(["hello everyone"]);
    expect(bus.seen).toContain(MessageType.BROADCAST);

    // fetchSockets sees both, the remote one with its rooms.
    const sockets = await one.io.in("room").fetchSockets();
    expect(sockets.map((s) => s.id).sort()).toEqual([a.id, b.id].sort());
    const remote = sockets.find((s) => s.id === b.id)!;
    expect([...remote.rooms].sort()).toEqual([b.id, "room"].sort());

    // serverSideEmit with ack: the other server answers, this one does not.
    expect(await one.io.serverSideEmitWithAck("who")).toEqual(["two"]);
    expect(await two.io.serverSideEmitWithAck("who")).toEqual(["one"]);

    // A broadcast with ack collects the answers of clients on both servers.
    a.on("question", (q: string, ack: (v: string) => void) => ack(`a: ${q}`));
    b.on("question", (q: string, ack: (v: string) => void) => ack(`b: ${q}`));
    const answers = await one.io.to("room").timeout(2000).emitWithAck("question", "ready?");
    expect([...answers].sort()).toEqual(["a: ready?", "b: ready?"]);

    // socketsLeave from server one moves the socket of server two.
    one.io.in(b.id!).socketsLeave("room");
    await waitFor(async () => !(await two.io.in("room").fetchSockets()).some((s) => s.id === b.id), {
      timeout: 3000,
      what: "remote leave",
    });
  });
});
