/**
 * Engine.IO v3 sessions in memory with a FakeClock: the reversed heartbeat
 * (the client pings), v3 framing of shared messages, and the snapshot a
 * hibernating runtime keeps. No network, no sleeping.
 */
import { describe, expect, it } from "vitest";
import type { EngineCloseReason, EngineSocket } from "../../src/index.ts";
import { OutboundMessage } from "../../src/engine/outbound.ts";
import type { EngineSession } from "../../src/engine/session.ts";
import { bodyText, createEngine, engineUrl, get, MemoryRequest, MemoryWs, openWs, post, tick } from "../helpers/memory.ts";

const OPTS = { allowEIO3: true, pingInterval: 1000, pingTimeout: 500 };

function closes(socket: EngineSocket) {
  const got: Array<{ reason: EngineCloseReason; description: unknown }> = [];
  socket.on("close", (reason, description) => got.push({ reason, description }));
  return got;
}

async function pollingV3(opts = OPTS) {
  const t = createEngine(opts);
  const res = await t.engine.handleRequest(new MemoryRequest(engineUrl({ EIO: "3", b64: "1" })));
  const body = bodyText(res);
  const sid = JSON.parse(body.slice(body.indexOf(":") + 2)).sid as string;
  return { ...t, sid, socket: t.sockets[0]!, body };
}

async function wsV3(opts = OPTS, query: Record<string, string> = {}) {
  const t = createEngine(opts);
  const { ws } = await openWs(t.engine, { EIO: "3", ...query });
  await tick();
  return { ...t, ws, socket: t.sockets[0]! };
}

describe("a v3 session", () => {
  it("reports protocol 3; a v4 one reports 4", async () => {
    const { socket } = await wsV3();
    expect(socket.protocol).toBe(3);
    const v4 = await openWs(createEngine(OPTS).engine);
    expect(v4.ws.sent[0]).toMatch(/"maxPayload":1000000\}$/);
  });

  it("sends no ping and closes with ping timeout after pingInterval + pingTimeout of client silence", async () => {
    const { clock, ws, socket } = await wsV3();
    const got = closes(socket);
    clock.advance(1499);
    expect(ws.frames.slice(1)).toEqual([]);
    expect(got).toEqual([]);
    clock.advance(1);
    expect(got).toEqual([{ reason: "ping timeout", description: undefined }]);
    expect(ws.closed).toBe(true);
  });

  it("answers every client ping with a pong and restarts the wait from it", async () => {
    const { clock, ws, socket, engine } = await wsV3();
    const got = closes(socket);
    let heartbeats = 0;
    socket.on("heartbeat", () => heartbeats++);
    for (let i = 0; i < 10; i++) {
      clock.advance(1400);
      ws.receive("2");
    }
    expect(ws.frames.slice(1)).toEqual(Array(10).fill("3"));
    expect(heartbeats).toBe(10);
    expect(got).toEqual([]);
    // One heartbeat entry per session, however many pings came.
    expect(engine.scheduler.size).toBe(1);
    clock.advance(1500);
    expect(got.map((c) => c.reason)).toEqual(["ping timeout"]);
  });

  it("closes with transport error when the v3 client sends a pong", async () => {
    const { ws, socket } = await wsV3();
    const got = closes(socket);
    ws.receive("3");
    expect(got[0]!.reason).toBe("transport error");
    expect((got[0]!.description as Error).message).toBe("invalid heartbeat direction");
  });

  it("keeps a polling session alive on POSTed pings and answers them in the next GET", async () => {
    const { engine, clock, sid, socket, body } = await pollingV3();
    expect(body).toMatch(/^\d+:0\{"sid":"[^"]+","upgrades":\["websocket"\],"pingInterval":1000,"pingTimeout":500\}$/);
    const got = closes(socket);
    clock.advance(1200);
    expect(bodyText(await post(engine, sid, "1:2"))).toBe("ok");
    const g = get(engine, sid);
    await tick();
    expect(bodyText(g.value!)).toBe("1:3");
    clock.advance(1200);
    expect(got).toEqual([]);
    clock.advance(300);
    expect(got.map((c) => c.reason)).toEqual(["ping timeout"]);
  });

  it("writes one shared binary message as raw bytes to v4 and with its type byte to v3, each form built once", async () => {
    const v3 = await wsV3();
    const v4 = createEngine(OPTS);
    const { ws: ws4 } = await openWs(v4.engine);
    const msg = new OutboundMessage(new Uint8Array([7, 8]));
    v3.socket.sendMessages([msg]);
    v4.sockets[0]!.sendMessages([msg]);
    expect(v3.ws.frames.at(-1)).toBe("<bin:4,7,8>");
    expect(ws4.frames.at(-1)).toBe("<bin:7,8>");
    // The v3 form is made once and kept: its own frame object, so a shim's cached framing is per form.
    expect(msg.v3).toBe(msg.v3);
    expect(msg.v3).not.toBe(msg);
    expect(msg.v3.text).toBe("b4Bwg=");
    expect(msg.text).toBe("bBwg=");
    const text = new OutboundMessage("hi");
    expect(text.v3).toBe(text);
  });

  it("writes binary to a b64 v3 WebSocket as b4<base64> text", async () => {
    const { ws, socket } = await wsV3(OPTS, { b64: "1" });
    socket.send(new Uint8Array([1, 2, 3]));
    await tick();
    expect(ws.frames.at(-1)).toBe("b4AQID");
  });

  it("is never offered to a runtime fan-out (a published binary frame would lack the type byte)", async () => {
    const { engine } = createEngine(OPTS);
    const { ws } = await openWs(engine, { EIO: "3" });
    (ws as MemoryWs & { subscribe?: () => void }).subscribe = () => {};
    await tick();
    const session = [...engine.clients.values()][0] as EngineSession;
    // No runtime fan-out on the engine: no session has a part in one.
    expect(session.fanout).toBe(null);
    engine.fanout = { publish: () => {} };
    expect(session.fanout!.ready).toBe(false);
    const v4 = await openWs(engine);
    (v4.ws as MemoryWs & { subscribe?: () => void }).subscribe = () => {};
    await tick();
    expect(([...engine.clients.values()][1] as EngineSession).fanout!.ready).toBe(true);
  });

  it("keeps its protocol in the snapshot, and a restored session awaits client pings", async () => {
    const { engine, socket } = await wsV3();
    const snapshot = (socket as EngineSession).snapshot()!;
    expect(snapshot.protocol).toBe(3);
    const other = createEngine(OPTS);
    const ws = new MemoryWs();
    const { socket: restored, handler } = other.engine.restore(snapshot, ws);
    ws.handler = handler;
    expect(restored.protocol).toBe(3);
    const got = closes(restored);
    other.clock.advance(1400);
    ws.receive("2");
    expect(ws.frames).toEqual(["3"]);
    other.clock.advance(1500);
    expect(got.map((c) => c.reason)).toEqual(["ping timeout"]);
    engine.close();
  });
});
