/**
 * The transport-agnostic cluster machinery (src/adapters/cluster-adapter.ts)
 * over an in-memory bus, with a fake clock: heartbeats and node liveness,
 * request timeouts and their messages, the wire shapes, and what must be
 * ignored. No Redis, no network.
 */
import { afterEach, describe, expect, it } from "vitest";
import {
  ClusterAdapter,
  ClusterAdapterWithHeartbeat,
  type ClusterMessage,
  type ClusterResponse,
  MessageType,
} from "../../src/cluster.ts";
import { Server } from "../../src/index.ts";
import { FakeClock } from "../../src/testing.ts";
import type { AnyNamespace } from "../../src/socket/adapter.ts";

/** Delivers every published message to every adapter (the sender included, as Redis does). */
class Bus {
  readonly members = new Set<BusMember>();
  readonly published: ClusterMessage[] = [];
  /** Members cut off the bus: they neither send nor receive. */
  readonly muted = new Set<BusMember>();
}

interface BusMember {
  uid: string;
  onMessage(m: ClusterMessage): void;
  onResponse(r: ClusterResponse): void;
}

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v));

function deliver(bus: Bus, from: BusMember, message: ClusterMessage): Promise<string> {
  if (bus.muted.has(from)) return Promise.resolve("");
  bus.published.push(clone(message));
  for (const member of bus.members) {
    if (!bus.muted.has(member)) queueMicrotask(() => member.onMessage(clone(message)));
  }
  return Promise.resolve("");
}

function respond(bus: Bus, from: BusMember, uid: string, response: ClusterResponse): Promise<void> {
  if (bus.muted.has(from)) return Promise.resolve();
  for (const member of bus.members) {
    if (member.uid === uid && !bus.muted.has(member)) queueMicrotask(() => member.onResponse(clone(response)));
  }
  return Promise.resolve();
}

class HeartbeatBusAdapter extends ClusterAdapterWithHeartbeat {
  constructor(
    nsp: AnyNamespace,
    readonly bus: Bus,
  ) {
    super(nsp, { heartbeatInterval: 1000, heartbeatTimeout: 3000, requestsTimeout: 5000 });
    bus.members.add(this);
  }
  protected doPublish(message: ClusterMessage): Promise<string> {
    return deliver(this.bus, this, message);
  }
  protected doPublishResponse(uid: string, response: ClusterResponse): Promise<void> {
    return respond(this.bus, this, uid, response);
  }
}

/** The count-based variant: the transport knows how many nodes there are (like Redis NUMSUB). */
class CountingBusAdapter extends ClusterAdapter {
  constructor(
    nsp: AnyNamespace,
    readonly bus: Bus,
  ) {
    super(nsp, { requestsTimeout: 2000 });
    bus.members.add(this);
  }
  protected doPublish(message: ClusterMessage): Promise<string> {
    return deliver(this.bus, this, message);
  }
  protected doPublishResponse(uid: string, response: ClusterResponse): Promise<void> {
    return respond(this.bus, this, uid, response);
  }
  override serverCount(): Promise<number> {
    return Promise.resolve(this.bus.members.size);
  }
}

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

function cluster(kind: "heartbeat" | "counting", size: number) {
  const clock = new FakeClock();
  const bus = new Bus();
  const ios = Array.from({ length: size }, (_, i) => {
    const io = new Server({
      clock,
      adapter: (nsp: AnyNamespace) =>
        kind === "heartbeat" ? new HeartbeatBusAdapter(nsp, bus) : new CountingBusAdapter(nsp, bus),
    });
    servers.push(io);
    io.on("whoareyou", (cb: (v: string) => void) => cb(`node${i}`));
    return io;
  });
  const adapters = ios.map((io) => io.of("/").adapter as ClusterAdapter);
  return { clock, bus, ios, adapters };
}

const flush = () => new Promise<void>((r) => setImmediate(r));

/** Moves the fake clock in steps, letting microtasks (bus deliveries) run in between. */
async function advance(clock: FakeClock, ms: number, step = 250): Promise<void> {
  for (let t = 0; t < ms; t += step) {
    clock.advance(Math.min(step, ms - t));
    await flush();
  }
}

describe("ClusterAdapterWithHeartbeat", () => {
  it("nodes discover each other through the initial heartbeat", async () => {
    const { adapters } = cluster("heartbeat", 3);
    await flush();
    for (const a of adapters) expect(await a.serverCount()).toBe(3);
  });

  it("serverSideEmitWithAck waits for exactly the live nodes", async () => {
    const { ios } = cluster("heartbeat", 3);
    await flush();
    const responses = await ios[0]!.serverSideEmitWithAck("whoareyou");
    expect((responses as string[]).sort()).toEqual(["node1", "node2"]);
  });

  it("a node that goes silent is forgotten after heartbeatTimeout, and requests waiting for it complete", async () => {
    const { clock, bus, ios, adapters } = cluster("heartbeat", 3);
    await flush();
    bus.muted.add(adapters[2] as unknown as BusMember);
    let result: unknown;
    ios[0]!.serverSideEmit("whoareyou", (err: Error | null, responses: string[]) => {
      result = { err, responses };
    });
    await flush();
    expect(result).toBeUndefined();
    // The others keep heartbeating; node2 does not. It is dropped at the first sweep after
    // the timeout (sweeps run every second).
    await advance(clock, 2500);
    expect(result).toBeUndefined();
    await advance(clock, 2000);
    expect(result).toEqual({ err: null, responses: ["node1"] });
    expect(await adapters[0]!.serverCount()).toBe(2);
    expect(await adapters[1]!.serverCount()).toBe(2);
  });

  it("idle nodes keep each other alive with periodic heartbeats", async () => {
    const { clock, bus, adapters } = cluster("heartbeat", 2);
    await flush();
    await advance(clock, 10_000);
    expect(await adapters[0]!.serverCount()).toBe(2);
    expect(bus.published.filter((m) => m.type === MessageType.HEARTBEAT).length).toBeGreaterThanOrEqual(10);
  });

  it("close() announces ADAPTER_CLOSE: the others count one node less at once", async () => {
    const { ios, adapters } = cluster("heartbeat", 3);
    await flush();
    await ios[2]!.close();
    await flush();
    expect(await adapters[0]!.serverCount()).toBe(2);
  });

  it("the emitter uid never counts as a node", async () => {
    const { adapters } = cluster("heartbeat", 1);
    await flush();
    adapters[0]!.onMessage({ uid: "emitter", nsp: "/", type: MessageType.SERVER_SIDE_EMIT, data: { packet: ["x"] } });
    expect(await adapters[0]!.serverCount()).toBe(1);
  });

  it("fetchSockets with a silent node rejects with the reference's message at the deadline", async () => {
    const { clock, bus, ios, adapters } = cluster("heartbeat", 2);
    await flush();
    bus.muted.add(adapters[1] as unknown as BusMember);
    // timeout() on fetchSockets takes precedence over requestsTimeout (5 s).
    const result = ios[0]!.timeout(2000).fetchSockets().then(
      () => "resolved",
      (err: Error) => err.message,
    );
    await flush();
    await advance(clock, 2000);
    // The heartbeat timeout (3 s) has not passed: the request deadline (2 s) decides.
    expect(await result).toBe("timeout reached: missing 1 responses");
  });
});

describe("ClusterAdapter (counting nodes through the transport)", () => {
  it("serverSideEmit with an ack reports partial answers at the deadline", async () => {
    const { clock, bus, ios, adapters } = cluster("counting", 3);
    bus.muted.add(adapters[2] as unknown as BusMember);
    let result: { err: Error | null; responses: string[] } | undefined;
    ios[0]!.serverSideEmit("whoareyou", (err: Error | null, responses: string[]) => {
      result = { err, responses };
    });
    await flush();
    expect(result).toBeUndefined();
    await advance(clock, 2000);
    expect(result!.err?.message).toBe("timeout reached: only 1 responses received out of 2");
    expect(result!.responses).toEqual(["node1"]);
  });

  it("fetchSockets rejects at the deadline when a node does not answer", async () => {
    const { clock, bus, ios, adapters } = cluster("counting", 2);
    bus.muted.add(adapters[1] as unknown as BusMember);
    const result = ios[0]!.fetchSockets().then(
      () => "resolved",
      (err: Error) => err.message,
    );
    await flush();
    await advance(clock, 1750);
    expect(await Promise.race([result, flush().then(() => "pending")])).toBe("pending");
    await advance(clock, 250);
    expect(await result).toBe("timeout reached: only 0 responses received out of 1");
    expect(adapters[0]!.pendingRequests).toBe(0);
  });

  it("a single node answers at once, without publishing a request", async () => {
    const { ios, bus } = cluster("counting", 1);
    expect(await ios[0]!.serverSideEmitWithAck("whoareyou")).toEqual([]);
    expect(await ios[0]!.fetchSockets()).toEqual([]);
    expect(bus.published).toEqual([]);
  });

  it("publishes the socket.io-adapter wire shapes", async () => {
    const { ios, bus, adapters } = cluster("counting", 2);
    ios[0]!.to("r").except("x").emit("ev", 1, "two");
    ios[0]!.in("r").socketsJoin(["a", "b"]);
    ios[0]!.in("r").socketsLeave("a");
    ios[0]!.in("r").disconnectSockets(true);
    ios[0]!.serverSideEmit("hello", { k: 1 });
    await flush();
    const uid = adapters[0]!.uid;
    expect(uid).toMatch(/^[0-9a-f]{16}$/);
    expect(bus.published).toEqual([
      {
        uid,
        nsp: "/",
        type: MessageType.BROADCAST,
        data: { packet: { type: 2, nsp: "/", data: ["ev", 1, "two"] }, opts: { rooms: ["r"], except: ["x"], flags: {} } },
      },
      { uid, nsp: "/", type: MessageType.SOCKETS_JOIN, data: { opts: { rooms: ["r"], except: [], flags: {} }, rooms: ["a", "b"] } },
      { uid, nsp: "/", type: MessageType.SOCKETS_LEAVE, data: { opts: { rooms: ["r"], except: [], flags: {} }, rooms: ["a"] } },
      { uid, nsp: "/", type: MessageType.DISCONNECT_SOCKETS, data: { opts: { rooms: ["r"], except: [], flags: {} }, close: true } },
      { uid, nsp: "/", type: MessageType.SERVER_SIDE_EMIT, data: { packet: ["hello", { k: 1 }] } },
    ]);
  });

  it("the local flag publishes nothing", async () => {
    const { ios, bus } = cluster("counting", 2);
    ios[0]!.local.emit("ev");
    ios[0]!.local.socketsJoin("r");
    ios[0]!.local.disconnectSockets();
    expect(await ios[0]!.local.fetchSockets()).toEqual([]);
    await flush();
    expect(bus.published).toEqual([]);
  });

  it("ignores its own messages, other namespaces and malformed messages", async () => {
    const { ios, adapters } = cluster("counting", 1);
    const got: unknown[] = [];
    ios[0]!.on("evt", (...args: unknown[]) => got.push(args));
    const a = adapters[0]!;
    a.onMessage({ uid: a.uid, nsp: "/", type: MessageType.SERVER_SIDE_EMIT, data: { packet: ["evt", "self"] } });
    a.onMessage({ uid: "other", nsp: "/admin", type: MessageType.SERVER_SIDE_EMIT, data: { packet: ["evt", "admin"] } });
    for (const bad of [null, 42, "x", { uid: "o", nsp: "/", type: 3 }, { uid: "o", nsp: "/", type: 3, data: { packet: 5 } }]) {
      expect(() => a.onMessage(bad as unknown as ClusterMessage)).not.toThrow();
    }
    a.onMessage({ uid: "o", nsp: "/", type: MessageType.SERVER_SIDE_EMIT, data: { packet: [7] as unknown as string[] } });
    expect(() => a.onResponse({ type: MessageType.BROADCAST_ACK } as unknown as ClusterResponse)).not.toThrow();
    a.onMessage({ uid: "other", nsp: "/", type: MessageType.SERVER_SIDE_EMIT, data: { packet: ["evt", "ok"] } });
    expect(got).toEqual([["ok"]]);
  });

  it("answers a remote server-side emit once, with the first argument only", async () => {
    const { bus, ios, adapters } = cluster("counting", 2);
    ios[1]!.on("twice", (cb: (...a: unknown[]) => void) => {
      cb("first", "extra");
      cb("second");
    });
    const responses = await ios[0]!.serverSideEmitWithAck("twice");
    expect(responses).toEqual(["first"]);
    expect(adapters[0]!.pendingRequests).toBe(0);
    expect(bus.published.filter((m) => m.type === MessageType.SERVER_SIDE_EMIT)).toHaveLength(1);
  });

  it("close() settles pending requests at once", async () => {
    const { bus, ios, adapters } = cluster("counting", 2);
    bus.muted.add(adapters[1] as unknown as BusMember);
    const result = ios[0]!.fetchSockets().then(
      () => "resolved",
      (err: Error) => err.message,
    );
    await flush();
    await adapters[0]!.close();
    expect(await result).toBe("the adapter is closed");
  });
});
