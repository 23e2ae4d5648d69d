/**
 * Engine.IO in Durable Objects, in workerd (Miniflare), with the official
 * engine.io-client: both transports and the upgrade, sids that name their
 * object, refusals in the Worker, heartbeats on the object's alarm with and
 * without the runtime answering pongs, dead clients, and a fresh instance
 * taking over live WebSockets from their attachments.
 */
import { Socket as EioSocket } from "engine.io-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { objectIdOfSid } from "../../src/runtimes/workers/sid.ts";
import { type RunningWorker, startWorker } from "./harness.ts";
import { once, waitFor } from "../helpers/wait.ts";

type Transports = ("polling" | "websocket")[];
type Stats = Record<string, number>;

let w: RunningWorker;
beforeAll(async () => {
  w = await startWorker(new URL("./engine-app.ts", import.meta.url).pathname, {
    ENGINE: "EngineObject",
    ENGINE_MANUAL: "EngineManual",
  });
});
afterAll(async () => {
  await w?.dispose();
});

async function open(query: string, transports: Transports): Promise<EioSocket> {
  const s = new EioSocket(`${w.url}/?${query}`, { path: "/engine.io/", transports });
  await once(s, "open", { failOn: "error" });
  return s;
}

/** The next message that satisfies `pred`. */
const message = (s: EioSocket, pred: (m: unknown) => boolean = () => true) => once<unknown>(s, "message", { match: pred });

async function stats(shard: string, manual = false): Promise<Stats> {
  const res = await fetch(`${w.url}/__test/stats?shard=${shard}${manual ? "&manual=1" : ""}`);
  return (await res.json()) as Stats;
}

async function evict(shard: string): Promise<Stats> {
  const res = await fetch(`${w.url}/__test/evict?shard=${shard}`);
  expect(res.status).toBe(200);
  return (await res.json()) as Stats;
}

const modes: Array<[string, Transports, string]> = [
  ["polling", ["polling"], "polling"],
  ["websocket", ["websocket"], "websocket"],
  ["polling upgraded to websocket", ["polling", "websocket"], "websocket"],
];

describe("Engine.IO in a Durable Object", () => {
  it.each(modes)("%s: text and binary echo, sid naming the object", async (_n, transports, final) => {
    const s = await open("shard=echo", transports);
    if (s.transport.name !== final) await once(s, "upgrade");
    expect(s.transport.name).toBe(final);
    const id = await (await fetch(`${w.url}/__test/id?shard=echo`)).text();
    expect(objectIdOfSid(s.id!)).toBe(id);
    s.send("héllo ✓");
    expect(await message(s, (m) => m === "héllo ✓")).toBe("héllo ✓");
    s.send(new Uint8Array([0, 1, 2, 255]));
    const bin = await message(s, (m) => typeof m !== "string");
    expect([...new Uint8Array(bin as ArrayBuffer)]).toEqual([0, 1, 2, 255]);
    s.close();
  });

  it("the router sends each shard to its own object", async () => {
    const a = await open("shard=left", ["websocket"]);
    const b = await open("shard=right", ["polling"]);
    expect(objectIdOfSid(a.id!)).not.toBe(objectIdOfSid(b.id!));
    expect((await stats("left")).sessions).toBe(1);
    expect((await stats("right")).sessions).toBe(1);
    // A polling request carries the sid and no shard: the sid alone finds the object.
    b.send("ping-pong");
    expect(await message(b, (m) => m === "ping-pong")).toBe("ping-pong");
    a.close();
    b.close();
  });

  describe("malformed requests are refused in the Worker, before any object", () => {
    const cases: Array<[string, string, string, number, string]> = [
      ["missing transport", "GET", "EIO=4", 0, "Transport unknown"],
      ["unknown transport", "GET", "EIO=4&transport=tcp", 0, "Transport unknown"],
      ["__proto__ transport", "GET", "EIO=4&transport=__proto__", 0, "Transport unknown"],
      ["garbage sid", "GET", "EIO=4&transport=polling&sid=nope", 1, "Session ID unknown"],
      ["forged sid", "GET", `EIO=4&transport=polling&sid=${"A".repeat(43)}xxxxxxxxxxxxxxxxxxxx`, 1, "Session ID unknown"],
      ["POST handshake", "POST", "EIO=4&transport=polling", 2, "Bad handshake method"],
      ["websocket without upgrade", "GET", "EIO=4&transport=websocket", 3, "Bad request"],
      ["EIO 3", "GET", "EIO=3&transport=polling", 5, "Unsupported protocol version"],
    ];
    it.each(cases)("%s", async (_n, method, query, code, msg) => {
      const before = (await stats("default")).fetches;
      const res = await fetch(`${w.url}/engine.io/?${query}`, { method });
      expect(res.status).toBe(400);
      expect(res.headers.get("content-type")).toBe("application/json");
      expect(await res.json()).toEqual({ code, message: msg });
      expect((await stats("default")).fetches).toBe(before);
    });

    it("an unknown sid of a real object is answered by that object", async () => {
      const s = await open("shard=gone", ["polling"]);
      const sid = s.id!;
      s.close();
      await waitFor(async () => (await stats("gone")).sessions === 0, { what: "the object to end the session" });
      const res = await fetch(`${w.url}/engine.io/?EIO=4&transport=polling&sid=${sid}`);
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({ code: 1, message: "Session ID unknown" });
    });
  });

  describe("heartbeats on the object's alarm", () => {
    for (const manual of [false, true]) {
      const label = manual ? "pongs reach the object" : "the runtime answers pongs";
      it(`${label}: idle sessions stay up over many cycles`, async () => {
        const shard = manual ? "hb-m" : "hb-a";
        const q = `shard=${shard}${manual ? "&manual=1" : ""}`;
        const sockets = [await open(q, ["websocket"]), await open(q, ["polling"])];
        let closed = 0;
        for (const s of sockets) s.on("close", () => closed++);
        const pings = [0, 0];
        sockets.forEach((s, i) => s.on("ping", () => pings[i]!++));
        const before = await stats(shard, manual);
        // pingInterval 500: six cycles.
        await waitFor(() => pings.every((n) => n >= 6) || closed > 0, { what: "six pings on each socket" });
        const after = await stats(shard, manual);
        expect(closed).toBe(0);
        for (const n of pings) expect(n).toBeGreaterThanOrEqual(6);
        // The websocket's pongs: answered by the runtime (never an object event), or delivered as messages.
        if (manual) {
          expect(after.autoPongs! - before.autoPongs!).toBe(0);
          expect(after.messages! - before.messages!).toBeGreaterThanOrEqual(4);
        } else {
          expect(after.messages! - before.messages!).toBe(0);
          expect(after.autoPongs! - before.autoPongs!).toBeGreaterThanOrEqual(4);
        }
        for (const s of sockets) {
          s.send("still here");
          expect(await message(s, (m) => m === "still here")).toBe("still here");
          s.close();
        }
      });

      it(`${label}: a client that stops answering is closed`, async () => {
        const ws = new WebSocket(`ws://127.0.0.1:${w.port}/engine.io/?EIO=4&transport=websocket&shard=dead${manual ? "&manual=1" : ""}`);
        const frames: string[] = [];
        ws.on("message", (d) => frames.push(String(d)));
        // It talks once, then goes silent. (Local workerd does not finish the TCP close of a
        // hibernatable socket that never sent a frame when the close comes from an alarm.)
        ws.once("open", () => ws.send("4hello"));
        const code = await once<number>(ws, "close", { what: "server close" });
        expect(frames[0]!.startsWith("0{")).toBe(true);
        expect(frames).toContain("2");
        expect(code).toBeGreaterThan(0);
      });
    }
  });

  describe("a fresh instance takes over live WebSockets", () => {
    it.each([
      ["websocket", ["websocket"] as Transports],
      ["polling upgraded to websocket", ["polling", "websocket"] as Transports],
    ])("%s: same session, no reconnection, heartbeats go on", async (_n, transports) => {
      const shard = "evict-" + transports.length;
      const s = await open(`shard=${shard}`, transports);
      if (s.transport.name !== "websocket") await once(s, "upgrade");
      let opens = 0;
      let closes = 0;
      s.on("open", () => opens++);
      s.on("close", () => closes++);
      s.send("before");
      expect(await message(s, (m) => m === "before")).toBe("before");
      // A second round trip: the object wrote the first event's changes back (a timer right after it) by now.
      s.send("before-2");
      expect(await message(s, (m) => m === "before-2")).toBe("before-2");

      await evict(shard);
      const fresh = await stats(shard);
      expect(fresh.rebuilds).toBe(1);
      expect(fresh.restoredSessions).toBe(1);
      expect(fresh.sessions).toBe(1);

      s.send("whoami");
      expect(await message(s, (m) => String(m).startsWith("you are"))).toBe(`you are ${s.id}`);
      s.send(new Uint8Array([9, 8, 7]));
      const bin = await message(s, (m) => typeof m !== "string");
      expect([...new Uint8Array(bin as ArrayBuffer)]).toEqual([9, 8, 7]);
      // Heartbeats now run from the rebuilt session: five of them (pingInterval 500).
      let pings = 0;
      s.on("ping", () => pings++);
      await waitFor(() => pings >= 5 || closes > 0, { what: "five pings from the rebuilt session" });
      expect(closes).toBe(0);
      expect(opens).toBe(0);
      s.send("after");
      expect(await message(s, (m) => m === "after")).toBe("after");
      s.close();
    });

    it("a polling session does not survive (it cannot hibernate); the client sees it end", async () => {
      const s = await open("shard=evict-poll", ["polling"]);
      const closed = once<string>(s, "close");
      await evict("evict-poll");
      expect(await closed).toBeTruthy();
    });
  });
});
