/**
 * The engine socket's observation events, with socket.io's shapes (tools
 * such as @socket.io/admin-ui count traffic with them): `packet` for each
 * packet received, `packetCreate` for each packet queued for the client,
 * and `upgrading`/`upgrade` with the new transport.
 */
import { describe, expect, it } from "vitest";
import type { EngineSocket } from "../../src/index.ts";
import { OutboundMessage } from "../../src/engine/outbound.ts";
import { bodyText, createEngine, get, handshake, openWs, post, tick } from "../helpers/memory.ts";

function recorder(socket: EngineSocket, event: "packet" | "packetCreate"): unknown[] {
  const seen: unknown[] = [];
  socket.on(event, (p: unknown) => seen.push(p));
  return seen;
}

describe("packetCreate", () => {
  it("reports each message and ping queued for the client, with its compress option", async () => {
    const { engine, clock } = createEngine({ pingInterval: 100, pingTimeout: 50 });
    const { sid, socket } = await handshake(engine);
    const created = recorder(socket, "packetCreate");
    socket.send("text");
    socket.send(new Uint8Array([1, 2]), { compress: false });
    clock.advance(100);
    await tick();
    expect(created).toEqual([
      { type: "message", data: "text", options: { compress: true } },
      { type: "message", data: new Uint8Array([1, 2]), options: { compress: false } },
      { type: "ping", options: { compress: true } },
    ]);
    expect(bodyText(await get(engine, sid).promise)).toBe("4text\x1ebAQI=\x1e2");
  });

  it("is not seen for the handshake by a connection listener (as in the reference), nor after a close", async () => {
    const { engine } = createEngine();
    const created: unknown[] = [];
    engine.on("connection", (s) => s.on("packetCreate", (p) => created.push(p)));
    // The open packet is queued before "connection", as in the reference: a connection listener misses it.
    const { socket, openJson } = await handshake(engine);
    expect(created).toEqual([]);
    const early = recorder(socket, "packetCreate");
    socket.close(true);
    socket.send("late");
    expect(early).toEqual([]);
    expect(openJson.startsWith('{"sid"')).toBe(true);
  });

  it("reports each message of a shared broadcast, and of a runtime publish (fanout.delivered)", async () => {
    const { engine } = createEngine();
    // A runtime with topics (the shim sets it: Bun).
    engine.fanout = { publish: () => {} };
    await openWs(engine);
    const s = [...engine.clients.values()][0]!;
    const created = recorder(s, "packetCreate");
    const shared = [new OutboundMessage("251-[\"a\"]"), new OutboundMessage(new Uint8Array([3]))];
    s.sendMessages(shared);
    s.fanout!.delivered(shared);
    s.fanout!.delivered();
    expect(created).toEqual([
      { type: "message", data: '251-["a"]', options: { compress: true } },
      { type: "message", data: new Uint8Array([3]), options: { compress: true } },
      { type: "message", data: '251-["a"]', options: { compress: true } },
      { type: "message", data: new Uint8Array([3]), options: { compress: true } },
    ]);
  });
});

describe("packet", () => {
  it("reports every packet received, polling and WebSocket, binary as bytes", async () => {
    const { engine, clock } = createEngine({ pingInterval: 100, pingTimeout: 50 });
    const { sid, socket } = await handshake(engine);
    const received = recorder(socket, "packet");
    const messages: unknown[] = [];
    socket.on("message", (m) => messages.push(m));
    clock.advance(100);
    await tick();
    await post(engine, sid, "3\x1e4hello\x1ebAQID");
    expect(received).toEqual([{ type: "pong" }, { type: "message", data: "hello" }, { type: "message", data: new Uint8Array([1, 2, 3]) }]);
    expect(messages).toEqual(["hello", new Uint8Array([1, 2, 3])]);

    const { ws } = await openWs(engine);
    const s2 = [...engine.clients.values()].find((c) => c !== socket)!;
    const received2 = recorder(s2, "packet");
    ws.receive("4ws");
    ws.receive(new Uint8Array([9]));
    ws.receive("1");
    expect(received2).toEqual([{ type: "message", data: "ws" }, { type: "message", data: new Uint8Array([9]) }, { type: "close" }]);
  });
});

describe("upgrading / upgrade", () => {
  it("carry the new transport, which is the session's transport after the upgrade", async () => {
    const { engine } = createEngine();
    const { sid, socket } = await handshake(engine);
    const seen: Array<[string, unknown]> = [];
    socket.on("upgrading", (t) => seen.push(["upgrading", t]));
    socket.on("upgrade", (t) => seen.push(["upgrade", t]));
    const { ws } = await openWs(engine, { sid });
    ws.receive("2probe");
    ws.receive("5");
    expect(seen.map(([ev, t]) => [ev, (t as { name: string }).name])).toEqual([
      ["upgrading", "websocket"],
      ["upgrade", "websocket"],
    ]);
    expect(seen[1]![1]).toBe(socket.transport);
    expect(seen[0]![1]).toBe(seen[1]![1]);
  });
});
