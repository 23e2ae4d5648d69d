/**
 * The Socket.IO layer's production controls on fake connections and a
 * FakeClock: `ackTimeout` (socket emits, broadcasts, emitWithAck), the
 * per-socket `eventRateLimit`, volatile with `bufferedLowWaterMark`, and
 * `io.metrics()` with its exporters.
 */
import { describe, expect, it } from "vitest";
import { forEachMetric, toPrometheus } from "../../src/index.ts";
import { PacketType } from "../../src/protocol/socket-io.ts";
import { waitFor } from "../helpers/wait.ts";
import { connectTo, createServer, type FakeEngineSocket, flush, lastSocket } from "./fake-engine.ts";

/** The ACK packets the client would send for the ids the server asked. */
function answer(conn: FakeEngineSocket, id: number, ...args: unknown[]): void {
  conn.receive(`3${id}${JSON.stringify(args)}`);
}

function eventIds(conn: FakeEngineSocket): number[] {
  return conn
    .packets()
    .filter((p) => p.type === PacketType.EVENT && p.id !== undefined)
    .map((p) => p.id!);
}

describe("ackTimeout", () => {
  it("unset: an ack without timeout() gets the answer alone and waits for ever (socket.io)", async () => {
    const { io, clock } = createServer();
    const conn = await connectTo(io);
    const calls: unknown[][] = [];
    lastSocket(io).emit("q", (...args: unknown[]) => calls.push(args));
    clock.advance(3_600_000);
    expect(calls).toEqual([]);
    answer(conn, eventIds(conn)[0]!, "a");
    await flush();
    expect(calls).toEqual([["a"]]);
  });

  it("set: an ack without timeout() gets Error('operation has timed out') at the deadline, and no later answer", async () => {
    const { io, clock } = createServer({ ackTimeout: 1000 });
    const conn = await connectTo(io);
    const socket = lastSocket(io);
    const calls: unknown[][] = [];
    socket.emit("q", (...args: unknown[]) => calls.push(args));
    clock.advance(999);
    expect(calls).toEqual([]);
    clock.advance(1);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toHaveLength(1);
    expect(calls[0]![0]).toBeInstanceOf(Error);
    expect((calls[0]![0] as Error).message).toBe("operation has timed out");
    expect(socket.acks.size).toBe(0);
    answer(conn, eventIds(conn)[0]!, "late");
    await flush();
    expect(calls).toHaveLength(1);
  });

  it("set: an answer in time comes error-first, as with timeout()", async () => {
    const { io } = createServer({ ackTimeout: 1000 });
    const conn = await connectTo(io);
    const calls: unknown[][] = [];
    lastSocket(io).emit("q", (...args: unknown[]) => calls.push(args));
    answer(conn, eventIds(conn)[0]!, "a", 2);
    await flush();
    expect(calls).toEqual([[null, "a", 2]]);
  });

  it("timeout() still wins over ackTimeout", async () => {
    const { io, clock } = createServer({ ackTimeout: 1000 });
    await connectTo(io);
    const calls: unknown[][] = [];
    lastSocket(io).timeout(5000).emit("q", (...args: unknown[]) => calls.push(args));
    clock.advance(4999);
    expect(calls).toEqual([]);
    clock.advance(1);
    expect((calls[0]![0] as Error).message).toBe("operation has timed out");
  });

  it("emitWithAck rejects at the deadline and resolves with the first answer in time", async () => {
    const { io, clock } = createServer({ ackTimeout: 1000 });
    const conn = await connectTo(io);
    const socket = lastSocket(io);
    const late = socket.emitWithAck("q");
    clock.advance(1000);
    await expect(late).rejects.toThrow("operation has timed out");
    const inTime = socket.emitWithAck("q");
    answer(conn, eventIds(conn)[1]!, "yes");
    await expect(inTime).resolves.toBe("yes");
  });

  it("a broadcast ack without timeout() ends at the deadline with the responses so far", async () => {
    const { io, clock } = createServer({ ackTimeout: 1000 });
    const a = await connectTo(io);
    await connectTo(io);
    const result = new Promise<[Error | null, unknown]>((resolve) =>
      (io.emit as (...args: unknown[]) => boolean)("q", (err: Error | null, responses: unknown) => resolve([err, responses])),
    );
    await flush();
    answer(a, eventIds(a)[0]!, "from a");
    await flush();
    clock.advance(1000);
    const [err, responses] = await result;
    expect(err?.message).toBe("operation has timed out");
    expect(responses).toEqual(["from a"]);
    // Nothing left behind on the socket that did not answer.
    for (const s of io.of("/").sockets.values()) expect(s.acks.size).toBe(0);
  });

  it("broadcast emitWithAck rejects with err.responses", async () => {
    const { io, clock } = createServer({ ackTimeout: 500 });
    await connectTo(io);
    const p = io.except("nobody").emitWithAck("q").catch((e: Error & { responses?: unknown }) => e);
    await flush();
    clock.advance(500);
    const err = (await p) as Error & { responses?: unknown };
    expect(err.message).toBe("operation has timed out");
    expect(err.responses).toEqual([]);
  });

  it("io.emitWithAck / nsp.emitWithAck (unio addition): every answer, or the timeout with the answers so far", async () => {
    const { io, clock } = createServer({ ackTimeout: 1000 });
    const a = await connectTo(io);
    const b = await connectTo(io);
    const all = io.emitWithAck("q");
    await flush();
    answer(a, eventIds(a)[0]!, "a");
    answer(b, eventIds(b)[0]!, "b");
    expect(((await all) as string[]).sort()).toEqual(["a", "b"]);
    const partial = io.of("/").emitWithAck("q").catch((e: Error & { responses?: unknown }) => e);
    await flush();
    answer(a, eventIds(a)[1]!, "a2");
    await flush();
    clock.advance(1000);
    const err = (await partial) as Error & { responses?: unknown };
    expect(err.message).toBe("operation has timed out");
    expect(err.responses).toEqual(["a2"]);
  });

  it("uses the shared scheduler: 1,000 pending acks, one runtime timer", async () => {
    const { io, clock } = createServer({ ackTimeout: 1000 });
    await connectTo(io);
    const socket = lastSocket(io);
    let timedOut = 0;
    for (let i = 0; i < 1000; i++) socket.emit("q", (err: unknown) => err && timedOut++);
    expect(clock.pendingTimers).toBe(1);
    clock.advance(1000);
    expect(timedOut).toBe(1000);
  });
});

describe("eventRateLimit", () => {
  it("drops events over the bucket, reports each through onLimited, refills with time; other sockets are unaffected", async () => {
    const limited: Array<[string, string]> = [];
    const { io, clock } = createServer({
      eventRateLimit: { rate: 2, burst: 3, onLimited: (socket, event) => limited.push([socket.id, event]) },
    });
    const seen: string[] = [];
    io.on("connection", (s) => s.onAny((ev: string, n: number) => seen.push(`${s.id}:${ev}:${n}`)));
    const flooder = await connectTo(io);
    const flooderId = lastSocket(io).id;
    const calm = await connectTo(io);
    const calmId = lastSocket(io).id;
    for (let i = 0; i < 10; i++) flooder.receive(`2["flood",${i}]`);
    calm.receive('2["hello",0]');
    await flush();
    expect(seen).toEqual([`${flooderId}:flood:0`, `${flooderId}:flood:1`, `${flooderId}:flood:2`, `${calmId}:hello:0`]);
    expect(limited).toHaveLength(7);
    expect(limited[0]).toEqual([flooderId, "flood"]);
    // 500 ms at 2/s: one more token.
    clock.advance(500);
    flooder.receive('2["flood",10]');
    flooder.receive('2["flood",11]');
    await flush();
    expect(seen.slice(4)).toEqual([`${flooderId}:flood:10`]);
  });

  it("a dropped event's ack is never sent, and acks from the client are never limited", async () => {
    const { io } = createServer({ eventRateLimit: { rate: 1, burst: 1 } });
    io.on("connection", (s) => s.on("q", (ack: (v: string) => void) => ack("ok")));
    const conn = await connectTo(io);
    const socket = lastSocket(io);
    conn.clear();
    conn.receive('21["q"]');
    conn.receive('22["q"]');
    await flush();
    expect(conn.texts).toEqual(['31["ok"]']);
    // The server's own emits with acks still get their answers while the bucket is empty.
    const answers: unknown[] = [];
    socket.emit("ask", (v: unknown) => answers.push(v));
    answer(conn, eventIds(conn)[0]!, "pong");
    await flush();
    expect(answers).toEqual(["pong"]);
  });

  it("a flood keeps nothing: 100,000 dropped events leave no queue behind", async () => {
    const { io } = createServer({ eventRateLimit: { rate: 10, burst: 10 }, metrics: true });
    let delivered = 0;
    io.on("connection", (s) => s.on("flood", () => delivered++));
    const conn = await connectTo(io);
    for (let round = 0; round < 100; round++) {
      for (let i = 0; i < 1000; i++) conn.receive('2["flood"]');
      await flush();
    }
    expect(delivered).toBe(10);
    expect(io.metrics().eventsRateLimited).toBe(99_990);
  });

  it("a throwing onLimited does not break the connection", async () => {
    const { io } = createServer({
      eventRateLimit: {
        rate: 1,
        burst: 1,
        onLimited: () => {
          throw new Error("app bug");
        },
      },
    });
    const errors: unknown[] = [];
    const onUncaught = (e: unknown) => errors.push(e);
    process.on("uncaughtException", onUncaught);
    try {
      const conn = await connectTo(io);
      conn.receive('2["a"]');
      conn.receive('2["b"]');
      await flush();
      // Reported as any throwing handler is (an uncaught error, on its own turn), and nothing else happens.
      await waitFor(() => errors.length === 1, { what: "the app's error reported" });
      expect((errors[0] as Error).message).toBe("app bug");
      expect(conn.readyState).toBe("open");
    } finally {
      process.off("uncaughtException", onUncaught);
    }
  });
});

describe("volatile with bufferedLowWaterMark", () => {
  it("drops only while the client's queue is over the mark (socket.io's rule otherwise)", async () => {
    const { io } = createServer({ bufferedLowWaterMark: 1000 });
    const conn = await connectTo(io);
    const socket = lastSocket(io);
    conn.clear();
    // socket.io's rule would drop the second (the transport is busy with the first); the mark allows both.
    (conn.transport as { writable: boolean }).writable = false;
    socket.volatile.emit("v", 1);
    socket.volatile.emit("v", 2);
    io.volatile.emit("v", 3);
    conn.bufferedAmount = 5000;
    socket.volatile.emit("v", 4);
    io.volatile.emit("v", 5);
    socket.emit("v", 6); // not volatile: always sent
    expect(conn.texts).toEqual(['2["v",1]', '2["v",2]', '2["v",3]', '2["v",6]']);
  });

  it("without the option, volatile follows transport.writable as in socket.io", async () => {
    const { io } = createServer();
    const conn = await connectTo(io);
    conn.clear();
    (conn.transport as { writable: boolean }).writable = false;
    lastSocket(io).volatile.emit("v", 1);
    (conn.transport as { writable: boolean }).writable = true;
    lastSocket(io).volatile.emit("v", 2);
    expect(conn.texts).toEqual(['2["v",2]']);
  });
});

describe("io.metrics()", () => {
  it("gauges without the option; counters stay 0", async () => {
    const { io } = createServer();
    io.of("/chat");
    await connectTo(io);
    await connectTo(io, "/chat");
    const m = io.metrics();
    expect(m.counting).toBe(false);
    expect(m.connections).toEqual({ total: 2, polling: 0, websocket: 2 });
    expect(m.sockets).toEqual({ "/": 1, "/chat": 1 });
    expect(m.connects).toBe(0);
  });

  it("counts connects, disconnect reasons, pending and timed-out acks, volatile drops", async () => {
    const { io, clock } = createServer({ metrics: true, ackTimeout: 100 });
    const a = await connectTo(io);
    await connectTo(io);
    lastSocket(io).emit("q", () => {});
    lastSocket(io).emit("q", () => {});
    expect(io.metrics().acks.pending).toBe(2);
    clock.advance(100);
    a.drop("ping timeout");
    (lastSocket(io).conn.transport as { writable: boolean }).writable = false;
    lastSocket(io).volatile.emit("v");
    const m = io.metrics();
    expect(m.counting).toBe(true);
    expect(m.connects).toBe(2);
    expect(m.acks).toEqual({ pending: 0, timedOut: 2 });
    expect(m.disconnects["ping timeout"]).toBe(1);
    expect(m.volatileDropped).toBe(1);
    expect(m.sockets["/"]).toBe(1);
  });

  it("Prometheus text: HELP/TYPE once per metric, labels escaped, every sample a line", async () => {
    const { io } = createServer({ metrics: true });
    io.of('/we"ird\\ns\n');
    await connectTo(io);
    const text = io.metrics({ format: "prometheus" });
    expect(text).toBe(toPrometheus(io.metrics()));
    expect(text).toContain("# TYPE unio_connections gauge\n");
    expect(text).toContain('unio_connections{transport="websocket"} 1\n');
    expect(text).toContain('unio_sockets{namespace="/we\\"ird\\\\ns\\n"} 0\n');
    expect(text).toContain('unio_disconnects_total{reason="ping timeout"} 0\n');
    expect(text.match(/# TYPE unio_connections /g)).toHaveLength(1);
    for (const line of text.trimEnd().split("\n")) {
      expect(line).toMatch(/^(# (HELP|TYPE) unio_\w+ .+|unio_\w+(\{[^}]*\})? \d+(\.\d+)?)$/);
    }
  });

  it("forEachMetric gives the same samples, with kinds, for an OpenTelemetry batch callback", async () => {
    const { io } = createServer({ metrics: true });
    await connectTo(io);
    const samples: Array<[string, string, number, Record<string, string>]> = [];
    forEachMetric(io.metrics(), (name, kind, value, labels) => samples.push([name, kind, value, { ...labels }]));
    expect(samples).toContainEqual(["unio_connections", "gauge", 1, { transport: "websocket" }]);
    expect(samples).toContainEqual(["unio_connects_total", "counter", 1, {}]);
  });
});
