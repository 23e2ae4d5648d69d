/**
 * Engine.IO behaviours, run unchanged against every runtime's fixture with
 * the official engine.io-client and raw fetch / ws.
 */
import { Agent, get as httpGet } from "node:http";
import { Socket as EioSocket } from "engine.io-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { type RunningFixture, startFixture } from "./harness.ts";
import { itWhen, selectedRuntimes } from "./runtimes.ts";
import { once, sleep, waitFor, within } from "../helpers/wait.ts";

type Transports = ("polling" | "websocket")[];

async function open(url: string, transports: Transports, extra: Record<string, unknown> = {}): Promise<EioSocket> {
  const s = new EioSocket(url, { path: "/engine.io/", transports, ...extra });
  await once(s, "open", { failOn: "error" });
  return s;
}

const nextMessage = (s: EioSocket) => once<string | ArrayBuffer>(s, "message");

describe.each(selectedRuntimes())("engine on $name", (runtime) => {
  let fx: RunningFixture;
  beforeAll(async () => {
    fx = await startFixture(runtime);
  });
  afterAll(async () => {
    await fx?.stop();
  });

  const modes: Array<[string, Transports, string]> = [
    ["polling only", ["polling"], "polling"],
    ["websocket only", ["websocket"], "websocket"],
    ["polling upgraded to websocket", ["polling", "websocket"], "websocket"],
  ];

  it.each(modes)("%s: text and binary echo both ways", async (_name, transports, finalTransport) => {
    const s = await open(fx.url, transports);
    if (finalTransport !== s.transport.name) await once(s, "upgrade");
    expect(s.transport.name).toBe(finalTransport);
    s.send("héllo ✓");
    expect(await nextMessage(s)).toBe("héllo ✓");
    s.send(new Uint8Array([0, 1, 2, 255]));
    const bin = await nextMessage(s);
    expect([...new Uint8Array(bin as ArrayBuffer)]).toEqual([0, 1, 2, 255]);
    s.close();
  });

  it("100 messages arrive in order over polling", async () => {
    const s = await open(fx.url, ["polling"]);
    const got: string[] = [];
    s.on("message", (d) => got.push(d as string));
    for (let i = 0; i < 100; i++) s.send(`m${i}`);
    await waitFor(() => got.length >= 100, { what: "100 messages" });
    expect(got).toEqual(Array.from({ length: 100 }, (_, i) => `m${i}`));
    s.close();
  });

  it("an idle session is kept alive by heartbeats", async () => {
    // The fixture pings every 150 ms with a 300 ms timeout: a second spans several cycles.
    for (const transports of [["polling"], ["websocket"]] as Transports[]) {
      const s = await open(fx.url, transports);
      let closed = false;
      s.on("close", () => (closed = true));
      let pings = 0;
      s.on("ping", () => pings++);
      // Six pings span three times pingInterval + pingTimeout.
      await waitFor(() => pings >= 6 || closed, { what: "six pings" });
      expect(closed).toBe(false);
      s.send("still here");
      expect(await nextMessage(s)).toBe("still here");
      s.close();
    }
  });

  it.each(modes)("%s: a server-side close reaches the client as transport close", async (_n, transports, finalTransport) => {
    const s = await open(fx.url, transports);
    // On the transport the session ends up on. A close that lands while the client is still
    // probing aborts the probe; engine.io-client may then only notice by its ping timeout.
    if (finalTransport !== s.transport.name) await once(s, "upgrade");
    const reason = once<string>(s, "close");
    s.send("close me");
    expect(await reason).toBe("transport close");
  });

  itWhen(runtime.capabilities.remoteAddress)("the peer address reaches the session", async () => {
    const s = await open(fx.url, ["websocket"]);
    s.send("address");
    expect(await nextMessage(s)).toMatch(/^(::ffff:)?127\.0\.0\.1$/);
    s.close();
  });

  // (On a WebSocket-only session the reference lets a second WebSocket start an upgrade, Q-3.)
  it.each(modes.slice(2))(
    "%s: a second WebSocket with the session's sid is opened, then closed; the session carries on",
    async (_n, transports) => {
      const s = await open(fx.url, transports);
      if (s.transport.name !== "websocket") await once(s, "upgrade");
      // As engine.io: the handshake completes (a Node ws client would throw on an HTTP error), then a close.
      const extra = new WebSocket(`ws://127.0.0.1:${fx.port}/engine.io/?EIO=4&transport=websocket&sid=${s.id}`);
      const outcome = within(new Promise<string>((done) => {
        let opened = false;
        extra.once("open", () => (opened = true));
        extra.once("unexpected-response", (_req, res) => done(`HTTP ${res.statusCode}`));
        extra.once("error", (err) => done(`error ${err.message}`));
        extra.once("close", () => done(opened ? "opened, then closed" : "closed"));
      }), { what: "the second WebSocket's outcome" });
      expect(await outcome).toBe("opened, then closed");
      s.send("unharmed");
      expect(await nextMessage(s)).toBe("unharmed");
      s.close();
    },
  );

  // engine.io answers such a GET with the close packet `1` (status 200) instead.
  itWhen(runtime.name !== "reference")(
    "a GET still held when UPGRADE arrives is refused with 400, like one that comes after it; the WebSocket carries on",
    async () => {
      // socket.io's protocol suites send UPGRADE on the WebSocket, then a GET on a new
      // connection, and expect 400; a runtime may deliver the two in either order. Here the
      // GET comes first on purpose. The 100 ms upgrade check may release it with a noop before
      // UPGRADE lands on a busy machine: that is engine.io's answer too, so try again then.
      const outcomes: string[] = [];
      for (let attempt = 0; attempt < 5 && !outcomes.includes("400"); attempt++) {
        const open = await fetch(`${fx.url}/engine.io/?EIO=4&transport=polling`);
        const sid = (JSON.parse((await open.text()).slice(1)) as { sid: string }).sid;
        const ws = new WebSocket(`ws://127.0.0.1:${fx.port}/engine.io/?EIO=4&transport=websocket&sid=${sid}`);
        await once(ws, "open");
        const frames: string[] = [];
        ws.on("message", (d) => frames.push(d.toString()));
        ws.send("2probe");
        await waitFor(() => frames.includes("3probe"), { what: "3probe" });
        const held = fetch(`${fx.url}/engine.io/?EIO=4&transport=polling&sid=${sid}`);
        // Pacing, not a wait for an outcome: the GET is on its way before UPGRADE is sent.
        await sleep(20);
        ws.send("5");
        const res = await within(held, { what: "the held GET's answer" });
        const body = await res.text();
        if (res.status === 200) {
          expect(body, "released before UPGRADE: a noop, as engine.io's upgrade check").toBe("6");
          outcomes.push("6");
        } else {
          expect([res.status, JSON.parse(body)]).toEqual([400, { code: 3, message: "Bad request" }]);
          outcomes.push("400");
        }
        // Either way the session lives on over the WebSocket, and polling is over for it.
        ws.send("4after");
        await waitFor(() => frames.includes("4after"), { what: "the echo over the WebSocket" });
        expect((await fetch(`${fx.url}/engine.io/?EIO=4&transport=polling&sid=${sid}`)).status).toBe(400);
        ws.close();
      }
      expect(outcomes).toContain("400");
    },
  );

  it("a keep-alive client that asks for Connection: close can send its next request at once", async () => {
    // node-fetch sends `Connection: close`; Node's keep-alive agent keeps the socket unless the
    // response says close too, so a server that closes without saying so breaks the next request.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const handshake = (headers: Record<string, string>) =>
      new Promise<{ status?: number; connection?: string }>((resolve, reject) => {
        const req = httpGet(`${fx.url}/engine.io/?EIO=4&transport=polling`, { agent, headers }, (res) => {
          res.resume();
          res.on("end", () => resolve({ status: res.statusCode, connection: res.headers.connection }));
        });
        req.on("error", reject);
      });
    try {
      for (let i = 0; i < 5; i++) {
        // The server may close after it (saying so) or keep the connection open; either way
        // the next request on the same agent must get through.
        expect((await handshake({ connection: "close" })).status).toBe(200);
        expect((await handshake({})).status).toBe(200);
      }
    } finally {
      agent.destroy();
    }
  });

  describe("error replies", () => {
    const cases: Array<[string, string, string, number, number, string]> = [
      ["missing transport", "GET", "EIO=4", 400, 0, "Transport unknown"],
      ["unknown transport", "GET", "EIO=4&transport=tcp", 400, 0, "Transport unknown"],
      ["__proto__ transport", "GET", "EIO=4&transport=__proto__", 400, 0, "Transport unknown"],
      ["constructor transport", "GET", "EIO=4&transport=constructor", 400, 0, "Transport unknown"],
      ["unknown sid", "GET", "EIO=4&transport=polling&sid=nope", 400, 1, "Session ID unknown"],
      ["__proto__ sid", "GET", "EIO=4&transport=polling&sid=__proto__", 400, 1, "Session ID unknown"],
      ["POST handshake", "POST", "EIO=4&transport=polling", 400, 2, "Bad handshake method"],
      ["websocket without upgrade", "GET", "EIO=4&transport=websocket", 400, 3, "Bad request"],
      ["EIO 3", "GET", "EIO=3&transport=polling", 400, 5, "Unsupported protocol version"],
      ["EIO missing", "GET", "transport=polling", 400, 5, "Unsupported protocol version"],
    ];
    it.each(cases)("%s", async (_name, method, query, status, code, message) => {
      const res = await fetch(`${fx.url}/engine.io/?${query}`, { method });
      expect(res.status).toBe(status);
      expect(res.headers.get("content-type")).toBe("application/json");
      expect(await res.json()).toEqual({ code, message });
    });

    it("a POST body over maxHttpBufferSize gets 413 and other sessions carry on", async () => {
      const other = await open(fx.url, ["polling"]);
      const hs = await fetch(`${fx.url}/engine.io/?EIO=4&transport=polling`);
      const sid = JSON.parse((await hs.text()).slice(1)).sid;
      const res = await fetch(`${fx.url}/engine.io/?EIO=4&transport=polling&sid=${sid}`, {
        method: "POST",
        body: "4" + "x".repeat(200_000),
      });
      expect(res.status).toBe(413);
      other.send("ok?");
      expect(await nextMessage(other)).toBe("ok?");
      other.close();
    });

    it("an oversized WebSocket frame closes that connection only", async () => {
      const other = await open(fx.url, ["websocket"]);
      const ws = new WebSocket(`ws://127.0.0.1:${fx.port}/engine.io/?EIO=4&transport=websocket`);
      await once(ws, "message");
      const closed = once<number>(ws, "close");
      ws.send("4" + "x".repeat(200_000));
      expect(await closed).toBe(1009);
      other.send("fine");
      expect(await nextMessage(other)).toBe("fine");
      other.close();
    });
  });
});
