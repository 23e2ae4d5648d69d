/**
 * The slice of the Cloudflare Workers runtime this shim touches, declared
 * here so the package needs no @cloudflare/workers-types. Names follow the
 * runtime's; only members we call are listed.
 */

/** A server-side WebSocket accepted through the Hibernation API. */
export interface CfWebSocket {
  send(data: string | ArrayBuffer | ArrayBufferView): void;
  close(code?: number, reason?: string): void;
  serializeAttachment(value: unknown): void;
  deserializeAttachment(): unknown;
  readonly readyState: number;
}

export interface SqlCursor<T> {
  toArray(): T[];
}

export interface SqlStorage {
  exec<T = Record<string, unknown>>(query: string, ...bindings: unknown[]): SqlCursor<T>;
}

export interface DurableObjectStorage {
  getAlarm(): Promise<number | null>;
  setAlarm(scheduledTime: number): Promise<void>;
  deleteAlarm(): Promise<void>;
  /** Present on SQLite-backed classes (`new_sqlite_classes` in wrangler config). */
  readonly sql?: SqlStorage;
}

export interface DurableObjectId {
  toString(): string;
  readonly name?: string;
}

export interface DurableObjectState {
  readonly id: DurableObjectId;
  readonly storage: DurableObjectStorage;
  acceptWebSocket(ws: CfWebSocket, tags?: string[]): void;
  getWebSockets(tag?: string): CfWebSocket[];
  setWebSocketAutoResponse(pair?: unknown): void;
  getWebSocketAutoResponseTimestamp(ws: CfWebSocket): Date | null;
  blockConcurrencyWhile<T>(fn: () => Promise<T>): Promise<T>;
  waitUntil(promise: Promise<unknown>): void;
}

/** A stub: `fetch` plus the RPC methods of the class it points at. */
export type DurableObjectStub<T = unknown> = { fetch(request: Request): Promise<Response> } & T;

export interface DurableObjectNamespace<T = unknown> {
  idFromName(name: string): DurableObjectId;
  idFromString(id: string): DurableObjectId;
  get(id: DurableObjectId): DurableObjectStub<T>;
}

/** What a Worker's `fetch` receives beside the request. */
export interface ExecutionContext {
  waitUntil(promise: Promise<unknown>): void;
}

// Runtime globals of workerd.
declare const WebSocketPair: new () => { 0: CfWebSocket; 1: CfWebSocket };
declare const WebSocketRequestResponsePair: new (request: string, response: string) => unknown;

/** A connected pair: `client` goes back in the 101 response, `server` stays in the object. */
export function newWebSocketPair(): { client: CfWebSocket; server: CfWebSocket } {
  const pair = new WebSocketPair();
  return { client: pair[0], server: pair[1] };
}

export function autoResponsePair(request: string, response: string): unknown {
  return new WebSocketRequestResponsePair(request, response);
}

/** The 101 response that hands `client` to the runtime. */
export function webSocketResponse(client: CfWebSocket, headers: Record<string, string>): Response {
  return new Response(null, { status: 101, headers, webSocket: client } as ResponseInit);
}
