/**
 * socket.io-client 2 (Engine.IO v3) on Durable Objects, in workerd: the
 * round trip, and v3 sessions rebuilt from their WebSockets after the object
 * lost its memory (their ids, rooms and data survive, and the client's pings
 * keep them alive afterwards).
 */
import { createRequire } from "node:module";
import { afterEach, describe, expect, it } from "vitest";
import { once, waitFor, within } from "../helpers/wait.ts";
import { useWorker } from "./harness.ts";

interface V2Socket {
  id: string;
  connected: boolean;
  io: { engine: { on(ev: string, fn: (...a: any[]) => void): void } };
  on(ev: string, fn: (...a: any[]) => void): V2Socket;
  once(ev: string, fn: (...a: any[]) => void): V2Socket;
  emit(ev: string, ...args: unknown[]): V2Socket;
  close(): V2Socket;
}
const ioV2 = createRequire(import.meta.url)("socket.io-client-v2") as (url: string, opts: Record<string, unknown>) => V2Socket;

const w = useWorker(new URL("./io-app.ts", import.meta.url).pathname, { IO: "IoObject" });
const clients: V2Socket[] = [];

afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

async function client(shard: string, transports: string[], nsp = "/"): Promise<V2Socket> {
  const c = ioV2(`${w.url}${nsp}`, { transports, query: { shard }, forceNew: true, reconnection: false });
  clients.push(c);
  await once(c, "connect", { failOn: "error" });
  return c;
}

const ask = <T = any>(c: V2Socket, event: string, ...args: unknown[]): Promise<T> =>
  within(new Promise<T>((resolve) => c.emit(event, ...args, (v: T) => resolve(v))), { what: `the ack of ${event}` });

const next = <T = unknown>(c: V2Socket, event: string): Promise<T> => once<T>(c, event);

describe.each([["polling"], ["websocket"]])("socket.io-client 2 over %s", (transport) => {
  it("connects to / and /admin, acks, binary both ways, rooms", async () => {
    const shard = `v2-${transport}`;
    const main = await client(shard, [transport]);
    const admin = await client(shard, [transport], "/admin");
    expect(await ask(main, "whoami")).toEqual({ id: main.id, nsp: "/", recovered: false });
    expect(await ask(admin, "whoami")).toEqual({ id: admin.id, nsp: "/admin", recovered: false });
    expect(admin.id).toMatch(/^\/admin#.+/);
    const [bin] = await ask<[Uint8Array]>(main, "echo", Buffer.from([5, 6]));
    expect([...bin]).toEqual([5, 6]);
    await ask(main, "join", "blue");
    const news = next(main, "news");
    admin.emit("to", "blue", "news", "ignored");
    main.emit("to", "blue", "news", "hi");
    expect(await news).toBe("hi");
  });
});

describe("hibernation", () => {
  it("a v2 session is rebuilt with its id, rooms and data, and its pings keep it alive", async () => {
    const shard = "v2-sleepy";
    const main = await client(shard, ["websocket"]);
    const lost: string[] = [];
    main.on("disconnect", (reason: string) => lost.push(reason));
    await ask(main, "join", ["blue"]);
    await ask(main, "set", "name", "ada");
    // A later event: the set's write-back (a timer right after it) is done.
    expect(await ask(main, "get", "name")).toBe("ada");
    const res = await fetch(`${w.url}/__test/evict?shard=${shard}`);
    expect(res.status).toBe(200);
    expect(await ask(main, "whoami")).toEqual({ id: main.id, nsp: "/", recovered: true });
    expect([...(await ask<string[]>(main, "rooms"))].sort()).toEqual(["blue", main.id].sort());
    expect(await ask(main, "get", "name")).toBe("ada");
    const [bin] = await ask<[Uint8Array]>(main, "echo", Buffer.from([7]));
    expect([...bin]).toEqual([7]);
    // pingInterval 500 + pingTimeout 400: the rebuilt session must hear the pings; three pongs span 1.5 s.
    let pongs = 0;
    main.io.engine.on("pong", () => pongs++);
    await waitFor(() => pongs >= 3 || lost.length > 0, { what: "three pongs from the rebuilt session" });
    expect(lost).toEqual([]);
    expect(main.connected).toBe(true);
  });
});
