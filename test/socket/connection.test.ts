import { describe, expect, it, vi } from "vitest";
import type { Socket } from "../../src/socket/socket.ts";
import { waitFor } from "../helpers/wait.ts";
import { connectTo, createServer, flush, lastSocket, openConnection } from "./fake-engine.ts";

describe("namespace connection", () => {
  it("answers CONNECT with the socket id before the connection handlers run", async () => {
    const { io } = createServer();
    let sentWhenHandlerRan: string[] = [];
    let socket: Socket | undefined;
    io.on("connection", (s) => {
      socket = s;
      sentWhenHandlerRan = [...conn.texts];
    });
    const conn = openConnection(io);
    conn.receive("0");
    await flush();
    expect(socket).toBeDefined();
    expect(sentWhenHandlerRan).toEqual([`0{"sid":"${socket!.id}"}`]);
    expect(socket!.id).toMatch(/^[\w-]{20}$/);
    expect(socket!.id).not.toBe(conn.id);
    expect(socket!.connected).toBe(true);
    expect(socket!.rooms).toEqual(new Set([socket!.id]));
    expect(io.sockets.sockets.get(socket!.id)).toBe(socket);
  });

  it("emits both connect and connection, and of(name, fn) registers on connect", async () => {
    const { io } = createServer();
    const order: string[] = [];
    io.of("/chat", () => order.push("fn"));
    io.of("/chat").on("connection", () => order.push("connection"));
    io.of("chat").on("connect", () => order.push("connect"));
    await connectTo(io, "/chat");
    expect(order).toEqual(["fn", "connect", "connection"]);
  });

  it("builds the handshake from the first request and the CONNECT payload", async () => {
    const { io, clock } = createServer();
    const conn = await connectTo(io, "/", { token: "abc" }, {
      url: "/socket.io/?EIO=4&transport=polling&t=x&foo=1&foo=2",
      headers: { host: "h", origin: "http://example.com", "x-custom": "v" },
      remoteAddress: "10.0.0.7",
      secure: true,
    });
    const socket = lastSocket(io);
    expect(socket.handshake).toEqual({
      headers: { host: "h", origin: "http://example.com", "x-custom": "v" },
      time: new Date(clock.wallNow()).toString(),
      address: "10.0.0.7",
      xdomain: true,
      secure: true,
      issued: clock.wallNow(),
      url: "/socket.io/?EIO=4&transport=polling&t=x&foo=1&foo=2",
      query: { EIO: "4", transport: "polling", t: "x", foo: "2" },
      auth: { token: "abc" },
    });
    expect(socket.conn).toBe(conn);
    expect(socket.request).toBe(conn.request);
    await connectTo(io);
    expect(lastSocket(io).handshake.auth).toEqual({});
    expect(lastSocket(io).handshake.xdomain).toBe(false);
  });

  it("gives the handshake the time of connection, however late it is first read", async () => {
    const { io, clock } = createServer();
    await connectTo(io, "/", { token: "t" });
    const issued = clock.now();
    const socket = lastSocket(io);
    clock.advance(5_000);
    expect(socket.handshake.issued).toBe(issued);
    expect(socket.handshake.time).toBe(new Date(issued).toString());
    expect(socket.handshake.auth).toEqual({ token: "t" });
    expect(socket.handshake).toBe(socket.handshake);
  });

  it("dates the handshake by the wall clock, and times acks and connectTimeout by the monotonic one", async () => {
    const { io, clock } = createServer({ connectTimeout: 5_000 });
    // The system clock was stepped back an hour (NTP): handshakes show the time it now reads.
    const wall = clock.wallNow() - 3_600_000;
    clock.setWallTime(wall);
    const conn = await connectTo(io);
    const socket = lastSocket(io);
    expect(socket.handshake.issued).toBe(wall);
    expect(socket.handshake.time).toBe(new Date(wall).toString());
    const expired = vi.fn();
    socket.timeout(1000).emit("q", expired);
    const idle = openConnection(io);
    // Stepped forward two hours: no deadline comes any sooner.
    clock.setWallTime(wall + 7_200_000);
    clock.advance(999);
    expect(expired).not.toHaveBeenCalled();
    clock.advance(1);
    expect(expired.mock.calls[0]![0].message).toBe("operation has timed out");
    clock.advance(3_999);
    expect(idle.closedWith).toBe(undefined);
    clock.advance(1);
    expect(idle.closedWith).toEqual({ discard: false });
    expect(conn.readyState).toBe("open");
  });

  it("gives each socket its own auth and data objects, made when first needed", async () => {
    const { io } = createServer();
    await connectTo(io);
    const a = lastSocket(io);
    await connectTo(io);
    const b = lastSocket(io);
    expect(a.handshake.auth).toEqual({});
    expect(Object.isFrozen(a.handshake.auth)).toBe(false);
    expect(a.handshake.auth).not.toBe(b.handshake.auth);
    a.handshake.auth.x = 1;
    expect(b.handshake.auth).toEqual({});
    expect(a.data).toEqual({});
    expect(a.data).toBe(a.data);
    expect(a.data).not.toBe(b.data);
    a.data = undefined;
    expect(a.data).toBeUndefined();
    b.data = { user: "u" };
    expect(b.data).toEqual({ user: "u" });
  });

  it("connects one engine connection to several namespaces", async () => {
    const { io } = createServer();
    io.of("/admin");
    const conn = openConnection(io);
    conn.receive("0");
    conn.receive("0/admin,");
    await flush();
    const texts = conn.texts;
    expect(texts[0]).toMatch(/^0\{"sid":"[\w-]{20}"\}$/);
    expect(texts[1]).toMatch(/^0\/admin,\{"sid":"[\w-]{20}"\}$/);
    const a = lastSocket(io, "/");
    const b = lastSocket(io, "/admin");
    expect(a.client).toBe(b.client);
    expect(a.id).not.toBe(b.id);
  });

  it("refuses an unknown namespace with CONNECT_ERROR and keeps the connection", async () => {
    const { io } = createServer();
    const conn = openConnection(io);
    conn.receive("0/nope,");
    await flush();
    expect(conn.texts).toEqual(['4/nope,{"message":"Invalid namespace"}']);
    expect(conn.readyState).toBe("open");
    conn.receive("0");
    await flush();
    expect(conn.texts[1]).toMatch(/^0\{"sid":/);
  });

  it("closes the whole connection on a duplicate CONNECT; other namespaces get forced server close", async () => {
    const { io } = createServer();
    io.of("/a");
    const reasons: string[] = [];
    io.of("/a").on("connection", (s) => s.on("disconnect", (r) => reasons.push(`a:${r}`)));
    io.on("connection", (s) => s.on("disconnect", (r) => reasons.push(`main:${r}`)));
    const conn = openConnection(io);
    conn.receive("0");
    conn.receive("0/a,");
    await flush();
    conn.receive("0/a,");
    await flush();
    expect(conn.readyState).toBe("closed");
    expect(conn.closedWith).toEqual({ discard: false });
    expect(reasons.sort()).toEqual(["a:forced server close", "main:forced server close"]);
  });

  it("ignores a second CONNECT while the first is still in middlewares (Q-7 fixed)", async () => {
    const { io } = createServer();
    let release: () => void = () => {};
    io.use((_s, next) => {
      release = next;
    });
    const conn = openConnection(io);
    conn.receive("0");
    await flush();
    conn.receive("0");
    await flush();
    release();
    await flush();
    expect(conn.readyState).toBe("open");
    expect(io.sockets.sockets.size).toBe(1);
    expect(conn.texts.filter((t) => t.startsWith("0"))).toHaveLength(1);
  });

  it("closes the connection on a packet for a namespace not joined", async () => {
    const { io } = createServer();
    const conn = openConnection(io);
    conn.receive('2/x,["hi"]');
    await flush();
    expect(conn.readyState).toBe("closed");
  });

  it("closes the connection when the client sends CONNECT_ERROR", async () => {
    const { io } = createServer();
    const conn = await connectTo(io);
    conn.receive('4{"message":"x"}');
    await flush();
    expect(conn.readyState).toBe("closed");
  });

  it("on a decode error emits error on the sockets, then closes (forced close)", async () => {
    const { io } = createServer();
    const conn = await connectTo(io);
    const socket = lastSocket(io);
    const errors: Error[] = [];
    const reasons: string[] = [];
    socket.on("error", (e) => errors.push(e));
    socket.on("disconnect", (r) => reasons.push(r));
    conn.receive("9garbage");
    await flush();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(Error);
    expect(conn.readyState).toBe("closed");
    expect(reasons).toEqual(["forced close"]);
  });

  it("a client-caused error never throws into the engine: that client is dropped, the server carries on", async () => {
    const { io } = createServer();
    io.of("/a");
    // Each frame, what the socket's "error" listener gets (none for a DISCONNECT of a namespace
    // never joined), and the reason its "disconnect" gives.
    const cases: Array<[string | Uint8Array, string | null, string]> = [
      ["", "unknown packet type", "forced close"],
      ["9", "unknown packet type", "forced close"],
      ["{}", "unknown packet type", "forced close"],
      ["0/a,[1]", "invalid payload", "forced close"],
      ['2["connect"]', "invalid payload", "forced close"],
      ["2[{}]", "invalid payload", "forced close"],
      ["3", "invalid payload", "forced close"],
      ['451-["x",{"_placeholder":true,"num":0}]', "invalid payload", "forced close"],
      [new Uint8Array([1, 2, 3]), "got binary data when not reconstructing a packet", "forced close"],
      ["1/zz,", null, "forced server close"],
    ];
    for (const [frame, error, reason] of cases) {
      const conn = await connectTo(io);
      const socket = lastSocket(io);
      const seen: string[] = [];
      socket.on("error", (e) => seen.push(`error:${e.message}`));
      socket.on("disconnect", (r) => seen.push(`disconnect:${r}`));
      conn.clear();
      expect(() => conn.receive(frame)).not.toThrow();
      await flush();
      // The client is dropped: its connection closed, nothing written to it, its socket gone.
      expect(seen, String(frame)).toEqual([...(error ? [`error:${error}`] : []), `disconnect:${reason}`]);
      expect(conn.readyState, String(frame)).toBe("closed");
      expect(conn.texts, String(frame)).toEqual([]);
      expect(io.sockets.sockets.size, String(frame)).toBe(0);
      // A frame on the closed connection changes nothing.
      expect(() => conn.receive(new Uint8Array([1, 2, 3]))).not.toThrow();
      await flush();
      expect(seen, String(frame)).toHaveLength(error ? 2 : 1);
    }
    // And the server still serves the next client.
    const next = await connectTo(io);
    expect(next.readyState).toBe("open");
    expect(io.sockets.sockets.size).toBe(1);
  });

  it("keeps the connection open after a client DISCONNECT (client namespace disconnect)", async () => {
    const { io, clock } = createServer();
    const conn = await connectTo(io);
    const socket = lastSocket(io);
    const events: unknown[][] = [];
    socket.on("disconnecting", (r) => events.push(["disconnecting", r, [...socket.rooms]]));
    socket.on("disconnect", (r) => events.push(["disconnect", r, [...socket.rooms]]));
    conn.receive("1");
    await flush();
    expect(events).toEqual([
      ["disconnecting", "client namespace disconnect", [socket.id]],
      ["disconnect", "client namespace disconnect", []],
    ]);
    expect(socket.connected).toBe(false);
    expect(socket.disconnected).toBe(true);
    expect(io.sockets.sockets.size).toBe(0);
    expect(conn.readyState).toBe("open");
    // connectTimeout is not re-armed
    clock.advance(100_000);
    expect(conn.readyState).toBe("open");
  });

  it("socket.disconnect() sends DISCONNECT; disconnect(true) closes every namespace and the connection", async () => {
    const { io } = createServer();
    io.of("/b");
    const conn = openConnection(io);
    conn.receive("0");
    conn.receive("0/b,");
    await flush();
    const main = lastSocket(io);
    const b = lastSocket(io, "/b");
    const reasons: string[] = [];
    main.on("disconnect", (r) => reasons.push(`main:${r}`));
    b.on("disconnect", (r) => reasons.push(`b:${r}`));
    conn.clear();
    b.disconnect();
    expect(conn.texts).toEqual(["1/b,"]);
    expect(reasons).toEqual(["b:server namespace disconnect"]);
    expect(conn.readyState).toBe("open");
    conn.receive("0/b,");
    await flush();
    lastSocket(io, "/b").on("disconnect", (r) => reasons.push(`b2:${r}`));
    conn.clear();
    main.disconnect(true);
    expect(conn.texts.sort()).toEqual(["1", "1/b,"]);
    expect(reasons).toContain("main:server namespace disconnect");
    expect(reasons).toContain("b2:server namespace disconnect");
    expect(conn.readyState).toBe("closed");
    // a second disconnect is a no-op
    expect(() => main.disconnect()).not.toThrow();
  });

  it("maps engine close reasons to the sockets' disconnect reason", async () => {
    for (const reason of ["transport close", "transport error", "ping timeout", "parse error"] as const) {
      const { io } = createServer();
      const conn = await connectTo(io);
      const got: string[] = [];
      lastSocket(io).on("disconnect", (r) => got.push(r));
      conn.drop(reason);
      expect(got).toEqual([reason]);
    }
  });
});

describe("connectTimeout", () => {
  it("closes a connection that joins no namespace, using the engine scheduler", async () => {
    const { io, clock } = createServer({ connectTimeout: 1000 });
    const conn = openConnection(io);
    expect(clock.pendingTimers).toBe(1);
    clock.advance(999);
    expect(conn.readyState).toBe("open");
    clock.advance(1);
    expect(conn.readyState).toBe("closed");
  });

  it("defaults to 45000 and is cleared by the first successful connect", async () => {
    const { io, clock } = createServer();
    expect(io.connectTimeout()).toBe(45000);
    const conn = await connectTo(io);
    clock.advance(60_000);
    expect(conn.readyState).toBe("open");
    expect(io.engine.scheduler.size).toBe(0);
  });

  it("still applies after an Invalid namespace refusal", async () => {
    const { io, clock } = createServer({ connectTimeout: 500 });
    const conn = openConnection(io);
    conn.receive("0/unknown,");
    await flush();
    clock.advance(500);
    expect(conn.readyState).toBe("closed");
  });

  it("is cancelled when the connection closes first", async () => {
    const { io } = createServer();
    const conn = openConnection(io);
    conn.drop();
    expect(io.engine.scheduler.size).toBe(0);
  });
});

describe("connection middlewares", () => {
  it("rejects with CONNECT_ERROR {message, data} and leaves rooms joined in the middleware", async () => {
    const { io } = createServer();
    const rooms: string[] = [];
    io.of("/").adapter.on("join-room", (room) => rooms.push(room));
    let rejected: Socket | undefined;
    io.use((socket, next) => {
      rejected = socket;
      socket.join("vip");
      const err = Object.assign(new Error("not authorized"), { data: { content: "retry later" } });
      next(err);
    });
    const connection = vi.fn();
    io.on("connection", connection);
    const conn = await connectTo(io);
    expect(conn.texts).toEqual(['4{"message":"not authorized","data":{"content":"retry later"}}']);
    expect(connection).not.toHaveBeenCalled();
    expect(conn.readyState).toBe("open");
    expect(rooms).toEqual(["vip"]);
    expect(io.of("/").adapter.rooms.size).toBe(0);
    // join after the failure is a no-op
    rejected!.join("late");
    expect(io.of("/").adapter.rooms.size).toBe(0);
    expect(rejected!.connected).toBe(false);
  });

  it("omits data when undefined, and treats a throwing middleware as a rejection", async () => {
    const { io } = createServer();
    io.of("/t").use(() => {
      throw new Error("boom");
    });
    io.use((_s, next) => next(new Error("plain")));
    const conn = await connectTo(io);
    expect(conn.texts).toEqual(['4{"message":"plain"}']);
    const conn2 = await connectTo(io, "/t");
    expect(conn2.texts).toEqual(['4/t,{"message":"boom"}']);
  });

  it("runs middlewares in order, async, and only then connects", async () => {
    const { io } = createServer();
    const order: string[] = [];
    io.use((s, next) => {
      order.push("one");
      s.data = { user: "u1" };
      setTimeout(next, 5);
    });
    io.use((_s, next) => {
      order.push("two");
      next();
    });
    io.on("connection", (s) => order.push(`connection:${s.data.user}`));
    const conn = openConnection(io);
    conn.receive("0");
    await waitFor(() => order.length === 3, { what: "both middlewares and the connection" });
    expect(order).toEqual(["one", "two", "connection:u1"]);
  });

  it("drops a socket whose connection closed while middlewares ran; its rooms are left", async () => {
    const { io } = createServer();
    let release: () => void = () => {};
    let pending: Socket | undefined;
    io.use((s, next) => {
      pending = s;
      s.join("r");
      release = next;
    });
    const connection = vi.fn();
    io.on("connection", connection);
    const conn = openConnection(io);
    conn.receive("0");
    await flush();
    expect(io.of("/").adapter.rooms.has("r")).toBe(true);
    conn.drop();
    // the rooms are left as soon as the connection closes, not when the middleware finishes
    expect(io.of("/").adapter.rooms.size).toBe(0);
    release();
    await flush();
    expect(connection).not.toHaveBeenCalled();
    pending!.join("again");
    expect(io.of("/").adapter.rooms.size).toBe(0);
    expect(io.sockets.sockets.size).toBe(0);
  });
});

describe("dynamic namespaces", () => {
  it("creates children from a RegExp parent, emits new_namespace, and shares parent handlers live", async () => {
    const { io } = createServer();
    const created: string[] = [];
    io.on("new_namespace", (nsp) => created.push(nsp.name));
    const parent = io.of(/^\/dyn-\d+$/);
    const seen: string[] = [];
    parent.use((s, next) => {
      seen.push(`mw:${s.nsp.name}`);
      next();
    });
    parent.on("connection", (s) => seen.push(`conn:${s.nsp.name}`));
    const conn = await connectTo(io, "/dyn-1");
    expect(conn.texts[0]).toMatch(/^0\/dyn-1,\{"sid":/);
    expect(created).toEqual(["/dyn-1"]);
    // added after the child exists: still applies (unio differs from socket.io's snapshot, Q-8)
    parent.on("connection", (s) => seen.push(`late:${s.nsp.name}`));
    await connectTo(io, "/dyn-1");
    expect(seen).toEqual(["mw:/dyn-1", "conn:/dyn-1", "mw:/dyn-1", "conn:/dyn-1", "late:/dyn-1"]);
    expect(created).toEqual(["/dyn-1"]);
    const refused = await connectTo(io, "/dyn-x");
    expect(refused.texts).toEqual(['4/dyn-x,{"message":"Invalid namespace"}']);
    // io.of() on a matching name creates the child through the parent
    expect(io.of("/dyn-2").name).toBe("/dyn-2");
    expect(created).toEqual(["/dyn-1", "/dyn-2"]);
  });

  it("asks function parents in order with the auth, treating errors and throws as refusals", async () => {
    const { io } = createServer();
    const calls: string[] = [];
    io.of((name) => {
      calls.push(`throws:${name}`);
      throw new Error("x");
    });
    io.of((name, _auth, next) => {
      calls.push(`err:${name}`);
      next(new Error("no"), true);
    });
    const allowing = io.of((name, auth, next) => {
      calls.push(`ok:${name}`);
      next(null, auth.key === "k");
    });
    const conn = await connectTo(io, "/f", { key: "k" });
    expect(calls).toEqual(["throws:/f", "err:/f", "ok:/f"]);
    expect(conn.texts[0]).toMatch(/^0\/f,\{"sid":/);
    expect(lastSocket(io, "/f").nsp.name).toBe("/f");
    const denied = await connectTo(io, "/g", { key: "nope" });
    expect(denied.texts).toEqual(['4/g,{"message":"Invalid namespace"}']);
    expect(() => allowing.fetchSockets()).toThrow("fetchSockets() is not supported on parent namespaces");
  });

  it("hands a dynamic namespace check the auth object the socket's handshake then has, even without auth", async () => {
    const { io } = createServer();
    let seen: Record<string, unknown> | undefined;
    io.of((_name, auth, next) => {
      seen = auth;
      auth.checked = true;
      next(null, true);
    });
    await connectTo(io, "/d");
    expect(lastSocket(io, "/d").handshake.auth).toBe(seen);
    expect(seen).toEqual({ checked: true });
  });

  it("rejects stateful regular expressions", () => {
    const { io } = createServer();
    expect(() => io.of(/x/g)).toThrow("stateful regular expressions are not supported");
  });

  it("parent.emit and parent.to().emit reach every child", async () => {
    const { io } = createServer();
    const parent = io.of(/^\/p\d$/);
    const c1 = await connectTo(io, "/p1");
    const c2 = await connectTo(io, "/p2");
    c1.clear();
    c2.clear();
    parent.emit("hello", 1);
    expect(c1.texts).toEqual(['2/p1,["hello",1]']);
    expect(c2.texts).toEqual(['2/p2,["hello",1]']);
    const s1 = lastSocket(io, "/p1");
    s1.join("r");
    parent.to("r").emit("only");
    expect(c1.texts[1]).toBe('2/p1,["only"]');
    expect(c2.texts).toHaveLength(1);
  });

  it("removes an empty child with cleanupEmptyChildNamespaces", async () => {
    const { io } = createServer({ cleanupEmptyChildNamespaces: true });
    io.of(/^\/c\d$/);
    const conn = await connectTo(io, "/c1");
    expect(io._nsps.has("/c1")).toBe(true);
    conn.receive("1/c1,");
    await flush();
    expect(io._nsps.has("/c1")).toBe(false);
  });
});
