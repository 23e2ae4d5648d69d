/**
 * socket.io-adapter's own classes (2.5.x), unchanged, on a unio Server: the
 * in-memory `Adapter` and `SessionAwareAdapter` through the seam of
 * src/socket/adapter-contract.ts. What clients (socket.io-client) see is
 * asserted. The typings part is socket.io's own type test for `adapter`.
 */
import { afterEach, describe, expect, it } from "vitest";
import { Adapter as SioAdapter, SessionAwareAdapter as SioSessionAwareAdapter } from "socket.io-adapter";
import { io as ioc, type Socket as ClientSocket } from "socket.io-client";
import * as msgpackParser from "socket.io-msgpack-parser";
import { createAdapter as createRedisAdapter, createShardedAdapter } from "@socket.io/redis-adapter";
import { createAdapter as createStreamsAdapter } from "@socket.io/redis-streams-adapter";
import { Server } from "../../src/index.ts";
import { Server as NodeServer } from "../../src/runtimes/node-server.ts";
import { type Running, startNode } from "../helpers/node.ts";
import { onceArgs as next, waitFor } from "../helpers/wait.ts";

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});


async function setup(
  opts: ConstructorParameters<typeof Server>[0] = { adapter: SioAdapter },
  n = 3,
): Promise<{ io: Server; run: Running; cs: ClientSocket[] }> {
  const io = new Server(opts);
  const run = await startNode(io);
  cleanups.push(() => run.close());
  const cs = await Promise.all(
    Array.from({ length: n }, async () => {
      const c = ioc(run.url, { forceNew: true, reconnection: false, transports: ["websocket"] });
      cleanups.push(() => c.disconnect());
      await next(c, "connect");
      return c;
    }),
  );
  await waitFor(() => io.of("/").sockets.size === n, { what: "sockets" });
  return { io, run, cs };
}

const sid = (io: Server, c: ClientSocket) => io.of("/").sockets.get(c.id!)!;

describe("typings (socket.io's own type test for adapter)", () => {
  it("accepts socket.io-adapter's class, factories and subclasses", () => {
    const io = new Server({ adapter: (nsp) => new SioAdapter(nsp) });
    io.adapter(SioAdapter);
    class MyCustomAdapter extends SioAdapter {
      constructor(
        nsp: any,
        readonly opts: unknown,
      ) {
        super(nsp);
      }
    }
    io.adapter((nsp) => new MyCustomAdapter(nsp, { test: "123" }));
    // @ts-expect-error - shouldn't accept arguments of the wrong types
    expect(() => io.adapter((nsp) => "nope")).toBeDefined;
    expect(io.of("/").adapter).toBeInstanceOf(MyCustomAdapter);
  });

  it("accepts the official packages' factories as the adapter option (type-checked, not run)", () => {
    const typeOnly = (pub: any, sub: any) => {
      new Server({ adapter: createRedisAdapter(pub, sub) });
      new Server({ adapter: createShardedAdapter(pub, sub) });
      new Server({ adapter: createStreamsAdapter(pub) });
      new NodeServer({ adapter: createRedisAdapter(pub, sub, { requestsTimeout: 1000 }) }).adapter(createStreamsAdapter(pub));
    };
    expect(typeof typeOnly).toBe("function");
  });
});

describe("socket.io-adapter's in-memory Adapter", () => {
  it("broadcasts to all, to rooms, except rooms, from a socket", async () => {
    const { io, cs } = await setup();
    const [a, b, c] = cs as [ClientSocket, ClientSocket, ClientSocket];
    expect(io.of("/").adapter).toBeInstanceOf(SioAdapter);
    sid(io, a).join("r1");
    sid(io, b).join(["r1", "r2"]);
    const got: string[] = [];
    for (const [name, cl] of [["a", a], ["b", b], ["c", c]] as const) cl.onAny((ev, arg) => got.push(`${name}:${ev}:${arg}`));
    io.emit("all", 1);
    io.to("r1").emit("r1", 2);
    io.to("r1").to("r2").emit("r12", 3);
    io.except("r2").emit("notr2", 4);
    sid(io, a).broadcast.emit("froma", 5);
    sid(io, a).to("r1").emit("froma-r1", 6);
    io.local.emit("local", 7);
    io.compress(false).emit("nocompress", 8);
    const expected = [
      "a:all:1", "b:all:1", "c:all:1",
      "a:r1:2", "b:r1:2",
      "a:r12:3", "b:r12:3",
      "a:notr2:4", "c:notr2:4",
      "b:froma:5", "c:froma:5",
      "b:froma-r1:6",
      "a:local:7", "b:local:7", "c:local:7",
      "a:nocompress:8", "b:nocompress:8", "c:nocompress:8",
    ];
    // A last broadcast to everyone: once it arrived, any stray copy of the earlier ones would have too.
    io.emit("marker", 0);
    expected.push("a:marker:0", "b:marker:0", "c:marker:0");
    await waitFor(() => got.filter((g) => g.includes(":marker:")).length === 3, { what: "the marker on the three clients" });
    expect(got.sort()).toEqual(expected.sort());
  });

  it("every broadcast and its variants reach the right clients", async () => {
    const { io, cs } = await setup();
    const [a, b, c] = cs as [ClientSocket, ClientSocket, ClientSocket];
    sid(io, a).join("r");
    sid(io, b).join("r");
    const seen: Record<string, unknown[][]> = { a: [], b: [], c: [] };
    a.onAny((...x) => seen.a!.push(x));
    b.onAny((...x) => seen.b!.push(x));
    c.onAny((...x) => seen.c!.push(x));
    io.volatile.emit("vol", "v");
    await waitFor(() => seen.a!.length === 1 && seen.b!.length === 1 && seen.c!.length === 1, { what: "the volatile packet" });
    io.to("r").emit("bin", Buffer.from([1, 2, 3]), { nested: new Uint8Array([4]) });
    io.local.to("r").except(c.id!).emit("loc", "l");
    io.compress(false).emit("nc", "n");
    await waitFor(() => seen.a!.length === 4 && seen.b!.length === 4 && seen.c!.length === 2, { what: "all events" }).catch((e) => {
      throw new Error(`${e.message}: ${JSON.stringify(seen)}`);
    });
    const [ev, buf, obj] = seen.a![1]! as [string, ArrayBuffer, { nested: ArrayBuffer }];
    expect(ev).toBe("bin");
    expect([...new Uint8Array(buf)]).toEqual([1, 2, 3]);
    expect([...new Uint8Array(obj.nested)]).toEqual([4]);
    expect(seen.a!.map((x) => x[0])).toEqual(["vol", "bin", "loc", "nc"]);
    expect(seen.c!.map((x) => x[0])).toEqual(["vol", "nc"]);
  });

  it("broadcast acks with timeout(), and timing out on a silent client", async () => {
    const { io, cs } = await setup();
    cs[0]!.on("q", (x: number, ack: (v: number) => void) => ack(x + 1));
    cs[1]!.on("q", (x: number, ack: (v: number) => void) => ack(x + 2));
    cs[2]!.on("q", (x: number, ack: (v: number) => void) => ack(x + 3));
    const responses = await io.timeout(2000).emitWithAck("q", 10);
    expect((responses as number[]).sort()).toEqual([11, 12, 13]);
    cs[2]!.off("q");
    cs[2]!.on("q", () => {});
    const err = await io
      .timeout(200)
      .emitWithAck("q", 0)
      .then(
        () => null,
        (e: Error & { responses?: unknown[] }) => e,
      );
    expect(err?.message).toMatch(/timed out|timeout/);
    expect((err?.responses as number[]).sort()).toEqual([1, 2]);
    // A socket's own ack still works alongside (same namespace id counter).
    cs[0]!.on("own", (ack: (v: string) => void) => ack("mine"));
    await expect(sid(io, cs[0]!).timeout(1000).emitWithAck("own")).resolves.toBe("mine");
  });

  it("fetchSockets, socketsJoin, socketsLeave, disconnectSockets, adapter events", async () => {
    const { io, cs } = await setup();
    const events: string[] = [];
    const adapter = io.of("/").adapter;
    for (const e of ["create-room", "delete-room", "join-room", "leave-room"])
      adapter.on(e, (room: string, id?: string) => events.push(`${e}:${room}${id === undefined ? "" : id === cs[0]!.id ? ":a" : ":x"}`));
    sid(io, cs[0]!).data = { who: "a" };
    io.in(cs[0]!.id!).socketsJoin("room");
    expect(events).toEqual(["create-room:room", "join-room:room:a"]);
    const fetched = await io.in("room").fetchSockets();
    expect(fetched.map((s) => [s.id, s.data, [...s.rooms].sort()])).toEqual([[cs[0]!.id, { who: "a" }, [cs[0]!.id, "room"].sort()]]);
    expect((await io.fetchSockets()).length).toBe(3);
    fetched[0]!.emit("direct", "hi");
    expect(await next(cs[0]!, "direct")).toEqual(["hi"]);
    io.in("room").socketsLeave("room");
    expect(events.slice(2)).toEqual(["leave-room:room:a", "delete-room:room"]);
    const gone = next(cs[1]!, "disconnect");
    io.in(cs[1]!.id!).disconnectSockets();
    expect((await gone)[0]).toBe("io server disconnect");
    await waitFor(() => io.of("/").sockets.size === 2, { what: "disconnected" });
    expect(adapter.sids.has(cs[1]!.id!)).toBe(false);
  });

  it("onAnyOutgoing sees the broadcasts; serverSideEmit warns only", async () => {
    const { io, cs } = await setup(undefined, 1);
    const out: unknown[][] = [];
    sid(io, cs[0]!).onAnyOutgoing((...x) => out.push(x));
    io.emit("e", 1);
    await next(cs[0]!, "e");
    expect(out).toEqual([["e", 1]]);
  });

  it("drops what is not a well-formed broadcast of its namespace; clients and server carry on", async () => {
    const { io, cs } = await setup(undefined, 2);
    const got: unknown[][] = [];
    for (const c of cs) c.onAny((...x) => got.push(x));
    const errors: unknown[] = [];
    for (const c of cs) c.on("disconnect", (r) => errors.push(r));
    const adapter = io.of("/").adapter as unknown as SioAdapter;
    const opts = { rooms: new Set<string>(), except: new Set<string>() };
    const hostile: unknown[] = [
      { type: 0, nsp: "/", data: { sid: "evil" } }, // a forged CONNECT
      { type: 1, nsp: "/" }, // a forged DISCONNECT
      { type: 2, nsp: "/", data: "not an array" },
      { type: 2, nsp: "/", data: [] },
      { type: 2, nsp: "/", data: [42] },
      { type: 2, nsp: "/", data: ["connect"] },
      { type: 2, nsp: "/", data: ["disconnect", "x"] },
      { type: 2, nsp: "/", id: "x", data: ["e"] },
      { type: 2, nsp: "/", id: -1, data: ["e"] },
      { type: 2, nsp: "/", data: ["big", 10n] }, // cannot be encoded
      { type: 3, nsp: "/", id: 0, data: ["forged ack"] },
      { type: 4, nsp: "/", data: { message: "forged error" } },
      { type: 99, nsp: "/", data: ["e"] },
    ];
    // broadcastWithAck sets its own ack id: these stay malformed anyway.
    const hostileWithAck: unknown[] = [hostile[0], hostile[2], hostile[5], hostile[9], hostile[12]];
    const warn = console.warn;
    console.warn = () => {};
    try {
      for (const p of hostile) adapter.broadcast(p as any, opts);
      for (const p of hostileWithAck) (adapter as any).broadcastWithAck(p, opts, () => {}, () => {});
    } finally {
      console.warn = warn;
    }
    io.emit("after", "ok");
    await waitFor(() => got.length === 2, { what: "the good broadcast" });
    expect(got).toEqual([["after", "ok"], ["after", "ok"]]);
    expect(errors).toEqual([]);
    expect(cs.every((c) => c.connected)).toBe(true);
  });
});

describe("socket.io-adapter's Adapter with a custom parser (socket.io-msgpack-parser)", () => {
  it("broadcasts and acks arrive; forged packets are still dropped", async () => {
    const io = new Server({ adapter: SioAdapter, parser: msgpackParser as any });
    const run = await startNode(io);
    cleanups.push(() => run.close());
    const cs = await Promise.all(
      [0, 1].map(async () => {
        const c = ioc(run.url, { forceNew: true, reconnection: false, transports: ["websocket"], parser: msgpackParser as any });
        cleanups.push(() => c.disconnect());
        await next(c, "connect");
        return c;
      }),
    );
    await waitFor(() => io.of("/").sockets.size === 2, { what: "sockets" });
    const got: unknown[][] = [];
    for (const c of cs) c.onAny((...x) => got.push(x));
    const warn = console.warn;
    console.warn = () => {};
    try {
      const adapter = io.of("/").adapter as unknown as SioAdapter;
      adapter.broadcast({ type: 1, nsp: "/" } as any, { rooms: new Set(), except: new Set() });
      adapter.broadcast({ type: 2, nsp: "/", data: ["disconnect"] } as any, { rooms: new Set(), except: new Set() });
    } finally {
      console.warn = warn;
    }
    io.emit("m", { a: 1 }, new Uint8Array([5]));
    await waitFor(() => got.length === 2, { what: "m" });
    expect(got.map((x) => x[0])).toEqual(["m", "m"]);
    for (const c of cs) c.on("q", (cb: (v: string) => void) => cb(c.id!));
    const answers = await io.timeout(2000).emitWithAck("q");
    expect((answers as string[]).sort()).toEqual(cs.map((c) => c.id).sort());
    expect(cs.every((c) => c.connected)).toBe(true);
  });
});

describe("socket.io-adapter's SessionAwareAdapter: connection state recovery", () => {
  it("a client that reconnects gets its missed broadcasts, rooms and data back", async () => {
    const io = new Server({
      adapter: SioSessionAwareAdapter as any,
      connectionStateRecovery: { maxDisconnectionDuration: 10_000 },
      pingInterval: 500,
      pingTimeout: 500,
    });
    const run = await startNode(io);
    cleanups.push(() => run.close());
    io.on("connection", (s) => {
      if (!s.recovered) {
        s.join("r");
        s.data = { n: 1 };
      }
      s.emit("hello", s.recovered);
    });
    const c = ioc(run.url, { forceNew: true, transports: ["websocket"], reconnectionDelay: 50, reconnectionDelayMax: 50 });
    cleanups.push(() => c.disconnect());
    // With recovery on, the offset rides as a last argument (as with socket.io).
    const [first, offset] = await next(c, "hello");
    expect(first).toBe(false);
    expect(typeof offset).toBe("string");
    const got: unknown[][] = [];
    c.onAny((...x) => got.push(x));
    io.to("r").emit("m", 1);
    await waitFor(() => got.length === 1, { what: "m 1" });
    const id = c.id;
    // Cut the transport under the client: it reconnects and recovers.
    (c.io as any).engine.close();
    await waitFor(() => io.of("/").sockets.size === 0, { what: "gone" });
    io.to("r").emit("m", 2);
    io.emit("m", 3);
    io.except("r").emit("m", "not for r");
    await waitFor(() => got.some((x) => x[0] === "hello"), { what: "reconnected" });
    await waitFor(() => got.filter((x) => x[0] === "m").length === 3, { what: "missed" });
    expect(got.filter((x) => x[0] === "m").map((x) => x.slice(0, 2))).toEqual([["m", 1], ["m", 2], ["m", 3]]);
    expect(got.find((x) => x[0] === "hello")!.slice(0, 2)).toEqual(["hello", true]);
    expect(c.id).toBe(id);
    expect(c.recovered).toBe(true);
    const s = io.of("/").sockets.get(c.id!)!;
    expect([...s.rooms].sort()).toEqual([c.id, "r"].sort());
    expect(s.data).toEqual({ n: 1 });
  });
});
