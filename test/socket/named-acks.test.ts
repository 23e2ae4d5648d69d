/**
 * Named acks (`ackNamed()` + `io.onAck()`): an ordinary ack on every
 * runtime, and one whose id, name, context and deadline are kept with the
 * socket's snapshot so a rebuilt server (a Workers eviction) still delivers
 * a late reply or the timeout. Here: the fake engine, and a real client on
 * Node; the eviction itself is tested in workerd (test/workers/acks.test.ts).
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { io as ioc, type Socket as ClientSocket } from "socket.io-client";
import { FakeClock } from "../../src/engine/clock.ts";
import { ackNamed, type LostAck, type NamedAckCall, Server, type Socket } from "../../src/index.ts";
import { restoreClient, SocketTracker, type SocketSnapshot } from "../../src/socket/restore.ts";
import { type Running, startNode } from "../helpers/node.ts";
import { connectTo, createServer, FakeEngineSocket, flush, lastSocket } from "./fake-engine.ts";

type Call = [NamedAckCall, Error | null, ...unknown[]];

function recorder(io: Server) {
  const calls: Call[] = [];
  io.onAck("done", (ack, err, ...args) => calls.push([ack, err, ...args]));
  return calls;
}

describe("ackNamed() on a live server: an ordinary ack", () => {
  it("the client's reply reaches the handler, with the socket, the context and the arguments", async () => {
    const { io } = createServer();
    const calls = recorder(io);
    const conn = await connectTo(io);
    const socket = lastSocket(io);
    conn.clear();
    socket.emit("job", { n: 1 }, ackNamed("done", { job: 7 }));
    expect(conn.texts).toEqual(['20["job",{"n":1}]']);
    conn.receive('30["ok",42]');
    await flush();
    expect(calls).toHaveLength(1);
    const [ack, err, ...args] = calls[0]!;
    expect(ack).toMatchObject({ name: "done", context: { job: 7 }, id: 0, restored: false });
    expect(ack.socket).toBe(socket);
    expect(err).toBeNull();
    expect(args).toEqual(["ok", 42]);
    // Answered once: a second reply is ignored, as for any ack.
    conn.receive('30["again"]');
    await flush();
    expect(calls).toHaveLength(1);
  });

  it("with timeout(): a reply in time gets err null; none gets 'operation has timed out' at the deadline", async () => {
    const { io, clock } = createServer();
    const calls = recorder(io);
    const conn = await connectTo(io);
    const socket = lastSocket(io);
    socket.timeout(1000).emit("fast", ackNamed("done", "fast"));
    socket.timeout(1000).emit("slow", ackNamed("done", "slow"));
    conn.receive("30[1]");
    await flush();
    expect(calls.map(([a, e, ...r]) => [a.context, e, ...r])).toEqual([["fast", null, 1]]);
    clock.advance(999);
    expect(calls).toHaveLength(1);
    clock.advance(1);
    expect(calls).toHaveLength(2);
    expect(calls[1]![0].context).toBe("slow");
    expect(calls[1]![1]).toBeInstanceOf(Error);
    expect(calls[1]![1]!.message).toBe("operation has timed out");
    expect(io.engine.scheduler.size).toBe(0);
  });

  it("the server's ackTimeout applies as to any ack", async () => {
    const { io, clock } = createServer({ ackTimeout: 500 });
    const calls = recorder(io);
    await connectTo(io);
    lastSocket(io).emit("q", ackNamed("done"));
    clock.advance(500);
    expect(calls).toHaveLength(1);
    expect(calls[0]![0].context).toBeUndefined();
    expect(calls[0]![1]!.message).toBe("operation has timed out");
  });

  it("an unknown name throws at the emit, before anything is sent or an id spent", async () => {
    const { io } = createServer();
    recorder(io);
    const conn = await connectTo(io);
    const socket = lastSocket(io);
    conn.clear();
    expect(() => socket.emit("job", ackNamed("typo"))).toThrow('no io.onAck("typo", handler) is registered');
    expect(conn.texts).toEqual([]);
    expect(io.sockets._ids).toBe(0);
  });

  it("names are registered once; the context is a JSON copy taken at ackNamed()", () => {
    const { io } = createServer();
    recorder(io);
    expect(() => io.onAck("done", () => {})).toThrow("already registered");
    const context = { at: new Date(0), list: [1] };
    const named = ackNamed("done", context);
    context.list.push(2);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => ackNamed("done", cyclic)).toThrow(TypeError);
    expect(() => ackNamed("")).toThrow(TypeError);
    // Not a callback of its own: calling it says where it belongs.
    expect(() => named()).toThrow("pass it as the last argument of socket.emit()");
  });

  it("fits typed events wherever an ack callback does (compile-time check)", async () => {
    interface ToClient {
      job: (n: number, done: (result: string) => void) => void;
      timed: (n: number, done: (err: Error, result: string) => void) => void;
    }
    const { io } = createServer<Record<string, never>>();
    recorder(io as unknown as Server);
    await connectTo(io);
    const socket = lastSocket(io) as unknown as Socket<Record<string, never>, ToClient>;
    expect(socket.emit("job", 1, ackNamed("done"))).toBe(true);
    expect(socket.timeout(10).emit("timed", 2, ackNamed("done", { any: "json" }))).toBe(true);
  });

  it("a broadcast refuses it (its answers are collected in memory)", async () => {
    const { io } = createServer();
    recorder(io);
    await connectTo(io);
    expect(() => io.timeout(100).emit("x", ackNamed("done"))).toThrow("ackNamed() works with socket.emit()");
  });
});

describe("pending acks across a rebuild (snapshot → new server)", () => {
  /** A server whose socket has pending acks; its snapshot; then a new server rebuilt from it `gap` ms later. */
  async function evictedAfter(gap: number, emit: (socket: ReturnType<typeof lastSocket>) => void) {
    const first = createServer();
    recorder(first.io);
    let dirty = 0;
    const tracker = new SocketTracker(first.io, () => dirty++);
    const conn = await connectTo(first.io);
    const socket = lastSocket(first.io);
    const before = dirty;
    emit(socket);
    expect(dirty).toBeGreaterThan(before);
    const states: SocketSnapshot[] = JSON.parse(JSON.stringify(tracker.snapshot(conn.id)));

    const clock = new FakeClock(first.clock.wallNow() + gap);
    const io = new Server({ clock });
    const calls = recorder(io);
    const lost: LostAck[] = [];
    io.onLostAck((l) => lost.push(l));
    const conn2 = new FakeEngineSocket();
    restoreClient(io, conn2, states);
    await flush();
    return { io, clock, conn: conn2, socket: lastSocket(io), calls, lost, states };
  }

  it("the snapshot holds id, name, context and wall-clock deadline; closures by id (and deadline) only", async () => {
    const { states } = await evictedAfter(0, (socket) => {
      socket.timeout(5000).emit("a", ackNamed("done", { job: 1 }));
      socket.emit("b", ackNamed("done"));
      socket.emit("c", () => {});
      socket.timeout(300).emit("d", () => {});
    });
    const t0 = 1_700_000_000_000;
    expect(states[0]!.acks).toEqual([
      { i: 0, n: "done", c: { job: 1 }, d: t0 + 5000 },
      { i: 1, n: "done" },
      { i: 2 },
      { i: 3, d: t0 + 300 },
    ]);
  });

  it("a late reply after the rebuild reaches the named handler, restored: true", async () => {
    const { conn, socket, calls, io } = await evictedAfter(2000, (s) => s.emit("job", ackNamed("done", { job: 9 })));
    conn.receive('30["finally"]');
    await flush();
    expect(calls).toHaveLength(1);
    expect(calls[0]![0]).toMatchObject({ name: "done", context: { job: 9 }, id: 0, restored: true });
    expect(calls[0]![0].socket).toBe(socket);
    expect(calls[0]!.slice(1)).toEqual([null, "finally"]);
    // Later emits never reuse a pending id.
    expect(io.sockets._ids).toBe(1);
  });

  it("a deadline keeps its time: it fires at the original deadline, not timeout after the rebuild", async () => {
    const { clock, calls, conn } = await evictedAfter(2000, (s) => s.timeout(5000).emit("job", ackNamed("done", 1)));
    clock.advance(2999);
    expect(calls).toHaveLength(0);
    clock.advance(1);
    expect(calls).toHaveLength(1);
    expect(calls[0]![1]!.message).toBe("operation has timed out");
    // The reply after the timeout is ignored, as on a live server.
    conn.receive("30[1]");
    await flush();
    expect(calls).toHaveLength(1);
  });

  it("a deadline that passed while evicted fires at once after the rebuild", async () => {
    const { clock, calls } = await evictedAfter(10_000, (s) => s.timeout(5000).emit("job", ackNamed("done", 1)));
    expect(calls).toHaveLength(0);
    clock.advance(0);
    expect(calls).toHaveLength(1);
    expect(calls[0]![1]!.message).toBe("operation has timed out");
  });

  it("a closure is lost: its reply, or its deadline, goes to onLostAck (and never to another ack)", async () => {
    const { clock, conn, socket, calls, lost, io } = await evictedAfter(100, (s) => {
      s.emit("a", () => {});
      s.timeout(1000).emit("b", () => {});
    });
    // A new ack after the rebuild gets a fresh id: the old reply cannot settle it.
    const fresh = vi.fn();
    socket.emit("c", fresh);
    expect(io.sockets._ids).toBe(3);
    conn.receive('30["late"]');
    await flush();
    expect(lost).toEqual([{ socket, id: 0, outcome: "reply", args: ["late"] }]);
    expect(fresh).not.toHaveBeenCalled();
    clock.advance(900);
    expect(lost[1]).toEqual({ socket, id: 1, outcome: "timeout", args: [] });
    expect(calls).toEqual([]);
  });

  it("without onLostAck, a lost reply is logged", async () => {
    const first = createServer();
    const tracker = new SocketTracker(first.io, () => {});
    const conn = await connectTo(first.io);
    lastSocket(first.io).emit("a", () => {});
    const states = tracker.snapshot(conn.id);
    const io = new Server({ clock: new FakeClock() });
    const conn2 = new FakeEngineSocket();
    restoreClient(io, conn2, states);
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    try {
      conn2.receive("30[1]");
      await flush();
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0]![0])).toMatch(/ack 0 of socket .*: reply dropped, its callback did not survive/);
    } finally {
      warn.mockRestore();
    }
  });

  it("a named ack whose handler is gone after the rebuild is reported lost with its name", async () => {
    const first = createServer();
    recorder(first.io);
    const tracker = new SocketTracker(first.io, () => {});
    const conn = await connectTo(first.io);
    lastSocket(first.io).emit("a", ackNamed("done"));
    const io = new Server({ clock: new FakeClock() });
    const lost: LostAck[] = [];
    io.onLostAck((l) => lost.push(l));
    const conn2 = new FakeEngineSocket();
    restoreClient(io, conn2, tracker.snapshot(conn.id));
    conn2.receive("30[1]");
    await flush();
    expect(lost).toMatchObject([{ id: 0, outcome: "reply", args: [1], name: "done" }]);
  });

  it("answered and timed-out acks leave the snapshot", async () => {
    const { io, clock } = createServer();
    recorder(io);
    const tracker = new SocketTracker(io, () => {});
    const conn = await connectTo(io);
    const socket = lastSocket(io);
    socket.timeout(100).emit("a", ackNamed("done"));
    socket.emit("b", ackNamed("done"));
    expect(tracker.snapshot(conn.id)[0]!.acks).toHaveLength(2);
    conn.receive("31[]");
    await flush();
    expect(tracker.snapshot(conn.id)[0]!.acks).toHaveLength(1);
    clock.advance(100);
    expect(tracker.snapshot(conn.id)[0]!.acks).toBeUndefined();
  });
});

describe("ackNamed() with socket.io-client on Node", () => {
  let run: Running | undefined;
  let client: ClientSocket | undefined;
  afterEach(async () => {
    client?.disconnect();
    await run?.close();
  });

  it("the client's ack answers it; a silent client times it out", async () => {
    const io = new Server();
    const calls: Array<[unknown, string | null, unknown[]]> = [];
    let done!: () => void;
    const both = new Promise<void>((r) => (done = r));
    io.onAck("done", ({ context }, err, ...args) => {
      calls.push([context, err?.message ?? null, args]);
      if (calls.length === 2) done();
    });
    io.on("connection", (socket) => {
      socket.emit("question", 41, ackNamed("done", "answered"));
      socket.timeout(100).emit("ignored", ackNamed("done", "silent"));
    });
    run = await startNode(io);
    client = ioc(run.url, { forceNew: true, reconnection: false, transports: ["websocket"] });
    client.on("question", (n: number, ack: (v: number) => void) => ack(n + 1));
    client.on("ignored", () => {});
    await both;
    expect(calls).toEqual([
      ["answered", null, [42]],
      ["silent", "operation has timed out", []],
    ]);
  });
});
