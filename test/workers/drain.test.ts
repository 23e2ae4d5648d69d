/**
 * `drain()` of a Durable Object (its RPC method, called by the Worker
 * through the binding), in workerd (Miniflare) with socket.io-client. What
 * a drain means on Workers: the object's server drains as on any runtime
 * (new handshakes to that object get 503 + Retry-After, its clients are
 * closed spread over the timeout and reconnect), other objects are
 * untouched, and the object stays drained until a new instance replaces it
 * (a deploy, or an eviction once idle; here the eviction test hook).
 * Sessions are kept in the drained object's SQLite: a client recovers its
 * session when it comes back to that object once restarted, not on another
 * object (which starts it a new session).
 */
import { io as connect, type Socket as ClientSocket } from "socket.io-client";
import { afterEach, describe, expect, it } from "vitest";
import { once, waitFor, within } from "../helpers/wait.ts";
import { useWorker } from "./harness.ts";

type Transports = ("polling" | "websocket")[];

const w = useWorker(new URL("./io-app.ts", import.meta.url).pathname, { IO: "IoObject" });
const clients: ClientSocket[] = [];

afterEach(() => {
  for (const c of clients.splice(0)) c.disconnect();
});

interface Watched {
  c: ClientSocket;
  closedAt?: number;
  reason?: string;
  activeAfter?: boolean;
  refused: number;
}

/** A client that reconnects (quickly, for the test), with its disconnect and refused reconnections recorded. */
async function client(shard: string, transports: Transports = ["websocket"]): Promise<Watched> {
  const c = connect(w.url, {
    transports,
    query: { shard },
    forceNew: true,
    reconnectionDelay: 200,
    reconnectionDelayMax: 400,
    randomizationFactor: 0,
  });
  clients.push(c);
  const watched: Watched = { c, refused: 0 };
  c.on("disconnect", (reason) => {
    watched.closedAt ??= Date.now();
    watched.reason ??= reason;
    watched.activeAfter ??= c.active;
  });
  c.on("connect_error", () => watched.refused++);
  await once(c, "connect", { failOn: "connect_error" });
  return watched;
}

function ask<T = any>(c: ClientSocket, event: string, ...args: unknown[]): Promise<T> {
  return within(c.timeout(4000).emitWithAck(event, ...args) as Promise<T>, { timeout: 5000, what: event });
}

/** Drains the object of `shard` through its RPC method; resolves with the Worker's times once the drain resolved. */
async function drain(shard: string, timeout: number): Promise<{ started: number; resolvedAt: number }> {
  const res = await fetch(`${w.url}/__test/drain?shard=${shard}&timeout=${timeout}`);
  expect(res.status).toBe(200);
  return (await res.json()) as { started: number; resolvedAt: number };
}

describe("drain() of a Durable Object", () => {
  it("its clients leave spread over the timeout and reconnect, refused by it (503 + Retry-After); another object is untouched; it resolves after the last one left", async () => {
    const T = 2000;
    const drained: Watched[] = [];
    for (let i = 0; i < 3; i++) {
      drained.push(await client("drain-a"));
      drained.push(await client("drain-a", ["polling"]));
    }
    const bystander = await client("drain-b");
    const done = drain("drain-a", T);
    await waitFor(() => drained.some((d) => d.closedAt !== undefined), { what: "the first close" });

    // A new handshake routed to the drained object is refused by it; one for the other object is not.
    const refused = await fetch(`${w.url}/socket.io/?EIO=4&transport=polling&shard=drain-a`);
    expect(refused.status).toBe(503);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(await refused.json()).toEqual({ code: 3, message: "Server is draining" });
    expect((await fetch(`${w.url}/socket.io/?EIO=4&transport=polling&shard=drain-b`)).status).toBe(200);

    const { started, resolvedAt } = await within(done, { timeout: T + 10_000, what: "the drain RPC" });
    await waitFor(() => drained.every((d) => d.closedAt !== undefined), { what: "every drained client's disconnect" });
    for (const d of drained) {
      expect(d.reason).toBe("transport close");
      expect(d.activeAfter).toBe(true);
    }
    // Spread: slot i of 6 at i·T/6 (0 to 1.67 s), on the object's alarm.
    const closes = drained.map((d) => d.closedAt! - started).sort((a, b) => a - b);
    expect(closes[0]).toBeLessThan(800);
    expect(closes[closes.length - 1]! - closes[0]!).toBeGreaterThanOrEqual(1000);
    expect(resolvedAt).toBeGreaterThanOrEqual(started + closes[closes.length - 1]! - 100);
    expect(resolvedAt - started).toBeLessThan(T + 1000);
    // They keep trying, and the drained object keeps refusing them.
    await waitFor(() => drained.every((d) => d.refused >= 1), { what: "a refused reconnection of every drained client" });
    for (const d of drained) expect(d.c.connected).toBe(false);
    // The other object's client saw nothing.
    expect(bystander.closedAt).toBeUndefined();
    expect(await ask(bystander.c, "echo", "still here")).toEqual(["still here"]);
  }, 40_000);

  it("once a new instance replaces the drained one, it accepts clients again and a drained client recovers its session there; on another object it gets a new one", async () => {
    const stays = await client("drain-c");
    const moves = await client("drain-c");
    await ask(stays.c, "join", "news");
    await ask(moves.c, "join", "news");
    const [staysId, movesId] = [stays.c.id, moves.c.id];
    await drain("drain-c", 300);
    await waitFor(() => stays.refused >= 1 && moves.refused >= 1, { what: "refused reconnections" });
    // One client's reconnections now go to another object (the app's router would choose it).
    (moves.c.io.opts as { query: Record<string, string> }).query = { shard: "drain-d" };
    await once(moves.c, "connect", { what: "the reconnection to another object" });
    expect(moves.c.recovered).toBe(false);
    expect(moves.c.id).not.toBe(movesId);
    expect(stays.c.connected).toBe(false);
    // The drained object is replaced (as after a deploy, or an eviction once idle).
    const evicted = await fetch(`${w.url}/__test/evict?shard=drain-c`);
    expect(evicted.status).toBe(200);
    await once(stays.c, "connect", { what: "the reconnection to the new instance" });
    expect(stays.c.recovered).toBe(true);
    expect(stays.c.id).toBe(staysId);
    expect(await ask(stays.c, "rooms")).toContain("news");
  }, 40_000);
});
