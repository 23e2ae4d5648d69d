/**
 * Wire-level checks on Node with `fetch`, raw `ws` and raw TCP: every error
 * reply, status codes, headers, CORS and cookies, as a client sees them.
 */
import { afterEach, describe, expect, it } from "vitest";
import { Engine, type EngineOptions, type EngineSocket } from "../../src/index.ts";
import {
  rawHttp,
  rawRequest,
  refusedUpgrade,
  type Running,
  startAttached,
  startNode,
  WsClient,
} from "../helpers/node.ts";
import { once, waitFor } from "../helpers/wait.ts";

const running: Running[] = [];
const clients: WsClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const r of running.splice(0)) await r.close();
});

async function start(opts: EngineOptions = {}) {
  const engine = new Engine(opts);
  const sockets: EngineSocket[] = [];
  engine.on("connection", (s) => sockets.push(s));
  const srv = await startNode(engine);
  running.push(srv);
  const url = (query: string) => `${srv.url}/engine.io/?${query}`;
  return { engine, srv, sockets, url };
}

function ws(url: string): WsClient {
  const c = new WsClient(url);
  clients.push(c);
  return c;
}

async function expectJsonError(res: Response, status: number, body: { code: number; message: string }) {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toBe("application/json");
  expect(await res.json()).toEqual(body);
}

async function pollingHandshake(url: (q: string) => string, init: RequestInit = {}) {
  const res = await fetch(url("EIO=4&transport=polling"), init);
  const text = await res.text();
  expect(res.status).toBe(200);
  expect(text[0]).toBe("0");
  const sid = JSON.parse(text.slice(1).split("\x1e")[0]!).sid as string;
  return { res, text, sid };
}

const TRANSPORT_UNKNOWN = { code: 0, message: "Transport unknown" };
const SID_UNKNOWN = { code: 1, message: "Session ID unknown" };
const BAD_METHOD = { code: 2, message: "Bad handshake method" };
const BAD_REQUEST = { code: 3, message: "Bad request" };
const BAD_VERSION = { code: 5, message: "Unsupported protocol version" };

describe("error replies", () => {
  it.each([
    ["missing", "EIO=4"],
    ["unknown", "EIO=4&transport=carrier-pigeon"],
    ["__proto__", "EIO=4&transport=__proto__"],
    ["constructor", "EIO=4&transport=constructor"],
    ["hasOwnProperty", "EIO=4&transport=hasOwnProperty"],
    ["webtransport", "EIO=4&transport=webtransport"],
  ])("code 0 Transport unknown: %s transport", async (_label, query) => {
    const { url, engine } = await start();
    await expectJsonError(await fetch(url(query)), 400, TRANSPORT_UNKNOWN);
    expect(engine.clientsCount).toBe(0);
  });

  it("code 0 for a transport the server disabled", async () => {
    const { url } = await start({ transports: ["websocket"] });
    await expectJsonError(await fetch(url("EIO=4&transport=polling")), 400, TRANSPORT_UNKNOWN);
  });

  it.each(["abc", "__proto__", "constructor", "toString"])("code 1 Session ID unknown: sid %s (GET and POST)", async (sid) => {
    const { url } = await start();
    await expectJsonError(await fetch(url(`EIO=4&transport=polling&sid=${sid}`)), 400, SID_UNKNOWN);
    await expectJsonError(
      await fetch(url(`EIO=4&transport=polling&sid=${sid}`), { method: "POST", body: "4hi" }),
      400,
      SID_UNKNOWN,
    );
  });

  it.each(["POST", "PUT", "DELETE", "OPTIONS"])("code 2 Bad handshake method: %s without sid", async (method) => {
    const { url, engine } = await start();
    await expectJsonError(
      await fetch(url("EIO=4&transport=polling"), { method, body: method === "POST" || method === "PUT" ? "x" : undefined }),
      400,
      BAD_METHOD,
    );
    expect(engine.clientsCount).toBe(0);
  });

  it("code 3 Bad request: transport=websocket on a plain GET", async () => {
    const { url, engine } = await start();
    await expectJsonError(await fetch(url("EIO=4&transport=websocket")), 400, BAD_REQUEST);
    expect(engine.clientsCount).toBe(0);
  });

  it.each([
    ["DEL", "\x7f"],
    ["SOH", "\x01"],
    ["NUL", "\x00"],
  ])("code 3 Bad request: Origin with an invalid header char (%s)", async (_label, char) => {
    // Node's strict parser already drops such requests; a server with the lenient
    // parser lets them through, and then the engine must refuse them itself.
    const engine = new Engine();
    const srv = await startAttached(engine, undefined, { insecureHTTPParser: true });
    running.push(srv);
    const bad = await rawHttp(
      srv.port,
      `GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nOrigin: http://a${char}b\r\nConnection: close\r\n\r\n`,
    );
    expect(bad.split("\r\n")[0]).toBe("HTTP/1.1 400 Bad Request");
    expect(bad).toMatch(/content-type: application\/json/i);
    expect(bad.slice(bad.indexOf("\r\n\r\n") + 4)).toBe(JSON.stringify(BAD_REQUEST));
    expect(engine.clientsCount).toBe(0);
    // obs-text (0x80-0xff) is allowed.
    const ok = await rawHttp(
      srv.port,
      `GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nOrigin: http://caf\xe9\r\nConnection: close\r\n\r\n`,
    );
    expect(ok.split("\r\n")[0]).toBe("HTTP/1.1 200 OK");
  });

  it("code 3 Bad request: polling on a session that upgraded to websocket (transport mismatch)", async () => {
    const { url, srv, sockets } = await start();
    const { sid } = await pollingHandshake(url);
    const c = ws(`${srv.wsUrl}/engine.io/?EIO=4&transport=websocket&sid=${sid}`);
    await c.opened;
    c.send("2probe");
    expect(await c.next()).toBe("3probe");
    c.send("5");
    await waitFor(() => sockets[0]!.transport.name === "websocket", { what: "upgrade" });
    await expectJsonError(await fetch(url(`EIO=4&transport=polling&sid=${sid}`)), 400, BAD_REQUEST);
    await expectJsonError(
      await fetch(url(`EIO=4&transport=polling&sid=${sid}`), { method: "POST", body: "4x" }),
      400,
      BAD_REQUEST,
    );
    expect(sockets[0]!.readyState).toBe("open");
  });

  it("code 4 Forbidden (403) when allowRequest refuses without a message", async () => {
    const { url, engine } = await start({ allowRequest: (_req, cb) => cb(null, false) });
    await expectJsonError(await fetch(url("EIO=4&transport=polling")), 403, { code: 4, message: "Forbidden" });
    expect(engine.clientsCount).toBe(0);
  });

  it("code 4 carries the allowRequest message, and allowRequest sees the request", async () => {
    const seen: string[] = [];
    const { url } = await start({
      allowRequest: (req, cb) => {
        seen.push(req.headers["x-token"] ?? "");
        cb(req.headers["x-token"] === "good" ? null : "bad token", req.headers["x-token"] === "good");
      },
    });
    await expectJsonError(await fetch(url("EIO=4&transport=polling"), { headers: { "x-token": "nope" } }), 403, {
      code: 4,
      message: "bad token",
    });
    await pollingHandshake(url, { headers: { "x-token": "good" } });
    expect(seen).toEqual(["nope", "good"]);
  });

  it("allowRequest runs only for handshakes", async () => {
    let calls = 0;
    const { url } = await start({
      allowRequest: (_req, cb) => {
        calls++;
        cb(null, calls === 1);
      },
    });
    const { sid } = await pollingHandshake(url);
    const res = await fetch(url(`EIO=4&transport=polling&sid=${sid}`), { method: "POST", body: "4x" });
    expect(res.status).toBe(200);
    expect(calls).toBe(1);
  });

  it.each([
    ["missing", "transport=polling"],
    ["3", "EIO=3&transport=polling"],
    ["5", "EIO=5&transport=polling"],
    ["abc", "EIO=abc&transport=polling"],
    ["4.0", "EIO=4.0&transport=polling"],
  ])("code 5 Unsupported protocol version: EIO %s", async (_label, query) => {
    const { url, engine } = await start();
    await expectJsonError(await fetch(url(query)), 400, BAD_VERSION);
    expect(engine.clientsCount).toBe(0);
  });

  it("checks in the reference's order: transport before sid before version", async () => {
    const { url } = await start();
    await expectJsonError(await fetch(url("EIO=9&transport=nope&sid=nope")), 400, TRANSPORT_UNKNOWN);
    await expectJsonError(await fetch(url("EIO=9&transport=polling&sid=nope")), 400, SID_UNKNOWN);
    await expectJsonError(await fetch(url("EIO=9&transport=polling"), { method: "POST" }), 400, BAD_METHOD);
  });
});

describe("polling status replies", () => {
  it("413 for a POST over maxHttpBufferSize with Content-Length", async () => {
    const { url, sockets } = await start({ maxHttpBufferSize: 1000 });
    const { sid } = await pollingHandshake(url);
    const got: unknown[] = [];
    sockets[0]!.on("message", (m) => got.push(m));
    const res = await fetch(url(`EIO=4&transport=polling&sid=${sid}`), { method: "POST", body: "4" + "x".repeat(2000) });
    expect(res.status).toBe(413);
    await res.text();
    expect(got).toEqual([]);
    // Exactly at the limit is fine.
    const ok = await fetch(url(`EIO=4&transport=polling&sid=${sid}`), { method: "POST", body: "4" + "y".repeat(999) });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe("ok");
    expect(got).toEqual(["y".repeat(999)]);
  });

  it("413 for a chunked POST over maxHttpBufferSize without Content-Length", async () => {
    const { url, sockets } = await start({ maxHttpBufferSize: 1000 });
    const { sid } = await pollingHandshake(url);
    const got: unknown[] = [];
    sockets[0]!.on("message", (m) => got.push(m));
    const res = await rawRequest(url(`EIO=4&transport=polling&sid=${sid}`), {
      method: "POST",
      headers: { "content-type": "text/plain;charset=UTF-8" },
      chunks: ["4", ...Array.from({ length: 10 }, () => "z".repeat(300))],
    });
    expect(res.headers["content-length"]).toBeDefined();
    expect(res.status).toBe(413);
    expect(got).toEqual([]);
  });

  it("counts UTF-8 bytes, not characters, against maxHttpBufferSize", async () => {
    const { url } = await start({ maxHttpBufferSize: 100 });
    const { sid } = await pollingHandshake(url);
    const res = await fetch(url(`EIO=4&transport=polling&sid=${sid}`), { method: "POST", body: "4" + "€".repeat(40) });
    expect(res.status).toBe(413); // 121 bytes in 41 characters
  });

  it("400 for an application/octet-stream POST; the response is complete and the session is closed", async () => {
    const { url, sockets } = await start();
    const { sid } = await pollingHandshake(url);
    const reasons: string[] = [];
    sockets[0]!.on("close", (r) => reasons.push(r));
    const res = await fetch(url(`EIO=4&transport=polling&sid=${sid}`), {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body: new Uint8Array([4, 1, 2, 3]),
    });
    expect(res.status).toBe(400);
    expect(await res.text()).toBe(""); // ended, not left hanging
    expect(reasons).toEqual(["transport error"]);
    await expectJsonError(await fetch(url(`EIO=4&transport=polling&sid=${sid}`)), 400, SID_UNKNOWN);
  });

  it("500 for PUT on a session, which stays open", async () => {
    const { url, sockets } = await start();
    const { sid } = await pollingHandshake(url);
    const res = await fetch(url(`EIO=4&transport=polling&sid=${sid}`), { method: "PUT", body: "4x" });
    expect(res.status).toBe(500);
    await res.text();
    expect(sockets[0]!.readyState).toBe("open");
  });

  it("400 for an overlapping GET; the pending GET gets `1`", async () => {
    const { url, sockets } = await start();
    const { sid } = await pollingHandshake(url);
    const first = fetch(url(`EIO=4&transport=polling&sid=${sid}`));
    await waitFor(() => sockets[0]!.transport.writable, { what: "the first GET to be held" });
    const second = await fetch(url(`EIO=4&transport=polling&sid=${sid}`));
    expect(second.status).toBe(400);
    await second.text();
    const held = await first;
    expect(held.status).toBe(200);
    expect(await held.text()).toBe("1");
  });

  it("polling responses carry cache-control: no-store, the exact Content-Length and text/plain", async () => {
    const { url, sockets } = await start();
    const { res, sid } = await pollingHandshake(url);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(res.headers.get("content-type")).toBe("text/plain; charset=UTF-8");
    const pending = fetch(url(`EIO=4&transport=polling&sid=${sid}`));
    await waitFor(() => sockets[0]!.transport.writable, { what: "held GET" });
    sockets[0]!.send("é€😀");
    const got = await pending;
    expect(got.headers.get("cache-control")).toBe("no-store");
    expect(got.headers.get("content-length")).toBe(String(Buffer.byteLength("4é€😀")));
    expect(await got.text()).toBe("4é€😀");
    const posted = await fetch(url(`EIO=4&transport=polling&sid=${sid}`), { method: "POST", body: "4x" });
    expect(posted.headers.get("cache-control")).toBe("no-store");
    expect(posted.headers.get("content-length")).toBe("2");
    expect(await posted.text()).toBe("ok");
  });

  it("X-XSS-Protection: 0 for old Internet Explorer user agents only", async () => {
    const { url } = await start();
    const ie = await fetch(url("EIO=4&transport=polling"), { headers: { "user-agent": "Mozilla/5.0 (Windows NT 10.0; Trident/7.0; rv:11.0)" } });
    expect(ie.headers.get("x-xss-protection")).toBe("0");
    const other = await fetch(url("EIO=4&transport=polling"));
    expect(other.headers.get("x-xss-protection")).toBeNull();
  });

  it("serves a custom path, and only that path", async () => {
    const { srv } = await start({ path: "/rt" });
    const res = await fetch(`${srv.url}/rt/?EIO=4&transport=polling`);
    expect(res.status).toBe(200);
    expect((await res.text())[0]).toBe("0");
    expect((await fetch(`${srv.url}/engine.io/?EIO=4&transport=polling`)).status).toBe(404);
  });

  it("paths outside the engine get 404 from serve()", async () => {
    const { srv } = await start();
    const res = await fetch(`${srv.url}/elsewhere`);
    expect(res.status).toBe(404);
  });
});

describe("clients that go away", () => {
  it("a held GET the client aborts closes the session with 'transport error'", async () => {
    const { url, sockets } = await start();
    const { sid } = await pollingHandshake(url);
    const closes: Array<[string, unknown]> = [];
    sockets[0]!.on("close", (r, d) => closes.push([r, d]));
    const ac = new AbortController();
    const held = fetch(url(`EIO=4&transport=polling&sid=${sid}`), { signal: ac.signal }).catch((e) => e);
    await waitFor(() => sockets[0]!.transport.writable, { what: "held GET" });
    ac.abort();
    await held;
    await waitFor(() => closes.length === 1, { what: "session close" });
    expect(closes[0]![0]).toBe("transport error");
    expect((closes[0]![1] as Error).message).toBe("poll connection closed prematurely");
  });

  it("a POST whose client disconnects mid-body closes the session with 'transport error'", async () => {
    const { url, sockets, srv } = await start();
    const { sid } = await pollingHandshake(url);
    const closes: string[] = [];
    sockets[0]!.on("close", (r) => closes.push(r));
    const { request } = await import("node:http");
    const req = request(url(`EIO=4&transport=polling&sid=${sid}`), {
      method: "POST",
      headers: { "content-type": "text/plain;charset=UTF-8", "content-length": "1000" },
    });
    req.on("error", () => {});
    // The server is reading the body once it has handed the request on.
    const reading = once(srv.server, "request");
    req.write("4" + "x".repeat(100));
    await reading;
    req.destroy();
    await waitFor(() => closes.length === 1, { what: "session close" });
    expect(closes).toEqual(["transport error"]);
    expect(srv.server.listening).toBe(true);
  });

  it("a plain GET or POST naming transport=websocket on a WebSocket session gets 400 code 3 and the server carries on", async () => {
    const { url, srv, sockets } = await start();
    const c = ws(`${srv.wsUrl}/engine.io/?EIO=4&transport=websocket`);
    await c.next();
    await waitFor(() => sockets.length === 1);
    const sid = sockets[0]!.id;
    await expectJsonError(await fetch(url(`EIO=4&transport=websocket&sid=${sid}`)), 400, BAD_REQUEST);
    await expectJsonError(
      await fetch(url(`EIO=4&transport=websocket&sid=${sid}`), { method: "POST", body: "4x" }),
      400,
      BAD_REQUEST,
    );
    expect(sockets[0]!.readyState).toBe("open");
    sockets[0]!.send("alive");
    expect(await c.next()).toBe("4alive");
  });
});

describe("CORS", () => {
  it("answers a preflight with 204, the methods, the reflected headers and credentials", async () => {
    const { url, engine } = await start({ cors: { origin: "https://app.example", credentials: true } });
    const res = await fetch(url("EIO=4&transport=polling"), {
      method: "OPTIONS",
      headers: {
        origin: "https://app.example",
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type,x-custom",
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe("https://app.example");
    expect(res.headers.get("access-control-allow-methods")).toBe("GET,HEAD,PUT,PATCH,POST,DELETE");
    expect(res.headers.get("access-control-allow-headers")).toBe("content-type,x-custom");
    expect(res.headers.get("access-control-allow-credentials")).toBe("true");
    expect(res.headers.get("vary")).toMatch(/Origin/);
    expect(await res.text()).toBe("");
    expect(engine.clientsCount).toBe(0);
  });

  it("uses configured methods, allowedHeaders and maxAge on the preflight", async () => {
    const { url } = await start({
      cors: { origin: "*", methods: ["GET", "POST"], allowedHeaders: ["x-a", "x-b"], maxAge: 600 },
    });
    const res = await fetch(url("EIO=4&transport=polling"), {
      method: "OPTIONS",
      headers: { origin: "https://x.example", "access-control-request-headers": "x-other" },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(res.headers.get("access-control-allow-methods")).toBe("GET,POST");
    expect(res.headers.get("access-control-allow-headers")).toBe("x-a,x-b");
    expect(res.headers.get("access-control-max-age")).toBe("600");
  });

  it("an origin function decides per request; a refused origin gets no ACAO but the request proceeds", async () => {
    const { url } = await start({
      cors: { origin: (origin, cb) => cb(null, origin === "https://good.example"), credentials: true },
    });
    const good = await fetch(url("EIO=4&transport=polling"), { headers: { origin: "https://good.example" } });
    expect(good.status).toBe(200);
    expect(good.headers.get("access-control-allow-origin")).toBe("https://good.example");
    expect(good.headers.get("access-control-allow-credentials")).toBe("true");
    await good.text();
    const bad = await fetch(url("EIO=4&transport=polling"), { headers: { origin: "https://evil.example" } });
    expect(bad.status).toBe(200);
    expect(bad.headers.get("access-control-allow-origin")).toBeNull();
    expect((await bad.text())[0]).toBe("0");
  });

  it("an origin function that fails (cb(err)) refuses with 400 code 3 instead of crashing the server", async () => {
    const { url, srv } = await start({
      cors: {
        origin: (origin, cb) =>
          origin === "https://good.example" ? cb(null, true) : cb(new Error("Not allowed by CORS")),
      },
    });
    await expectJsonError(
      await fetch(url("EIO=4&transport=polling"), { headers: { origin: "https://evil.example" } }),
      400,
      BAD_REQUEST,
    );
    const refused = await refusedUpgrade(`${srv.wsUrl}/engine.io/?EIO=4&transport=websocket`, {
      origin: "https://evil.example",
    });
    expect(refused.status).toBe(400);
    const good = await fetch(url("EIO=4&transport=polling"), { headers: { origin: "https://good.example" } });
    expect(good.status).toBe(200);
    expect(good.headers.get("access-control-allow-origin")).toBe("https://good.example");
    await good.text();
  });

  it("puts the CORS headers on error responses too", async () => {
    const { url } = await start({ cors: { origin: true, credentials: true } });
    const res = await fetch(url("EIO=4&transport=nope"), { headers: { origin: "https://app.example" } });
    expect(res.headers.get("access-control-allow-origin")).toBe("https://app.example");
    expect(res.headers.get("access-control-allow-credentials")).toBe("true");
    await expectJsonError(res, 400, TRANSPORT_UNKNOWN);
    const forbidden = await start({ cors: { origin: "*" }, allowRequest: (_r, cb) => cb("no", false) });
    const f = await fetch(forbidden.url("EIO=4&transport=polling"), { headers: { origin: "https://app.example" } });
    expect(f.headers.get("access-control-allow-origin")).toBe("*");
    await expectJsonError(f, 403, { code: 4, message: "no" });
  });

  it("puts the CORS headers on polling GET and POST responses", async () => {
    const { url } = await start({ cors: { origin: ["https://a.example", /\.b\.example$/] } });
    const { res, sid } = await pollingHandshake(url, { headers: { origin: "https://x.b.example" } });
    expect(res.headers.get("access-control-allow-origin")).toBe("https://x.b.example");
    const posted = await fetch(url(`EIO=4&transport=polling&sid=${sid}`), {
      method: "POST",
      body: "4x",
      headers: { origin: "https://a.example" },
    });
    expect(posted.headers.get("access-control-allow-origin")).toBe("https://a.example");
    await posted.text();
  });

  it("without cors, OPTIONS is a bad handshake method (no sid) or 500 (on a session)", async () => {
    const { url } = await start();
    await expectJsonError(await fetch(url("EIO=4&transport=polling"), { method: "OPTIONS" }), 400, BAD_METHOD);
    const { sid } = await pollingHandshake(url);
    const res = await fetch(url(`EIO=4&transport=polling&sid=${sid}`), { method: "OPTIONS" });
    expect(res.status).toBe(500);
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
  });
});

describe("cookie", () => {
  it("sets io=<sid>; Path=/; HttpOnly; SameSite=Lax on the polling handshake only", async () => {
    const { url } = await start({ cookie: true });
    const { res, sid } = await pollingHandshake(url);
    expect(res.headers.get("set-cookie")).toBe(`io=${sid}; Path=/; HttpOnly; SameSite=Lax`);
    const posted = await fetch(url(`EIO=4&transport=polling&sid=${sid}`), { method: "POST", body: "4x" });
    expect(posted.headers.get("set-cookie")).toBeNull();
    await posted.text();
  });

  it("honours the cookie options", async () => {
    const { url } = await start({ cookie: { name: "sticky", path: false, sameSite: "strict", secure: true, maxAge: 60 } });
    const { res, sid } = await pollingHandshake(url);
    expect(res.headers.get("set-cookie")).toBe(`sticky=${sid}; Max-Age=60; HttpOnly; Secure; SameSite=Strict`);
  });

  it("sets no cookie by default", async () => {
    const { url } = await start();
    const { res } = await pollingHandshake(url);
    expect(res.headers.get("set-cookie")).toBeNull();
  });

  it("sets no cookie on a websocket-only handshake (as the reference, Q-4)", async () => {
    const { srv } = await start({ cookie: true });
    const c = new WsClient(`${srv.wsUrl}/engine.io/?EIO=4&transport=websocket`);
    clients.push(c);
    const upgradeHeaders = new Promise<Record<string, unknown>>((resolve) => c.ws.once("upgrade", (res) => resolve(res.headers)));
    await c.opened;
    expect((await upgradeHeaders)["set-cookie"]).toBeUndefined();
  });
});

describe("websocket on the wire", () => {
  it("a websocket-only handshake sends the open packet as the first frame", async () => {
    const { srv, sockets } = await start({ pingInterval: 300, pingTimeout: 400, maxHttpBufferSize: 5000 });
    const c = ws(`${srv.wsUrl}/engine.io/?EIO=4&transport=websocket`);
    const open = (await c.next()) as string;
    expect(open).toBe(
      `0{"sid":"${sockets[0]!.id}","upgrades":[],"pingInterval":300,"pingTimeout":400,"maxPayload":5000}`,
    );
  });

  it("an oversized frame closes that connection with 1009 while another client carries on", async () => {
    const { srv, sockets } = await start({ maxHttpBufferSize: 100 });
    const a = ws(`${srv.wsUrl}/engine.io/?EIO=4&transport=websocket`);
    const b = ws(`${srv.wsUrl}/engine.io/?EIO=4&transport=websocket`);
    await a.next();
    await b.next();
    await waitFor(() => sockets.length === 2);
    const reasons: string[] = [];
    sockets[0]!.on("close", (r) => reasons.push(r));
    for (const s of sockets) s.on("message", (m) => s.send(m));
    a.send("4" + "x".repeat(200));
    expect((await a.closed).code).toBe(1009);
    await waitFor(() => reasons.length === 1, { what: "session close" });
    expect(reasons[0]).toMatch(/^transport (error|close)$/);
    b.send("4still fine");
    expect(await b.next()).toBe("4still fine");
    b.send(new Uint8Array(100));
    expect(await b.next()).toEqual(Buffer.alloc(100));
  });

  it("refuses an upgrade with an unknown sid with the polling status and JSON body", async () => {
    // Deliberate difference: the reference answers every refused upgrade with a raw
    // `400` and a text/html body; unio answers with the same status and JSON body
    // as polling (so 403 for allowRequest). The official client only sees a WS error either way.
    const { srv } = await start();
    const res = await refusedUpgrade(`${srv.wsUrl}/engine.io/?EIO=4&transport=websocket&sid=nope`);
    expect(res.status).toBe(400);
    expect(res.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(res.body)).toEqual(SID_UNKNOWN);
  });

  it("refuses an upgrade with allowRequest's 403 JSON, an unknown transport and a bad version", async () => {
    const { srv } = await start({ allowRequest: (_req, cb) => cb("go away", false) });
    const forbidden = await refusedUpgrade(`${srv.wsUrl}/engine.io/?EIO=4&transport=websocket`);
    expect(forbidden.status).toBe(403);
    expect(JSON.parse(forbidden.body)).toEqual({ code: 4, message: "go away" });
    const other = await start();
    const unknown = await refusedUpgrade(`${other.srv.wsUrl}/engine.io/?EIO=4&transport=nope`);
    expect(unknown.status).toBe(400);
    expect(JSON.parse(unknown.body)).toEqual(TRANSPORT_UNKNOWN);
    const version = await refusedUpgrade(`${other.srv.wsUrl}/engine.io/?EIO=3&transport=websocket`);
    expect(version.status).toBe(400);
    expect(JSON.parse(version.body)).toEqual(BAD_VERSION);
  });

  it("a second WebSocket for an upgrading or upgraded session completes its handshake and is closed at once", async () => {
    const { url, srv, sockets } = await start();
    const { sid } = await pollingHandshake(url);
    const first = ws(`${srv.wsUrl}/engine.io/?EIO=4&transport=websocket&sid=${sid}`);
    await first.opened;
    // As engine.io: no HTTP error (a Node ws client would throw on it), a 101 then a close.
    const second = ws(`${srv.wsUrl}/engine.io/?EIO=4&transport=websocket&sid=${sid}`);
    await second.opened;
    await second.closed;
    first.send("2probe");
    expect(await first.next()).toBe("3probe");
    first.send("5");
    await waitFor(() => sockets[0]!.transport.name === "websocket");
    const third = ws(`${srv.wsUrl}/engine.io/?EIO=4&transport=websocket&sid=${sid}`);
    await third.opened;
    await third.closed;
    // The upgraded session is untouched.
    sockets[0]!.send("still here");
    expect(await first.next()).toBe("4still here");
  });

  it("the headers event can add headers to the 101 response; CORS headers are on it too", async () => {
    const { srv, engine } = await start({ cors: { origin: true } });
    engine.on("headers", (h) => {
      h["x-session-hint"] = "abc";
    });
    const c = new WsClient(`${srv.wsUrl}/engine.io/?EIO=4&transport=websocket`, {
      headers: { origin: "https://app.example" },
    });
    clients.push(c);
    const upgradeHeaders = new Promise<Record<string, unknown>>((resolve) => c.ws.once("upgrade", (res) => resolve(res.headers)));
    await c.opened;
    const h = await upgradeHeaders;
    expect(h["x-session-hint"]).toBe("abc");
    expect(h["access-control-allow-origin"]).toBe("https://app.example");
  });

  it("CORS headers are on the refused upgrade", async () => {
    const { srv } = await start({ cors: { origin: true } });
    const res = await refusedUpgrade(`${srv.wsUrl}/engine.io/?EIO=4&transport=websocket&sid=nope`, {
      origin: "https://app.example",
    });
    expect(res.headers["access-control-allow-origin"]).toBe("https://app.example");
  });

  it("the whole upgrade over the wire: 3probe first, held GET released with 6, buffered messages over the WebSocket", async () => {
    const { url, srv, sockets } = await start();
    const { sid } = await pollingHandshake(url);
    const held = fetch(url(`EIO=4&transport=polling&sid=${sid}`));
    await waitFor(() => sockets[0]!.transport.writable, { what: "held GET" });
    const c = ws(`${srv.wsUrl}/engine.io/?EIO=4&transport=websocket&sid=${sid}`);
    await c.opened;
    c.send("2probe");
    expect(await c.next()).toBe("3probe");
    expect(await (await held).text()).toBe("6");
    sockets[0]!.send("queued-1");
    sockets[0]!.send(new Uint8Array([1, 2]));
    sockets[0]!.send("queued-2");
    c.send("5");
    expect(await c.next()).toBe("4queued-1");
    expect(await c.next()).toEqual(Buffer.from([1, 2]));
    expect(await c.next()).toBe("4queued-2");
    sockets[0]!.send("direct");
    expect(await c.next()).toBe("4direct");
  });
});
