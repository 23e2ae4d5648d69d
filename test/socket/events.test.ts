import { describe, expect, it, vi } from "vitest";
import { Decoder, Encoder } from "../../src/protocol/socket-io.ts";
import { connectTo, createServer, flush, lastSocket } from "./fake-engine.ts";

describe("incoming events", () => {
  it("delivers events with their arguments, and an ack function when an id is present", async () => {
    const { io } = createServer();
    const conn = await connectTo(io);
    const socket = lastSocket(io);
    const got: unknown[][] = [];
    socket.on("hello", (...args: unknown[]) => got.push(args));
    socket.on("ask", (q: string, ack: (a: string) => void) => {
      ack(`re:${q}`);
      ack("twice"); // at most once
    });
    conn.clear();
    conn.receive('2["hello","world",{"a":[1,2]}]');
    conn.receive('27["ask","q1"]');
    await flush();
    expect(got).toEqual([["world", { a: [1, 2] }]]);
    expect(conn.texts).toEqual(['37["re:q1"]']);
  });

  it("routes by namespace and acks on the right namespace", async () => {
    const { io } = createServer();
    io.of("/x").on("connection", (s) => s.on("ping", (ack: (v: number) => void) => ack(1)));
    const conn = await connectTo(io, "/x");
    conn.clear();
    conn.receive('2/x,3["ping"]');
    await flush();
    expect(conn.texts).toEqual(["3/x,3[1]"]);
  });

  it("coerces numeric event names to strings", async () => {
    const { io } = createServer();
    const conn = await connectTo(io);
    const fn = vi.fn();
    lastSocket(io).on("42", fn);
    conn.receive("2[42,true]");
    await flush();
    expect(fn).toHaveBeenCalledWith(true);
  });

  it("delivers binary attachments as Uint8Array", async () => {
    const { io } = createServer();
    const conn = await connectTo(io);
    const fn = vi.fn();
    lastSocket(io).on("upload", fn);
    conn.receive('51-["upload",{"_placeholder":true,"num":0}]');
    conn.receive(new Uint8Array([1, 2, 3]));
    await flush();
    expect(fn).toHaveBeenCalledWith(new Uint8Array([1, 2, 3]));
  });

  it("connections mid-way through binary packets do not mix their attachments", async () => {
    // Idle connections share one decoder; one waiting for attachments keeps its own.
    const { io } = createServer();
    const a = await connectTo(io);
    const sa = lastSocket(io);
    const b = await connectTo(io);
    const sb = lastSocket(io);
    const got: string[] = [];
    sa.on("up", (x: Uint8Array, y?: Uint8Array) => got.push(`a:${[...x]}${y ? `|${[...y]}` : ""}`));
    sb.on("up", (x: Uint8Array) => got.push(`b:${[...x]}`));
    sb.on("text", (t: string) => got.push(`b:${t}`));
    sa.on("text", (t: string) => got.push(`a:${t}`));
    a.receive('52-["up",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
    b.receive('2["text","plain"]');
    b.receive('51-["up",{"_placeholder":true,"num":0}]');
    a.receive(new Uint8Array([1]));
    b.receive(new Uint8Array([9]));
    a.receive(new Uint8Array([2]));
    a.receive('2["text","again"]');
    await flush();
    expect(got).toEqual(["b:plain", "b:9", "a:1|2", "a:again"]);
    expect(sa.connected && sb.connected).toBe(true);
  });

  it("a parser module of one's own keeps one decoder per connection, packet after packet", async () => {
    // Not the default parser object, so nothing is shared, though its decoder has `push`.
    const { io } = createServer({ parser: { Encoder, Decoder } });
    const conn = await connectTo(io);
    const got: unknown[] = [];
    lastSocket(io).on("n", (x: unknown) => got.push(x));
    conn.receive('2["n",1]');
    conn.receive('51-["n",{"_placeholder":true,"num":0}]');
    conn.receive(new Uint8Array([7]));
    conn.receive('2["n",3]');
    await flush();
    expect(got).toEqual([1, new Uint8Array([7]), 3]);
  });

  it("drops events that arrive with or after their namespace's DISCONNECT in one batch (socket.io dispatches on the next tick)", async () => {
    const { io } = createServer();
    const conn = await connectTo(io);
    const seen: string[] = [];
    const socket = lastSocket(io);
    socket.on("a", () => seen.push("a"));
    socket.on("disconnect", () => seen.push("disconnect"));
    conn.receive('2["a"]');
    await flush();
    conn.receive('2["a"]');
    conn.receive("1");
    conn.receive('2["a"]');
    await flush();
    expect(seen).toEqual(["a", "disconnect"]);
  });

  it("a throwing handler does not stop the batch and does not reach the engine", async () => {
    const { io } = createServer();
    const conn = await connectTo(io);
    const socket = lastSocket(io);
    const seen: string[] = [];
    socket.on("boom", () => {
      throw new Error("user bug");
    });
    socket.on("ok", () => seen.push("ok"));
    const uncaught: unknown[] = [];
    const onUncaught = (e: unknown) => uncaught.push(e);
    process.on("uncaughtException", onUncaught);
    try {
      expect(() => conn.receive('2["boom"]')).not.toThrow();
      conn.receive('2["ok"]');
      await flush();
    } finally {
      process.off("uncaughtException", onUncaught);
    }
    expect(seen).toEqual(["ok"]);
    expect((uncaught[0] as Error).message).toBe("user bug");
  });

  it("onAny listeners run before use() middlewares, even for rejected events (Q-9)", async () => {
    const { io } = createServer();
    const conn = await connectTo(io);
    const socket = lastSocket(io);
    const order: string[] = [];
    const any1 = (ev: string) => order.push(`any:${ev}`);
    socket.onAny(any1);
    socket.prependAny((ev: string) => order.push(`first:${ev}`));
    socket.use(([ev], next) => {
      order.push(`mw:${ev}`);
      next(ev === "bad" ? new Error("rejected") : undefined);
    });
    socket.on("error", (e) => order.push(`error:${e.message}`));
    socket.on("good", () => order.push("good"));
    socket.on("bad", () => order.push("bad"));
    conn.receive('2["good"]');
    conn.receive('2["bad"]');
    await flush();
    // Listeners (and middleware errors) are reached once the batch is routed, as socket.io's next tick.
    expect(order).toEqual(["first:good", "any:good", "mw:good", "first:bad", "any:bad", "mw:bad", "good", "error:rejected"]);
    expect(socket.listenersAny()).toHaveLength(2);
    socket.offAny(any1);
    expect(socket.listenersAny()).toHaveLength(1);
    socket.offAny();
    expect(socket.listenersAny()).toHaveLength(0);
    expect(conn.readyState).toBe("open");
  });

  it("async use() middleware: event dropped if the socket disconnected meanwhile; throw = rejection", async () => {
    const { io } = createServer();
    const conn = await connectTo(io);
    const socket = lastSocket(io);
    let release: () => void = () => {};
    socket.use((_e, next) => {
      release = next;
    });
    const fn = vi.fn();
    socket.on("x", fn);
    conn.receive('2["x"]');
    await flush();
    conn.receive("1");
    await flush();
    release();
    expect(fn).not.toHaveBeenCalled();

    const conn2 = await connectTo(io);
    const s2 = lastSocket(io);
    const errors: string[] = [];
    s2.on("error", (e) => errors.push(e.message));
    s2.use(() => {
      throw new Error("mw threw");
    });
    conn2.receive('2["x"]');
    await flush();
    expect(errors).toEqual(["mw threw"]);
  });

  it("an error nobody listens to does not throw, and the socket goes on", async () => {
    const { io } = createServer();
    const conn = await connectTo(io);
    const socket = lastSocket(io);
    expect(socket.listeners("error")).toHaveLength(0); // as socket.io: no listener of its own
    let failNext = true;
    socket.use((_e, next) => {
      if (failNext) {
        failNext = false;
        next(new Error("nobody listens"));
      } else next();
    });
    const seen: unknown[] = [];
    socket.on("after", (x: unknown) => seen.push(x));
    conn.receive('2["before"]');
    conn.receive('2["after",1]');
    await flush();
    expect(seen).toEqual([1]);
    expect(socket.connected).toBe(true);
  });
});

describe("outgoing events and acks", () => {
  it("emits EVENT packets, refuses reserved names, send/write use 'message'", async () => {
    const { io } = createServer();
    const conn = await connectTo(io);
    const socket = lastSocket(io);
    conn.clear();
    expect(socket.emit("hi", 1, "two", { three: 3 }, [null])).toBe(true);
    socket.send("m");
    socket.write("w");
    expect(conn.texts).toEqual(['2["hi",1,"two",{"three":3},[null]]', '2["message","m"]', '2["message","w"]']);
    for (const name of ["connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"]) {
      expect(() => socket.emit(name)).toThrow(`"${name}" is a reserved event name`);
    }
  });

  it("drops emits on a socket that left its namespace (the connection may still be open)", async () => {
    const { io } = createServer();
    const conn = await connectTo(io);
    const socket = lastSocket(io);
    conn.receive("1");
    await flush();
    conn.clear();
    expect(socket.emit("late")).toBe(true);
    expect(conn.texts).toEqual([]);
  });

  it("sends binary as BINARY_EVENT followed by the attachments", async () => {
    const { io } = createServer();
    const conn = await connectTo(io);
    conn.clear();
    lastSocket(io).emit("file", new Uint8Array([9, 8]), { nested: new Uint8Array([7]).buffer });
    expect(conn.sent).toEqual([
      '52-["file",{"_placeholder":true,"num":0},{"nested":{"_placeholder":true,"num":1}}]',
      new Uint8Array([9, 8]),
      new Uint8Array([7]),
    ]);
  });

  it("registers acks with per-namespace ids, calls each once, ignores unknown ids", async () => {
    const { io } = createServer();
    const conn = await connectTo(io);
    const socket = lastSocket(io);
    conn.clear();
    const cb = vi.fn();
    socket.emit("q", "x", cb);
    socket.emit("q2", cb);
    expect(conn.texts).toEqual(['20["q","x"]', '21["q2"]']);
    conn.receive('30["a",1]');
    conn.receive('30["again"]');
    conn.receive('399["unknown"]');
    await flush();
    expect(cb).toHaveBeenCalledTimes(1);
    expect(cb).toHaveBeenCalledWith("a", 1);
    expect(io.sockets._ids).toBe(2);
  });

  it("timeout(): the callback gets an error first; expiry gives 'operation has timed out'", async () => {
    const { io, clock } = createServer();
    const conn = await connectTo(io);
    const socket = lastSocket(io);
    const answered = vi.fn();
    const expired = vi.fn();
    socket.timeout(1000).emit("fast", answered);
    socket.timeout(1000).emit("slow", expired);
    conn.receive("30[42]");
    await flush();
    expect(answered).toHaveBeenCalledWith(null, 42);
    clock.advance(999);
    expect(expired).not.toHaveBeenCalled();
    clock.advance(1);
    expect(expired).toHaveBeenCalledTimes(1);
    expect(expired.mock.calls[0]![0]).toBeInstanceOf(Error);
    expect(expired.mock.calls[0]![0].message).toBe("operation has timed out");
    // a late answer is ignored
    conn.receive("31[1]");
    await flush();
    expect(expired).toHaveBeenCalledTimes(1);
    // flags are consumed by one emit
    conn.clear();
    const plain = vi.fn();
    socket.emit("no-timeout", plain);
    clock.advance(100_000);
    expect(plain).not.toHaveBeenCalled();
    expect(io.engine.scheduler.size).toBe(0);
  });

  it("emitWithAck resolves with the first ack argument, rejects on timeout only with timeout()", async () => {
    const { io, clock } = createServer();
    const conn = await connectTo(io);
    const socket = lastSocket(io);
    const p1 = socket.emitWithAck("q");
    conn.receive('30["answer","ignored"]');
    await expect(p1).resolves.toBe("answer");
    const p2 = socket.timeout(50).emitWithAck("q");
    conn.receive('31["ok"]');
    await expect(p2).resolves.toBe("ok");
    const p3 = socket.timeout(50).emitWithAck("q");
    clock.advance(50);
    await expect(p3).rejects.toThrow("operation has timed out");
  });

  it("does not send an ack after the socket disconnected", async () => {
    const { io } = createServer();
    const conn = await connectTo(io);
    let ack: ((v: number) => void) | undefined;
    lastSocket(io).on("later", (cb: (v: number) => void) => {
      ack = cb;
    });
    conn.receive('25["later"]');
    await flush();
    conn.receive("1");
    await flush();
    conn.clear();
    ack!(1);
    expect(conn.texts).toEqual([]);
  });

  it("volatile drops the packet when the transport is not writable; compress(false) is passed on", async () => {
    const { io } = createServer();
    const conn = await connectTo(io);
    const socket = lastSocket(io);
    conn.clear();
    conn.transport.writable = false;
    socket.volatile.emit("dropped");
    socket.emit("kept");
    conn.transport.writable = true;
    socket.volatile.emit("sent");
    expect(conn.texts).toEqual(['2["kept"]', '2["sent"]']);
    const sendSpy = vi.spyOn(conn, "send");
    socket.compress(false).emit("x");
    expect((sendSpy.mock.calls[0] as unknown[])[1]).toEqual({ compress: false });
    socket.emit("y");
    expect((sendSpy.mock.calls[1] as unknown[])[1]).toEqual({ compress: true });
  });

  it("onAnyOutgoing sees emits and broadcasts but not acks", async () => {
    const { io } = createServer();
    const conn = await connectTo(io);
    const socket = lastSocket(io);
    const out: unknown[][] = [];
    const l = (...args: unknown[]) => out.push(args);
    socket.onAnyOutgoing(l);
    socket.prependAnyOutgoing(() => out.push(["first"]));
    socket.on("q", (cb: () => void) => cb());
    socket.emit("direct", 1);
    io.emit("broadcast", 2);
    conn.receive('20["q"]');
    await flush();
    expect(out).toEqual([["first"], ["direct", 1], ["first"], ["broadcast", 2]]);
    expect(socket.listenersAnyOutgoing()).toHaveLength(2);
    socket.offAnyOutgoing(l);
    socket.offAnyOutgoing();
    expect(socket.listenersAnyOutgoing()).toHaveLength(0);
  });
});

describe("rooms", () => {
  it("join/leave through the adapter with its events; join after disconnect is a no-op (#4380)", async () => {
    const { io } = createServer();
    const conn = await connectTo(io);
    const socket = lastSocket(io);
    const adapter = io.of("/").adapter;
    const events: string[] = [];
    adapter.on("create-room", (r) => events.push(`create:${r}`));
    adapter.on("join-room", (r) => events.push(`join:${r}`));
    adapter.on("leave-room", (r) => events.push(`leave:${r}`));
    adapter.on("delete-room", (r) => events.push(`delete:${r}`));
    socket.join(["a", "b"]);
    socket.join("a");
    socket.leave("b");
    expect(socket.rooms).toEqual(new Set([socket.id, "a"]));
    expect(events).toEqual(["create:a", "join:a", "create:b", "join:b", "leave:b", "delete:b"]);
    events.length = 0;
    let joinedInDisconnect: unknown = "not called";
    socket.on("disconnect", () => {
      joinedInDisconnect = socket.join("ghost");
    });
    conn.drop();
    expect(joinedInDisconnect).toBeUndefined();
    socket.join("after");
    expect(adapter.rooms.size).toBe(0);
    expect(adapter.sids.size).toBe(0);
    expect(socket.rooms.size).toBe(0);
    expect(events.sort()).toEqual([`delete:${socket.id}`, "delete:a", `leave:${socket.id}`, "leave:a"].sort());
  });

  it("keeps rooms and sids apart although a socket only in its own room shares one Set between them", async () => {
    const { io } = createServer();
    await connectTo(io);
    const a = lastSocket(io);
    await connectTo(io);
    const b = lastSocket(io);
    const adapter = io.of("/").adapter;
    const events: string[] = [];
    adapter.on("join-room", (r, id) => events.push(`join:${r}:${id}`));
    adapter.on("leave-room", (r, id) => events.push(`leave:${r}:${id}`));
    adapter.on("delete-room", (r) => events.push(`delete:${r}`));
    expect(adapter.rooms.get(a.id)).toEqual(new Set([a.id]));
    expect(adapter.sids.get(a.id)).toEqual(new Set([a.id]));
    // Another socket joins the room named after a: a's own rooms do not change.
    b.join(a.id);
    expect(adapter.rooms.get(a.id)).toEqual(new Set([a.id, b.id]));
    expect(adapter.sids.get(a.id)).toEqual(new Set([a.id]));
    expect(b.rooms).toEqual(new Set([b.id, a.id]));
    expect(adapter.rooms.get(b.id)).toEqual(new Set([b.id]));
    // a joins a room: the members of its own room do not change.
    a.join("x");
    expect(adapter.sids.get(a.id)).toEqual(new Set([a.id, "x"]));
    expect(adapter.rooms.get(a.id)).toEqual(new Set([a.id, b.id]));
    b.leave(a.id);
    // A socket leaving its own room is reported once, and the room goes.
    await connectTo(io);
    const c = lastSocket(io);
    events.length = 0;
    c.leave(c.id);
    expect(events).toEqual([`leave:${c.id}:${c.id}`, `delete:${c.id}`]);
    expect(adapter.rooms.has(c.id)).toBe(false);
    expect(c.rooms).toEqual(new Set());
    c.join(c.id);
    expect(adapter.rooms.get(c.id)).toEqual(new Set([c.id]));
    expect(c.rooms).toEqual(new Set([c.id]));
    events.length = 0;
    c.disconnect();
    expect(events).toEqual([`leave:${c.id}:${c.id}`, `delete:${c.id}`]);
    expect(adapter.rooms.has(c.id)).toBe(false);
    expect(adapter.sids.has(c.id)).toBe(false);
    expect(adapter.rooms.get(a.id)).toEqual(new Set([a.id]));
    expect(adapter.rooms.get("x")).toEqual(new Set([a.id]));
  });

  it("disconnecting sees the rooms; disconnect does not", async () => {
    const { io } = createServer();
    const conn = await connectTo(io);
    const socket = lastSocket(io);
    socket.join("r");
    const seen: string[][] = [];
    socket.on("disconnecting", () => seen.push([...socket.rooms]));
    socket.on("disconnect", () => seen.push([...socket.rooms]));
    conn.drop("ping timeout");
    expect(seen).toEqual([[socket.id, "r"], []]);
  });
});
