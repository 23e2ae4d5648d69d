/**
 * The benchmark's tiny app, written once as plain strings so the "ceiling"
 * servers (bare ws, Bun.serve, Deno.serve) and the Engine-level unio servers
 * answer with exactly the bytes a Socket.IO server would send:
 *
 *   client sends                       server answers
 *   ────────────                       ──────────────
 *   40                                 40{"sid":"…"}            (to the sender)
 *   42["bcast",<payload>]              42["msg",<payload>]      (to everyone)
 *   42<id>["echo",<payload>]           43<id>[<payload>]        (to the sender)
 *
 * Functions here take and return Socket.IO packets *without* the Engine.IO
 * `4` (message) prefix; the WebSocket ceilings add and strip it themselves.
 * Runtime-neutral: imported by Node, Bun and Deno server scripts alike.
 */

export const ENGINE_PATH = "/socket.io/";
export const PING_INTERVAL = 25_000;
export const PING_TIMEOUT = 20_000;
export const MAX_PAYLOAD = 1_000_000;

let counter = 0;
/** A short unique id; the ceilings do not need unguessable ids. */
export function nextId(prefix: string): string {
  counter++;
  return prefix + counter.toString(36).padStart(8, "0") + Math.random().toString(36).slice(2, 10);
}

/** The Engine.IO open packet (`0{…}`) a ceiling sends first. */
export function openPacket(sid: string, upgrades: string[] = []): string {
  return (
    "0" +
    JSON.stringify({ sid, upgrades, pingInterval: PING_INTERVAL, pingTimeout: PING_TIMEOUT, maxPayload: MAX_PAYLOAD })
  );
}

export type Answer =
  | { kind: "reply"; packet: string }
  | { kind: "broadcast"; packet: string }
  | null;

const BCAST = '2["bcast",';
const ECHO = '["echo",';

/**
 * What the app does with one Socket.IO packet (text after the Engine.IO `4`).
 * Pure string work, no JSON parsing: this is the floor a real server cannot
 * go below.
 */
export function answerSocketIo(packet: string): Answer {
  const c = packet.charCodeAt(0);
  if (c === 48 /* 0: CONNECT */) {
    return { kind: "reply", packet: '0{"sid":"' + nextId("s") + '"}' };
  }
  if (c !== 50 /* 2: EVENT */) return null;
  if (packet.startsWith(BCAST)) {
    return { kind: "broadcast", packet: '2["msg",' + packet.slice(BCAST.length) };
  }
  // 2<ack id>["echo",<payload>]
  let i = 1;
  while (i < packet.length) {
    const d = packet.charCodeAt(i);
    if (d < 48 || d > 57) break;
    i++;
  }
  if (i === 1 || !packet.startsWith(ECHO, i)) return null;
  return { kind: "reply", packet: "3" + packet.slice(1, i) + "[" + packet.slice(i + ECHO.length) };
}

/** One long-polling session of a ceiling server. */
interface PollSession {
  queue: string[];
  waiter: ((body: string) => void) | null;
}

/**
 * Minimal Engine.IO long-polling for the ceilings: handshake, held GETs,
 * POSTed payloads (packets joined by \x1e). No heartbeat, no upgrade: the
 * polling row measures request handling, which is what this keeps.
 */
export class PollingCeiling {
  readonly sessions = new Map<string, PollSession>();

  /** The sid in a query string, or null. */
  static sidOf(url: string): string | null {
    const at = url.indexOf("sid=");
    if (at === -1) return null;
    const end = url.indexOf("&", at);
    return url.slice(at + 4, end === -1 ? undefined : end);
  }

  /** GET: the handshake (no sid) or a poll, answered now or when data arrives. */
  get(sid: string | null): string | Promise<string> | undefined {
    if (sid === null) {
      const id = nextId("p");
      this.sessions.set(id, { queue: [], waiter: null });
      return openPacket(id);
    }
    const s = this.sessions.get(sid);
    if (!s || s.waiter) return undefined;
    if (s.queue.length) return this.#drain(s);
    return new Promise<string>((resolve) => {
      s.waiter = resolve;
    });
  }

  /** POST: handles each packet of the payload; false for an unknown sid. */
  post(sid: string | null, body: string): boolean {
    const s = sid === null ? undefined : this.sessions.get(sid);
    if (!s || sid === null) return false;
    for (const p of body.split("\x1e")) {
      if (p === "1") {
        this.sessions.delete(sid);
        continue;
      }
      if (p.charCodeAt(0) !== 52 /* 4 */) continue;
      const a = answerSocketIo(p.slice(1));
      if (!a) continue;
      if (a.kind === "reply") this.#push(s, "4" + a.packet);
      else for (const other of this.sessions.values()) this.#push(other, "4" + a.packet);
    }
    return true;
  }

  #push(s: PollSession, packet: string): void {
    s.queue.push(packet);
    const w = s.waiter;
    if (w) {
      s.waiter = null;
      w(this.#drain(s));
    }
  }

  #drain(s: PollSession): string {
    const body = s.queue.length === 1 ? s.queue[0]! : s.queue.join("\x1e");
    s.queue = [];
    return body;
  }
}
