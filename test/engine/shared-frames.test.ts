/**
 * Shared frames on Node: a message handed to many sessions is framed once
 * by the ws shim (`sendShared`) and the same bytes written to every socket.
 * Real ws clients check what arrives: every payload size class of the
 * WebSocket header, binary, `b64` clients, and order against per-socket sends.
 */
import { afterEach, describe, expect, it } from "vitest";
import { Engine, type EngineSocket, OutboundMessage } from "../../src/index.ts";
import { internalsUsable, setSharedFrames, sharedFramesInUse } from "../../src/runtimes/node-ws.ts";
import { type Running, startNode, WsClient } from "../helpers/node.ts";
import { waitFor } from "../helpers/wait.ts";

const running: Running[] = [];
const clients: WsClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const r of running.splice(0)) await r.close();
});

async function connected(n: number, query = "") {
  const engine = new Engine();
  const sockets: EngineSocket[] = [];
  engine.on("connection", (s) => sockets.push(s));
  const srv = await startNode(engine);
  running.push(srv);
  const conns: WsClient[] = [];
  for (let i = 0; i < n; i++) {
    const c = new WsClient(`${srv.wsUrl}/engine.io/?EIO=4&transport=websocket${query}`);
    clients.push(c);
    conns.push(c);
    expect(String(await c.next())).toMatch(/^0\{"sid"/);
  }
  await waitFor(() => sockets.length === n);
  return { engine, sockets, conns };
}

function broadcast(engine: Engine, messages: OutboundMessage[]): void {
  for (const s of engine.clients.values()) s.sendMessages(messages);
}

describe("shared frames (Node)", () => {
  it.each([
    ["a short text (7-bit length)", "x".repeat(10)],
    ["a 200-byte text (16-bit length)", "y".repeat(200)],
    ["a 70,000-byte text (64-bit length)", "z".repeat(70_000)],
    ["multi-byte UTF-8 text", "é€😀".repeat(50)],
  ])("frames %s once; every client receives it intact", async (_name, text) => {
    const { engine, conns } = await connected(3);
    const message = new OutboundMessage(text);
    broadcast(engine, [message]);
    for (const c of conns) expect(await c.next()).toBe("4" + text);
    // The framed bytes were built and kept on the message itself: the next recipient reuses them.
    expect(Buffer.isBuffer(message.framed)).toBe(true);
    const framed = message.framed as Buffer;
    expect(framed.subarray(framed.length - Buffer.byteLength(text) - 1).toString()).toBe("4" + text);
  });

  it("frames binary once as a binary frame; a b64 client gets base64 text instead", async () => {
    const { engine, conns } = await connected(2);
    const b64 = new WsClient(`${running[0]!.wsUrl}/engine.io/?EIO=4&transport=websocket&b64=1`);
    clients.push(b64);
    await b64.next();
    await waitFor(() => engine.clientsCount === 3);
    const bytes = new Uint8Array([0, 1, 2, 250, 255]);
    broadcast(engine, [new OutboundMessage("text first"), new OutboundMessage(bytes)]);
    for (const c of conns) {
      expect(await c.next()).toBe("4text first");
      const bin = await c.next();
      expect(Buffer.isBuffer(bin)).toBe(true);
      expect([...(bin as Buffer)]).toEqual([...bytes]);
    }
    expect(await b64.next()).toBe("4text first");
    expect(await b64.next()).toBe("b" + Buffer.from(bytes).toString("base64"));
  });

  it("keeps order with per-socket sends around a shared frame", async () => {
    const { engine, sockets, conns } = await connected(2);
    const shared = [new OutboundMessage("shared")];
    for (const s of sockets) s.send("before");
    broadcast(engine, shared);
    for (const s of sockets) s.send("after");
    for (const c of conns) {
      expect(await c.next()).toBe("4before");
      expect(await c.next()).toBe("4shared");
      expect(await c.next()).toBe("4after");
    }
  });

  it("counts shared writes in the buffered amount, so a client that stops reading is still cut off", async () => {
    const engine = new Engine({ maxBufferedBytes: 200_000 });
    const closed: string[] = [];
    engine.on("connection", (s) => s.on("close", (reason) => closed.push(reason)));
    const srv = await startNode(engine);
    running.push(srv);
    const c = new WsClient(`${srv.wsUrl}/engine.io/?EIO=4&transport=websocket`);
    clients.push(c);
    await c.next();
    await waitFor(() => engine.clientsCount === 1);
    // The client stops reading: the kernel buffers fill, then ws's socket buffer grows.
    (c.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const chunk = [new OutboundMessage("p".repeat(64 * 1024))];
    for (let i = 0; i < 400 && closed.length === 0; i++) {
      broadcast(engine, chunk);
      await new Promise((r) => setImmediate(r));
    }
    expect(closed).toEqual(["transport error"]);
  });

  describe("when ws's internals are not as expected", () => {
    afterEach(() => setSharedFrames(undefined));

    it("the start-up probe accepts this ws release and rejects a socket without them", async () => {
      setSharedFrames(undefined);
      const { engine, conns } = await connected(1);
      broadcast(engine, [new OutboundMessage("probe")]);
      expect(await conns[0]!.next()).toBe("4probe");
      expect(sharedFramesInUse()).toBe(true);
      // The client's own ws socket has the same fields; one without a sender queue does not pass.
      const ws = conns[0]!.ws as unknown as { _socket: unknown; _sender: { _state: number; _queue: unknown[] } };
      expect(internalsUsable(ws as never)).toBe(true);
      expect(internalsUsable({ _socket: ws._socket, _sender: { _state: 0 } } as never)).toBe(false);
      expect(internalsUsable({ _socket: null, _sender: ws._sender } as never)).toBe(false);
    });

    it("falls back to ws's own send(): every client still gets every frame, none pre-framed", async () => {
      setSharedFrames(false);
      const { engine, sockets, conns } = await connected(3);
      const text = new OutboundMessage("t".repeat(70_000));
      const bytes = Uint8Array.from([1, 2, 3, 250]);
      const bin = new OutboundMessage(bytes);
      for (const s of sockets) s.send("before");
      broadcast(engine, [text, bin]);
      for (const c of conns) {
        expect(await c.next()).toBe("4before");
        expect(await c.next()).toBe("4" + "t".repeat(70_000));
        expect([...(await c.next() as Buffer)]).toEqual([...bytes]);
      }
      expect(text.framed).toBeUndefined();
      expect(bin.framed).toBeUndefined();
    });
  });
});
