/**
 * Compression on Node, with real clients: `httpCompression` on polling
 * responses (raw HTTP with explicit Accept-Encoding, engine.io-client's
 * fetch transport), compressed POST bodies refused, and `perMessageDeflate`
 * seen on the wire (RSV1, byte counts) for single sends, shared broadcast
 * frames and socket.io-client, plus a deflate bomb.
 */
import { Socket as EioSocket, Fetch } from "engine.io-client";
import { io as ioc, type Socket as ClientSocket } from "socket.io-client";
import { gunzipSync, gzipSync, inflateSync } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import { Engine, type EngineOptions, type EngineSocket, OutboundMessage, Server } from "../../src/index.ts";
import { negotiateEncoding } from "../../src/engine/http-compression.ts";
import { deflateBomb, RawWs } from "../helpers/raw-wire.ts";
import { httpBytes as http } from "../helpers/http-bytes.ts";
import { type Running, startNode } from "../helpers/node.ts";
import { waitFor } from "../helpers/wait.ts";

const BIG = "x".repeat(5000);
const running: Running[] = [];
const cleanups: Array<() => void> = [];

afterEach(async () => {
  for (const c of cleanups.splice(0)) c();
  for (const r of running.splice(0)) await r.close();
});

/** An Engine whose sessions answer a few commands (see below) and echo anything else. */
async function engineApp(options: EngineOptions = {}) {
  const engine = new Engine(options);
  const sockets: EngineSocket[] = [];
  const closes: string[] = [];
  engine.on("connection", (s: EngineSocket) => {
    sockets.push(s);
    s.on("close", (reason: string) => closes.push(reason));
    s.on("message", (m: string | Uint8Array) => {
      if (m === "big") s.send(BIG);
      else if (m === "small") s.send("hi");
      else if (m === "big-nc") s.send(BIG, { compress: false });
      else if (m === "mixed") s.send(BIG, { compress: false }).send("hi");
      else if (m === "unicode") s.send("é€".repeat(400)); // 800 UTF-16 units, 2000 UTF-8 bytes
      else s.send(m);
    });
  });
  const srv = await startNode(engine);
  running.push(srv);
  return { engine, srv, sockets, closes };
}

/** A polling session that has asked the server (POST) to send `command`'s answer; returns the GET URL. */
async function pollingAfter(srv: Running, command: string): Promise<string> {
  const base = `${srv.url}/engine.io/?EIO=4&transport=polling`;
  const open = await http(base);
  const sid = JSON.parse(open.body.toString().slice(1)).sid as string;
  const url = `${base}&sid=${sid}`;
  const posted = await http(url, "POST", { "content-type": "text/plain;charset=UTF-8" }, "4" + command);
  expect(posted.body.toString()).toBe("ok");
  return url;
}

describe("httpCompression (polling responses)", () => {
  it("gzips a large response when the client accepts gzip; the body decodes to the payload", async () => {
    const { srv } = await engineApp();
    const got = await http(await pollingAfter(srv, "big"), "GET", { "accept-encoding": "gzip, deflate" });
    expect(got.headers["content-encoding"]).toBe("gzip");
    expect(Number(got.headers["content-length"])).toBe(got.body.length);
    expect(got.body.length).toBeLessThan(200);
    expect(gunzipSync(got.body).toString()).toBe("4" + BIG);
  });

  it("uses deflate when only deflate is accepted, and nothing when nothing is", async () => {
    const { srv } = await engineApp();
    const deflated = await http(await pollingAfter(srv, "big"), "GET", { "accept-encoding": "deflate" });
    expect(deflated.headers["content-encoding"]).toBe("deflate");
    expect(inflateSync(deflated.body).toString()).toBe("4" + BIG);
    const plain = await http(await pollingAfter(srv, "big"), "GET");
    expect(plain.headers["content-encoding"]).toBeUndefined();
    expect(plain.body.toString()).toBe("4" + BIG);
    const identity = await http(await pollingAfter(srv, "big"), "GET", { "accept-encoding": "identity, br" });
    expect(identity.headers["content-encoding"]).toBeUndefined();
  });

  it("leaves small responses alone; counts UTF-8 bytes, not characters, against the threshold", async () => {
    const { srv } = await engineApp();
    const small = await http(await pollingAfter(srv, "small"), "GET", { "accept-encoding": "gzip" });
    expect(small.headers["content-encoding"]).toBeUndefined();
    expect(small.body.toString()).toBe("4hi");
    const unicode = await http(await pollingAfter(srv, "unicode"), "GET", { "accept-encoding": "gzip" });
    expect(unicode.headers["content-encoding"]).toBe("gzip");
    expect(gunzipSync(unicode.body).toString()).toBe("4" + "é€".repeat(400));
  });

  it("is off with httpCompression: false, and follows a custom threshold", async () => {
    const off = await engineApp({ httpCompression: false });
    const got = await http(await pollingAfter(off.srv, "big"), "GET", { "accept-encoding": "gzip" });
    expect(got.headers["content-encoding"]).toBeUndefined();
    expect(got.body.toString()).toBe("4" + BIG);
    const high = await engineApp({ httpCompression: { threshold: 10_000 } });
    const under = await http(await pollingAfter(high.srv, "big"), "GET", { "accept-encoding": "gzip" });
    expect(under.headers["content-encoding"]).toBeUndefined();
  });

  it("sends a write uncompressed when all its packets say compress: false, compressed when one does not", async () => {
    const { srv } = await engineApp();
    const nc = await http(await pollingAfter(srv, "big-nc"), "GET", { "accept-encoding": "gzip" });
    expect(nc.headers["content-encoding"]).toBeUndefined();
    expect(nc.body.toString()).toBe("4" + BIG);
    const mixed = await http(await pollingAfter(srv, "mixed"), "GET", { "accept-encoding": "gzip" });
    expect(mixed.headers["content-encoding"]).toBe("gzip");
    expect(gunzipSync(mixed.body).toString()).toBe(`4${BIG}\x1e4hi`);
  });

  it("socket.compress(false) keeps a Socket.IO emit uncompressed over polling", async () => {
    const io = new Server();
    io.on("connection", (socket) => {
      socket.on("go", () => {
        socket.compress(false).emit("big", BIG);
      });
    });
    const srv = await startNode(io);
    running.push(srv);
    const base = `${srv.url}/socket.io/?EIO=4&transport=polling`;
    const sid = JSON.parse((await http(base)).body.toString().slice(1)).sid as string;
    const url = `${base}&sid=${sid}`;
    await http(url, "POST", {}, "40");
    await http(url, "GET"); // the CONNECT answer
    await http(url, "POST", {}, '42["go"]');
    const got = await http(url, "GET", { "accept-encoding": "gzip" });
    expect(got.headers["content-encoding"]).toBeUndefined();
    expect(got.body.toString()).toBe(`42["big","${BIG}"]`);
  });

  it("engine.io-client's fetch transport (Accept-Encoding from fetch) gets large messages intact, compressed", async () => {
    const { srv } = await engineApp();
    const encodings: Array<string | undefined> = [];
    srv.server.prependListener("request", (_req, res) => {
      const writeHead = res.writeHead;
      res.writeHead = function (this: typeof res, ...args: Parameters<typeof writeHead>) {
        const h = args[args.length - 1] as Record<string, string> | undefined;
        if (h && typeof h === "object") encodings.push(h["content-encoding"]);
        return writeHead.apply(this, args);
      } as typeof writeHead;
    });
    const client = new EioSocket(srv.url, { transports: [Fetch] });
    cleanups.push(() => client.close());
    await new Promise<void>((r) => client.on("open", () => r()));
    const got = new Promise<string>((r) => client.on("message", (m) => r(String(m))));
    client.send("big");
    expect(await got).toBe(BIG);
    expect(encodings).toContain("gzip");
  });

  it("picks the coding as the reference does", () => {
    expect(negotiateEncoding("gzip, deflate")).toBe("gzip");
    expect(negotiateEncoding("deflate, gzip")).toBe("deflate");
    expect(negotiateEncoding("gzip;q=0.5, deflate")).toBe("deflate");
    expect(negotiateEncoding("*")).toBe("gzip");
    expect(negotiateEncoding("gzip;q=0, *")).toBe("deflate");
    expect(negotiateEncoding("GZIP")).toBe("gzip");
    expect(negotiateEncoding("br, identity")).toBeUndefined();
    expect(negotiateEncoding("gzip;q=0, deflate;q=0")).toBeUndefined();
    expect(negotiateEncoding("")).toBeUndefined();
    expect(negotiateEncoding(undefined)).toBeUndefined();
  });
});

describe("compressed request bodies", () => {
  it("refuses a gzip POST with 415 and the Engine.IO error JSON, without reading it; the session ends", async () => {
    const { srv, closes } = await engineApp();
    const base = `${srv.url}/engine.io/?EIO=4&transport=polling`;
    const sid = JSON.parse((await http(base)).body.toString().slice(1)).sid as string;
    const url = `${base}&sid=${sid}`;
    // 64 MiB of "4" inflated from ~64 KiB: never inflated, so nothing to bound.
    const bomb = gzipSync(Buffer.alloc(64 << 20, 0x34));
    const before = process.memoryUsage().rss;
    const got = await http(url, "POST", { "content-encoding": "gzip", "content-type": "text/plain" }, bomb);
    expect(got.status).toBe(415);
    expect(got.headers["accept-encoding"]).toBe("identity");
    expect(JSON.parse(got.body.toString())).toEqual({ code: 3, message: "Bad request" });
    expect(process.memoryUsage().rss - before).toBeLessThan(32 << 20);
    await waitFor(() => closes.length === 1);
    expect(closes).toEqual(["transport error"]);
    const after = await http(url, "GET");
    expect(after.status).toBe(400);
    expect(JSON.parse(after.body.toString())).toEqual({ code: 1, message: "Session ID unknown" });
  });

  it("accepts Content-Encoding: identity", async () => {
    const { srv } = await engineApp();
    const base = `${srv.url}/engine.io/?EIO=4&transport=polling`;
    const sid = JSON.parse((await http(base)).body.toString().slice(1)).sid as string;
    const got = await http(`${base}&sid=${sid}`, "POST", { "content-encoding": "identity" }, "4small");
    expect(got.status).toBe(200);
    expect(got.body.toString()).toBe("ok");
  });
});

const WS_PATH = "/engine.io/?EIO=4&transport=websocket";

async function deflateClient(srv: Running, offer = true): Promise<RawWs> {
  const ws = await RawWs.connect(srv.port, WS_PATH, { deflate: offer });
  cleanups.push(() => ws.close());
  const open = await ws.nextFrame(3000);
  expect(String(open?.data)).toMatch(/^0\{"sid"/);
  expect(open?.compressed).toBe(false);
  return ws;
}

describe("perMessageDeflate (Node, ws)", () => {
  it("is off by default: an offer gets no extension and frames go uncompressed", async () => {
    const { srv } = await engineApp();
    const ws = await deflateClient(srv);
    expect(ws.negotiated).toBe(false);
    ws.sendText("4big");
    const f = await ws.nextFrame(3000);
    expect(f).toMatchObject({ compressed: false, data: "4" + BIG, wireBytes: BIG.length + 1 });
  });

  it("negotiates when on: large messages arrive with RSV1 set and few bytes, small and compress:false ones plain", async () => {
    const { srv } = await engineApp({ perMessageDeflate: true });
    const ws = await deflateClient(srv);
    expect(ws.negotiated).toBe(true);
    ws.sendText("4big");
    const big = await ws.nextFrame(3000);
    expect(big).toMatchObject({ compressed: true, data: "4" + BIG });
    expect(big!.wireBytes).toBeLessThan(100);
    ws.sendText("4small");
    expect(await ws.nextFrame(3000)).toMatchObject({ compressed: false, data: "4hi" });
    ws.sendText("4big-nc");
    expect(await ws.nextFrame(3000)).toMatchObject({ compressed: false, data: "4" + BIG });
  });

  it("honours the threshold", async () => {
    const { srv } = await engineApp({ perMessageDeflate: { threshold: 10_000 } });
    const ws = await deflateClient(srv);
    expect(ws.negotiated).toBe(true);
    ws.sendText("4big");
    expect(await ws.nextFrame(3000)).toMatchObject({ compressed: false, data: "4" + BIG });
  });

  it("shared broadcast frames: compressed per socket where negotiated, the shared fast path for the rest", async () => {
    const { engine, srv, sockets } = await engineApp({ perMessageDeflate: true });
    const a = await deflateClient(srv);
    const b = await deflateClient(srv);
    const plain = await deflateClient(srv, false);
    await waitFor(() => sockets.length === 3);
    const big = new OutboundMessage(BIG);
    const small = new OutboundMessage("small");
    for (const s of engine.clients.values()) s.sendMessages([big, small]);
    for (const c of [a, b]) {
      expect(await c.nextFrame(3000)).toMatchObject({ compressed: true, data: "4" + BIG });
      expect(await c.nextFrame(3000)).toMatchObject({ compressed: false, data: "4small" });
    }
    expect(await plain.nextFrame(3000)).toMatchObject({ compressed: false, data: "4" + BIG });
    expect(await plain.nextFrame(3000)).toMatchObject({ compressed: false, data: "4small" });
    // Below the threshold every socket shared one framed copy.
    expect(Buffer.isBuffer(small.framed)).toBe(true);
  });

  it("a deflate bomb is closed with 1009 as it inflates; memory does not grow", async () => {
    const { srv, closes } = await engineApp({ perMessageDeflate: true, maxHttpBufferSize: 1e6 });
    const ws = await deflateClient(srv);
    const bomb = await deflateBomb(256); // 256 MiB inflated, ~256 KiB sent
    expect(bomb.length).toBeLessThan(1 << 20);
    const before = process.memoryUsage().rss;
    ws.sendCompressed(bomb);
    expect(await ws.closed).toBe(1009);
    await waitFor(() => closes.length === 1);
    expect(closes).toEqual(["transport error"]);
    expect(process.memoryUsage().rss - before).toBeLessThan(64 << 20);
  });
});

describe("perMessageDeflate with socket.io-client", () => {
  async function ioApp() {
    const io = new Server({ perMessageDeflate: true });
    io.on("connection", (socket) => {
      socket.on("shout", (text: string) => io.emit("heard", text));
      socket.on("whisper", (text: string, ack: (t: string) => void) => ack(text));
    });
    const srv = await startNode(io);
    running.push(srv);
    return srv;
  }

  function client(srv: Running): Promise<ClientSocket> {
    const socket = ioc(srv.url, { transports: ["websocket"], forceNew: true });
    cleanups.push(() => socket.disconnect());
    return new Promise((resolve) => socket.on("connect", () => resolve(socket)));
  }

  /** What the client's ws negotiated and how many bytes it has read. */
  function wire(socket: ClientSocket): { extensions: string[]; bytesRead: number } {
    const ws = (socket.io.engine.transport as unknown as { ws: { _extensions: object; _socket: { bytesRead: number } } }).ws;
    return { extensions: Object.keys(ws._extensions), bytesRead: ws._socket.bytesRead };
  }

  it("broadcasts and single sends arrive intact and compressed, both ways", async () => {
    const srv = await ioApp();
    const [a, b, c] = await Promise.all([client(srv), client(srv), client(srv)]);
    for (const s of [a, b, c]) expect(wire(s!).extensions).toEqual(["permessage-deflate"]);
    const payload = "chat ".repeat(4000);
    const before = wire(b!).bytesRead;
    const heard = [a, b, c].map((s) => new Promise<string>((r) => s!.once("heard", r)));
    a!.emit("shout", payload);
    expect(await Promise.all(heard)).toEqual([payload, payload, payload]);
    expect(wire(b!).bytesRead - before).toBeLessThan(1000);
    const echoed = await a!.emitWithAck("whisper", payload);
    expect(echoed).toBe(payload);
  });
});
