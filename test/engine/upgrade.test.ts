/**
 * WebSocket sessions and the polling -> WebSocket upgrade, driven through
 * Engine.handleUpgrade with an in-memory WsConnection and a FakeClock.
 */
import { describe, expect, it } from "vitest";
import type { EngineCloseReason, EngineSocket } from "../../src/index.ts";
import {
  bodyText,
  createEngine,
  engineUrl,
  get,
  handshake,
  MemoryRequest,
  openWs,
  post,
  tick,
  upgradeRequest,
} from "../helpers/memory.ts";

function closeReasons(socket: EngineSocket): EngineCloseReason[] {
  const reasons: EngineCloseReason[] = [];
  socket.on("close", (r) => reasons.push(r));
  return reasons;
}

function messages(socket: EngineSocket) {
  const got: Array<string | Uint8Array> = [];
  socket.on("message", (m) => got.push(m));
  return got;
}

describe("websocket-only sessions", () => {
  it("sends the open packet as the first frame, with no upgrades", async () => {
    const { engine, sockets } = createEngine({ pingInterval: 300, pingTimeout: 200 });
    const { ws } = await openWs(engine);
    expect(ws.sent).toHaveLength(1);
    const frame = ws.sent[0] as string;
    expect(frame[0]).toBe("0");
    const open = JSON.parse(frame.slice(1));
    expect(Object.keys(open)).toEqual(["sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"]);
    expect(open).toEqual({ sid: sockets[0]!.id, upgrades: [], pingInterval: 300, pingTimeout: 200, maxPayload: 1e6 });
    expect(sockets[0]!.transport.name).toBe("websocket");
    expect(engine.clients.has(open.sid)).toBe(true);
  });

  it("carries text and binary both ways, one packet per frame", async () => {
    const { engine, sockets } = createEngine();
    const { ws } = await openWs(engine);
    const s = sockets[0]!;
    const got = messages(s);
    ws.receive("4hello");
    ws.receive(new Uint8Array([9, 8, 7]));
    ws.receive("bAQID"); // base64 text frames are binary messages too
    expect(got).toEqual(["hello", new Uint8Array([9, 8, 7]), new Uint8Array([1, 2, 3])]);
    s.send("a");
    s.send(new Uint8Array([1, 2]));
    s.send("b");
    await tick();
    expect(ws.sent.slice(1)).toEqual(["4a", new Uint8Array([1, 2]), "4b"]);
  });

  it("sends binary as b<base64> text frames when the client asked for b64", async () => {
    const { engine, sockets } = createEngine();
    const { ws } = await openWs(engine, { b64: "1" });
    sockets[0]!.send(new Uint8Array([1, 2, 3]));
    await tick();
    expect(ws.sent.slice(1)).toEqual(["bAQID"]);
  });

  it("pings every pingInterval and closes the socket on ping timeout", async () => {
    const { engine, clock, sockets } = createEngine({ pingInterval: 100, pingTimeout: 50 });
    const { ws } = await openWs(engine);
    const reasons = closeReasons(sockets[0]!);
    for (let i = 0; i < 3; i++) {
      clock.advance(100);
      await tick();
      expect(ws.sent.at(-1)).toBe("2");
      clock.advance(30);
      ws.receive("3");
    }
    expect(ws.sent.filter((f) => f === "2")).toHaveLength(3);
    clock.advance(100);
    await tick();
    clock.advance(50);
    expect(reasons).toEqual(["ping timeout"]);
    expect(ws.closed).toBe(true);
    expect(engine.clientsCount).toBe(0);
  });

  it("a client close is 'transport close'; a socket error is 'transport error'", async () => {
    const { engine, sockets } = createEngine();
    const a = await openWs(engine);
    const b = await openWs(engine);
    const ra = closeReasons(sockets[0]!);
    const rb = closeReasons(sockets[1]!);
    a.ws.clientClose();
    b.ws.handler.onError?.(new Error("ECONNRESET"));
    b.ws.handler.onClose(1006, "");
    expect(ra).toEqual(["transport close"]);
    expect(rb).toEqual(["transport error"]);
    expect(engine.clientsCount).toBe(0);
  });

  it("a bad frame is a parse error and closes the socket", async () => {
    const { engine, sockets } = createEngine();
    const { ws } = await openWs(engine);
    const reasons = closeReasons(sockets[0]!);
    ws.receive("x-not-a-packet");
    expect(reasons).toEqual(["parse error"]);
    expect(ws.closed).toBe(true);
  });

  it("a client PING over the WebSocket is an invalid heartbeat direction", async () => {
    const { engine, sockets } = createEngine();
    const { ws } = await openWs(engine);
    const reasons = closeReasons(sockets[0]!);
    ws.receive("2");
    expect(reasons).toEqual(["transport error"]);
    expect(ws.closed).toBe(true);
  });

  it("a client `1` over the WebSocket ends the session ('transport close')", async () => {
    // Deliberate: the reference ignores `1` on a WebSocket and waits for a ping
    // timeout or the socket close; unio ends the session at once.
    const { engine, sockets } = createEngine();
    const { ws } = await openWs(engine);
    const reasons = closeReasons(sockets[0]!);
    ws.receive("1");
    expect(reasons).toEqual(["transport close"]);
    expect(ws.closed).toBe(true);
  });

  it("an oversized frame closes that socket with 1009 and nothing reaches the session", async () => {
    const { engine, sockets } = createEngine({ maxHttpBufferSize: 16 });
    const { ws } = await openWs(engine);
    const other = await openWs(engine);
    const got = messages(sockets[0]!);
    const reasons = closeReasons(sockets[0]!);
    ws.receive("4" + "é".repeat(10)); // 21 UTF-8 bytes in 11 chars
    expect(ws.closed).toBe(true);
    expect(ws.closeCode).toBe(1009);
    expect(reasons).toEqual(["transport error"]);
    expect(got).toEqual([]);
    const otherGot = messages(sockets[1]!);
    other.ws.receive("4fine");
    expect(otherGot).toEqual(["fine"]);
    expect(sockets[1]!.readyState).toBe("open");
  });

  it("graceful close flushes the queue, then closes the socket without sending `1`", async () => {
    const { engine, sockets } = createEngine();
    const { ws } = await openWs(engine);
    const reasons = closeReasons(sockets[0]!);
    sockets[0]!.send("bye");
    sockets[0]!.close();
    await tick();
    expect(ws.sent.slice(1)).toEqual(["4bye"]);
    expect(ws.closed).toBe(true);
    expect(reasons).toEqual(["forced close"]);
  });

  it("closes a session whose WebSocket is not draining (bufferedAmount over maxBufferedBytes)", async () => {
    const { engine, sockets } = createEngine({ maxBufferedBytes: 1000 });
    const { ws } = await openWs(engine);
    const reasons = closeReasons(sockets[0]!);
    sockets[0]!.send("fits");
    expect(reasons).toEqual([]);
    ws.bufferedAmount = 5000; // the runtime could not write it out
    sockets[0]!.send("one more");
    expect(reasons).toEqual(["transport error"]);
    expect(ws.closed).toBe(true);
  });

  it("a second WebSocket for a WebSocket session is opened and closed at once; the session is untouched", async () => {
    const { engine, sockets } = createEngine();
    const { ws: first } = await openWs(engine);
    const res = await upgradeRequest(engine, { sid: sockets[0]!.id });
    expect(res.kind).toBe("accept");
    const { MemoryWs } = await import("../helpers/memory.ts");
    const second = new MemoryWs();
    if (res.kind === "accept") second.handler = res.open(second);
    expect(second.closed).toBe(true);
    expect(second.sent).toEqual([]);
    expect(first.closed).toBe(false);
    expect(sockets[0]!.readyState).toBe("open");
    expect(sockets[0]!.transport.name).toBe("websocket");
  });
});

describe("upgrade from polling", () => {
  it("runs the whole sequence: 3probe first, held GET released with `6`, `5` switches, buffer flushed in order", async () => {
    const { engine, clock, sockets } = createEngine();
    const { sid } = await handshake(engine);
    const s = sockets[0]!;
    const events: string[] = [];
    s.on("upgrading", (t) => events.push(`upgrading:${t.name}`));
    s.on("upgrade", (t) => events.push(`upgrade:${t.name}`));

    const g1 = get(engine, sid);
    await tick();
    const { ws } = await openWs(engine, { sid });
    expect(s.upgrading).toBe(true);
    expect(ws.sent).toEqual([]); // nothing on the new socket before the probe

    // Before the probe answer, output still goes to polling.
    s.send("before-probe");
    expect(bodyText(await g1.promise)).toBe("4before-probe");
    expect(ws.sent).toEqual([]);

    const g2 = get(engine, sid);
    await tick();
    expect(g2.settled).toBe(false);
    ws.receive("2probe");
    expect(ws.sent).toEqual(["3probe"]);
    expect(events).toEqual(["upgrading:websocket"]);
    // The held GET is released with a noop so the client can pause polling: 100 ms
    // later, as on the reference (a client sees no noop packet sooner).
    clock.advance(99);
    await tick();
    expect(g2.settled).toBe(false);
    clock.advance(1);
    expect(bodyText(await g2.promise)).toBe("6");

    // Sent while the client is paused: kept for the new transport.
    s.send("m1");
    s.send(new Uint8Array([7]));
    s.send("m2");
    await tick();
    expect(ws.sent).toEqual(["3probe"]);

    ws.receive("5");
    expect(events).toEqual(["upgrading:websocket", "upgrade:websocket"]);
    expect(s.transport.name).toBe("websocket");
    expect(s.upgrading).toBe(false);
    expect(ws.sent).toEqual(["3probe", "4m1", new Uint8Array([7]), "4m2"]);

    // From now on everything goes over the WebSocket, nothing twice.
    s.send("m3");
    await tick();
    expect(ws.sent).toEqual(["3probe", "4m1", new Uint8Array([7]), "4m2", "4m3"]);
    const got = messages(s);
    ws.receive("4from-ws");
    expect(got).toEqual(["from-ws"]);

    // Polling with that sid is now a transport mismatch (code 3).
    const stale = await get(engine, sid).promise;
    expect(stale.status).toBe(400);
    expect(JSON.parse(bodyText(stale))).toEqual({ code: 3, message: "Bad request" });
    const stalePost = await post(engine, sid, "4x");
    expect(stalePost.status).toBe(400);
    expect(got).toEqual(["from-ws"]);
  });

  it("a GET that arrives after the probe answer is released with a noop at the next 100 ms check, and again while no `5` comes", async () => {
    const { engine, clock } = createEngine({ pingInterval: 60_000 });
    const { sid } = await handshake(engine);
    const { ws } = await openWs(engine, { sid });
    ws.receive("2probe");
    clock.advance(50);
    const g = get(engine, sid);
    await tick();
    expect(g.settled).toBe(false);
    clock.advance(50);
    expect(bodyText(await g.promise)).toBe("6");
    const again = get(engine, sid);
    await tick();
    clock.advance(99);
    await tick();
    expect(again.settled).toBe(false);
    clock.advance(1);
    expect(bodyText(await again.promise)).toBe("6");
  });

  it("after the probe answer, a message written within 100 ms releases the held GET itself: no noop", async () => {
    const { engine, clock, sockets } = createEngine({ pingInterval: 60_000 });
    const { sid } = await handshake(engine);
    const g = get(engine, sid);
    await tick();
    const { ws } = await openWs(engine, { sid });
    ws.receive("2probe");
    clock.advance(30);
    sockets[0]!.send("ack");
    expect(bodyText(await g.promise)).toBe("4ack");
    ws.receive("5");
    clock.advance(1000);
    expect(ws.sent).toEqual(["3probe"]);
    expect(sockets[0]!.transport.name).toBe("websocket");
  });

  it("`5` without a probe still completes the upgrade (as the reference); polling with the sid is then refused", async () => {
    const { engine, sockets } = createEngine();
    const { sid } = await handshake(engine);
    const reasons = closeReasons(sockets[0]!);
    const { ws } = await openWs(engine, { sid });
    ws.receive("5");
    expect(sockets[0]!.transport.name).toBe("websocket");
    const g = get(engine, sid);
    const res = await g.promise;
    expect(res.status).toBe(400); // polling is over for this sid
    expect(reasons).toEqual([]);
  });

  it("a GET still held when the upgrade completes is refused with 400, as one that comes after it", async () => {
    // A conforming client has no GET in flight when it sends `5`; one that raced it over another
    // connection gets the same answer whichever of the two arrived first (engine.io: `1`, status 200).
    const { engine, sockets } = createEngine();
    const { sid } = await handshake(engine);
    const reasons = closeReasons(sockets[0]!);
    const { ws } = await openWs(engine, { sid });
    const g = get(engine, sid);
    await tick();
    ws.receive("5");
    const res = await g.promise;
    expect([res.status, JSON.parse(bodyText(res))]).toEqual([400, { code: 3, message: "Bad request" }]);
    expect(sockets[0]!.transport.name).toBe("websocket");
    expect(reasons).toEqual([]);
  });

  it("a PING that falls due during the probe goes over polling, so 3probe stays the first WebSocket frame", async () => {
    const { engine, clock } = createEngine({ pingInterval: 100, pingTimeout: 1000 });
    const { sid } = await handshake(engine);
    const { ws } = await openWs(engine, { sid });
    const g = get(engine, sid);
    clock.advance(100);
    expect(bodyText(await g.promise)).toBe("2");
    expect(ws.sent).toEqual([]);
    await post(engine, sid, "3");
    ws.receive("2probe");
    expect(ws.sent).toEqual(["3probe"]);
  });

  it("packets the client POSTs during the upgrade are delivered, and the heartbeat carries on over the WebSocket", async () => {
    const { engine, clock, sockets } = createEngine({ pingInterval: 100, pingTimeout: 50 });
    const { sid } = await handshake(engine);
    const reasons = closeReasons(sockets[0]!);
    const got = messages(sockets[0]!);
    const { ws } = await openWs(engine, { sid });
    ws.receive("2probe");
    await post(engine, sid, "4during");
    ws.receive("5");
    ws.receive("4after");
    expect(got).toEqual(["during", "after"]);
    clock.advance(100);
    await tick();
    expect(ws.sent.at(-1)).toBe("2");
    ws.receive("3");
    clock.advance(100);
    await tick();
    expect(ws.sent.filter((f) => f === "2")).toHaveLength(2);
    ws.receive("3");
    clock.advance(60);
    expect(reasons).toEqual([]);
  });

  it("upgradeTimeout aborts a probe; the session keeps working on polling", async () => {
    const { engine, clock, sockets } = createEngine({ upgradeTimeout: 1000, pingInterval: 60_000 });
    const { sid } = await handshake(engine);
    const s = sockets[0]!;
    const reasons = closeReasons(s);
    const { ws } = await openWs(engine, { sid });
    ws.receive("2probe");
    const released = get(engine, sid);
    await tick();
    clock.advance(100);
    expect(bodyText(await released.promise)).toBe("6");
    clock.advance(899);
    expect(ws.closed).toBe(false);
    clock.advance(1);
    expect(ws.closed).toBe(true);
    expect(s.upgrading).toBe(false);
    expect(s.transport.name).toBe("polling");
    expect(reasons).toEqual([]);
    // GETs are held again (no more noops) and carry data.
    const g = get(engine, sid);
    await tick();
    expect(g.settled).toBe(false);
    s.send("still here");
    expect(bodyText(await g.promise)).toBe("4still here");
    // A `5` on the dead probe changes nothing.
    ws.receive("5");
    expect(s.transport.name).toBe("polling");
  });

  it("upgradeTimeout also runs when the client never probes", async () => {
    const { engine, clock, sockets } = createEngine({ upgradeTimeout: 500 });
    const { sid } = await handshake(engine);
    const { ws } = await openWs(engine, { sid });
    clock.advance(500);
    expect(ws.closed).toBe(true);
    expect(sockets[0]!.upgrading).toBe(false);
    expect(sockets[0]!.readyState).toBe("open");
  });

  it.each([
    ["a message", "4hello"],
    ["a plain ping", "2"],
    ["a pong", "3probe"],
    ["garbage", "zzz"],
    ["a binary frame", new Uint8Array([1])],
  ])("%s instead of 2probe aborts the probe; the session stays on polling", async (_label, frame) => {
    const { engine, sockets } = createEngine();
    const { sid } = await handshake(engine);
    const s = sockets[0]!;
    const reasons = closeReasons(s);
    const got = messages(s);
    const { ws } = await openWs(engine, { sid });
    ws.receive(frame);
    expect(ws.closed).toBe(true);
    expect(ws.sent).toEqual([]);
    expect(s.upgrading).toBe(false);
    expect(s.transport.name).toBe("polling");
    expect(reasons).toEqual([]);
    expect(got).toEqual([]);
    const g = get(engine, sid);
    s.send("ok");
    expect(bodyText(await g.promise)).toBe("4ok");
  });

  it("after an aborted probe the client may try again, and succeed", async () => {
    const { engine, sockets } = createEngine();
    const { sid } = await handshake(engine);
    const first = await openWs(engine, { sid });
    first.ws.clientClose();
    expect(sockets[0]!.upgrading).toBe(false);
    const second = await openWs(engine, { sid });
    second.ws.receive("2probe");
    second.ws.receive("5");
    expect(sockets[0]!.transport.name).toBe("websocket");
  });

  it("a second upgrade while one is in progress, or after one completed, is accepted and closed at once", async () => {
    const { engine, sockets } = createEngine();
    const { sid } = await handshake(engine);
    const { ws } = await openWs(engine, { sid });
    const { MemoryWs } = await import("../helpers/memory.ts");
    const openExtra = async () => {
      const result = await upgradeRequest(engine, { sid });
      expect(result.kind).toBe("accept");
      const extra = new MemoryWs();
      if (result.kind === "accept") extra.handler = result.open(extra);
      return extra;
    };
    const during = await openExtra();
    expect(during.closed).toBe(true);
    expect(during.sent).toEqual([]);
    expect(ws.closed).toBe(false);
    ws.receive("2probe");
    ws.receive("5");
    const after = await openExtra();
    expect(after.closed).toBe(true);
    expect(after.sent).toEqual([]);
    expect(sockets[0]!.transport.name).toBe("websocket");
    expect(ws.closed).toBe(false);
  });

  it("a runtime that opens the socket after the session closed gets it closed at once", async () => {
    const { engine, sockets } = createEngine();
    const { sid } = await handshake(engine);
    const result = await upgradeRequest(engine, { sid });
    expect(result.kind).toBe("accept");
    sockets[0]!.close(true);
    if (result.kind !== "accept") return;
    const { MemoryWs } = await import("../helpers/memory.ts");
    const ws = new MemoryWs();
    ws.handler = result.open(ws);
    expect(ws.closed).toBe(true);
    expect(ws.sent).toEqual([]);
  });

  it("a client that closes the probing socket only aborts the upgrade", async () => {
    const { engine, sockets } = createEngine();
    const { sid } = await handshake(engine);
    const reasons = closeReasons(sockets[0]!);
    const { ws } = await openWs(engine, { sid });
    ws.receive("2probe");
    ws.clientClose();
    expect(reasons).toEqual([]);
    expect(sockets[0]!.upgrading).toBe(false);
    const g = get(engine, sid);
    await tick();
    expect(g.settled).toBe(false); // held again: no noop once the probe is gone
  });

  it("close during the upgrade: the probe socket is closed, the held GET gets `1`", async () => {
    const { engine, sockets } = createEngine();
    const { sid } = await handshake(engine);
    const reasons = closeReasons(sockets[0]!);
    const { ws } = await openWs(engine, { sid });
    const g = get(engine, sid);
    await tick();
    sockets[0]!.close();
    expect(ws.closed).toBe(true);
    expect(bodyText(await g.promise)).toBe("1");
    expect(reasons).toEqual(["forced close"]);
    expect(engine.clientsCount).toBe(0);
  });

  it("an abrupt close during the upgrade (ping timeout) also closes the probe socket", async () => {
    const { engine, clock, sockets } = createEngine({ pingInterval: 100, pingTimeout: 100, upgradeTimeout: 10_000 });
    const { sid } = await handshake(engine);
    const reasons = closeReasons(sockets[0]!);
    const { ws } = await openWs(engine, { sid });
    ws.receive("2probe");
    clock.advance(200);
    expect(reasons).toEqual(["ping timeout"]);
    expect(ws.closed).toBe(true);
    ws.receive("5");
    expect(sockets[0]!.transport.name).toBe("polling");
  });

  it("an upgrade with an unknown sid is refused with code 1", async () => {
    const { engine } = createEngine();
    const res = await upgradeRequest(engine, { sid: "nope" });
    expect(res.kind).toBe("reject");
    if (res.kind === "reject") {
      expect(res.response.status).toBe(400);
      expect(res.response.headers["content-type"]).toBe("application/json");
      expect(JSON.parse(bodyText(res.response))).toEqual({ code: 1, message: "Session ID unknown" });
    }
  });

  it("an Upgrade request naming transport=polling is refused and leaves the session alone", async () => {
    const { engine, sockets } = createEngine();
    const { sid } = await handshake(engine);
    // An Upgrade request naming transport=polling is not a WebSocket upgrade.
    const res = await upgradeRequest(engine, { sid, transport: "polling" });
    expect(res.kind).toBe("reject");
    expect(sockets[0]!.upgrading).toBe(false);
    const g = await engine.handleRequest(new MemoryRequest(engineUrl({ sid }), { method: "POST", body: "4x" }));
    expect(g.status).toBe(200);
  });
});
