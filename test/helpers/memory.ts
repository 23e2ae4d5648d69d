/**
 * In-memory stand-ins for what a runtime shim gives the engine: an
 * `IncomingRequest` and a `WsConnection`, plus small helpers that drive an
 * `Engine` through `handleRequest`/`handleUpgrade` without any network.
 */
import { Engine, type EngineOptions, type EngineSocket } from "../../src/index.ts";
import { FakeClock } from "../../src/testing.ts";
import type {
  BodyResult,
  IncomingRequest,
  OutgoingResponse,
  UpgradeAccept,
  UpgradeResult,
  WsConnection,
  WsHandler,
} from "../../src/engine/facade.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface MemoryRequestInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  remoteAddress?: string;
}

/** A request whose body is in memory; `holdBody()` keeps `readBody` pending until released. */
export class MemoryRequest implements IncomingRequest {
  readonly method: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly remoteAddress: string;
  readonly secure = false;
  #body: Uint8Array;
  #abortListeners: Array<() => void> = [];
  #gate: Promise<void> | null = null;
  aborted = false;

  constructor(
    readonly url: string,
    init: MemoryRequestInit = {},
  ) {
    this.method = init.method ?? "GET";
    this.headers = init.headers ?? {};
    this.remoteAddress = init.remoteAddress ?? "127.0.0.1";
    this.#body = typeof init.body === "string" ? encoder.encode(init.body) : (init.body ?? new Uint8Array(0));
  }

  /** Makes `readBody` wait until the returned function is called (a POST still uploading). */
  holdBody(): () => void {
    let release!: () => void;
    this.#gate = new Promise((r) => (release = r));
    return release;
  }

  async readBody(limit: number): Promise<BodyResult> {
    if (this.#gate) await this.#gate;
    if (this.aborted) return { ok: false, reason: "aborted" };
    if (this.#body.byteLength > limit) return { ok: false, reason: "too-large" };
    return { ok: true, bytes: this.#body };
  }

  onAbort(listener: () => void): void {
    this.#abortListeners.push(listener);
  }

  /** The client goes away before the response was sent. */
  abort(): void {
    this.aborted = true;
    for (const l of this.#abortListeners) l();
  }
}

/** The server end of a WebSocket, recorded; the test plays the client through `receive`/`clientClose`. */
export class MemoryWs implements WsConnection {
  readonly sent: Array<string | Uint8Array> = [];
  closed = false;
  closeCode: number | undefined;
  bufferedAmount = 0;
  handler!: WsHandler;

  send(data: string | Uint8Array): void {
    if (this.closed) throw new Error("send on a closed MemoryWs");
    this.sent.push(data);
  }

  close(code?: number): void {
    if (this.closed) return;
    this.closed = true;
    this.closeCode = code;
  }

  /** A frame from the client. */
  receive(data: string | Uint8Array): void {
    this.handler.onMessage(data);
  }

  /** The client closed the socket. */
  clientClose(code = 1000): void {
    this.closed = true;
    this.handler.onClose(code, "");
  }

  /** Frames sent so far, binary ones shown as `<bin:...>`. */
  get frames(): string[] {
    return this.sent.map((f) => (typeof f === "string" ? f : `<bin:${[...f].join(",")}>`));
  }
}

export const PATH = "/engine.io/";

export function engineUrl(query: Record<string, string> = {}, path = PATH): string {
  const q = new URLSearchParams({ EIO: "4", transport: "polling", ...query });
  return `${path}?${q}`;
}

export function bodyText(res: OutgoingResponse): string {
  return typeof res.body === "string" ? res.body : decoder.decode(res.body);
}

/** Lets queued microtasks and promise chains run (the engine batches writes per tick). */
export function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A promise plus whether it has settled yet (a held GET is pending until the engine writes). */
export interface Tracked<T> {
  readonly promise: Promise<T>;
  settled: boolean;
  value: T | undefined;
}

export function track<T>(promise: Promise<T>): Tracked<T> {
  const t: Tracked<T> = { promise, settled: false, value: undefined };
  promise.then((v) => {
    t.settled = true;
    t.value = v;
  });
  return t;
}

export interface TestEngine {
  engine: Engine;
  clock: FakeClock;
  /** Every session the engine opened, in order. */
  sockets: EngineSocket[];
}

export function createEngine(opts: EngineOptions = {}): TestEngine {
  const clock = new FakeClock();
  const engine = new Engine({ clock, ...opts });
  const sockets: EngineSocket[] = [];
  engine.on("connection", (s) => sockets.push(s));
  return { engine, clock, sockets };
}

export interface Handshake {
  sid: string;
  /** The open packet's JSON, unparsed (key order matters). */
  openJson: string;
  open: { sid: string; upgrades: string[]; pingInterval: number; pingTimeout: number; maxPayload: number };
  response: OutgoingResponse;
  socket: EngineSocket;
}

/** A polling handshake; the body must start with the open packet. */
export async function handshake(engine: Engine, query: Record<string, string> = {}, init: MemoryRequestInit = {}): Promise<Handshake> {
  let socket: EngineSocket | undefined;
  const onConnection = (s: EngineSocket) => (socket = s);
  engine.on("connection", onConnection);
  const response = await engine.handleRequest(new MemoryRequest(engineUrl(query), init));
  engine.off("connection", onConnection);
  const text = bodyText(response);
  if (response.status !== 200 || text[0] !== "0") throw new Error(`handshake failed: ${response.status} ${text}`);
  const first = text.split("\x1e")[0]!;
  const openJson = first.slice(1);
  const open = JSON.parse(openJson);
  if (!socket) throw new Error("no connection event");
  return { sid: open.sid, openJson, open, response, socket };
}

/** A polling GET on a session; settles when the engine writes to it. */
export function get(engine: Engine, sid: string, init: MemoryRequestInit = {}): Tracked<OutgoingResponse> & { req: MemoryRequest } {
  const req = new MemoryRequest(engineUrl({ sid }), init);
  return Object.assign(track(engine.handleRequest(req)), { req });
}

/** A polling POST on a session. */
export function post(engine: Engine, sid: string, body: string, init: MemoryRequestInit = {}): Promise<OutgoingResponse> {
  const req = new MemoryRequest(engineUrl({ sid }), {
    method: "POST",
    headers: { "content-type": "text/plain;charset=UTF-8" },
    ...init,
    body,
  });
  return engine.handleRequest(req);
}

export interface OpenedWs {
  ws: MemoryWs;
  result: UpgradeAccept;
}

/** A WebSocket upgrade that the engine must accept; the socket is opened at once. */
export async function openWs(engine: Engine, query: Record<string, string> = {}): Promise<OpenedWs> {
  const result = await upgradeRequest(engine, query);
  if (result.kind !== "accept") throw new Error(`upgrade refused: ${result.response.status} ${bodyText(result.response)}`);
  const ws = new MemoryWs();
  ws.handler = result.open(ws);
  return { ws, result };
}

export function upgradeRequest(engine: Engine, query: Record<string, string> = {}, init: MemoryRequestInit = {}): Promise<UpgradeResult> {
  const req = new MemoryRequest(engineUrl({ transport: "websocket", ...query }), {
    ...init,
    headers: { connection: "Upgrade", upgrade: "websocket", ...init.headers },
  });
  return engine.handleUpgrade(req);
}
