/**
 * Engine.IO / Socket.IO sessions driven by hand over the raw clients of
 * test/helpers/raw-wire.ts, the fixture's control endpoint, and the bystanders: official
 * socket.io-client connections (WebSocket and polling) that must keep
 * echoing whatever a hostile client does.
 */
import { io as ioClient, type Socket as ClientSocket } from "socket.io-client";
import type { RunningFixture } from "../conformance/harness.ts";
import { RawWs, type RawResponse, isRawWs } from "../helpers/raw-wire.ts";
import { once, waitFor } from "../helpers/wait.ts";

export const SIO = "/socket.io/";

export interface Stats {
  runtime: string;
  rss: number;
  heapUsed: number;
  clientsCount: number;
  sockets: number;
  adminSockets: number;
  rooms: number;
  sids: number;
  scheduler: number;
  listeners: number;
  timers: number;
  handles: number | null;
  handleTypes: Record<string, number> | null;
  uncaught: number;
  uncaughtMessages: string[];
  connectionErrors: Record<string, number>;
  connections: number;
  disconnects: number;
  messages: number;
  polluted: boolean;
  sessions: string[];
}

let tagSeq = 0;
/** A tag unique to this test process, for `/__hardening/log`. */
export function newTag(prefix = "t"): string {
  return `${prefix}-${process.pid}-${++tagSeq}`;
}

export async function control<T>(fx: RunningFixture, what: string): Promise<T> {
  const res = await fetch(`${fx.url}/__hardening/${what}`, { signal: AbortSignal.timeout(5000) });
  return (await res.json()) as T;
}

export const stats = (fx: RunningFixture) => control<Stats>(fx, "stats");
export const logOf = (fx: RunningFixture, tag: string) => control<string[]>(fx, `log?tag=${encodeURIComponent(tag)}`);

/**
 * Waits until the server log for `tag` has an entry starting with `prefix`;
 * returns the log. Past `ms` it returns the log as it is: the caller's
 * assertions on it then fail, showing it whole.
 */
export async function logHas(fx: RunningFixture, tag: string, prefix: string, ms = 3000): Promise<string[]> {
  let last: string[] = [];
  await waitFor(async () => (last = await logOf(fx, tag)).some((e) => e.startsWith(prefix)), {
    timeout: ms,
    interval: 40,
    what: `"${prefix}" in the log of ${tag}`,
  }).catch(() => {});
  return last;
}

export interface SessionState {
  readyState: string;
  transport: string;
  writable: boolean;
}
export const sessionsOf = (fx: RunningFixture, tag: string) => control<SessionState[]>(fx, `session?tag=${encodeURIComponent(tag)}`);

/** Waits until the server holds a polling GET of `tag`'s session (its transport can write). */
export async function pollHeld(fx: RunningFixture, tag: string): Promise<void> {
  await waitFor(async () => (await sessionsOf(fx, tag)).some((c) => c.transport === "polling" && c.writable), {
    interval: 20,
    what: `a held polling GET of ${tag}`,
  });
}

export function sioQuery(tag: string, transport: "polling" | "websocket", extra = ""): string {
  return `${SIO}?EIO=4&transport=${transport}&tag=${encodeURIComponent(tag)}${extra}`;
}

/** An Engine.IO WebSocket session opened by hand: the open packet is consumed. */
export async function eioWs(fx: RunningFixture, tag: string): Promise<{ ws: RawWs; sid: string }> {
  const ws = await RawWs.open(fx.port, sioQuery(tag, "websocket"));
  if (!isRawWs(ws)) throw new Error(`upgrade refused: ${ws.status} ${ws.body}`);
  const open = await ws.next();
  if (typeof open !== "string" || open[0] !== "0") throw new Error(`no open packet: ${String(open)}`);
  return { ws, sid: JSON.parse(open.slice(1)).sid };
}

/** A Socket.IO client over a raw WebSocket, connected to `nsp` (CONNECT reply consumed). */
export async function sioWs(fx: RunningFixture, tag: string, nsp = "/", auth?: object): Promise<RawWs> {
  const { ws } = await eioWs(fx, tag);
  const prefix = nsp === "/" ? "" : `${nsp},`;
  ws.sendText(`40${prefix}${auth ? JSON.stringify(auth) : ""}`);
  const reply = await ws.next();
  if (typeof reply !== "string" || !reply.startsWith(`40${prefix}{"sid":`)) throw new Error(`no CONNECT reply: ${String(reply)}`);
  return ws;
}

let ackSeq = 1000;
/** Whether a raw Socket.IO client still gets its echo acked (it is alive and routed). */
export async function rawEchoes(ws: RawWs, nsp = "/", ms = 2000): Promise<boolean> {
  const id = ++ackSeq;
  const prefix = nsp === "/" ? "" : `${nsp},`;
  if (!ws.sendText(`42${prefix}${id}["echo","alive"]`)) return false;
  const f = await ws.nextMatching((fr) => fr === `43${prefix}${id}["alive"]`, ms);
  return f !== null;
}

export interface FetchResult {
  status: number;
  body: string;
  contentType: string | null;
}

export async function http(
  fx: RunningFixture,
  path: string,
  init: { method?: string; body?: string | Uint8Array; headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<FetchResult> {
  const res = await fetch(fx.url + path, {
    method: init.method ?? "GET",
    body: init.body as BodyInit | undefined,
    headers: init.headers,
    signal: AbortSignal.timeout(init.timeoutMs ?? 4000),
  });
  return { status: res.status, body: await res.text(), contentType: res.headers.get("content-type") };
}

/** A polling handshake; returns the sid. */
export async function pollingOpen(fx: RunningFixture, tag: string, extra = ""): Promise<string> {
  const r = await http(fx, sioQuery(tag, "polling", extra));
  if (r.status !== 200 || r.body[0] !== "0") throw new Error(`handshake failed: ${r.status} ${r.body}`);
  return JSON.parse(r.body.slice(1).split("\x1e")[0]!).sid;
}

export const pollPath = (tag: string, sid: string) => sioQuery(tag, "polling", `&sid=${encodeURIComponent(sid)}`);

/** A Socket.IO client over polling driven by hand: connected to "/". */
export async function sioPolling(fx: RunningFixture, tag: string): Promise<string> {
  const sid = await pollingOpen(fx, tag);
  const post = await http(fx, pollPath(tag, sid), { method: "POST", body: "40" });
  if (post.body !== "ok") throw new Error(`CONNECT POST failed: ${post.status} ${post.body}`);
  const get = await http(fx, pollPath(tag, sid));
  if (!get.body.startsWith('40{"sid":')) throw new Error(`no CONNECT reply: ${get.body}`);
  return sid;
}

/** What an Engine.IO error reply looks like, for comparing whole results. */
export function errorReply(r: FetchResult | RawResponse): { status: number | null; json: unknown } {
  let json: unknown = null;
  try {
    json = JSON.parse(r.body);
  } catch {
    json = r.body;
  }
  return { status: r.status, json };
}

// ── bystanders ─────────────────────────────────────────────────────────────

export interface Bystander {
  name: string;
  socket: ClientSocket;
  /** Disconnections seen since it connected (must stay 0). */
  disconnects: string[];
}

export async function bystander(fx: RunningFixture, transport: "websocket" | "polling"): Promise<Bystander> {
  const socket = ioClient(fx.url, {
    transports: [transport],
    upgrade: false,
    reconnection: false,
    forceNew: true,
    query: { tag: newTag(`bystander-${transport}`) },
    timeout: 5000,
  });
  const b: Bystander = { name: transport, socket, disconnects: [] };
  socket.on("disconnect", (reason) => b.disconnects.push(reason));
  await once(socket, "connect", { failOn: "connect_error", timeout: 10_000 });
  return b;
}

let echoSeq = 0;
/** The bystander still echoes, with an ack, within `ms`. */
export async function bystanderEchoes(b: Bystander, ms = 4000): Promise<boolean> {
  const token = `still-here-${++echoSeq}`;
  try {
    const got = await b.socket.timeout(ms).emitWithAck("echo", token);
    return got === token && b.disconnects.length === 0;
  } catch {
    return false;
  }
}
