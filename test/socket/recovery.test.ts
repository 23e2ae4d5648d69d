import { describe, expect, it, vi } from "vitest";
import { SessionAwareAdapter } from "../../src/socket/session-aware-adapter.ts";
import { connectFrame, connectTo, createServer, flush, lastSocket, openConnection } from "./fake-engine.ts";

function connectReply(text: string): { sid: string; pid?: string } {
  const json = text.slice(text.indexOf("{"));
  return JSON.parse(json);
}

describe("connection state recovery", () => {
  it("sends a pid, appends offsets to stored events, and restores id, rooms, data and missed packets", async () => {
    const { io } = createServer({ connectionStateRecovery: {} });
    expect(io.of("/").adapter).toBeInstanceOf(SessionAwareAdapter);
    const mw = vi.fn((_s, next) => next());
    io.use(mw);
    const conn = await connectTo(io);
    const { sid, pid } = connectReply(conn.texts[0]!);
    expect(pid).toMatch(/^[\w-]{20}$/);
    const socket = lastSocket(io);
    socket.join("room");
    socket.data = { user: "alice" };
    conn.clear();

    io.emit("e1", 1);
    socket.emit("e2");
    const lastSeen = JSON.parse(conn.texts[1]!.slice(1)) as unknown[];
    expect(JSON.parse(conn.texts[0]!.slice(1))).toEqual(["e1", 1, expect.any(String)]);
    const offset = lastSeen[lastSeen.length - 1] as string;
    expect(typeof offset).toBe("string");
    // not stored: acks and volatile
    socket.emit("with-ack", () => {});
    io.volatile.emit("vol");
    expect(conn.texts[2]).toBe('20["with-ack"]');
    expect(conn.texts[3]).toBe('2["vol"]');

    conn.drop("transport close");
    // missed while away: to its room, to everyone, not to another room, and an excluded one
    io.to("room").emit("m1");
    io.emit("m2", { x: 1 });
    io.to("other").emit("not-mine");
    io.except("room").emit("excluded");

    const recovered: boolean[] = [];
    io.on("connection", (s) => recovered.push(s.recovered));
    const conn2 = openConnection(io);
    conn2.receive(connectFrame("/", { pid, offset, token: "t" }));
    await flush();
    const texts = conn2.texts;
    expect(texts).toHaveLength(3);
    expect(JSON.parse(texts[0]!.slice(1)).slice(0, 1)).toEqual(["m1"]);
    expect(JSON.parse(texts[1]!.slice(1)).slice(0, 2)).toEqual(["m2", { x: 1 }]);
    expect(connectReply(texts[2]!)).toEqual({ sid, pid });
    const restored = lastSocket(io);
    expect(restored.id).toBe(sid);
    expect(restored.recovered).toBe(true);
    expect(restored.rooms).toEqual(new Set([sid, "room"]));
    expect(restored.data).toEqual({ user: "alice" });
    expect(restored.handshake.auth).toEqual({ pid, offset, token: "t" });
    expect(recovered).toEqual([true]);
    // skipMiddlewares defaults to true
    expect(mw).toHaveBeenCalledTimes(1);
  });

  it("restores a session only once (unio removes it, unlike socket.io Q-10)", async () => {
    const { io } = createServer({ connectionStateRecovery: {} });
    const conn = await connectTo(io);
    const { pid } = connectReply(conn.texts[0]!);
    io.emit("x");
    const offset = JSON.parse(conn.texts[1]!.slice(1))[1] as string;
    conn.drop("ping timeout");
    const a = await connectTo(io, "/", { pid, offset });
    expect(lastSocket(io).recovered).toBe(true);
    a.drop("transport error");
    const b = await connectTo(io, "/", { pid, offset });
    // the second disconnect persisted the session again: still recoverable with the same pid
    expect(lastSocket(io).recovered).toBe(true);
    const c = await connectTo(io, "/", { pid, offset });
    expect(lastSocket(io).recovered).toBe(false);
    expect(connectReply(c.texts[0]!).pid).not.toBe(pid);
    b.drop();
  });

  it("does not persist for non-recoverable reasons, nor restore bad input or expired sessions", async () => {
    const { io, clock } = createServer({ connectionStateRecovery: { maxDisconnectionDuration: 1000 } });
    const adapter = io.of("/").adapter as SessionAwareAdapter;
    const c1 = await connectTo(io);
    const p1 = connectReply(c1.texts[0]!).pid!;
    io.emit("x");
    const offset = JSON.parse(c1.texts[1]!.slice(1))[1] as string;
    c1.receive("1"); // client namespace disconnect: not recoverable
    await flush();
    expect(adapter.storedCounts.sessions).toBe(0);
    await connectTo(io, "/", { pid: p1, offset });
    expect(lastSocket(io).recovered).toBe(false);

    const c2 = await connectTo(io);
    const p2 = connectReply(c2.texts[0]!).pid!;
    c2.drop("transport close");
    // pid/offset must both be strings
    await connectTo(io, "/", { pid: p2, offset: 5 });
    expect(lastSocket(io).recovered).toBe(false);
    // unknown offset
    await connectTo(io, "/", { pid: p2, offset: "nope" });
    expect(lastSocket(io).recovered).toBe(false);
    // expired
    clock.advance(1001);
    await connectTo(io, "/", { pid: p2, offset });
    expect(lastSocket(io).recovered).toBe(false);
  });

  it("socket.emit() after the transport dropped is delivered when the session is recovered", async () => {
    const { io } = createServer({ connectionStateRecovery: {} });
    const conn = await connectTo(io);
    const { pid } = connectReply(conn.texts[0]!);
    const socket = lastSocket(io);
    socket.emit("before");
    const offset = JSON.parse(conn.texts[1]!.slice(1))[1] as string;
    conn.drop();
    socket.emit("while-away", 1);
    const back = await connectTo(io, "/", { pid, offset });
    expect(JSON.parse(back.texts[0]!.slice(1)).slice(0, 2)).toEqual(["while-away", 1]);
  });

  it("keeps a session recoverable when the connection drops during the restore", async () => {
    const { io } = createServer({ connectionStateRecovery: {} });
    const conn = await connectTo(io);
    const { sid, pid } = connectReply(conn.texts[0]!);
    io.emit("x");
    const offset = JSON.parse(conn.texts[1]!.slice(1))[1] as string;
    conn.drop();
    const persist = vi.spyOn(io.of("/").adapter, "persistSession");
    const attempt = openConnection(io);
    attempt.receive(connectFrame("/", { pid, offset }));
    await Promise.resolve(); // the CONNECT is routed and the restore starts...
    attempt.drop(); // ...and the transport drops before it settles
    await flush();
    expect(persist).toHaveBeenCalledTimes(1);
    expect(attempt.texts).toEqual([]);
    await connectTo(io, "/", { pid, offset });
    expect(lastSocket(io).recovered).toBe(true);
    expect(lastSocket(io).id).toBe(sid);
  });

  it("runs middlewares on recovery when skipMiddlewares is false", async () => {
    const { io } = createServer({ connectionStateRecovery: { skipMiddlewares: false } });
    const mw = vi.fn((_s, next) => next());
    io.use(mw);
    const conn = await connectTo(io);
    const { pid } = connectReply(conn.texts[0]!);
    io.emit("x");
    const offset = JSON.parse(conn.texts[1]!.slice(1))[1] as string;
    conn.drop();
    await connectTo(io, "/", { pid, offset });
    expect(lastSocket(io).recovered).toBe(true);
    expect(mw).toHaveBeenCalledTimes(2);
  });

  it("starts a fresh session when restoreSession throws or rejects", async () => {
    const { io } = createServer({ connectionStateRecovery: {} });
    const adapter = io.of("/").adapter;
    vi.spyOn(adapter, "restoreSession").mockImplementationOnce(() => {
      throw new Error("sync");
    });
    await connectTo(io, "/", { pid: "a", offset: "b" });
    expect(lastSocket(io).recovered).toBe(false);
    vi.spyOn(adapter, "restoreSession").mockImplementationOnce(() => Promise.reject(new Error("async")));
    await connectTo(io, "/", { pid: "a", offset: "b" });
    expect(lastSocket(io).recovered).toBe(false);
  });

  it("sweeps expired packets and sessions with one scheduler entry, and none when idle", async () => {
    const { io, clock } = createServer({ connectionStateRecovery: { maxDisconnectionDuration: 30_000 } });
    const adapter = io.of("/").adapter as SessionAwareAdapter;
    expect(io.engine.scheduler.size).toBe(0);
    const conn = await connectTo(io);
    io.emit("a");
    conn.drop();
    expect(adapter.storedCounts).toEqual({ packets: 1, sessions: 1 });
    expect(io.engine.scheduler.size).toBe(1);
    clock.advance(60_000);
    expect(adapter.storedCounts).toEqual({ packets: 0, sessions: 0 });
    expect(io.engine.scheduler.size).toBe(0);
  });

  it("socket.emit during connection middleware is sent, before the CONNECT reply (Q-12 fixed)", async () => {
    const { io } = createServer({ connectionStateRecovery: {} });
    io.use((s, next) => {
      s.emit("early");
      next();
    });
    const conn = await connectTo(io);
    expect(conn.texts[0]).toBe('2["early"]');
    expect(conn.texts[1]).toMatch(/^0\{"sid"/);
  });
});

describe("server close", () => {
  it("closes sockets with 'server shutting down', sends no DISCONNECT, closes adapters and the engine", async () => {
    const { io } = createServer({ connectionStateRecovery: {} });
    io.of("/b");
    const conn = openConnection(io);
    conn.receive("0");
    conn.receive("0/b,");
    await flush();
    const reasons: string[] = [];
    lastSocket(io).on("disconnect", (r) => reasons.push(r));
    lastSocket(io, "/b").on("disconnect", (r) => reasons.push(r));
    const idle = openConnection(io);
    const closeSpy = vi.spyOn(io.of("/b").adapter, "close");
    conn.clear();
    const done = vi.fn();
    await io.close(done);
    expect(reasons).toEqual(["server shutting down", "server shutting down"]);
    expect(conn.texts).toEqual([]);
    expect(conn.readyState).toBe("closed");
    expect(conn.closedWith).toEqual({ discard: true });
    expect(idle.readyState).toBe("closed");
    expect(closeSpy).toHaveBeenCalled();
    expect(done).toHaveBeenCalled();
    expect(io.engine.scheduler.size).toBe(0);
    // sessions were persisted (server shutting down is recoverable)
    expect((io.of("/").adapter as SessionAwareAdapter).storedCounts.sessions).toBe(1);
  });
});

describe("custom parser", () => {
  it("works with socket.io-msgpack-parser (add/on('decoded') decoders)", async () => {
    const parser = await import("socket.io-msgpack-parser");
    const { io } = createServer({ parser });
    const conn = openConnection(io);
    const encoder = new parser.Encoder();
    const frame = (p: object) => (encoder.encode(p as never) as unknown as Uint8Array[])[0]!;
    conn.receive(frame({ type: 0, nsp: "/" }));
    await flush();
    const decoder = new parser.Decoder();
    const got: any[] = [];
    decoder.on("decoded", (p: any) => got.push(p));
    decoder.add(conn.sent[0]);
    expect(got[0].type).toBe(0);
    expect(got[0].data.sid).toBe(lastSocket(io).id);
    const fn = vi.fn((a: number, ack: (v: number) => void) => ack(a * 2));
    lastSocket(io).on("double", fn);
    conn.receive(frame({ type: 2, nsp: "/", data: ["double", 21], id: 4 }));
    await flush();
    decoder.add(conn.sent[1]);
    expect(got[1]).toMatchObject({ type: 3, nsp: "/", id: 4, data: [42] });
    // a bad frame: error on the socket, connection closed
    const errors = vi.fn();
    lastSocket(io).on("error", errors);
    conn.receive(new Uint8Array([0xc1]));
    await flush();
    expect(errors).toHaveBeenCalled();
    expect(conn.readyState).toBe("closed");
  });
});
