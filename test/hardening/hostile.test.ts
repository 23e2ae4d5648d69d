/**
 * The hostile-input table (issue #9), end to end through a real server on
 * every runtime (Node, Bun, Deno).
 *
 * Each row is data: a name, what is sent, the advisory it regresses (if
 * any), and the outcome the reference server gives: an exact HTTP status and
 * Engine.IO error JSON, a CONNECT_ERROR, a closed connection with what the
 * server saw (its disconnect reason and errors), or a connection that stays
 * up and keeps echoing. After every row two bystanders, official
 * socket.io-client connections over WebSocket and over polling, must still
 * echo, and the server must have no uncaught error and an unpolluted
 * Object.prototype. Where a runtime's own HTTP or WebSocket server answers
 * before unio sees the request, the row says so per runtime.
 *
 * Codec-level rows (every malformed string the decoders reject) live in
 * test/protocol; this table checks what reaches a live server and what it does.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningFixture, startFixture } from "../conformance/harness.ts";
import {
  type Bystander,
  bystander,
  bystanderEchoes,
  eioWs,
  errorReply,
  http,
  logHas,
  logOf,
  newTag,
  pollHeld,
  pollPath,
  pollingOpen,
  rawEchoes,
  sioPolling,
  sioQuery,
  sioWs,
  stats,
} from "./helpers.ts";
import { type HardeningCapabilities, type RuntimeSpec, selectedRuntimes } from "./runtimes.ts";
import { type Frame, RawWs, head, isRawWs, rawRequest } from "../helpers/raw-wire.ts";
import { once, sleep, waitFor } from "../helpers/wait.ts";

type Runtime = RuntimeSpec["name"];
type Outcome = Record<string, unknown>;

interface Ctx {
  fx: RunningFixture;
  runtime: Runtime;
  caps: HardeningCapabilities;
  tag: string;
}

interface Row {
  name: string;
  /** What goes on the wire, in words. */
  sends: string;
  /** The published advisory or reference bug this row is the regression test of. */
  advisory?: string;
  /** The outcome: the reference server's, or per runtime where the runtime answers first. */
  expect: Outcome | ((runtime: Runtime, caps: HardeningCapabilities) => Outcome);
  act(ctx: Ctx): Promise<Outcome>;
}

const E = {
  transport: { code: 0, message: "Transport unknown" },
  sid: { code: 1, message: "Session ID unknown" },
  method: { code: 2, message: "Bad handshake method" },
  bad: { code: 3, message: "Bad request" },
  version: { code: 5, message: "Unsupported protocol version" },
};

// Log entries a raw WebSocket client connected to "/" produces before the row's input.
const SETUP = ["engine-open:websocket", "connect:/"];
const decodeError = (message: string) => ({
  closed: true,
  server: [`error:${message}`, "disconnect:forced close", "engine-close:forced close"],
});
const violation = { closed: true, server: ["disconnect:forced server close", "engine-close:forced close"] };
const survives = { closed: false, echoes: true, server: [] };

/** What the server logged for `tag` after the setup entries, once it settled (a close or `ms`). */
async function serverSaw(ctx: Ctx, setup: string[], waitFor?: string): Promise<string[]> {
  const log = waitFor ? await logHas(ctx.fx, ctx.tag, waitFor, 3000) : await logOf(ctx.fx, ctx.tag);
  expect(log.slice(0, setup.length)).toEqual(setup);
  // Refusals of the row's follow-up requests are checked through their replies.
  return log.slice(setup.length).filter((e) => !e.startsWith("connection_error"));
}

/** Connects a raw Socket.IO client, sends `frames`, and reports whether the server closed it and what it saw. */
async function sioSend(ctx: Ctx, frames: Frame[], expectClose: boolean): Promise<Outcome> {
  const ws = await sioWs(ctx.fx, ctx.tag);
  for (const f of frames) typeof f === "string" ? ws.sendText(f) : ws.sendBinary(f);
  if (expectClose) {
    const closed = await ws.closedWithin(3000);
    return { closed, server: await serverSaw(ctx, SETUP, "engine-close") };
  }
  const echoes = await rawEchoes(ws);
  const closed = ws.isClosed;
  ws.close();
  const server = (await serverSaw(ctx, SETUP)).filter((e) => !e.startsWith("engine-close") && !e.startsWith("disconnect:"));
  return { closed, echoes, server };
}

/**
 * Whether the runtime dropped a connection that broke the WebSocket framing;
 * "left to the platform" where it is not seen to (capability protocolErrorCloseMs).
 */
async function closedOrUnobservable(ctx: Ctx, ws: RawWs): Promise<boolean | "left to the platform"> {
  const ms = ctx.caps.protocolErrorCloseMs;
  if (ms !== null) return ws.closedWithin(ms);
  ws.close();
  return "left to the platform";
}

const droppedOnProtocolError = (caps: HardeningCapabilities) => (caps.protocolErrorCloseMs === null ? "left to the platform" : true);
/** A memory outcome, or "not measurable" where the runtime gives no figure (capability memory). */
const measurable = (caps: HardeningCapabilities, outcome: boolean) => (caps.memory ? outcome : "not measurable");

async function httpReply(ctx: Ctx, path: string, init: Parameters<typeof http>[2] = {}): Promise<Outcome> {
  return errorReply(await http(ctx.fx, path, init));
}

/** Opens a polling session and the probe WebSocket of its upgrade. */
async function probe(ctx: Ctx): Promise<{ sid: string; ws: RawWs }> {
  const sid = await pollingOpen(ctx.fx, ctx.tag);
  const ws = await RawWs.open(ctx.fx.port, sioQuery(ctx.tag, "websocket", `&sid=${sid}`));
  if (!isRawWs(ws)) throw new Error(`probe refused: ${ws.status} ${ws.body}`);
  return { sid, ws };
}

/** Whether a polling session still works: a POSTed message is accepted and the session is still known. */
async function pollingAlive(ctx: Ctx, sid: string): Promise<boolean> {
  const post = await http(ctx.fx, pollPath(ctx.tag, sid), { method: "POST", body: "6" });
  return post.status === 200 && post.body === "ok";
}

// ── Engine.IO v3 sessions by hand (socket.io-client 2's protocol; the server joins "/" for them) ──

const V3_SETUP = ["engine-open:websocket", "connect:/"];
const v3Query = (tag: string, transport: "polling" | "websocket", extra = "") =>
  `/socket.io/?EIO=3&transport=${transport}&tag=${encodeURIComponent(tag)}${extra}`;
const v3PollPath = (tag: string, sid: string) => v3Query(tag, "polling", `&sid=${encodeURIComponent(sid)}`);

/** A v3 polling handshake (b64, as a client without XHR2); returns the sid once "/" is joined. */
async function v3PollingOpen(ctx: Ctx): Promise<string> {
  const r = await http(ctx.fx, v3Query(ctx.tag, "polling", "&b64=1"));
  const m = /^\d+:0(\{.*?\})(?:\d+:|$)/.exec(r.body);
  if (r.status !== 200 || !m) throw new Error(`v3 handshake failed: ${r.status} ${r.body}`);
  await waitFor(async () => (await logOf(ctx.fx, ctx.tag)).includes("connect:/"), { what: `"/" joined by ${ctx.tag}` });
  return JSON.parse(m[1]!).sid;
}

/** A v3 WebSocket session whose implicit CONNECT for "/" ("40") has arrived. */
async function v3Ws(ctx: Ctx): Promise<RawWs> {
  const ws = await RawWs.open(ctx.fx.port, v3Query(ctx.tag, "websocket"));
  if (!isRawWs(ws)) throw new Error(`v3 upgrade refused: ${ws.status} ${ws.body}`);
  const open = await ws.next();
  if (typeof open !== "string" || !open.startsWith('0{"sid":')) throw new Error(`no v3 open packet: ${String(open)}`);
  const connect = await ws.next();
  if (connect !== "40") throw new Error(`no implicit CONNECT: ${String(connect)}`);
  return ws;
}

/** How the engine session of `ctx.tag` ended, once it did. */
async function v3Closes(ctx: Ctx): Promise<string[]> {
  return (await logHas(ctx.fx, ctx.tag, "engine-close", 3000)).filter((e) => e.startsWith("engine-close"));
}

/** The depth of a nested-array JSON text `[[[...]]]`, counted without parsing. */
function arrayDepth(text: string): number {
  let d = 0;
  while (text.charCodeAt(d) === 91) d++;
  return d;
}

const FRAGMENT = (byte: number) => Buffer.from([0x00, 0x81, 1, 2, 3, 4, byte ^ 1]);
const EMPTY_FRAGMENT = Buffer.from([0x00, 0x80, 1, 2, 3, 4]);

/** Writes `count` copies of `frame` as fast as the socket drains, bounded by `ms`. */
async function flood(ws: RawWs, frame: Buffer, count: number, ms: number): Promise<number> {
  const batch = Buffer.concat(Array(1000).fill(frame));
  let sent = 0;
  const end = Date.now() + ms;
  while (sent < count && !ws.sock.destroyed && ws.closeCode === null && Date.now() < end) {
    // Flooding, not waiting for an outcome: a drain, or 200 ms without one, and the next batch goes.
    if (!ws.sock.write(batch)) await once(ws.sock, "drain", { timeout: 200 }).catch(() => {});
    sent += 1000;
  }
  return sent;
}

const RESERVED = ["connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"];

const rows: Row[] = [
  // ── Engine.IO: query parameters ─────────────────────────────────────────
  {
    name: "unknown query parameters are accepted and kept in handshake.query",
    sends: "GET ?EIO=4&transport=polling&foo=bar&t=123&b=&__proto__=x&constructor=y, then CONNECT and an inspect event",
    expect: { handshake: 200, query: JSON.parse('{"foo":"bar","t":"123","b":"","__proto__":"x","constructor":"y"}'), polluted: false },
    async act(ctx) {
      const ws = await RawWs.open(ctx.fx.port, sioQuery(ctx.tag, "websocket", "&foo=bar&t=123&b=&__proto__=x&constructor=y"));
      if (!isRawWs(ws)) return { handshake: ws.status };
      await ws.next();
      ws.sendText("40");
      await ws.next();
      ws.sendText('421["inspect"]');
      const ack = await ws.nextMatching((f) => typeof f === "string" && f.startsWith("431"));
      ws.close();
      const info = JSON.parse(String(ack).slice(3))[0];
      const { EIO: _e, transport: _t, tag: _g, ...query } = info.query;
      return { handshake: 200, query: JSON.parse(JSON.stringify(query)), polluted: info.polluted };
    },
  },
  {
    name: "duplicated EIO: the last value wins (EIO=3&EIO=4 is a v4 handshake)",
    sends: "GET ?EIO=3&EIO=4&transport=polling",
    expect: { status: 200, open: true },
    async act(ctx) {
      const r = await http(ctx.fx, `/socket.io/?EIO=3&EIO=4&transport=polling&tag=${ctx.tag}`);
      return { status: r.status, open: r.body.startsWith('0{"sid":') };
    },
  },
  {
    name: "duplicated EIO: the last value wins (EIO=4&EIO=5 is refused)",
    sends: "GET ?EIO=4&EIO=5&transport=polling",
    expect: { status: 400, json: E.version },
    act: (ctx) => httpReply(ctx, `/socket.io/?EIO=4&EIO=5&transport=polling&tag=${ctx.tag}`),
  },
  {
    name: "duplicated EIO: the last value wins (EIO=4&EIO=3 is a v3 handshake, allowEIO3 being on)",
    sends: "GET ?EIO=4&EIO=3&transport=polling",
    expect: { status: 200, v3open: true },
    async act(ctx) {
      const r = await http(ctx.fx, `/socket.io/?EIO=4&EIO=3&transport=polling&tag=${ctx.tag}`);
      return { status: r.status, v3open: /^\d+:0\{"sid":/.test(r.body) };
    },
  },
  {
    name: "EIO missing or garbled: refused even with allowEIO3 (the reference would take it for v3)",
    sends: "GET ?transport=polling and ?EIO=abc&transport=polling",
    expect: { missing: { status: 400, json: E.version }, garbled: { status: 400, json: E.version } },
    async act(ctx) {
      return {
        missing: await httpReply(ctx, `/socket.io/?transport=polling&tag=${ctx.tag}`),
        garbled: await httpReply(ctx, `/socket.io/?EIO=abc&transport=polling&tag=${ctx.tag}`),
      };
    },
  },
  {
    name: "duplicated transport: the last value wins (websocket then polling is a polling handshake)",
    sends: "GET ?EIO=4&transport=websocket&transport=polling (no Upgrade)",
    expect: { status: 200, open: true },
    async act(ctx) {
      const r = await http(ctx.fx, `/socket.io/?EIO=4&transport=websocket&transport=polling&tag=${ctx.tag}`);
      return { status: r.status, open: r.body.startsWith('0{"sid":') };
    },
  },
  {
    name: "duplicated sid: the last value is the one looked up",
    sends: "GET ?sid=<valid>&sid=nope on a live polling session",
    expect: { status: 400, json: E.sid },
    async act(ctx) {
      const sid = await pollingOpen(ctx.fx, ctx.tag);
      return httpReply(ctx, `${pollPath(ctx.tag, sid)}&sid=nope`);
    },
  },
  {
    name: "an 8 KB query parameter is accepted",
    sends: "GET ?EIO=4&transport=polling&big=<8192 x a>",
    expect: { status: 200, open: true },
    async act(ctx) {
      const r = await http(ctx.fx, sioQuery(ctx.tag, "polling", `&big=${"a".repeat(8192)}`));
      return { status: r.status, open: r.body.startsWith('0{"sid":') };
    },
  },
  {
    name: "1,000 query parameters are accepted",
    sends: "GET ?EIO=4&transport=polling&p0=0&...&p999=999",
    expect: { status: 200, open: true },
    async act(ctx) {
      const extra = Array.from({ length: 1000 }, (_, i) => `&p${i}=${i}`).join("");
      const r = await http(ctx.fx, sioQuery(ctx.tag, "polling", extra));
      return { status: r.status, open: r.body.startsWith('0{"sid":') };
    },
  },
  {
    name: "a 100 KB URL is refused by the runtime's HTTP server before unio",
    sends: "GET ?EIO=4&transport=polling&big=<100000 x a>",
    // Where the parser lets it through (workerd), it is a valid handshake: one session, ended by its heartbeat.
    expect: (rt, caps) => (caps.strictHttpParser ? { status: rt === "deno" ? 400 : 431, sessions: 0 } : { status: 200, sessions: 1 }),
    async act(ctx) {
      const before = (await stats(ctx.fx)).connectionErrors;
      const r = await rawRequest(ctx.fx.port, head("GET", sioQuery(ctx.tag, "polling", `&big=${"a".repeat(100_000)}`), ctx.fx.port));
      const log = await logOf(ctx.fx, ctx.tag);
      expect((await stats(ctx.fx)).connectionErrors).toEqual(before);
      return { status: r.status, sessions: log.length };
    },
  },

  // ── Engine.IO: prototype keys as transport or sid ───────────────────────
  ...["__proto__", "constructor", "toString", "hasOwnProperty"].map<Row>((key) => ({
    name: `transport=${key} on a polling request`,
    sends: `GET ?EIO=4&transport=${key}`,
    advisory: key === "__proto__" ? "CVE-2023-31125 (polling side)" : undefined,
    expect: { status: 400, json: E.transport },
    act: (ctx) => httpReply(ctx, `/socket.io/?EIO=4&transport=${key}&tag=${ctx.tag}`),
  })),
  ...["__proto__", "constructor"].map<Row>((key) => ({
    name: `transport=${key} on a WebSocket upgrade`,
    sends: `Upgrade: websocket, ?EIO=4&transport=${key}`,
    advisory: "CVE-2023-31125",
    expect: { status: 400, json: E.transport },
    async act(ctx) {
      const r = await RawWs.open(ctx.fx.port, `/socket.io/?EIO=4&transport=${key}&tag=${ctx.tag}`);
      if (isRawWs(r)) return { upgraded: true };
      return errorReply(r);
    },
  })),
  ...["__proto__", "constructor", "toString", "hasOwnProperty"].flatMap<Row>((key) => [
    {
      name: `sid=${key} on polling GET and POST`,
      sends: `GET and POST ?EIO=4&transport=polling&sid=${key}`,
      advisory: "CVE-2026-59724",
      expect: { get: { status: 400, json: E.sid }, post: { status: 400, json: E.sid } },
      async act(ctx) {
        const path = `/socket.io/?EIO=4&transport=polling&sid=${key}&tag=${ctx.tag}`;
        return { get: await httpReply(ctx, path), post: await httpReply(ctx, path, { method: "POST", body: "40" }) };
      },
    },
    {
      name: `sid=${key} on a WebSocket upgrade`,
      sends: `Upgrade: websocket, ?EIO=4&transport=websocket&sid=${key}`,
      advisory: "CVE-2026-59724",
      expect: { status: 400, json: E.sid },
      async act(ctx) {
        const r = await RawWs.open(ctx.fx.port, `/socket.io/?EIO=4&transport=websocket&sid=${key}&tag=${ctx.tag}`);
        return isRawWs(r) ? { upgraded: true } : errorReply(r);
      },
    },
  ]),

  // ── Engine.IO: headers ──────────────────────────────────────────────────
  {
    name: "Origin with DEL (0x7f): code 3 INVALID_ORIGIN where it reaches unio, the runtime's 400 otherwise",
    sends: "GET handshake with Origin: http://a<0x7f>b",
    // Node's and Deno's HTTP parsers refuse the byte themselves; Bun passes it on.
    // workerd passes it too, and the router refuses it before the object: the server sees nothing.
    expect: (rt, caps) =>
      !caps.strictHttpParser
        ? { status: 400, json: E.bad, seen: [] }
        : rt === "bun"
          ? { status: 400, json: E.bad, seen: ["connection_error:3"] }
          : { status: 400, json: "", seen: [] },
    async act(ctx) {
      const r = await rawRequest(ctx.fx.port, head("GET", sioQuery(ctx.tag, "polling"), ctx.fx.port, [["Origin", "http://a\x7fb"]]));
      return { ...errorReply(r), seen: await logOf(ctx.fx, ctx.tag) };
    },
  },
  ...([
    ["NUL", "\x00"],
    ["SOH", "\x01"],
    ["ESC", "\x1b"],
  ] as const).map<Row>(([label, ch]) => ({
    name: `Origin with ${label}: refused with 400, no session`,
    sends: `GET handshake with Origin: http://a<${label}>b`,
    expect: { status: 400, sessions: 0 },
    async act(ctx) {
      const r = await rawRequest(ctx.fx.port, head("GET", sioQuery(ctx.tag, "polling"), ctx.fx.port, [["Origin", `http://a${ch}b`]]));
      const log = await logOf(ctx.fx, ctx.tag);
      return { status: r.status, sessions: log.filter((e) => e.startsWith("engine-open")).length };
    },
  })),
  {
    name: "Origin with a bad character on a WebSocket upgrade: no socket is opened",
    sends: "Upgrade: websocket with Origin: http://a<0x7f>b",
    expect: (rt, caps) => (rt === "bun" || !caps.strictHttpParser ? { status: 400, json: E.bad } : { status: 400, json: "" }),
    async act(ctx) {
      const r = await RawWs.open(ctx.fx.port, sioQuery(ctx.tag, "websocket"), { headers: [["Origin", "http://a\x7fb"]] });
      return isRawWs(r) ? { upgraded: true } : errorReply(r);
    },
  },
  {
    name: "2,100 request headers before the WebSocket ones on an upgrade",
    sends: "Upgrade request with 2,100 junk headers, then Upgrade/Connection/Sec-WebSocket-Key",
    advisory: "CVE-2024-37890 (ws < 8.17.1 crashed on the dropped key)",
    // Node keeps 2,000 headers (maxHeadersCount) and ws refuses the mangled upgrade; Bun and Deno cap headers themselves.
    // workerd keeps every header: a plain upgrade.
    expect: (rt, caps) =>
      !caps.strictHttpParser
        ? { upgraded: true }
        : rt === "node"
          ? { status: 400, body: "Invalid Upgrade header" }
          : rt === "bun"
            ? { status: 431, body: "" }
            : { status: 400, body: "" },
    async act(ctx) {
      const hs = Array.from({ length: 2100 }, (_, i) => [`x-h${i}`, "v"] as [string, string]);
      const r = await RawWs.open(ctx.fx.port, sioQuery(ctx.tag, "websocket"), { headers: hs, headersFirst: true });
      return isRawWs(r) ? { upgraded: true } : { status: r.status, body: r.body };
    },
  },
  {
    name: "2,100 request headers after the WebSocket ones on an upgrade",
    sends: "Upgrade request with the WebSocket headers first, then 2,100 junk headers",
    advisory: "CVE-2024-37890",
    // Node drops the extra headers and upgrades; Bun and Deno refuse the request.
    expect: (rt, caps) => (rt === "node" || !caps.strictHttpParser ? { upgraded: true, open: true } : { status: rt === "bun" ? 431 : 400 }),
    async act(ctx) {
      const hs = Array.from({ length: 2100 }, (_, i) => [`x-h${i}`, "v"] as [string, string]);
      const r = await RawWs.open(ctx.fx.port, sioQuery(ctx.tag, "websocket"), { headers: hs });
      if (!isRawWs(r)) return { status: r.status };
      const open = await r.next();
      r.close();
      return { upgraded: true, open: typeof open === "string" && open.startsWith('0{"sid":') };
    },
  },

  // ── Engine.IO: polling bodies ───────────────────────────────────────────
  {
    name: "application/octet-stream POST on EIO 4: 400, an ended response, the session closed",
    sends: "POST Content-Type: application/octet-stream, body 40",
    advisory: "CVE-2026-59725",
    expect: { status: 400, ended: true, next: { status: 400, json: E.sid }, server: ["engine-close:transport error:invalid content"] },
    async act(ctx) {
      const sid = await pollingOpen(ctx.fx, ctx.tag);
      const r = await rawRequest(
        ctx.fx.port,
        head("POST", pollPath(ctx.tag, sid), ctx.fx.port, [
          ["Content-Type", "application/octet-stream"],
          ["Content-Length", "2"],
        ]),
        "40",
        { timeoutMs: 3000 },
      );
      const ended = r.headers["content-length"] !== undefined && Buffer.byteLength(r.body) === Number(r.headers["content-length"]);
      return {
        status: r.status,
        ended,
        next: await httpReply(ctx, pollPath(ctx.tag, sid)),
        server: (await serverSaw(ctx, ["engine-open:polling"], "engine-close")),
      };
    },
  },
  {
    name: "a body over maxHttpBufferSize with Content-Length: 413, the session lives on",
    sends: "POST 1.2 MB with Content-Length",
    expect: { status: 413, alive: true },
    async act(ctx) {
      const sid = await pollingOpen(ctx.fx, ctx.tag);
      const r = await http(ctx.fx, pollPath(ctx.tag, sid), { method: "POST", body: "4" + "x".repeat(1_200_000) });
      return { status: r.status, alive: await pollingAlive(ctx, sid) };
    },
  },
  {
    name: "a body over maxHttpBufferSize without Content-Length (chunked): 413, the session lives on",
    sends: "POST Transfer-Encoding: chunked, 1.2 MB in 64 KB chunks",
    expect: { status: 413, alive: true },
    async act(ctx) {
      const sid = await pollingOpen(ctx.fx, ctx.tag);
      const chunk = "x".repeat(65536);
      const pieces: string[] = [];
      for (let i = 0; i < 19; i++) pieces.push(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
      pieces.push("0\r\n\r\n");
      const r = await rawRequest(
        ctx.fx.port,
        head("POST", pollPath(ctx.tag, sid), ctx.fx.port, [["Transfer-Encoding", "chunked"], ["Content-Type", "text/plain"]]),
        `1\r\n4\r\n`,
        { pieces },
      );
      return { status: r.status, alive: await pollingAlive(ctx, sid) };
    },
  },
  {
    name: "a Content-Length over the limit is refused at once, before any body arrives",
    sends: "POST Content-Length: 50000000 and no body",
    expect: { status: 413 },
    async act(ctx) {
      const sid = await pollingOpen(ctx.fx, ctx.tag);
      const r = await rawRequest(
        ctx.fx.port,
        head("POST", pollPath(ctx.tag, sid), ctx.fx.port, [["Content-Length", "50000000"], ["Content-Type", "text/plain"]]),
        undefined,
        { timeoutMs: 2000 },
      );
      return { status: r.status };
    },
  },
  ...([
    ["bogus payload", "abc"],
    ["a packet type out of range", "9hello"],
    ["an empty packet between separators", "4a\x1e\x1e4b"],
    ["invalid base64", "b%%%"],
  ] as const).map<Row>(([label, body]) => ({
    name: `POST with ${label}: 200 ok, the session closes with parse error, the next request gets code 1`,
    sends: `POST ${JSON.stringify(body)}`,
    expect: { status: 200, body: "ok", next: { status: 400, json: E.sid }, server: ["engine-close:parse error"] },
    async act(ctx) {
      const sid = await pollingOpen(ctx.fx, ctx.tag);
      const r = await http(ctx.fx, pollPath(ctx.tag, sid), { method: "POST", body });
      const next = await httpReply(ctx, pollPath(ctx.tag, sid));
      return { status: r.status, body: r.body, next, server: await serverSaw(ctx, ["engine-open:polling"], "engine-close") };
    },
  })),
  {
    name: "a truncated POST (the client disconnects mid-body) closes the session with transport error",
    sends: "POST Content-Length: 100 with 10 bytes, then the client closes",
    expect: { server: ["engine-close:transport error:data request connection closed prematurely"], next: { status: 400, json: E.sid } },
    async act(ctx) {
      const sid = await pollingOpen(ctx.fx, ctx.tag);
      await rawRequest(
        ctx.fx.port,
        head("POST", pollPath(ctx.tag, sid), ctx.fx.port, [["Content-Length", "100"], ["Content-Type", "text/plain"]]),
        "4truncate",
        { timeoutMs: 300 },
      );
      const server = await serverSaw(ctx, ["engine-open:polling"], "engine-close");
      return { server, next: await httpReply(ctx, pollPath(ctx.tag, sid)) };
    },
  },
  {
    name: "a client aborting a pending GET: the held response is settled and the session closes",
    sends: "GET (held), then the client aborts it",
    // Unheard (workerd): the next GET overlaps the held one, which ends the session gracefully (noop, close).
    expect: (_rt, caps) =>
      caps.seesAbortedRequests
        ? { server: ["engine-close:transport error:poll connection closed prematurely"], next: { status: 400, json: E.sid } }
        : { server: [], next: { status: 200, json: "6\x1e1" } },
    async act(ctx) {
      const sid = await pollingOpen(ctx.fx, ctx.tag);
      const ac = new AbortController();
      const held = fetch(ctx.fx.url + pollPath(ctx.tag, sid), { signal: ac.signal }).catch(() => null);
      await pollHeld(ctx.fx, ctx.tag);
      ac.abort();
      await held;
      const server = await serverSaw(ctx, ["engine-open:polling"], "engine-close");
      return { server, next: await httpReply(ctx, pollPath(ctx.tag, sid)) };
    },
  },
  {
    name: "a client PING over polling (outside an upgrade) closes the session",
    sends: "POST 2",
    expect: { status: 200, server: ["engine-close:transport error:invalid heartbeat direction"] },
    async act(ctx) {
      const sid = await pollingOpen(ctx.fx, ctx.tag);
      const r = await http(ctx.fx, pollPath(ctx.tag, sid), { method: "POST", body: "2" });
      return { status: r.status, server: await serverSaw(ctx, ["engine-open:polling"], "engine-close") };
    },
  },
  {
    name: "an overlapping POST is answered 400 and the first POST is answered too",
    sends: "POST A (body arriving slowly), POST B while A is in flight",
    advisory: "engine.io #363 (the overlapping POST was left unanswered)",
    expect: { second: 400, secondAtOnce: true, first: 200, server: ["engine-close:transport error:data request overlap from client"] },
    async act(ctx) {
      const sid = await pollingOpen(ctx.fx, ctx.tag);
      const first = rawRequest(
        ctx.fx.port,
        head("POST", pollPath(ctx.tag, sid), ctx.fx.port, [["Content-Length", "5"], ["Content-Type", "text/plain"]]),
        "4a",
        { pieces: [Buffer.alloc(0), Buffer.alloc(0), Buffer.alloc(0), Buffer.alloc(0), Buffer.alloc(0), "bcd"] },
      );
      // No event marks that the server has read the first POST's head (it answers nothing before
      // the body is whole): 40 ms for it to arrive, of the ~120 ms its body takes to trickle in.
      await sleep(40);
      const t0 = Date.now();
      const second = await http(ctx.fx, pollPath(ctx.tag, sid), { method: "POST", body: "4x" });
      const secondAtOnce = Date.now() - t0 < 1000;
      const firstRes = await first;
      return {
        second: second.status,
        secondAtOnce,
        first: firstRes.status,
        server: await serverSaw(ctx, ["engine-open:polling"], "engine-close"),
      };
    },
  },

  // ── Engine.IO: WebSocket and upgrade ────────────────────────────────────
  {
    name: "a client PING over WebSocket (outside an upgrade) closes the connection",
    sends: "WS frame 2 on an open WebSocket session",
    expect: { closed: true, server: ["engine-close:transport error:invalid heartbeat direction"] },
    async act(ctx) {
      const { ws } = await eioWs(ctx.fx, ctx.tag);
      ws.sendText("2");
      const closed = await ws.closedWithin(2000);
      return { closed, server: await serverSaw(ctx, ["engine-open:websocket"], "engine-close") };
    },
  },
  {
    name: "2probe on an established WebSocket session closes it",
    sends: "WS frame 2probe on a WebSocket-only session",
    expect: { closed: true, server: ["engine-close:transport error:invalid heartbeat direction"] },
    async act(ctx) {
      const { ws } = await eioWs(ctx.fx, ctx.tag);
      ws.sendText("2probe");
      const closed = await ws.closedWithin(2000);
      return { closed, server: await serverSaw(ctx, ["engine-open:websocket"], "engine-close") };
    },
  },
  ...(["4hello", "3probe", "2", "6", "1", "x"] as const).map<Row>((frame) => ({
    name: `probe frame ${JSON.stringify(frame)} instead of 2probe/5 aborts the upgrade; polling carries on`,
    sends: `polling session, WS with its sid, frame ${JSON.stringify(frame)}`,
    expect: { probeClosed: true, pollingAlive: true, server: [] },
    async act(ctx) {
      const { sid, ws } = await probe(ctx);
      ws.sendText(frame);
      const probeClosed = await ws.closedWithin(2000);
      return { probeClosed, pollingAlive: await pollingAlive(ctx, sid), server: await serverSaw(ctx, ["engine-open:polling"]) };
    },
  })),
  {
    name: "garbage frame bytes (invalid UTF-8) during an upgrade close the probe only",
    sends: "polling session, WS with its sid, a text frame of bytes ff fe fd",
    advisory: "CVE-2022-21676",
    expect: { probeClosed: true, pollingAlive: true, server: [] },
    async act(ctx) {
      const { sid, ws } = await probe(ctx);
      ws.writeFrame({ opcode: 0x1, payload: Buffer.from([0xff, 0xfe, 0xfd]) });
      const probeClosed = await ws.closedWithin(2000);
      return { probeClosed, pollingAlive: await pollingAlive(ctx, sid), server: await serverSaw(ctx, ["engine-open:polling"]) };
    },
  },
  {
    name: "a malformed frame (reserved opcode, unmasked) during an upgrade closes the probe only",
    sends: "polling session, WS with its sid, an unmasked frame with opcode 0x3",
    advisory: "CVE-2022-21676",
    expect: (_rt, caps) => ({ probeClosed: droppedOnProtocolError(caps), pollingAlive: true, server: [] }),
    async act(ctx) {
      const { sid, ws } = await probe(ctx);
      ws.writeFrame({ opcode: 0x3, payload: "2probe", mask: false });
      const probeClosed = await closedOrUnobservable(ctx, ws);
      return { probeClosed, pollingAlive: await pollingAlive(ctx, sid), server: await serverSaw(ctx, ["engine-open:polling"]) };
    },
  },
  {
    name: "a TCP reset during a refused upgrade does not reach the process",
    sends: "Upgrade request with a bad sid, and a TCP reset before the answer (x20)",
    advisory: "CVE-2022-41940",
    expect: { uncaught: 0 },
    async act(ctx) {
      // A reset right after the request bytes (bad sid, __proto__ sid), or after half of them.
      const { connect } = await import("node:net");
      for (let i = 0; i < 40; i++) {
        await new Promise<void>((resolve) => {
          const sock = connect(ctx.fx.port, "127.0.0.1", () => {
            sock.write(
              head("GET", `/socket.io/?EIO=4&transport=websocket&sid=${i % 2 ? "__proto__" : "x"}`, ctx.fx.port, [
                ["Upgrade", "websocket"],
                ["Connection", "Upgrade"],
                ["Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="],
                ["Sec-WebSocket-Version", "13"],
              ]).slice(0, i % 3 === 0 ? 40 : undefined),
            );
            sock.resetAndDestroy();
            resolve();
          });
          sock.on("error", () => resolve());
        });
      }
      // Asserting silence: no uncaught error from the resets shows up in the next 200 ms.
      await sleep(200);
      return { uncaught: (await stats(ctx.fx)).uncaught };
    },
  },
  {
    name: "a second upgrade while one is in progress is opened and closed at once (as engine.io); the first completes",
    sends: "polling session, probe WS 1 (2probe), probe WS 2 with the same sid, then 5 on WS 1, then WS 3 with the same sid",
    expect: { second: "closed", upgraded: true, third: "closed" },
    async act(ctx) {
      const { sid, ws } = await probe(ctx);
      ws.sendText("2probe");
      await ws.nextMatching((f) => f === "3probe");
      const second = await RawWs.open(ctx.fx.port, sioQuery(ctx.tag, "websocket", `&sid=${sid}`));
      ws.sendText("5");
      const server = await logHas(ctx.fx, ctx.tag, "engine-upgrade");
      const third = await RawWs.open(ctx.fx.port, sioQuery(ctx.tag, "websocket", `&sid=${sid}`));
      ws.close();
      const outcome = async (extra: typeof second) =>
        isRawWs(extra) ? ((await extra.closedWithin(2000)) ? "closed" : "left open") : errorReply(extra);
      return {
        second: await outcome(second),
        upgraded: server.includes("engine-upgrade:websocket"),
        third: await outcome(third),
      };
    },
  },
  {
    name: "a probe that never sends UPGRADE is closed after upgradeTimeout; polling carries on",
    sends: "polling session, probe WS, 2probe, then nothing",
    expect: { gotProbe: true, probeClosedBy: "timeout", pollingAlive: true },
    async act(ctx) {
      const { sid, ws } = await probe(ctx);
      ws.sendText("2probe");
      const gotProbe = (await ws.nextMatching((f) => f === "3probe")) !== null;
      const early = await ws.closedWithin(300);
      const late = await ws.closedWithin(2500);
      return { gotProbe, probeClosedBy: early ? "early" : late ? "timeout" : "never", pollingAlive: await pollingAlive(ctx, sid) };
    },
  },
  {
    name: "a flood of 1-byte WebSocket fragments closes that connection",
    sends: "a text frame without FIN, then up to 200,000 1-byte continuation frames",
    advisory: "CVE-2026-48779 (ws < 8.21.0)",
    expect: (_rt, caps) => ({ closed: droppedOnProtocolError(caps), transportEnded: true, rssGrowthUnder64MB: measurable(caps, true) }),
    async act(ctx) {
      const ws = await sioWs(ctx.fx, ctx.tag);
      const before = (await stats(ctx.fx)).rss;
      ws.writeFrame({ opcode: 0x1, fin: false, payload: "4" });
      await flood(ws, FRAGMENT(0x78), 200_000, 8000);
      const closed = await closedOrUnobservable(ctx, ws);
      const log = await logHas(ctx.fx, ctx.tag, "engine-close");
      return {
        closed,
        transportEnded: log.some((e) => e.startsWith("engine-close:transport")),
        rssGrowthUnder64MB: measurable(ctx.caps, (await stats(ctx.fx)).rss - before < 64 * 1024 * 1024),
      };
    },
  },
  {
    name: "a flood of empty continuation frames (an incomplete message) closes that connection",
    sends: "a text frame without FIN, then up to 300,000 empty continuation frames",
    advisory: "CVE-2026-62389 (ws < 8.21.1)",
    expect: (_rt, caps) => ({ closed: droppedOnProtocolError(caps), transportEnded: true, rssGrowthUnder64MB: measurable(caps, true) }),
    async act(ctx) {
      const ws = await sioWs(ctx.fx, ctx.tag);
      const before = (await stats(ctx.fx)).rss;
      ws.writeFrame({ opcode: 0x1, fin: false, payload: "4" });
      await flood(ws, EMPTY_FRAGMENT, 300_000, 8000);
      const closed = await closedOrUnobservable(ctx, ws);
      const log = await logHas(ctx.fx, ctx.tag, "engine-close");
      return {
        closed,
        transportEnded: log.some((e) => e.startsWith("engine-close:transport")),
        rssGrowthUnder64MB: measurable(ctx.caps, (await stats(ctx.fx)).rss - before < 64 * 1024 * 1024),
      };
    },
  },

  // ── Engine.IO v3 framing (allowEIO3) ────────────────────────────────────
  ...([
    ["a non-numeric length", "x:4hello"],
    ["no length before the colon", ":4hello"],
    ["a length with a sign", "+6:4hello"],
    ["a length larger than the body", "60:4hello"],
    ["a 400-digit length", `${"9".repeat(400)}:4hello`],
    ["no colon at all", "4hello"],
    ["a packet type out of range", "6:9hello"],
    ["a b packet with broken base64", "6:b4%%%%"],
    ["a b packet with no type", "1:b"],
  ] as const).map<Row>(([label, body]) => ({
    name: `v3 POST with ${label}: 200 ok, the session closes with parse error, the next request gets code 1`,
    sends: `POST ${JSON.stringify(body.length > 40 ? body.slice(0, 20) + "…" : body)} on an EIO=3 polling session`,
    expect: { status: 200, body: "ok", next: { status: 400, json: E.sid }, closes: ["engine-close:parse error"] },
    async act(ctx) {
      const sid = await v3PollingOpen(ctx);
      const r = await http(ctx.fx, v3PollPath(ctx.tag, sid), { method: "POST", body });
      const next = await httpReply(ctx, v3PollPath(ctx.tag, sid));
      return { status: r.status, body: r.body, next, closes: await v3Closes(ctx) };
    },
  })),
  ...([
    ["a kind byte other than 0 or 1", [2, 1, 255, 52]],
    ["a length byte above 9", [0, 12, 255, 52]],
    ["a length larger than the body", [1, 9, 9, 255, 4, 1]],
    ["no 255 separator", [0, 1, 1, 1, 1]],
    ["invalid UTF-8 in a text part", [0, 2, 255, 52, 0xff]],
  ] as const).map<Row>(([label, bytes]) => ({
    name: `v3 binary POST with ${label}: 200 ok, the session closes with parse error`,
    sends: `POST application/octet-stream [${bytes.join(",")}] on an EIO=3 polling session`,
    expect: { status: 200, body: "ok", next: { status: 400, json: E.sid }, closes: ["engine-close:parse error"] },
    async act(ctx) {
      const sid = await v3PollingOpen(ctx);
      const r = await http(ctx.fx, v3PollPath(ctx.tag, sid), {
        method: "POST",
        body: Uint8Array.from(bytes),
        headers: { "content-type": "application/octet-stream" },
      });
      const next = await httpReply(ctx, v3PollPath(ctx.tag, sid));
      return { status: r.status, body: r.body, next, closes: await v3Closes(ctx) };
    },
  })),
  {
    name: "v3 JSONP: a j that tries to break out of the script keeps only its digits",
    sends: 'GET ?EIO=3&transport=polling&j=1);alert("x")//',
    expect: { status: 200, head: true },
    async act(ctx) {
      const r = await http(ctx.fx, v3Query(ctx.tag, "polling", `&j=${encodeURIComponent('1);alert("x")//')}`));
      return { status: r.status, head: r.body.startsWith('___eio[1]("') && r.body.endsWith('");') };
    },
  },
  {
    name: "v3 JSONP: a form whose d is not a payload closes the session with parse error",
    sends: "POST d=%%%zz (form) on an EIO=3 JSONP session",
    expect: { status: 200, body: "ok", closes: ["engine-close:parse error"] },
    async act(ctx) {
      const r = await http(ctx.fx, v3Query(ctx.tag, "polling", "&j=0&b64=1"));
      const m = /"sid\\":\\"([^"\\]+)/.exec(r.body);
      if (!m) throw new Error(`no JSONP handshake: ${r.body}`);
      const post = await http(ctx.fx, v3Query(ctx.tag, "polling", `&j=0&sid=${m[1]}`), {
        method: "POST",
        body: "d=%%%zz",
        headers: { "content-type": "application/x-www-form-urlencoded" },
      });
      return { status: post.status, body: post.body, closes: await v3Closes(ctx) };
    },
  },
  {
    name: "a v3 POST over maxHttpBufferSize: 413, the session lives on",
    sends: "POST 1.2 MB (text, then application/octet-stream) on an EIO=3 polling session",
    expect: { text: 413, binary: 413, alive: true },
    async act(ctx) {
      const sid = await v3PollingOpen(ctx);
      const big = "x".repeat(1_200_000);
      const text = await http(ctx.fx, v3PollPath(ctx.tag, sid), { method: "POST", body: `${big.length + 1}:4${big}` });
      const binary = await http(ctx.fx, v3PollPath(ctx.tag, sid), {
        method: "POST",
        body: new Uint8Array(1_200_000),
        headers: { "content-type": "application/octet-stream" },
      });
      const ping = await http(ctx.fx, v3PollPath(ctx.tag, sid), { method: "POST", body: "1:2" });
      return { text: text.status, binary: binary.status, alive: ping.body === "ok" };
    },
  },
  ...([
    ["a binary frame with a type byte out of range", Uint8Array.from([9, 1, 2])],
    ["an empty binary frame", new Uint8Array(0)],
    ["a b text frame with broken base64", "b4%%%%"],
    ["a b text frame with a bad type", "bxAQID"],
  ] as const).map<Row>(([label, frame]) => ({
    name: `v3 WebSocket: ${label} closes the session with parse error`,
    sends: `WS ${typeof frame === "string" ? JSON.stringify(frame) : `binary [${[...frame].join(",")}]`} on an EIO=3 session`,
    expect: { closed: true, closes: ["engine-close:parse error"] },
    async act(ctx) {
      const ws = await v3Ws(ctx);
      typeof frame === "string" ? ws.sendText(frame) : ws.sendBinary(frame);
      const closed = await ws.closedWithin(3000);
      return { closed, closes: await v3Closes(ctx) };
    },
  })),
  {
    name: "v3 WebSocket: a pong from the client is the wrong heartbeat direction",
    sends: "WS 3 on an EIO=3 session",
    expect: { closed: true, closes: ["engine-close:transport error:invalid heartbeat direction"] },
    async act(ctx) {
      const ws = await v3Ws(ctx);
      ws.sendText("3");
      const closed = await ws.closedWithin(3000);
      return { closed, closes: await v3Closes(ctx) };
    },
  },
  {
    name: "v3 WebSocket: a binary attachment with its type byte when none is expected",
    sends: "WS binary [4,1,2] on an EIO=3 session connected to /",
    expect: { closed: true, server: ["error:got binary data when not reconstructing a packet", "disconnect:forced close", "engine-close:forced close"] },
    async act(ctx) {
      const ws = await v3Ws(ctx);
      ws.sendBinary(Uint8Array.from([4, 1, 2]));
      const closed = await ws.closedWithin(3000);
      return { closed, server: await serverSaw(ctx, V3_SETUP, "engine-close") };
    },
  },
  {
    name: "v3 WebSocket: a CONNECT with a query that tries prototype keys keeps them as data",
    sends: "WS 40/admin?__proto__=x&constructor=y, on an EIO=3 session",
    expect: { reply: "40/admin,", polluted: false },
    async act(ctx) {
      const ws = await v3Ws(ctx);
      ws.sendText("40/admin?__proto__=x&constructor=y,");
      const reply = await ws.next();
      ws.close();
      return { reply, polluted: (await stats(ctx.fx)).polluted };
    },
  },
  {
    name: "v3 WebSocket: a 20,000-deep nested array from a v2 client packet is echoed back",
    sends: 'WS 421["echo",[[[…20,000…]]]] on an EIO=3 session',
    expect: { depth: 20_000, echoes: true },
    async act(ctx) {
      const ws = await v3Ws(ctx);
      const n = 20_000;
      ws.sendText(`421["echo",${"[".repeat(n)}${"]".repeat(n)}]`);
      const ack = await ws.nextMatching((f) => typeof f === "string" && f.startsWith("431"), 5000);
      const echoes = await rawEchoes(ws);
      ws.close();
      return { depth: typeof ack === "string" ? arrayDepth(ack.slice(3)) - 1 : null, echoes };
    },
  },
  {
    name: "v3 polling: a 20,000-deep nested object in a length-prefixed payload is echoed back",
    sends: 'POST <n>:421["echo",{"a":{"a":…20,000…}}] on an EIO=3 polling session',
    expect: { echoed: true },
    async act(ctx) {
      const sid = await v3PollingOpen(ctx);
      const n = 20_000;
      const deep = `${'{"a":'.repeat(n)}{}${"}".repeat(n)}`;
      const packet = `421["echo",${deep}]`;
      await http(ctx.fx, v3PollPath(ctx.tag, sid), { method: "POST", body: `${packet.length}:${packet}` });
      const want = `431[${deep}]`;
      let echoed = false;
      for (let i = 0; i < 5 && !echoed; i++) echoed = (await http(ctx.fx, v3PollPath(ctx.tag, sid))).body.includes(`${want.length}:${want}`);
      return { echoed };
    },
  },

  // ── Socket.IO packets over a raw WebSocket ──────────────────────────────
  ...(["49", "47", "4", "4a", "4-1"] as const).map<Row>((frame) => ({
    name: `Socket.IO packet with a bad type ${JSON.stringify(frame)}`,
    sends: `WS ${JSON.stringify(frame)} after CONNECT`,
    expect: decodeError("unknown packet type"),
    act: (ctx) => sioSend(ctx, [frame], true),
  })),
  {
    name: "a 17-digit ack id",
    sends: `WS 42${"1".repeat(17)}["echo"]`,
    expect: decodeError("invalid ack id"),
    act: (ctx) => sioSend(ctx, [`42${"1".repeat(17)}["echo"]`], true),
  },
  {
    name: "a megabyte-long ack id is refused at once",
    sends: `WS 42<1,000,000 digits>["echo"]`,
    advisory: "CVE-2020-36049",
    expect: decodeError("invalid ack id"),
    act: (ctx) => sioSend(ctx, [`42${"1".repeat(1_000_000)}["echo"]`], true),
  },
  {
    name: "an ack id with a sign or letters",
    sends: 'WS 42-1["echo"]',
    expect: decodeError("invalid payload"),
    act: (ctx) => sioSend(ctx, ['42-1["echo"]'], true),
  },
  {
    name: "an ACK for an id never issued is ignored",
    sends: 'WS 43999["x"], 43["x"] (no id)',
    expect: survives,
    act: (ctx) => sioSend(ctx, ['43999["x"]', '43["x"]'], false),
  },
  ...RESERVED.map<Row>((name) => ({
    name: `reserved event name "${name}"`,
    sends: `WS 42["${name}"]`,
    expect: decodeError("invalid payload"),
    act: (ctx) => sioSend(ctx, [`42["${name}"]`], true),
  })),
  {
    name: "more than 10 attachments",
    sends: 'WS 4511-["echo",<11 placeholders>]',
    expect: decodeError("too many attachments"),
    act: (ctx) =>
      sioSend(ctx, [`4511-["echo",${Array.from({ length: 11 }, (_, i) => `{"_placeholder":true,"num":${i}}`).join(",")}]`], true),
  },
  {
    name: "a huge attachment count",
    sends: `WS 45<1,000 nines>-["echo"]`,
    advisory: "CVE-2026-33151",
    expect: decodeError("too many attachments"),
    act: (ctx) => sioSend(ctx, [`45${"9".repeat(1000)}-["echo"]`], true),
  },
  {
    name: "an attachment count over 2^32",
    sends: 'WS 454294967297-["echo"]',
    advisory: "CVE-2026-33151",
    expect: decodeError("too many attachments"),
    act: (ctx) => sioSend(ctx, ['454294967297-["echo"]'], true),
  },
  ...([
    ["out of range", "1"],
    ["negative", "-1"],
    ["fractional", "0.5"],
    ['"splice" (CVE-2022-2421)', '"splice"'],
    ['"__proto__"', '"__proto__"'],
    ["missing", null],
  ] as const).map<Row>(([label, num]) => ({
    name: `placeholder num ${label}`,
    sends: `WS 451-["echo",{"_placeholder":true${num === null ? "" : `,"num":${num}`}}] + one binary frame`,
    advisory: label.includes("CVE") ? "CVE-2022-2421" : undefined,
    expect: decodeError("illegal attachments"),
    act: (ctx) =>
      sioSend(ctx, [`451-["echo",{"_placeholder":true${num === null ? "" : `,"num":${num}`}}]`, new Uint8Array([1, 2])], true),
  })),
  {
    name: "a binary frame when none is expected",
    sends: "WS binary frame 01 02 after CONNECT",
    expect: decodeError("got binary data when not reconstructing a packet"),
    act: (ctx) => sioSend(ctx, [new Uint8Array([1, 2])], true),
  },
  {
    name: "a text frame while attachments are pending",
    sends: 'WS 451-["echo",<placeholder 0>] then 42["echo"]',
    expect: decodeError("got plaintext data when reconstructing a packet"),
    act: (ctx) => sioSend(ctx, ['451-["echo",{"_placeholder":true,"num":0}]', '42["echo"]'], true),
  },
  {
    name: "450- followed by endless binary frames: closed at the first, memory flat",
    sends: 'WS 450-["echo"] then up to 20,000 binary frames',
    advisory: "CVE-2026-69185",
    expect: (_rt, caps) => ({
      closed: true,
      server: ["error:got binary data when not reconstructing a packet", "disconnect:forced close", "engine-close:forced close"],
      rssGrowthUnder64MB: measurable(caps, true),
    }),
    async act(ctx) {
      const ws = await sioWs(ctx.fx, ctx.tag);
      const before = (await stats(ctx.fx)).rss;
      ws.sendText('450-["echo"]');
      const bin = Buffer.from([0x82, 0x84, 1, 2, 3, 4, 0, 0, 0, 0]);
      await flood(ws, bin, 20_000, 4000);
      const closed = await ws.closedWithin(3000);
      const server = await serverSaw(ctx, SETUP, "engine-close");
      return { closed, server, rssGrowthUnder64MB: measurable(ctx.caps, (await stats(ctx.fx)).rss - before < 64 * 1024 * 1024) };
    },
  },
  {
    name: "a duplicate CONNECT",
    sends: "WS 40 twice",
    expect: violation,
    act: (ctx) => sioSend(ctx, ["40"], true),
  },
  {
    name: "an EVENT for a namespace not joined",
    sends: 'WS 42/admin,["echo"]',
    expect: violation,
    act: (ctx) => sioSend(ctx, ['42/admin,["echo"]'], true),
  },
  {
    name: "a DISCONNECT for a namespace not joined",
    sends: "WS 41/admin,",
    expect: violation,
    act: (ctx) => sioSend(ctx, ["41/admin,"], true),
  },
  {
    name: "a CONNECT_ERROR sent by the client",
    sends: 'WS 44{"message":"x"}',
    expect: violation,
    act: (ctx) => sioSend(ctx, ['44{"message":"x"}'], true),
  },
  {
    name: "a CONNECT to an unknown namespace: CONNECT_ERROR, the connection stays",
    sends: "WS 40/nope,",
    expect: { reply: '44/nope,{"message":"Invalid namespace"}', echoes: true },
    async act(ctx) {
      const ws = await sioWs(ctx.fx, ctx.tag);
      ws.sendText("40/nope,");
      const reply = await ws.next();
      const echoes = await rawEchoes(ws);
      ws.close();
      return { reply, echoes };
    },
  },
  {
    name: "a CONNECT to a megabyte-long namespace: CONNECT_ERROR within a second",
    sends: 'WS 40/<1,000,000 x a>,',
    advisory: "CVE-2020-36049",
    expect: { replied: true, fast: true, echoes: true },
    async act(ctx) {
      const ws = await sioWs(ctx.fx, ctx.tag);
      const nsp = "/" + "a".repeat(1_000_000);
      const t0 = Date.now();
      ws.sendText(`40${nsp},`);
      const reply = await ws.next(3000);
      const fast = Date.now() - t0 < 1000;
      const echoes = await rawEchoes(ws);
      ws.close();
      return { replied: reply === `44${nsp},{"message":"Invalid namespace"}`, fast, echoes };
    },
  },
  {
    name: "an EVENT for a megabyte-long namespace",
    sends: 'WS 42/<1,000,000 x a>,["echo"]',
    advisory: "CVE-2020-36049",
    expect: violation,
    act: (ctx) => sioSend(ctx, [`42/${"a".repeat(1_000_000)},["echo"]`], true),
  },
  ...(
    [
      ["null", "null"],
      ["an object", "{}"],
      ['{"toString":"foo"} (CVE-2023-32695)', '{"toString":"foo"}'],
      ["an array", '["echo"]'],
      ["a boolean", "true"],
    ] as const
  ).map<Row>(([label, name]) => ({
    name: `non-string event name: ${label}`,
    sends: `WS 42[${name}]`,
    advisory: label.includes("CVE") ? "CVE-2023-32695" : undefined,
    expect: decodeError("invalid payload"),
    act: (ctx) => sioSend(ctx, [`42[${name}]`], true),
  })),
  {
    name: "a numeric event name is accepted (the reference allows numbers)",
    sends: "WS 42[1,2]",
    expect: survives,
    act: (ctx) => sioSend(ctx, ["42[1,2]"], false),
  },
  {
    name: 'an event named "error" with no listener of the app',
    sends: 'WS 42["error","boom"] and 421["error"] (tag bare-: no app error listener)',
    advisory: "CVE-2024-38355",
    expect: survives,
    async act(ctx) {
      return sioSend({ ...ctx, tag: `bare-${ctx.tag}` }, ['42["error","boom"]', '421["error"]'], false);
    },
  },
  ...(["hasOwnProperty", "__proto__", "constructor", "toString", "valueOf", "__defineGetter__"] as const).map<Row>((name) => ({
    name: `an event named "${name}" with no listener`,
    sends: `WS 42["${name}",1] and 427["${name}"]`,
    expect: survives,
    act: (ctx) => sioSend(ctx, [`42["${name}",1]`, `427["${name}"]`], false),
  })),
  {
    name: "a 20,000-deep nested array is echoed back",
    sends: 'WS 421["echo",[[[…20,000…]]]]',
    advisory: "the reference's process dies of a stack overflow in hasBinary",
    expect: { depth: 20_000, echoes: true },
    async act(ctx) {
      const ws = await sioWs(ctx.fx, ctx.tag);
      const n = 20_000;
      ws.sendText(`421["echo",${"[".repeat(n)}${"]".repeat(n)}]`);
      const ack = await ws.nextMatching((f) => typeof f === "string" && f.startsWith("431"), 5000);
      const echoes = await rawEchoes(ws);
      ws.close();
      return { depth: typeof ack === "string" ? arrayDepth(ack.slice(3)) - 1 : null, echoes };
    },
  },
  {
    name: "a 20,000-deep nested object is echoed back",
    sends: 'WS 421["echo",{"a":{"a":…20,000…}}]',
    expect: { length: 2 * (20_000 * 5 + 2) + 4, echoes: true },
    async act(ctx) {
      const ws = await sioWs(ctx.fx, ctx.tag);
      const n = 20_000;
      const deep = `${'{"a":'.repeat(n)}{}${"}".repeat(n)}`;
      ws.sendText(`421["echo",${deep}]`);
      const ack = await ws.nextMatching((f) => typeof f === "string" && f.startsWith("431"), 5000);
      const echoes = await rawEchoes(ws);
      ws.close();
      return { length: typeof ack === "string" && ack === `431[${deep}]` ? 2 * (n * 5 + 2) + 4 : String(ack).slice(0, 40), echoes };
    },
  },
  {
    name: "prototype-polluting keys in an event payload are echoed as data and pollute nothing",
    sends: 'WS 421["echo",{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":1}}}]',
    expect: { ack: '431[{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":1}}}]', polluted: false },
    async act(ctx) {
      const ws = await sioWs(ctx.fx, ctx.tag);
      ws.sendText('421["echo",{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":1}}}]');
      const ack = await ws.nextMatching((f) => typeof f === "string" && f.startsWith("431"));
      ws.close();
      return { ack, polluted: (await stats(ctx.fx)).polluted };
    },
  },
  {
    name: "prototype-polluting keys in the CONNECT auth stay data",
    sends: 'WS 40{"__proto__":{"isAdmin":true},"constructor":{"prototype":{"x":1}}}, then inspect',
    expect: { authKeys: ["__proto__", "constructor"], authIsAdmin: null, authProtoIsObject: true, polluted: false },
    async act(ctx) {
      const ws = await sioWs(ctx.fx, ctx.tag, "/", JSON.parse('{"__proto__":{"isAdmin":true},"constructor":{"prototype":{"x":1}}}'));
      ws.sendText('421["inspect"]');
      const ack = await ws.nextMatching((f) => typeof f === "string" && f.startsWith("431"));
      ws.close();
      const info = JSON.parse(String(ack).slice(3))[0];
      return { authKeys: info.authKeys, authIsAdmin: info.authIsAdmin, authProtoIsObject: info.authProtoIsObject, polluted: info.polluted };
    },
  },
  {
    name: "a CONNECT whose auth is not an object",
    sends: 'WS 40["x"] and 40"x"',
    expect: { closed: true, server: ["engine-close:forced close"] },
    async act(ctx) {
      const { ws } = await eioWs(ctx.fx, ctx.tag);
      ws.sendText('40["x"]');
      const closed = await ws.closedWithin(2000);
      return { closed, server: await serverSaw(ctx, ["engine-open:websocket"], "engine-close") };
    },
  },

  // ── Socket.IO packets over polling ──────────────────────────────────────
  {
    name: "a reserved event name over polling closes the session; the next GET gets the close packet or code 1",
    sends: 'POST 42["disconnect"] on a connected polling session',
    // A graceful close with no GET held: the next GET carries `6␞1` (noop, close), as the reference.
    expect: { post: 200, server: ["error:invalid payload", "disconnect:forced close", "engine-close:forced close"], next: { status: 200, json: "6\x1e1" } },
    async act(ctx) {
      const sid = await sioPolling(ctx.fx, ctx.tag);
      const post = await http(ctx.fx, pollPath(ctx.tag, sid), { method: "POST", body: '42["disconnect"]' });
      const next = errorReply(await http(ctx.fx, pollPath(ctx.tag, sid)));
      const server = await serverSaw(ctx, ["engine-open:polling", "connect:/"], "engine-close");
      return { post: post.status, server, next };
    },
  },
  {
    name: "a binary attachment over polling when none is expected",
    sends: "POST bAQI= (base64 binary) on a connected polling session",
    expect: {
      post: 200,
      next: { status: 200, json: "6\x1e1" },
      server: ["error:got binary data when not reconstructing a packet", "disconnect:forced close", "engine-close:forced close"],
    },
    async act(ctx) {
      const sid = await sioPolling(ctx.fx, ctx.tag);
      const post = await http(ctx.fx, pollPath(ctx.tag, sid), { method: "POST", body: "bAQI=" });
      const next = errorReply(await http(ctx.fx, pollPath(ctx.tag, sid)));
      return { post: post.status, next, server: await serverSaw(ctx, ["engine-open:polling", "connect:/"], "engine-close") };
    },
  },
];

const names = new Set<string>();
for (const r of rows) {
  if (names.has(r.name)) throw new Error(`duplicate row name: ${r.name}`);
  names.add(r.name);
}

describe.each(selectedRuntimes())("hostile input on $name", (runtime) => {
  let fx: RunningFixture;
  let bystanders: Bystander[] = [];
  let baseline: { rss: number };

  beforeAll(async () => {
    fx = await startFixture(runtime);
    bystanders = [await bystander(fx, "websocket"), await bystander(fx, "polling")];
    baseline = await stats(fx);
  });

  afterAll(async () => {
    for (const b of bystanders) b.socket.close();
    await fx?.stop();
  });

  it.each(rows)("$name", async (row) => {
    const ctx: Ctx = { fx, runtime: runtime.name, caps: runtime.hardening, tag: newTag(row.name.replace(/[^a-z0-9]+/gi, "-").slice(0, 40)) };
    const expected = typeof row.expect === "function" ? row.expect(runtime.name, runtime.hardening) : row.expect;
    const observed = await row.act(ctx);
    expect(observed, `sent: ${row.sends}`).toEqual(expected);
    for (const b of bystanders) expect(await bystanderEchoes(b), `bystander over ${b.name}`).toBe(true);
    const s = await stats(fx);
    expect({ uncaught: s.uncaught, polluted: s.polluted }, s.uncaughtMessages.join("\n")).toEqual({ uncaught: 0, polluted: false });
  });

  it("afterwards, the server is back to idle: only the bystanders remain, nothing dangles", async () => {
    // Sessions the rows abandoned end within pingInterval + pingTimeout (2 s here).
    // Past the deadline the last stats are compared, so that the failure shows them whole.
    const s = await waitFor(
      async () => {
        const st = await stats(fx);
        return st.clientsCount === 2 && st.sockets === 2 && st.adminSockets === 0 ? st : null;
      },
      { timeout: 8000, interval: 25, what: "bystanders only" },
    ).catch(() => stats(fx));
    expect({ clients: s.clientsCount, sockets: s.sockets, rooms: s.rooms, sids: s.sids }, s.sessions.join(", ")).toEqual({ clients: 2, sockets: 2, rooms: 2, sids: 2 });
    // Two heartbeats (one per bystander) and at most one pending connect/ack entry each.
    expect(s.scheduler).toBeLessThanOrEqual(4);
    // Live runtime timers: the scheduler's one, plus the test's own polling GET holds none.
    expect(s.timers).toBeLessThanOrEqual(3);
    expect(s.uncaught).toBe(0);
    // Hostile rows sent ~30 MB in total; what stays must be far less.
    if (runtime.hardening.memory) expect(s.rss - baseline.rss).toBeLessThan(200 * 1024 * 1024);
  });
});
