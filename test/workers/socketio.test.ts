/**
 * Socket.IO on Durable Objects, in workerd (Miniflare), with the official
 * socket.io-client from Node: transports, namespaces, rooms, acks both
 * ways, binary; two objects named by the router; a room spanning them;
 * sockets rebuilt from their WebSockets after the object lost its memory.
 */
import { io as connect, type Socket as ClientSocket } from "socket.io-client";
import { afterEach, describe, expect, it } from "vitest";
import { once, waitFor, within } from "../helpers/wait.ts";
import { useWorker } from "./harness.ts";

type Transports = ("polling" | "websocket")[];
type Stats = Record<string, number>;

const w = useWorker(new URL("./io-app.ts", import.meta.url).pathname, { IO: "IoObject" });
const clients: ClientSocket[] = [];

afterEach(() => {
  for (const c of clients.splice(0)) c.disconnect();
});

async function client(shard: string, transports: Transports = ["websocket"], nsp = "/"): Promise<ClientSocket> {
  const c = connect(`${w.url}${nsp}`, { transports, query: { shard }, forceNew: true, reconnection: false });
  clients.push(c);
  await once(c, "connect", { failOn: "connect_error" });
  return c;
}

function ask<T = any>(c: ClientSocket, event: string, ...args: unknown[]): Promise<T> {
  return within(c.timeout(4000).emitWithAck(event, ...args) as Promise<T>, { timeout: 5000, what: event });
}

const next = <T = unknown>(c: ClientSocket, event: string) => once<T>(c, event);

async function stats(shard: string): Promise<Stats> {
  return (await (await fetch(`${w.url}/__test/stats?shard=${shard}`)).json()) as Stats;
}

async function evict(shard: string): Promise<void> {
  const res = await fetch(`${w.url}/__test/evict?shard=${shard}`);
  expect(res.status).toBe(200);
}

describe.each([
  ["polling", ["polling"] as Transports, "polling"],
  ["websocket", ["websocket"] as Transports, "websocket"],
  ["polling upgraded to websocket", ["polling", "websocket"] as Transports, "websocket"],
])("Socket.IO over %s", (_name, transports, final) => {
  it("connects, acks both ways, binary both ways", async () => {
    const c = connect(w.url, { transports, query: { shard: "basic" }, forceNew: true, reconnection: false });
    clients.push(c);
    const hello = next<string>(c, "hello");
    await once(c, "connect");
    expect(await hello).toBe(c.id);
    if (c.io.engine.transport.name !== final) {
      await once(c.io.engine, "upgrade");
    }
    expect(c.io.engine.transport.name).toBe(final);

    expect(await ask(c, "echo", "text", { n: 1 }, [true, null])).toEqual(["text", { n: 1 }, [true, null]]);
    const [bytes, nested] = await ask(c, "echo", new Uint8Array([1, 2, 3, 250]), { inner: new Uint8Array([7]) });
    expect([...new Uint8Array(bytes)]).toEqual([1, 2, 3, 250]);
    expect([...new Uint8Array(nested.inner)]).toEqual([7]);

    // Server to client, with the client's ack: the server asks, the client answers, the server reports.
    c.on("question", (q: number, ack: (a: unknown) => void) => ack({ answer: q + 1, bin: new Uint8Array([42]) }));
    const reply = await ask(c, "ask", 41);
    expect(reply.answer).toBe(42);
    expect([...new Uint8Array(reply.bin)]).toEqual([42]);
  });

  it("namespaces, static and dynamic", async () => {
    const admin = await client("basic", transports, "/admin");
    expect(await ask(admin, "whoami")).toMatchObject({ nsp: "/admin", recovered: false });
    const dyn = await client("basic", transports, "/dyn-7");
    expect(await ask(dyn, "whoami")).toMatchObject({ nsp: "/dyn-7" });
    const refused = connect(`${w.url}/nope`, { transports, query: { shard: "basic" }, forceNew: true, reconnection: false });
    clients.push(refused);
    const err = await once<Error>(refused, "connect_error");
    expect(err.message).toBe("Invalid namespace");
  });
});

describe("rooms", () => {
  it("a broadcast reaches the room's members in the object, and no one else", async () => {
    const [a, b, c] = [await client("rooms"), await client("rooms", ["polling"]), await client("rooms")];
    await ask(a, "join", "r");
    await ask(b, "join", "r");
    const gotA = next(a, "news");
    const gotB = next(b, "news");
    const gotC: unknown[] = [];
    c.on("news", (m: unknown) => gotC.push(m));
    c.emit("to", "r", "news", { hi: 1 });
    expect(await gotA).toEqual({ hi: 1 });
    expect(await gotB).toEqual({ hi: 1 });
    // An answer to c sent after the broadcast: a "news" for c would have come before it.
    await ask(c, "whoami");
    expect(gotC).toEqual([]);
  });

  it("the router puts shards in different objects", async () => {
    const x = await client("shard-x");
    const y = await client("shard-y");
    expect((await stats("shard-x")).sockets).toBe(1);
    expect((await stats("shard-y")).sockets).toBe(1);
    // Socket ids are not engine sids: nothing about the object leaks into them.
    expect(x.id).not.toBe(y.id);
  });

  it("a room spanning two objects: emit, fetchSockets, acks, socketsJoin", async () => {
    const a = await client("span-1");
    const b = await client("span-2", ["polling"]);
    const c = await client("span-1");
    await ask(a, "join", "span");
    await ask(b, "join", "span");

    const gotA = next(a, "news");
    const gotB = next(b, "news");
    c.emit("to", "span", "news", "everywhere");
    expect(await gotA).toBe("everywhere");
    expect(await gotB).toBe("everywhere");

    expect(await ask(c, "fetch", "span")).toEqual([a.id, b.id].sort());

    a.on("question", (_q: unknown, ack: (v: unknown) => void) => ack("from a"));
    b.on("question", (_q: unknown, ack: (v: unknown) => void) => ack("from b"));
    const answers = await ask<string[]>(c, "ask-room", "span");
    expect([...answers].sort()).toEqual(["from a", "from b"]);

    // socketsJoin from object 1 moves a socket of object 2.
    c.emit("join-all", "joined-remotely", b.id);
    await waitFor(async () => (await ask<string[]>(b, "rooms")).includes("joined-remotely"), { what: "b in joined-remotely" });
    expect(await ask(b, "rooms")).toContain("joined-remotely");
  });
});

describe("hibernation: a fresh instance rebuilds sockets from their WebSockets", () => {
  it("ids, namespaces, rooms, data, handlers and acks survive; the client sees nothing", async () => {
    const shard = "sleepy";
    const main = await client(shard);
    const admin = await client(shard, ["websocket"], "/admin");
    const upgraded = await client(shard, ["polling", "websocket"]);
    if (upgraded.io.engine.transport.name !== "websocket") {
      await once(upgraded.io.engine, "upgrade");
    }
    const lost: string[] = [];
    for (const c of [main, admin, upgraded]) c.on("disconnect", (reason) => lost.push(reason));
    await ask(main, "join", ["blue", "green"]);
    await ask(main, "set", "name", "ada");
    await ask(admin, "join", "ops");
    await ask(upgraded, "join", "blue");
    const before = await stats(shard);
    expect(before.sockets).toBe(3);
    // The stats request was a later event: each ask's write-back (a timer right after it) is done.
    let hellos = 0;
    main.on("hello", () => hellos++);

    await evict(shard);
    const after = await stats(shard);
    expect(after.rebuilds).toBe(1);
    expect(after.restoredSessions).toBe(3);
    expect(after.sockets).toBe(3);

    expect(await ask(main, "whoami")).toEqual({ id: main.id, nsp: "/", recovered: true });
    expect(await ask(admin, "whoami")).toEqual({ id: admin.id, nsp: "/admin", recovered: true });
    expect([...(await ask<string[]>(main, "rooms"))].sort()).toEqual(["blue", "green", main.id].sort());
    expect(await ask(admin, "rooms")).toContain("ops");
    expect(await ask(main, "get", "name")).toBe("ada");

    // Rooms work after the rebuild, and no "hello" was sent again (recovered sockets skip it:
    // the answers above came after any the rebuild would have sent).
    const gotMain = next(main, "news");
    const gotUp = next(upgraded, "news");
    admin.emit("to", "ops", "ignored", 0);
    upgraded.emit("to", "blue", "news", "after");
    expect(await gotMain).toBe("after");
    expect(await gotUp).toBe("after");
    expect(hellos).toBe(0);

    main.on("question", (q: string, ack: (v: unknown) => void) => ack(q + "!"));
    expect(await ask(main, "ask", "still there")).toBe("still there!");
    const [bin] = await ask(main, "echo", new Uint8Array([5, 6]));
    expect([...new Uint8Array(bin)]).toEqual([5, 6]);

    // Heartbeats go on from the rebuilt sessions: three more pings on each.
    const pings = [0, 0, 0];
    [main, admin, upgraded].forEach((c, i) => c.io.engine.on("ping", () => pings[i]!++));
    await waitFor(() => pings.every((n) => n >= 3) || lost.length > 0, { what: "three pings on each socket" });
    expect(lost).toEqual([]);
    expect(main.connected && admin.connected && upgraded.connected).toBe(true);
  });

  it("state over the 16 KiB attachment limit goes to SQLite and comes back", async () => {
    const shard = "big";
    const c = await client(shard);
    const rooms = Array.from({ length: 400 }, (_, i) => `a-rather-long-room-name-for-the-attachment-${i}`);
    await ask(c, "join", rooms);
    await waitFor(async () => (await stats(shard)).rowWrites > 0, { what: "a row write" });
    expect((await stats(shard)).rowWrites).toBeGreaterThan(0);
    await evict(shard);
    const back = await ask<string[]>(c, "rooms");
    expect(back.length).toBe(401);
    expect(back).toContain(rooms[399]);
    expect(c.connected).toBe(true);
  });

  it("connection state recovery is kept in SQLite: a client that dropped recovers after an eviction", async () => {
    const shard = "csr";
    const c = connect(w.url, { transports: ["websocket"], query: { shard }, forceNew: true, reconnection: false });
    clients.push(c);
    await once(c, "connect");
    const id = c.id;
    await ask(c, "join", "news");
    // Connecting another client was a later event: the join's write-back (a timer right after it) is done.
    const other = await client(shard);

    // The network drops: the server sees "transport close" and stores the session.
    const dropped = once(c, "disconnect");
    c.io.engine.close();
    await dropped;
    await waitFor(async () => (await stats(shard)).sessions === 1, { what: "the server to see the drop" });
    other.emit("to", "news", "missed", "while you were away");
    // Answered after the broadcast ran (the object handles one event at a time): it is stored.
    await ask(other, "whoami");
    await evict(shard);

    const missed = next<string>(c, "missed");
    c.connect();
    await once(c, "connect", { what: "reconnect" });
    expect(c.recovered).toBe(true);
    expect(c.id).toBe(id);
    expect(await missed).toBe("while you were away");
    expect(await ask(c, "rooms")).toContain("news");
  });
});
