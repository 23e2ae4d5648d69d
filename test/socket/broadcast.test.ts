import { describe, expect, it, vi } from "vitest";
import { Adapter } from "../../src/socket/adapter.ts";
import { RemoteSocket } from "../../src/socket/broadcast-operator.ts";
import { Socket } from "../../src/socket/socket.ts";
import { connectTo, createServer, type FakeEngineSocket, flush, lastSocket } from "./fake-engine.ts";

async function clients(io: Parameters<typeof connectTo>[0], n: number, nsp = "/") {
  const conns: FakeEngineSocket[] = [];
  const sockets: Socket[] = [];
  for (let i = 0; i < n; i++) {
    conns.push(await connectTo(io, nsp));
    sockets.push(lastSocket(io, nsp));
  }
  for (const c of conns) c.clear();
  return { conns, sockets };
}

describe("broadcasts", () => {
  it("encodes once and hands the same messages to every recipient", async () => {
    const { io } = createServer();
    const { conns } = await clients(io, 3);
    const encode = vi.spyOn(io.encoder, "encode");
    io.emit("news", { n: 1 }, new Uint8Array([5]));
    expect(encode).toHaveBeenCalledTimes(1);
    const batch = conns[0]!.batches[0]!;
    expect(batch).toHaveLength(2);
    for (const c of conns) {
      expect(c.batches).toHaveLength(1);
      expect(c.batches[0]).toBe(batch);
      expect(c.sent).toEqual(['51-["news",{"n":1},{"_placeholder":true,"num":0}]', new Uint8Array([5])]);
    }
  });

  it("to/in/except target rooms; each client once; socket.broadcast excludes the sender", async () => {
    const { io } = createServer();
    const { conns, sockets } = await clients(io, 4);
    const [a, b, c, d] = sockets as [Socket, Socket, Socket, Socket];
    a.join(["r1", "r2"]);
    b.join("r1");
    c.join("r2");
    d.join("r3");
    const received = () => conns.map((x) => x.texts.length);
    io.to("r1").to("r2").emit("x");
    expect(received()).toEqual([1, 1, 1, 0]);
    io.in(["r1", "r3"]).except("r2").emit("y");
    expect(received()).toEqual([1, 2, 1, 1]);
    a.broadcast.emit("z");
    expect(received()).toEqual([1, 3, 2, 2]);
    a.to("r1").emit("w");
    expect(received()).toEqual([1, 4, 2, 2]);
    io.except(d.id).emit("v");
    expect(received()).toEqual([2, 5, 3, 2]);
    io.to(b.id).emit("direct");
    expect(conns[1]!.texts.at(-1)).toBe('2["direct"]');
    io.to("nobody").emit("none");
    expect(received()).toEqual([2, 6, 3, 2]);
  });

  it("operators are immutable", async () => {
    const { io } = createServer();
    const { conns, sockets } = await clients(io, 2);
    sockets[0]!.join("r");
    const base = io.to("r");
    base.except("r").emit("nothing");
    base.volatile.emit("v");
    base.emit("plain");
    expect(conns[0]!.texts).toEqual(['2["v"]', '2["plain"]']);
    expect(conns[1]!.texts).toEqual([]);
  });

  it("reserved names throw; namespaces are isolated", async () => {
    const { io } = createServer();
    const { conns } = await clients(io, 1);
    io.of("/other");
    const other = await connectTo(io, "/other");
    other.clear();
    expect(() => io.emit("disconnect" as never)).toThrow('"disconnect" is a reserved event name');
    io.of("/other").emit("o");
    expect(conns[0]!.texts).toEqual([]);
    expect(other.texts).toEqual(['2/other,["o"]']);
  });

  it("volatile skips clients whose transport is not writable", async () => {
    const { io } = createServer();
    const { conns } = await clients(io, 2);
    conns[1]!.transport.writable = false;
    io.volatile.emit("v");
    expect(conns.map((c) => c.texts.length)).toEqual([1, 0]);
  });

  it("local and compress flags reach the adapter", async () => {
    const { io } = createServer();
    await clients(io, 1);
    const spy = vi.spyOn(io.of("/").adapter, "broadcast");
    io.local.compress(false).emit("x");
    expect(spy.mock.calls[0]![1].flags).toEqual({ local: true, compress: false });
  });
});

describe("broadcast acks", () => {
  it("collects one response per client", async () => {
    const { io, clock } = createServer();
    const { conns } = await clients(io, 3);
    const cb = vi.fn();
    io.timeout(1000).emit("q", 1, cb);
    expect(conns[0]!.texts).toEqual(['20["q",1]']);
    conns.forEach((c, i) => c.receive(`30["r${i}","extra"]`));
    await flush();
    expect(cb).toHaveBeenCalledTimes(1);
    expect(cb).toHaveBeenCalledWith(null, ["r0", "r1", "r2"]);
    clock.advance(5000);
    expect(cb).toHaveBeenCalledTimes(1);
    expect(io.engine.scheduler.size).toBe(0);
  });

  it("resolves at once with [] when nobody is targeted", async () => {
    const { io } = createServer();
    await clients(io, 1);
    await expect(io.to("empty").timeout(10).emitWithAck("q")).resolves.toEqual([]);
    const cb = vi.fn();
    io.to("empty").emit("q", cb);
    await flush();
    expect(cb).toHaveBeenCalledWith(null, []);
  });

  it("times out with the partial responses and forgets the stale acks", async () => {
    const { io, clock } = createServer();
    const { conns } = await clients(io, 2);
    const p = io.timeout(100).emitWithAck("q");
    conns[0]!.receive("30[1]");
    await flush();
    clock.advance(100);
    const err = await p.catch((e) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toBe("operation has timed out");
    expect(err.responses).toEqual([1]);
    // a late answer is harmless
    conns[1]!.receive("30[2]");
    await flush();
  });

  it("without timeout() waits for every answer (unio does not time out at once, Q-6)", async () => {
    const { io, clock } = createServer();
    const { conns } = await clients(io, 2);
    const cb = vi.fn();
    io.emit("q" as never, cb as never);
    clock.advance(1_000_000);
    await flush();
    expect(cb).not.toHaveBeenCalled();
    conns[0]!.receive("30[1]");
    conns[1]!.receive("30[2]");
    await flush();
    expect(cb).toHaveBeenCalledWith(null, [1, 2]);
  });

  it("shares the namespace id counter with socket emits", async () => {
    const { io } = createServer();
    const { conns, sockets } = await clients(io, 1);
    sockets[0]!.emit("a", () => {});
    io.timeout(10).emit("b", () => {});
    sockets[0]!.emit("c", () => {});
    expect(conns[0]!.texts).toEqual(['20["a"]', '21["b"]', '22["c"]']);
  });

  it("does not count volatile recipients that were skipped", async () => {
    const { io } = createServer();
    const { conns } = await clients(io, 2);
    conns[1]!.transport.writable = false;
    const p = io.volatile.timeout(1000).emitWithAck("q");
    conns[0]!.receive("30[1]");
    await expect(p).resolves.toEqual([1]);
  });
});

describe("utility operations", () => {
  it("fetchSockets returns local Socket instances with their data and rooms", async () => {
    const { io } = createServer();
    const { sockets } = await clients(io, 3);
    sockets[0]!.join("r");
    sockets[1]!.join("r");
    sockets[0]!.data = { name: "a" };
    const all = await io.fetchSockets();
    expect(all).toHaveLength(3);
    const inR = await io.in("r").except(sockets[1]!.id).fetchSockets();
    expect(inR).toHaveLength(1);
    expect(inR[0]).toBeInstanceOf(Socket);
    expect(inR[0]!.data).toEqual({ name: "a" });
    expect(inR[0]!.rooms.has("r")).toBe(true);
    expect(await io.allSockets()).toEqual(new Set(sockets.map((s) => s.id)));
  });

  it("socketsJoin, socketsLeave and disconnectSockets", async () => {
    const { io } = createServer();
    const { conns, sockets } = await clients(io, 3);
    sockets[0]!.join("r");
    io.in("r").socketsJoin(["x", "y"]);
    expect(sockets[0]!.rooms).toEqual(new Set([sockets[0]!.id, "r", "x", "y"]));
    io.socketsLeave("x");
    expect(sockets[0]!.rooms.has("x")).toBe(false);
    io.except("r").disconnectSockets();
    expect(sockets.map((s) => s.connected)).toEqual([true, false, false]);
    expect(conns[1]!.texts).toEqual(["1"]);
    expect(conns[1]!.readyState).toBe("open");
    io.disconnectSockets(true);
    expect(conns[0]!.readyState).toBe("closed");
  });

  it("RemoteSocket acts through the adapter, ack with a single response", async () => {
    const { io, clock } = createServer();
    const { conns, sockets } = await clients(io, 1);
    const remote = new RemoteSocket<any, any>(io.of("/").adapter, {
      id: sockets[0]!.id,
      handshake: sockets[0]!.handshake,
      rooms: [...sockets[0]!.rooms],
      data: { d: 1 },
    });
    expect(remote.rooms).toEqual(new Set([sockets[0]!.id]));
    remote.emit("hi", 1);
    expect(conns[0]!.texts).toEqual(['2["hi",1]']);
    const cb = vi.fn();
    remote.timeout(100).emit("q", cb);
    conns[0]!.receive('30["only"]');
    await flush();
    expect(cb).toHaveBeenCalledWith(null, "only");
    const late = vi.fn();
    remote.timeout(100).emit("q2", late);
    clock.advance(100);
    expect(late.mock.calls[0]![0].message).toBe("operation has timed out");
    expect(late.mock.calls[0]![1]).toBeNull();
    remote.join("j");
    expect(sockets[0]!.rooms.has("j")).toBe(true);
    remote.leave("j");
    expect(sockets[0]!.rooms.has("j")).toBe(false);
    remote.disconnect();
    expect(sockets[0]!.connected).toBe(false);
  });

  it("serverSideEmit refuses reserved names; with a single node an ack gets []", async () => {
    const { io } = createServer();
    expect(() => io.serverSideEmit("connection" as never)).toThrow('"connection" is a reserved event name');
    await expect(io.serverSideEmitWithAck("sync")).resolves.toEqual([]);
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    io.serverSideEmit("hello", 1);
    io.serverSideEmit("hello", 2);
    expect(warn).toHaveBeenCalledTimes(1);
    warn.mockRestore();
    const got = vi.fn();
    io.on("from-peer" as never, got as never);
    io.sockets._onServerSideEmit(["from-peer", 1, 2]);
    expect(got).toHaveBeenCalledWith(1, 2);
  });
});

describe("adapter option", () => {
  it("accepts a class or a factory and re-creates adapters when changed", async () => {
    class MyAdapter extends Adapter {}
    const { io } = createServer({ adapter: MyAdapter });
    expect(io.of("/").adapter).toBeInstanceOf(MyAdapter);
    const made: string[] = [];
    io.adapter((nsp) => {
      made.push(nsp.name);
      return new Adapter(nsp);
    });
    expect(made).toEqual(["/"]);
    io.of("/new");
    expect(made).toEqual(["/", "/new"]);
    const init = vi.fn(async () => {
      throw new Error("init failed");
    });
    class Failing extends Adapter {
      override init() {
        return init();
      }
    }
    io.adapter(Failing);
    expect(init).toHaveBeenCalledTimes(2);
    await flush();
  });
});
