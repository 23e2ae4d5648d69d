/**
 * Engine.IO v3 on the wire (`allowEIO3`): the cases of the protocol's own
 * v3 test suite (docs/engine.io-protocol/v3-test-suite), restated here with
 * raw `fetch` and `ws` against an echo Engine on the Node shim, configured as
 * that suite expects (pingInterval 300, pingTimeout 200), plus what it does
 * not cover: binary POSTs, `b64` WebSockets, and the refusals.
 */
import { afterEach, describe, expect, it } from "vitest";
import { Engine, type EngineOptions, type EngineSocket } from "../../src/index.ts";
import { type Running, startNode, WsClient } from "../helpers/node.ts";
import { once, sleep, waitFor } from "../helpers/wait.ts";

const PING_INTERVAL = 300;
const PING_TIMEOUT = 200;

const running: Running[] = [];
const clients: WsClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const r of running.splice(0)) await r.close();
});

async function start(opts: EngineOptions = {}) {
  const engine = new Engine({ pingInterval: PING_INTERVAL, pingTimeout: PING_TIMEOUT, allowEIO3: true, ...opts });
  const sockets: EngineSocket[] = [];
  engine.on("connection", (socket) => {
    sockets.push(socket);
    socket.on("message", (data) => socket.send(data));
  });
  const srv = await startNode(engine);
  running.push(srv);
  return {
    engine,
    sockets,
    url: (query: string) => `${srv.url}/engine.io/?${query}`,
    wsUrl: (query: string) => `${srv.wsUrl}/engine.io/?${query}`,
  };
}

type Server = Awaited<ReturnType<typeof start>>;

function ws(url: string): WsClient {
  const c = new WsClient(url);
  clients.push(c);
  return c;
}

/** Resolves once the server holds a polling GET of the session (its transport is writable). */
const whenHeld = (srv: Server) => waitFor(() => srv.sockets[0]?.transport.writable, { what: "the held GET" });
/** Resolves once the server finished the upgrade (the client's "5" was read). */
const whenUpgraded = (srv: Server) => waitFor(() => srv.sockets[0]?.transport.name === "websocket", { what: "the upgrade" });

/** Splits `<length>:<packet>` (one packet). */
function single(payload: string): [string, string] {
  const colon = payload.indexOf(":");
  return [payload.slice(0, colon), payload.slice(colon + 1)];
}

/** A polling handshake; `b64` unless the client reads binary payloads. */
async function openPolling(srv: Server, supportsBinary = false): Promise<string> {
  const res = await fetch(srv.url("EIO=3&transport=polling" + (supportsBinary ? "" : "&b64=1")));
  const [, content] = single(await res.text());
  return JSON.parse(content.slice(1)).sid;
}

const poll = (srv: Server, sid: string) => fetch(srv.url(`EIO=3&transport=polling&sid=${sid}`));
const push = (srv: Server, sid: string, body: string | Uint8Array, headers: Record<string, string> = {}) =>
  fetch(srv.url(`EIO=3&transport=polling&sid=${sid}`), { method: "POST", body: body as BodyInit, headers });

describe("handshake", () => {
  it("opens a polling session: one length-prefixed open packet, the v3 fields only", async () => {
    const srv = await start();
    const res = await fetch(srv.url("EIO=3&transport=polling"));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/plain; charset=UTF-8");
    const [length, content] = single(await res.text());
    expect(length).toBe(String(content.length));
    expect(content[0]).toBe("0");
    const open = JSON.parse(content.slice(1));
    expect(Object.keys(open)).toEqual(["sid", "upgrades", "pingInterval", "pingTimeout"]);
    expect(open).toMatchObject({ upgrades: ["websocket"], pingInterval: PING_INTERVAL, pingTimeout: PING_TIMEOUT });
    expect(typeof open.sid).toBe("string");
  });

  it("refuses a missing or unknown transport, and a POST handshake", async () => {
    const srv = await start();
    for (const q of ["EIO=3", "EIO=3&transport=abc"]) {
      const res = await fetch(srv.url(q));
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({ code: 0, message: "Transport unknown" });
    }
    const post = await fetch(srv.url("EIO=3&transport=polling"), { method: "POST" });
    expect(post.status).toBe(400);
    expect(await post.json()).toEqual({ code: 2, message: "Bad handshake method" });
  });

  it("opens a WebSocket session: the open packet is the first frame, with no upgrades", async () => {
    const srv = await start();
    const c = ws(srv.wsUrl("EIO=3&transport=websocket"));
    const first = String(await c.next());
    expect(first[0]).toBe("0");
    const open = JSON.parse(first.slice(1));
    expect(open).toMatchObject({ upgrades: [], pingInterval: PING_INTERVAL, pingTimeout: PING_TIMEOUT });
    expect(open.maxPayload).toBeUndefined();
  });

  it("refuses a WebSocket with a missing or garbled EIO, or a bad transport", async () => {
    const srv = await start();
    for (const q of ["transport=websocket", "EIO=abc&transport=websocket", "EIO=3", "EIO=3&transport=abc"]) {
      const c = ws(srv.wsUrl(q));
      await expect(c.opened).rejects.toThrow(/unexpected response 400/);
    }
  });

  it("without allowEIO3, EIO=3 gets code 5 on both transports", async () => {
    const srv = await start({ allowEIO3: false });
    const res = await fetch(srv.url("EIO=3&transport=polling"));
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ code: 5, message: "Unsupported protocol version" });
    await expect(ws(srv.wsUrl("EIO=3&transport=websocket")).opened).rejects.toThrow(/unexpected response 400/);
  });

  it("with allowEIO3, only EIO=3 is v3: a missing EIO or EIO=5 still gets code 5", async () => {
    const srv = await start();
    for (const q of ["transport=polling", "EIO=5&transport=polling", "EIO=abc&transport=polling"]) {
      const res = await fetch(srv.url(q));
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({ code: 5, message: "Unsupported protocol version" });
    }
  });

});

describe("messages over polling", () => {
  it("echoes one text packet", async () => {
    const srv = await start();
    const sid = await openPolling(srv);
    const res = await push(srv, sid, "6:4hello");
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("ok");
    expect(await (await poll(srv, sid)).text()).toBe("6:4hello");
  });

  it("echoes several text packets in one payload", async () => {
    const srv = await start();
    const sid = await openPolling(srv);
    expect(await (await push(srv, sid, "6:4test16:4test26:4test3")).text()).toBe("ok");
    expect(await (await poll(srv, sid)).text()).toBe("6:4test16:4test26:4test3");
  });

  it("counts characters, not bytes", async () => {
    const srv = await start();
    const sid = await openPolling(srv);
    await push(srv, sid, "2:4€3:4😀");
    expect(await (await poll(srv, sid)).text()).toBe("2:4€3:4😀");
  });

  it("echoes text and base64 binary to a b64 client as text", async () => {
    const srv = await start();
    const sid = await openPolling(srv);
    await push(srv, sid, "6:4hello10:b4AQIDBA==");
    const res = await poll(srv, sid);
    expect(res.headers.get("content-type")).toBe("text/plain; charset=UTF-8");
    expect(await res.text()).toBe("6:4hello10:b4AQIDBA==");
  });

  it("echoes text and binary to an XHR2 client as a binary payload", async () => {
    const srv = await start();
    const sid = await openPolling(srv, true);
    await push(srv, sid, "6:4hello10:b4AQIDBA==");
    const res = await poll(srv, sid);
    expect(res.headers.get("content-type")).toBe("application/octet-stream");
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(
      Uint8Array.from([0, 6, 255, 52, 104, 101, 108, 108, 111, 1, 5, 255, 4, 1, 2, 3, 4]),
    );
  });

  it("accepts a binary payload POSTed as application/octet-stream", async () => {
    const srv = await start();
    const sid = await openPolling(srv);
    const body = Uint8Array.from([0, 6, 255, 52, 104, 101, 108, 108, 111, 1, 5, 255, 4, 1, 2, 3, 4]);
    const res = await push(srv, sid, body, { "content-type": "application/octet-stream" });
    expect(res.status).toBe(200);
    expect(await (await poll(srv, sid)).text()).toBe("6:4hello10:b4AQIDBA==");
  });

  it("closes the session on a malformed payload; the next request gets code 1", async () => {
    const srv = await start();
    const sid = await openPolling(srv);
    await push(srv, sid, "abc");
    const next = await poll(srv, sid);
    expect(next.status).toBe(400);
    expect(await next.json()).toEqual({ code: 1, message: "Session ID unknown" });
  });

  it("answers a second concurrent GET with 400 and the held one with the close packet", async () => {
    const srv = await start();
    const sid = await openPolling(srv);
    const first = poll(srv, sid);
    await whenHeld(srv);
    const second = await fetch(srv.url(`EIO=3&transport=polling&sid=${sid}&t=burst`));
    expect(second.status).toBe(400);
    const held = await first;
    expect(held.status).toBe(200);
    expect(await held.text()).toBe("1:1");
    expect((await poll(srv, sid)).status).toBe(400);
  });

  it("413s a body over maxHttpBufferSize, binary or text, and the session lives on", async () => {
    const srv = await start({ maxHttpBufferSize: 100 });
    const sid = await openPolling(srv);
    expect((await push(srv, sid, `101:4${"x".repeat(100)}`)).status).toBe(413);
    const big = new Uint8Array(200);
    expect((await push(srv, sid, big, { "content-type": "application/octet-stream" })).status).toBe(413);
    expect(await (await push(srv, sid, "3:4ok")).text()).toBe("ok");
    expect(await (await poll(srv, sid)).text()).toBe("3:4ok");
  });
});

describe("JSONP polling (j=<n>)", () => {
  /** The string a `___eio[<n>]("...");` script hands its callback, and the index. */
  function script(body: string): { index: string; payload: string } {
    const m = /^___eio\[(\d*)\]\(("(?:[^"\\]|\\.)*")\);$/s.exec(body);
    if (!m) throw new Error(`not a JSONP script: ${body}`);
    return { index: m[1]!, payload: JSON.parse(m[2]!) };
  }

  async function openJsonp(srv: Server, j = "0"): Promise<{ sid: string; open: Record<string, unknown>; type: string | null }> {
    const res = await fetch(srv.url(`EIO=3&transport=polling&j=${encodeURIComponent(j)}&b64=1`));
    const { payload } = script(await res.text());
    const [length, content] = single(payload);
    expect(length).toBe(String(content.length));
    const open = JSON.parse(content.slice(1));
    return { sid: open.sid, open, type: res.headers.get("content-type") };
  }

  const form = (srv: Server, sid: string, body: string, j = "0") =>
    fetch(srv.url(`EIO=3&transport=polling&j=${j}&sid=${sid}`), {
      method: "POST",
      body,
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
  const pollJsonp = async (srv: Server, sid: string, j = "0") => (await fetch(srv.url(`EIO=3&transport=polling&j=${j}&sid=${sid}`))).text();

  it("answers the handshake with a script calling ___eio[n] with the payload", async () => {
    const srv = await start();
    const { open, type } = await openJsonp(srv);
    expect(type).toBe("text/javascript; charset=UTF-8");
    expect(open).toMatchObject({ upgrades: ["websocket"], pingInterval: PING_INTERVAL });
  });

  it("reads form POSTs (d=<payload>) and answers in scripts", async () => {
    const srv = await start();
    const { sid } = await openJsonp(srv);
    const res = await form(srv, sid, `d=${encodeURIComponent("6:4hello1:2")}`);
    expect(await res.text()).toBe("ok");
    expect(script(await pollJsonp(srv, sid))).toEqual({ index: "0", payload: "6:4hello1:3" });
  });

  it("undoes the client's newline escaping: \\n is a newline, \\\\n a backslash and n", async () => {
    const srv = await start();
    const { sid } = await openJsonp(srv);
    // Messages "a<newline>b" and "a\\nb" as the client escapes them.
    await form(srv, sid, `d=${encodeURIComponent("4:4a\\nb5:4a\\\\nb")}`);
    expect(script(await pollJsonp(srv, sid)).payload).toBe("4:4a\nb5:4a\\nb");
  });

  it("sends binary as b4<base64> and escapes U+2028/U+2029 in the script", async () => {
    const srv = await start();
    const { sid } = await openJsonp(srv);
    await form(srv, sid, `d=${encodeURIComponent("10:b4AQIDBA==3:4\u2028\u2029")}`);
    const body = await pollJsonp(srv, sid);
    expect(body).not.toMatch(/[\u2028\u2029]/);
    expect(script(body).payload).toBe("10:b4AQIDBA==3:4\u2028\u2029");
  });

  it("keeps only the digits of j in the script", async () => {
    const srv = await start();
    const res = await fetch(srv.url(`EIO=3&transport=polling&j=${encodeURIComponent('1);alert("x")//')}`));
    expect(await res.text()).toMatch(/^___eio\[1\]\("/);
  });

  it("a form without d carries nothing; a malformed d closes the session", async () => {
    const srv = await start();
    const { sid } = await openJsonp(srv);
    expect(await (await form(srv, sid, "x=1")).text()).toBe("ok");
    expect(await (await form(srv, sid, "d=abc")).text()).toBe("ok");
    expect((await fetch(srv.url(`EIO=3&transport=polling&j=0&sid=${sid}`))).status).toBe(400);
  });

  it("is not offered to v4 clients: j is ignored there, as before", async () => {
    const srv = await start();
    const res = await fetch(srv.url("EIO=4&transport=polling&j=0"));
    expect(await res.text()).toMatch(/^0\{"sid":/);
  });
});

describe("messages over WebSocket", () => {
  it("echoes a text frame", async () => {
    const srv = await start();
    const c = ws(srv.wsUrl("EIO=3&transport=websocket"));
    await c.next();
    c.send("4hello");
    expect(await c.next()).toBe("4hello");
  });

  it("echoes a binary frame with its leading type byte", async () => {
    const srv = await start();
    const c = ws(srv.wsUrl("EIO=3&transport=websocket"));
    await c.next();
    c.send(Uint8Array.from([4, 1, 2, 3, 4]));
    expect(new Uint8Array((await c.next()) as Buffer)).toEqual(Uint8Array.from([4, 1, 2, 3, 4]));
  });

  it("sends binary as b4<base64> text to a b64 WebSocket", async () => {
    const srv = await start();
    const c = ws(srv.wsUrl("EIO=3&transport=websocket&b64=1"));
    await c.next();
    c.send(Uint8Array.from([4, 1, 2, 3, 4]));
    expect(await c.next()).toBe("b4AQIDBA==");
    c.send("b4BQY=");
    expect(await c.next()).toBe("b4BQY=");
  });

  it("closes on a malformed frame", async () => {
    const srv = await start();
    const c = ws(srv.wsUrl("EIO=3&transport=websocket"));
    await c.next();
    c.send("abc");
    await c.closed;
  });
});

describe("heartbeat: the client pings", () => {
  it("answers each polling ping with a pong", async () => {
    const srv = await start();
    const sid = await openPolling(srv);
    for (let i = 0; i < 3; i++) {
      expect((await push(srv, sid, "1:2")).status).toBe(200);
      expect(await (await poll(srv, sid)).text()).toBe("1:3");
    }
  });

  it("closes a polling session whose client does not ping within pingInterval + pingTimeout", async () => {
    const srv = await start();
    const sid = await openPolling(srv);
    const t0 = Date.now();
    expect(await once(srv.sockets[0]!, "close")).toBe("ping timeout");
    expect(Date.now() - t0).toBeGreaterThanOrEqual(PING_INTERVAL + PING_TIMEOUT - 50);
    expect((await push(srv, sid, "1:2")).status).toBe(400);
  });

  it("answers each WebSocket ping with a pong, and sends no ping of its own", async () => {
    const srv = await start();
    const c = ws(srv.wsUrl("EIO=3&transport=websocket"));
    await c.next();
    for (let i = 0; i < 3; i++) {
      c.send("2");
      expect(await c.next()).toBe("3");
      // Asserting silence: three of these span more than pingInterval, and no ping of the server's came (next() would read it).
      await sleep(PING_INTERVAL / 2);
    }
  });

  it("closes a silent WebSocket client", async () => {
    const srv = await start();
    const c = ws(srv.wsUrl("EIO=3&transport=websocket"));
    await c.next();
    const t0 = Date.now();
    await c.closed;
    expect(Date.now() - t0).toBeGreaterThanOrEqual(PING_INTERVAL + PING_TIMEOUT - 50);
  });
});

describe("close", () => {
  it("a polling close packet ends the session: the held GET gets a noop", async () => {
    const srv = await start();
    const sid = await openPolling(srv);
    const [get] = await Promise.all([poll(srv, sid), whenHeld(srv).then(() => push(srv, sid, "1:1"))]);
    expect(get.status).toBe(200);
    expect(await get.text()).toBe("1:6");
    expect((await poll(srv, sid)).status).toBe(400);
  });

  it("a WebSocket close packet ends the session", async () => {
    const srv = await start();
    const c = ws(srv.wsUrl("EIO=3&transport=websocket"));
    await c.next();
    c.send("1");
    await c.closed;
  });
});

describe("upgrade", () => {
  it("upgrades from polling to WebSocket: 3probe, the held GET released with 1:6, then frames on the WebSocket", async () => {
    const srv = await start();
    const sid = await openPolling(srv);
    const c = ws(srv.wsUrl(`EIO=3&transport=websocket&sid=${sid}`));
    await c.opened;
    c.send("2probe");
    expect(await c.next()).toBe("3probe");
    const released = await poll(srv, sid);
    expect(released.status).toBe(200);
    expect(await released.text()).toBe("1:6");
    c.send("5");
    c.send("4hello");
    expect(await c.next()).toBe("4hello");
  });

  it("refuses polling requests with the sid after the upgrade", async () => {
    const srv = await start();
    const sid = await openPolling(srv);
    const c = ws(srv.wsUrl(`EIO=3&transport=websocket&sid=${sid}`));
    await c.opened;
    c.send("2probe");
    expect(await c.next()).toBe("3probe");
    c.send("5");
    await whenUpgraded(srv);
    expect((await poll(srv, sid)).status).toBe(400);
    c.send("4hello");
    expect(await c.next()).toBe("4hello");
  });

  it("ignores a second WebSocket with the sid after the upgrade: it opens, then is closed", async () => {
    const srv = await start();
    const sid = await openPolling(srv);
    const c = ws(srv.wsUrl(`EIO=3&transport=websocket&sid=${sid}`));
    await c.opened;
    c.send("2probe");
    expect(await c.next()).toBe("3probe");
    c.send("5");
    await whenUpgraded(srv);
    const second = ws(srv.wsUrl(`EIO=3&transport=websocket&sid=${sid}`));
    // As engine.io (and the v3 suite): the handshake completes and the socket is closed unused.
    await second.opened;
    await second.closed;
    c.send(Uint8Array.from([4, 9]));
    expect(new Uint8Array((await c.next()) as Buffer)).toEqual(Uint8Array.from([4, 9]));
  });

  it("flushes what was queued during the upgrade over the WebSocket, binary with its type byte", async () => {
    const srv = await start();
    const sid = await openPolling(srv, true);
    const c = ws(srv.wsUrl(`EIO=3&transport=websocket&sid=${sid}`));
    await c.opened;
    c.send("2probe");
    expect(await c.next()).toBe("3probe");
    expect(await (await poll(srv, sid)).text()).toBe("1:6");
    // Echoed while the client has paused polling: queued, then written on the WebSocket after "5".
    // The POST is answered once its packets were read: both echoes are queued now.
    await push(srv, sid, "7:4queued6:b4AQ==");
    c.send("5");
    expect(await c.next()).toBe("4queued");
    expect(new Uint8Array((await c.next()) as Buffer)).toEqual(Uint8Array.from([4, 1]));
  });
});
