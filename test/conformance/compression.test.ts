/**
 * Compression on every runtime's fixture: `httpCompression` on polling
 * responses (raw HTTP with explicit Accept-Encoding, official clients),
 * compressed POST bodies refused, and WebSocket permessage-deflate as each
 * runtime can do it (capability `wsDeflate`): configured by the option
 * (Node, Bun), negotiated by the runtime itself (Workers), or not at all
 * (Deno), where the option is refused at start-up.
 */
import { Socket as EioSocket, Fetch } from "engine.io-client";
import { io as ioc, type Socket as ClientSocket } from "socket.io-client";
import { gunzipSync, inflateSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deflateBomb, RawWs } from "../helpers/raw-wire.ts";
import { httpBytes, treeRss } from "../helpers/http-bytes.ts";
import { type RunningFixture, startFixture } from "./harness.ts";
import { itWhen, selectedRuntimes } from "./runtimes.ts";

const BIG = "compress me ".repeat(500); // 6000 bytes
const EIO = "/engine.io/?EIO=4&transport=polling";
const EIO_WS = "/engine.io/?EIO=4&transport=websocket";

/** A polling session on the echo engine that has posted `text`; the GET URL that will carry the echo. */
async function echoPending(fx: RunningFixture, text: string): Promise<string> {
  const open = await httpBytes(fx.url + EIO);
  const sid = JSON.parse(open.body.toString().slice(1)).sid as string;
  const url = `${fx.url}${EIO}&sid=${sid}`;
  const posted = await httpBytes(url, "POST", { "content-type": "text/plain;charset=UTF-8" }, "4" + text);
  expect(posted.body.toString()).toBe("ok");
  return url;
}

/** A raw WebSocket on the echo engine, past the open packet. */
async function echoWs(fx: RunningFixture, offer = true): Promise<RawWs> {
  const ws = await RawWs.connect(fx.port, EIO_WS, { deflate: offer });
  const open = await ws.nextFrame(3000);
  expect(String(open?.data)).toMatch(/^0\{"sid"/);
  return ws;
}

function bodyLength(headers: Record<string, string | string[] | undefined>, body: Buffer): void {
  // Content-Length when the runtime sends one; chunked bodies have none.
  if (headers["content-length"] !== undefined) expect(Number(headers["content-length"])).toBe(body.length);
}

describe.each(selectedRuntimes())("compression on $name", (runtime) => {
  const platform = runtime.capabilities.httpCompression === "platform";

  describe("defaults (httpCompression on, perMessageDeflate off)", () => {
    let fx: RunningFixture;
    beforeAll(async () => {
      fx = await startFixture(runtime);
    });
    afterAll(async () => {
      await fx?.stop();
    });

    itWhen(!platform)("a write whose packets all say compress: false goes uncompressed", async () => {
      const got = await httpBytes(await echoPending(fx, "plain:" + BIG), "GET", { "accept-encoding": "gzip" });
      expect(got.headers["content-encoding"]).toBeUndefined();
      expect(got.body.toString()).toBe("4" + BIG);
    });

    it("a large polling response is gzip-encoded when gzip is accepted", async () => {
      const got = await httpBytes(await echoPending(fx, BIG), "GET", { "accept-encoding": "gzip, deflate" });
      expect(got.status).toBe(200);
      expect(got.headers["content-encoding"]).toBe("gzip");
      bodyLength(got.headers, got.body);
      expect(got.body.length).toBeLessThan(500);
      expect(gunzipSync(got.body).toString()).toBe("4" + BIG);
    });

    it("deflate when only deflate is accepted (the platform's own encoding may not offer it); identity when nothing is", async () => {
      const deflated = await httpBytes(await echoPending(fx, BIG), "GET", { "accept-encoding": "deflate" });
      if (platform) {
        expect(deflated.headers["content-encoding"]).toBeUndefined();
        expect(deflated.body.toString()).toBe("4" + BIG);
      } else {
        expect(deflated.headers["content-encoding"]).toBe("deflate");
        expect(inflateSync(deflated.body).toString()).toBe("4" + BIG);
      }
      for (const accept of [{ "accept-encoding": "identity" }, {}] as Array<Record<string, string>>) {
        const plain = await httpBytes(await echoPending(fx, BIG), "GET", accept);
        expect(plain.headers["content-encoding"]).toBeUndefined();
        expect(plain.body.toString()).toBe("4" + BIG);
      }
    });

    itWhen(!platform)("small responses are never compressed", async () => {
      const small = await httpBytes(await echoPending(fx, "hello"), "GET", { "accept-encoding": "gzip" });
      expect(small.headers["content-encoding"]).toBeUndefined();
      expect(small.body.toString()).toBe("4hello");
    });

    it("official clients over polling get large messages intact (engine.io-client fetch and XHR, socket.io-client)", async () => {
      for (const transports of [[Fetch], ["polling"]] as const) {
        const s = new EioSocket(fx.url, { path: "/engine.io/", transports: transports as never });
        await new Promise<void>((r, j) => {
          s.once("open", () => r());
          s.once("error", j);
        });
        const got = new Promise<string>((r) => s.once("message", (m) => r(String(m))));
        s.send(BIG);
        expect(await got).toBe(BIG);
        s.close();
      }
      const socket = ioc(fx.url, { transports: ["polling"], forceNew: true });
      try {
        const echoed = await socket.timeout(5000).emitWithAck("echo", BIG);
        expect(echoed).toBe(BIG);
      } finally {
        socket.disconnect();
      }
    });

    itWhen(!runtime.capabilities.readsEncodedBodies)("a gzip-encoded POST is refused with 415 and the Engine.IO error JSON", async () => {
      const open = await httpBytes(fx.url + EIO);
      const sid = JSON.parse(open.body.toString().slice(1)).sid as string;
      const got = await httpBytes(`${fx.url}${EIO}&sid=${sid}`, "POST", { "content-encoding": "gzip" }, Buffer.from([0x1f, 0x8b, 8, 0]));
      expect(got.status).toBe(415);
      expect(JSON.parse(got.body.toString())).toEqual({ code: 3, message: "Bad request" });
    });

    it("WebSocket compression without the option: only where the runtime negotiates it itself", async () => {
      const ws = await echoWs(fx);
      try {
        expect(ws.negotiated).toBe(runtime.capabilities.wsDeflate === "runtime");
        ws.sendText("4" + BIG);
        const echo = await ws.nextText("4");
        expect(echo?.data).toBe("4" + BIG);
        expect(echo?.compressed).toBe(runtime.capabilities.wsDeflate === "runtime");
      } finally {
        ws.close();
      }
    });
  });

  describe("httpCompression: false", () => {
    let fx: RunningFixture;
    beforeAll(async () => {
      fx = await startFixture(runtime, { FIXTURE_COMPRESSION: "off" });
    });
    afterAll(async () => {
      await fx?.stop();
    });

    itWhen(!platform)("large polling responses go uncompressed even when gzip is accepted", async () => {
      const got = await httpBytes(await echoPending(fx, BIG), "GET", { "accept-encoding": "gzip, deflate" });
      expect(got.headers["content-encoding"]).toBeUndefined();
      expect(got.body.toString()).toBe("4" + BIG);
    });

    itWhen(platform)("the platform still encodes for a client that accepts gzip (the option cannot turn it off)", async () => {
      const got = await httpBytes(await echoPending(fx, BIG), "GET", { "accept-encoding": "gzip" });
      expect(got.headers["content-encoding"]).toBe("gzip");
      expect(gunzipSync(got.body).toString()).toBe("4" + BIG);
    });
  });

  if (runtime.capabilities.wsDeflate !== "option") {
    it(`refuses perMessageDeflate at start-up, naming the runtime`, async () => {
      const started = startFixture(runtime, { FIXTURE_COMPRESSION: "deflate" });
      await expect(started).rejects.toThrow(new RegExp(`unio/${runtime.name}: perMessageDeflate`));
      // Should it have started after all, it must not outlive the test.
      await started.then((fx) => fx.stop(), () => {});
    });
  }

  if (runtime.capabilities.wsDeflate !== "none") {
    describe("perMessageDeflate negotiated", () => {
      let fx: RunningFixture;
      beforeAll(async () => {
        // Workers compress without the option (and refuse it); the others need it.
        fx = await startFixture(runtime, runtime.capabilities.wsDeflate === "option" ? { FIXTURE_COMPRESSION: "deflate" } : {});
      });
      afterAll(async () => {
        await fx?.stop();
      });

      it("large messages arrive compressed (RSV1), small ones below the threshold plain; clients that do not offer get plain frames", async () => {
        const ws = await echoWs(fx);
        const plainWs = await echoWs(fx, false);
        try {
          expect(ws.negotiated).toBe(true);
          expect(plainWs.negotiated).toBe(false);
          ws.sendText("4" + BIG);
          const big = await ws.nextText("4");
          expect(big).toMatchObject({ compressed: true, data: "4" + BIG });
          expect(big!.wireBytes).toBeLessThan(500);
          ws.sendText("4hi");
          const small = await ws.nextText("4");
          expect(small?.data).toBe("4hi");
          // unio's threshold applies where it configures the extension; workerd compresses every message.
          if (runtime.capabilities.wsDeflate === "option") expect(small?.compressed).toBe(false);
          // `compress: false` is honoured where unio configures the extension.
          if (runtime.capabilities.wsDeflate === "option" && !runtime.capabilities.ignoresWsCompressFlag) {
            ws.sendText("4plain:" + BIG);
            expect(await ws.nextText("4")).toMatchObject({ compressed: false, data: "4" + BIG });
          }
          plainWs.sendText("4" + BIG);
          expect(await plainWs.nextText("4")).toMatchObject({ compressed: false, data: "4" + BIG });
        } finally {
          ws.close();
          plainWs.close();
        }
      });

      it("socket.io-client with perMessageDeflate: broadcasts (shared frames / native publish) and single sends", async () => {
        const clients: ClientSocket[] = [];
        try {
          for (let i = 0; i < 3; i++) {
            const s = ioc(fx.url, { transports: ["websocket"], forceNew: true, perMessageDeflate: { threshold: 1024 } } as never);
            clients.push(s);
            await new Promise<void>((r) => s.once("connect", () => r()));
          }
          const wire = (s: ClientSocket) =>
            (s.io.engine.transport as unknown as { ws: { _extensions: object; _socket: { bytesRead: number } } }).ws;
          for (const s of clients) expect(Object.keys(wire(s)._extensions)).toEqual(["permessage-deflate"]);
          const before = clients.map((s) => wire(s)._socket.bytesRead);
          const heard = clients.map((s) => new Promise<unknown>((r) => s.once("news", r)));
          const { published } = (await clients[0]!.timeout(5000).emitWithAck("broadcast", {
            from: "nsp",
            event: "news",
            args: [BIG],
          })) as { published: number };
          expect(await Promise.all(heard)).toEqual([BIG, BIG, BIG]);
          // Compressed on the wire for every recipient, whichever path the broadcast took.
          clients.forEach((s, i) => expect(wire(s)._socket.bytesRead - before[i]!).toBeLessThan(1000));
          if (runtime.capabilities.fanout) expect(published).toBeGreaterThan(0);
          expect(await clients[1]!.timeout(5000).emitWithAck("echo", BIG)).toBe(BIG);
        } finally {
          for (const s of clients) s.disconnect();
        }
      });

      it("a deflate bomb closes the connection (1009) and memory does not grow", async () => {
        const ws = await echoWs(fx);
        const bomb = await deflateBomb(256); // 256 MiB inflated from ~256 KiB
        const before = treeRss(fx.pid);
        ws.sendCompressed(bomb);
        expect(await ws.closed).toBe(1009);
        expect(treeRss(fx.pid) - before).toBeLessThan(96 << 20);
        // The server is still there for everyone else.
        const got = await httpBytes(await echoPending(fx, "after"), "GET");
        expect(got.body.toString()).toBe("4after");
      });
    });
  }
});
