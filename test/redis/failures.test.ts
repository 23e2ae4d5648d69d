/**
 * What happens when part of the cluster fails: a node killed mid-test, a
 * node that stops answering (SIGSTOP: its Redis connections stay open, so
 * Redis still counts it), and Redis itself restarted. Tests run in order;
 * each leaves the cluster usable for the next.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  type ClusterNode,
  closeAllClients,
  connect,
  ctl,
  next,
  type RedisCluster,
  type RedisServer,
  startRedisCluster,
} from "./harness.ts";
import { sleep, waitFor } from "../helpers/wait.ts";

const REQUESTS_TIMEOUT = 1500;

let cluster: RedisCluster;
let redis: RedisServer;
let nodes: ClusterNode[] = [];

beforeAll(async () => {
  cluster = await startRedisCluster(
    (["ioredis", "node-redis", "ioredis"] as const).map((client, i) => ({ name: `n${i + 1}`, client, requestsTimeout: REQUESTS_TIMEOUT })),
  );
  ({ redis, nodes } = cluster);
});

afterEach(() => closeAllClients());

// Also resumes a node a test left stopped.
afterAll(() => cluster?.stop());

describe.sequential("node failures", () => {
  it("a node killed mid-test: the others carry on, its sockets are gone", async () => {
    const [n1, n2, n3] = nodes as [ClusterNode, ClusterNode, ClusterNode];
    const [a, b, c] = await Promise.all([connect(n1.url), connect(n2.url), connect(n3.url)]);
    await Promise.all([a, b, c].map((x) => ctl(x, "join", "k")));
    expect(await ctl(a, "serverCount")).toEqual({ count: 3 });

    const cGone = next(c, "disconnect", 5000);
    await n3.kill("SIGKILL");
    await cGone;

    // Redis drops a dead node's subscriptions with its connections.
    await waitFor(async () => (await ctl(a, "serverCount")).count === 2, { timeout: 5000, what: "serverCount 2" });
    const got = next(b, "still-here");
    await ctl(a, "broadcast", { rooms: ["k"], event: "still-here", args: [1] });
    expect(await got).toEqual([1]);

    const res = await ctl(a, "fetchSockets", { rooms: ["k"] });
    expect(res.error).toBeUndefined();
    expect(res.sockets.map((s: any) => s.id).sort()).toEqual([a.id, b.id].sort());
    expect(res.ms).toBeLessThan(REQUESTS_TIMEOUT);

    const sse = await ctl(b, "serverSideEmit", { event: "whoareyou", args: [0], withAck: true });
    expect(sse.responses.map((r: any) => r.from)).toEqual(["n1"]);
  });

  it("a node that stops answering: requests to it time out cleanly, then recover", async () => {
    const [n1, n2] = nodes as [ClusterNode, ClusterNode];
    const [a, b] = await Promise.all([connect(n1.url), connect(n2.url)]);
    await Promise.all([a, b].map((x) => ctl(x, "join", "frozen")));
    a.socket.on("vote", (cb: (v: string) => void) => cb("a"));
    b.socket.on("vote", (cb: (v: string) => void) => cb("b"));

    n2.signal("SIGSTOP");
    try {
      const fetched = await ctl(a, "fetchSockets", { rooms: ["frozen"] });
      expect(fetched.error).toBe("timeout reached while waiting for fetchSockets response");
      expect(fetched.ms).toBeGreaterThanOrEqual(REQUESTS_TIMEOUT - 100);
      expect(fetched.ms).toBeLessThan(REQUESTS_TIMEOUT + 2000);

      const sse = await ctl(a, "serverSideEmit", { event: "whoareyou", args: [1], withAck: true });
      expect(sse.error).toBe("timeout reached: only 0 responses received out of 1");
      expect(sse.responses).toEqual([]);
      expect(sse.ms).toBeLessThan(REQUESTS_TIMEOUT + 2000);

      const acks = await ctl(a, "emitWithAck", { rooms: ["frozen"], event: "vote", timeout: 1000 });
      expect(acks.error).toBe("operation has timed out");
      expect(acks.responses).toEqual(["a"]);
    } finally {
      n2.signal("SIGCONT");
    }

    // Once it runs again, it answers again (its client may have timed out meanwhile: reconnect if so).
    await waitFor(
      async () => {
        const res = await ctl(a, "serverSideEmit", { event: "whoareyou", args: [2], withAck: true });
        return res.responses?.length === 1 && res.responses[0].from === "n2";
      },
      { timeout: 10_000, what: "n2 answering again" },
    );
  });
});

describe.sequential("Redis restarted", () => {
  it("adapters reconnect and broadcasts, requests and server-side events flow again", async () => {
    const [n1, n2] = nodes as [ClusterNode, ClusterNode];
    const [a, b] = await Promise.all([connect(n1.url), connect(n2.url)]);
    await ctl(b, "join", "after-restart");

    await redis.stop();
    // The nodes stay up and keep serving their own clients while Redis is away.
    const localOnly = next(a, "local");
    await ctl(a, "broadcast", { local: true, event: "local" });
    await localOnly;
    // The outage itself, not a wait for an outcome: Redis stays away 300 ms.
    await sleep(300);
    await redis.start();

    // Broadcast until one gets through: the clients reconnect and resubscribe with backoff.
    let n = 0;
    const received: unknown[] = [];
    b.socket.on("ping-after-restart", (i: number) => received.push(i));
    await waitFor(
      async () => {
        await ctl(a, "broadcast", { rooms: ["after-restart"], event: "ping-after-restart", args: [n++] });
        return received.length > 0;
      },
      { timeout: 20_000, interval: 100, what: "a broadcast after the restart" },
    );

    await waitFor(async () => (await ctl(a, "serverCount")).count === 2, { timeout: 10_000, what: "both nodes subscribed" });
    const res = await ctl(a, "fetchSockets", { rooms: ["after-restart"] });
    expect(res.sockets.map((s: any) => s.id)).toEqual([b.id]);
    const sse = await ctl(b, "serverSideEmit", { event: "whoareyou", args: [3], withAck: true });
    expect(sse.responses).toEqual([{ from: "n1", arg: 3 }]);
    // The same client connections carried on through the restart.
    expect(a.socket.connected && b.socket.connected).toBe(true);
  });
});
