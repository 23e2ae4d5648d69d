/**
 * `io.drain()` with the real socket.io-client on Node:
 *
 * - alone: a drained client sees "transport close" and keeps reconnecting
 *   (`socket.active`), polling and WebSocket alike, where a server-side
 *   `socket.disconnect()` gives "io server disconnect" and no reconnection;
 *   its reconnection attempts to the draining server get 503 "Server is
 *   draining" with Retry-After;
 * - in a cluster (bench/drain.ts, small, its clients in two load-generator
 *   processes): two nodes with the Redis Streams
 *   adapter and connection state recovery behind HAProxy; the clients of
 *   node A reconnect to node B while A drains, B restores their sessions,
 *   and no acked message is lost.
 */
import { afterEach, describe, expect, it } from "vitest";
import { io as ioc, type Socket as ClientSocket } from "socket.io-client";
import { Server } from "../../src/index.ts";
import { runDrainBench } from "../../bench/drain.ts";
import { type Running, startNode } from "../helpers/node.ts";
import { onceArgs, waitFor } from "../helpers/wait.ts";

const clients: ClientSocket[] = [];
const servers: Running[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.disconnect();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(): Promise<{ io: Server; url: string }> {
  const io = new Server();
  io.on("connection", (socket) => socket.emit("welcome", socket.id));
  const running = await startNode(io);
  servers.push(running);
  return { io, url: running.url };
}

function client(url: string, transports: Array<"polling" | "websocket">): ClientSocket {
  const c = ioc(url, { forceNew: true, transports, reconnectionDelay: 100, reconnectionDelayMax: 100 });
  clients.push(c);
  return c;
}

describe("io.drain() with socket.io-client", () => {
  for (const transports of [["websocket"], ["polling"], ["polling", "websocket"]] as Array<Array<"polling" | "websocket">>) {
    it(`${transports.join("+")}: the client sees "transport close", stays active and retries; retries get 503 while draining`, async () => {
      const { io, url } = await start();
      const c = client(url, transports);
      await onceArgs(c, "welcome");
      if (transports.length === 2) await waitFor(() => c.io.engine.transport.name === "websocket");
      const serverReasons: string[] = [];
      for (const s of io.of("/").sockets.values()) s.on("disconnect", (r: string) => serverReasons.push(r));
      const disconnected = onceArgs<[string]>(c, "disconnect");
      const errors: Error[] = [];
      c.on("connect_error", (err) => errors.push(err));
      const drained = io.drain({ timeout: 500 });
      const [reason] = await disconnected;
      expect(reason).toBe("transport close");
      expect(c.active).toBe(true);
      expect(serverReasons).toEqual(["server shutting down"]);
      await drained;
      // Its reconnection attempts reach a draining (now closed) server: refused, and it keeps trying.
      await waitFor(() => errors.length >= 2);
      expect(c.active).toBe(true);
      expect(c.connected).toBe(false);
      // The refusal itself, as a balancer sees it.
      const res = await fetch(`${url}/socket.io/?EIO=4&transport=polling`);
      expect(res.status).toBe(503);
      expect(res.headers.get("retry-after")).toMatch(/^\d+$/);
      expect(await res.json()).toEqual({ code: 3, message: "Server is draining" });
    });
  }

  it('for contrast: socket.disconnect() gives "io server disconnect" and the client does not reconnect', async () => {
    const { io, url } = await start();
    const c = client(url, ["websocket"]);
    await onceArgs(c, "welcome");
    const disconnected = onceArgs<[string]>(c, "disconnect");
    for (const s of io.of("/").sockets.values()) s.disconnect();
    expect((await disconnected)[0]).toBe("io server disconnect");
    expect(c.active).toBe(false);
  });
});

describe("io.drain() in a two-node Redis cluster behind HAProxy", () => {
  it("the clients of node A move to node B during the drain, keep their sessions (CSR), and lose no acked message (client retries)", async () => {
    // A message in flight as its connection closes loses its ack (socket.io-client fails it with
    // "socket has been disconnected"): `retries` sends it again after the reconnection.
    // Two load-generator processes, as the 5,000-client runs use: their numbers are merged.
    const r = await runDrainBench({ clients: 40, timeout: 2000, interval: 300, retries: 3, settle: 15_000, processes: 2 });
    expect(r.processes).toBe(2);
    expect(r.onA).toBe(40);
    expect(r.reconnectedToB).toBe(40);
    expect(r.recovered).toBe(40);
    expect(r.lost).toBe(0);
    expect(r.acked).toBeGreaterThan(40);
    expect(r.drainReport).toMatchObject({ drain: { draining: true, drained: 40, atDeadline: 0 } });
    // Spread: the clients did not all leave at once.
    expect(r.peakDisconnected).toBeLessThan(40);
  }, 90_000);
});
