/**
 * socket.io-client 2.x (Engine.IO v3) on every runtime: the conformance app
 * (app.ts, `allowEIO3: true`) served by each shim, and the round trip a v2
 * app depends on: connect, an event with an ack, binary both ways, a
 * namespace with a query, a middleware refusal, and disconnects from both
 * sides (reasons read from the /observer namespace).
 */
import { createRequire } from "node:module";
import { io as ioc, type Socket as ClientSocket } from "socket.io-client";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Departure, WhoAmI } from "./app.ts";
import { type RunningFixture, startFixture } from "./harness.ts";
import { selectedRuntimes } from "./runtimes.ts";
import { once, waitFor, within } from "../helpers/wait.ts";

interface V2Socket {
  id: string;
  io: { engine: { transport: { name: string }; on(ev: string, fn: (...a: any[]) => void): void; off(ev: string, fn: (...a: any[]) => void): void } };
  on(ev: string, fn: (...a: any[]) => void): V2Socket;
  once(ev: string, fn: (...a: any[]) => void): V2Socket;
  emit(ev: string, ...args: unknown[]): V2Socket;
  close(): V2Socket;
}
const ioV2 = createRequire(import.meta.url)("socket.io-client-v2") as (url: string, opts: Record<string, unknown>) => V2Socket;

const MODES = [
  ["polling", ["polling"], "polling"],
  ["websocket", ["websocket"], "websocket"],
  ["polling upgraded to websocket", ["polling", "websocket"], "websocket"],
] as const;

/** An emit with an ack, bounded. */
function ask<T = any>(c: V2Socket, ev: string, ...args: unknown[]): Promise<T[]> {
  return within(new Promise<T[]>((resolve) => c.emit(ev, ...args, (...res: T[]) => resolve(res))), { what: `the ack of "${ev}"` });
}

describe.each(selectedRuntimes())("socket.io-client 2 on $name", (runtime) => {
  let fx: RunningFixture;
  let observer: ClientSocket;
  const departures: Departure[] = [];
  const clients: V2Socket[] = [];

  beforeAll(async () => {
    fx = await startFixture(runtime);
    observer = ioc(`${fx.url}/observer`, { forceNew: true, transports: ["websocket"] });
    observer.on("departed", (d: Departure) => departures.push(d));
    await once(observer, "connect");
  });

  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });

  afterAll(async () => {
    observer?.disconnect();
    await fx?.stop();
  });

  function v2(nsp: string, opts: Record<string, unknown>): V2Socket {
    const c = ioV2(fx.url + nsp, { forceNew: true, reconnection: false, ...opts });
    clients.push(c);
    return c;
  }

  async function serverReason(id: string, nsp: string): Promise<string> {
    const d = await waitFor(() => departures.find((x) => x.id === id && x.nsp === nsp), { what: `the departure of ${nsp} ${id}` });
    return d.reason;
  }

  it.each(MODES)("%s: connects to /, acks, binary both ways, server-side disconnect", async (_, transports, finalTransport) => {
    const c = v2("/", { transports });
    await once(c, "connect");
    if (c.io.engine.transport.name !== finalTransport) await once(c.io.engine, "upgrade");
    const [who] = await ask<WhoAmI>(c, "whoami");
    expect(who).toMatchObject({ id: c.id, nsp: "/", conn: c.id, transport: finalTransport });
    expect(who.query.EIO).toBe("3");

    const [text, bin] = await ask(c, "echo", "hello", Buffer.from([1, 2, 3]));
    expect(text).toBe("hello");
    expect([...(bin as Uint8Array)]).toEqual([1, 2, 3]);

    const binary = once<{ flat: Uint8Array; nested: { deeper: [Uint8Array, string, ArrayBuffer] } }>(c, "binary");
    const [acked] = await ask<{ flat: Uint8Array }>(c, "binary-please");
    expect([...acked!.flat]).toEqual([1, 2, 3]);
    const pushed = await binary;
    expect([...pushed.nested.deeper[0]]).toEqual([4]);
    expect([...new Uint8Array(pushed.nested.deeper[2])]).toEqual([5, 6]);

    const id = c.id;
    const reason = once<string>(c, "disconnect");
    c.emit("disconnect-me");
    expect(await reason).toBe("io server disconnect");
    expect(await serverReason(id, "/")).toBe("server namespace disconnect");
  });

  it("one room broadcast reaches a v2 and a v4 member, binary intact (no native publish to a v3 socket)", async () => {
    const room = `mixed-${process.pid}-${Date.now()}`;
    const old = v2("/", { transports: ["websocket"] });
    await once(old, "connect");
    const modern = ioc(fx.url, { forceNew: true, transports: ["websocket"] });
    try {
      await once(modern, "connect");
      await ask(old, "join", room);
      await modern.timeout(5000).emitWithAck("join", room);
      const got = [old, modern].map((c) => new Promise<unknown[]>((resolve) => c.once("news", (...a: unknown[]) => resolve(a))));
      const { published } = await modern.timeout(5000).emitWithAck("broadcast", {
        from: "nsp",
        to: [room],
        event: "news",
        args: ["hi", new Uint8Array([1, 2, 255])],
      });
      // A room with a v3 member is written socket by socket, even where the runtime has topics.
      expect(published).toBe(0);
      for (const args of await Promise.all(got)) {
        expect(args[0]).toBe("hi");
        expect([...new Uint8Array(args[1] as ArrayBuffer)]).toEqual([1, 2, 255]);
      }
    } finally {
      modern.disconnect();
    }
  });

  it.each(MODES)("%s: a namespace with a query, a refusal, and a client-side disconnect", async (_, transports) => {
    const c = v2("/custom", { transports, query: { token: "abc" } });
    await once(c, "connect");
    const [who] = await ask<WhoAmI>(c, "whoami");
    expect(who.nsp).toBe("/custom");
    expect(who.id).toBe(c.id);
    expect(c.id).toBe(`/custom#${who.conn}`);
    expect(who.auth).toEqual({ token: "abc" });

    const refused = v2("/guarded", { transports, query: { token: "wrong" } });
    await expect(once(refused, "error")).resolves.toEqual({ reason: "bad token", code: 4401 });
    const allowed = v2("/guarded", { transports, query: { token: "secret" } });
    await once(allowed, "connect");

    const id = c.id;
    c.close();
    expect(await serverReason(id, "/custom")).toBe("client namespace disconnect");
  });
});
