/**
 * Broadcast acks always end: without `timeout()` a recipient that
 * disconnects instead of answering is counted down, and a cluster whose
 * server count fails fails the ack; ended or timed-out broadcasts leave
 * nothing behind.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { afterEach, describe, expect, it } from "vitest";
import { io as ioc, type Socket as ClientSocket } from "socket.io-client";
import { Adapter, Server } from "../../src/index.ts";
import { type Running, startNode } from "../helpers/node.ts";
import { once, waitFor } from "../helpers/wait.ts";
import { connectTo, createServer, type FakeEngineSocket, flush } from "./fake-engine.ts";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function clients(n: number): Promise<{ io: Server; cs: ClientSocket[] }> {
  const io = new Server();
  const run: Running = await startNode(io);
  cleanups.push(() => run.close());
  io.on("connection", (s) => s.join("r"));
  const cs = await Promise.all(
    Array.from({ length: n }, async () => {
      const c = ioc(run.url, { forceNew: true, reconnection: false, transports: ["websocket"] });
      cleanups.push(() => c.disconnect());
      await once(c, "connect");
      return c;
    }),
  );
  // Joined on the server before the test broadcasts.
  await waitFor(() => io.of("/").adapter.rooms.get("r")?.size === n, { what: `${n} sockets in room r` });
  return { io, cs };
}

const broadcast = (io: Server, ...args: unknown[]) =>
  new Promise<[Error | null, unknown]>((resolve) =>
    (io.to("r").emit as (...a: unknown[]) => boolean)("q", ...args, (err: Error | null, responses: unknown) => resolve([err, responses])),
  );

describe("a broadcast ack without timeout()", () => {
  it("ends when the recipients that did not answer disconnected", async () => {
    const { io, cs } = await clients(3);
    cs[0]!.on("q", (ack: (v: string) => void) => ack("zero"));
    cs[1]!.on("q", (ack: (v: string) => void) => ack("one"));
    // The third leaves instead of answering.
    cs[2]!.on("q", () => cs[2]!.disconnect());
    const [err, responses] = await broadcast(io);
    expect(err).toBeNull();
    expect((responses as string[]).sort()).toEqual(["one", "zero"]);
  });

  it("ends with no responses when every recipient left", async () => {
    const { io, cs } = await clients(2);
    for (const c of cs) c.on("q", () => c.disconnect());
    expect(await broadcast(io)).toEqual([null, []]);
  });

  it("still waits for the recipients that stay", async () => {
    const { io, cs } = await clients(2);
    cs[0]!.on("q", () => cs[0]!.disconnect());
    let answer: (() => void) | undefined;
    cs[1]!.on("q", (ack: (v: string) => void) => (answer = () => ack("late")));
    let settled = false;
    const done = broadcast(io).finally(() => (settled = true));
    // The server has counted the leaver gone (synchronously, on its disconnect) and the stayer holds the ack:
    // nothing but the answer can end the broadcast now.
    await waitFor(() => io.of("/").sockets.size === 1 && answer, { what: "the leaver gone and the stayer asked" });
    expect(settled).toBe(false);
    answer!();
    expect(await done).toEqual([null, ["late"]]);
  });
});

/** An adapter whose cluster cannot tell how many servers there are (its transport is down). */
class UnreachableCluster extends Adapter {
  override serverCount(): Promise<number> {
    return Promise.reject(new Error("cluster unreachable"));
  }
}

describe("a broadcast ack when the cluster's server count fails", () => {
  it("fails with that error, and later answers are ignored", async () => {
    const { io } = createServer({ adapter: UnreachableCluster });
    const conns = [await connectTo(io), await connectTo(io)];
    const result = new Promise<[Error | null, unknown]>((resolve) =>
      (io.emit as (...a: unknown[]) => boolean)("q", (err: Error | null, responses: unknown) => resolve([err, responses])),
    );
    const [err, responses] = await result;
    expect(err?.message).toBe("cluster unreachable");
    expect(responses).toEqual([]);
    const id = conns[0]!.packets().at(-1)!.id;
    conns[0]!.receive(`3${id}["too late"]`);
    await flush();
  });
});

describe("broadcast acks hold no memory once ended", () => {
  /** The connections answer `q` when `answer` says so; the rest never do. */
  function answerSome(conns: FakeEngineSocket[], answer: (i: number) => boolean): void {
    conns.forEach((conn, i) => {
      const last = conn.packets().at(-1);
      if (last?.id !== undefined && answer(i)) conn.receive(`3${last.id}["ok"]`);
      conn.clear();
    });
  }

  it("many rounds of timed-out, answered and half-answered broadcast acks to 300 sockets leave the heap where it started", async () => {
    const { io, clock } = createServer();
    const conns: FakeEngineSocket[] = [];
    for (let i = 0; i < 300; i++) conns.push(await connectTo(io));
    const refs: WeakRef<object>[] = [];
    const round = async (r: number) => {
      const cb = (_err: Error | null, _responses: unknown) => {};
      refs.push(new WeakRef(cb));
      (io.timeout(50).emit as (...a: unknown[]) => boolean)("q", { round: r, payload: "x".repeat(100) }, cb);
      // None, all, or half of the sockets answer; the rest time out.
      answerSome(conns, (i) => (r % 3 === 1 ? true : r % 3 === 2 ? i % 2 === 0 : false));
      await flush();
      clock.advance(60);
    };
    const heap = async () => {
      for (let i = 0; i < 4; i++) {
        await flush();
        gc();
      }
      return process.memoryUsage().heapUsed;
    };
    for (let r = 0; r < 30; r++) await round(r);
    const before = await heap();
    for (let r = 0; r < 300; r++) await round(r);
    const after = await heap();
    // 300 rounds x 300 sockets: a retained entry per socket and round would be ~90,000 closures.
    expect(after - before).toBeLessThan(2 * 1024 * 1024);
    expect(refs.filter((ref) => ref.deref() !== undefined).length).toBeLessThanOrEqual(1);
  });
});
