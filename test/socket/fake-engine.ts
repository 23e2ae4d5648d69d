/**
 * An in-memory Engine.IO socket for socket-layer unit tests: records what
 * the server writes, lets the test inject client messages, and closes like
 * the real session does (synchronous "close" event).
 */
import { FakeClock } from "../../src/engine/clock.ts";
import { Emitter } from "../../src/engine/emitter.ts";
import type { BodyResult, IncomingRequest } from "../../src/engine/facade.ts";
import type { OutboundMessage } from "../../src/engine/outbound.ts";
import type { SessionHandler, EngineCloseReason, EngineSocket, EngineSocketEvents, SessionState } from "../../src/engine/types.ts";
import { Decoder, type Packet } from "../../src/protocol/socket-io.ts";
import { Server, type ServerOptions } from "../../src/socket/server.ts";

let nextSid = 0;

export interface FakeRequestInit {
  url?: string;
  headers?: Record<string, string>;
  remoteAddress?: string;
  secure?: boolean;
}

export class FakeEngineSocket extends Emitter<EngineSocketEvents> implements EngineSocket {
  readonly id = `sid${nextSid++}`;
  readonly protocol = 4 as const;
  readyState: SessionState = "open";
  readonly request: IncomingRequest;
  readonly remoteAddress: string;
  readonly transport = { name: "websocket" as const, writable: true };
  readonly upgrading = false;
  /** Every frame written, in order (text frames without the Engine.IO "4" prefix). */
  readonly sent: Array<string | Uint8Array> = [];
  /** The message arrays handed to sendMessages (identity checks for encode-once). */
  readonly batches: Array<readonly OutboundMessage[]> = [];
  closedWith: { discard: boolean } | undefined;
  /** Called once closed (the engine's registry removal). */
  onClosed: (() => void) | undefined;
  handler: SessionHandler | null = null;

  setHandler(handler: SessionHandler | null): void {
    this.handler = handler;
  }

  constructor(init: FakeRequestInit = {}) {
    super();
    this.remoteAddress = init.remoteAddress ?? "127.0.0.1";
    this.request = {
      method: "GET",
      url: init.url ?? "/socket.io/?EIO=4&transport=websocket",
      headers: init.headers ?? { host: "localhost" },
      remoteAddress: this.remoteAddress,
      secure: init.secure ?? false,
      readBody: async (): Promise<BodyResult> => ({ ok: false, reason: "aborted" }),
      onAbort: () => {},
    };
  }

  send(data: string | Uint8Array): this {
    if (this.readyState === "open") this.sent.push(data);
    return this;
  }

  write(data: string | Uint8Array): this {
    return this.send(data);
  }

  /** No runtime fan-out here: broadcasts go socket by socket. */
  readonly fanout = null;

  sendMessages(messages: readonly OutboundMessage[]): void {
    if (this.readyState !== "open") return;
    this.batches.push(messages);
    for (const m of messages) this.sent.push(m.data);
  }

  close(discard = false): this {
    if (this.readyState !== "open") return this;
    this.closedWith = { discard };
    this.readyState = "closed";
    this.onClosed?.();
    this.handler?.onClose("forced close");
    this.emit("close", "forced close");
    return this;
  }

  /** The client sends a Socket.IO frame. */
  receive(data: string | Uint8Array): void {
    this.handler?.onMessage(data);
    this.emit("message", data);
  }

  /** The transport drops (client went away). */
  drop(reason: EngineCloseReason = "transport close"): void {
    if (this.readyState !== "open") return;
    this.readyState = "closed";
    this.onClosed?.();
    this.handler?.onClose(reason);
    this.emit("close", reason);
  }

  /** Text frames written, as strings. */
  get texts(): string[] {
    return this.sent.filter((f): f is string => typeof f === "string");
  }

  /** Decodes everything written so far. */
  packets(): Packet[] {
    const decoder = new Decoder();
    const out: Packet[] = [];
    for (const frame of this.sent) {
      const step = decoder.push(frame);
      if (step.kind === "packet") out.push(step.packet);
      else if (step.kind === "error") throw new Error(`server wrote an invalid frame: ${step.message}`);
    }
    return out;
  }

  clear(): void {
    this.sent.length = 0;
    this.batches.length = 0;
  }
}

/** A Server on a FakeClock, fed fake connections. */
export function createServer<L extends Record<string, any> = any>(
  opts: Partial<ServerOptions> = {},
): { io: Server<L>; clock: FakeClock } {
  const clock = new FakeClock();
  const io = new Server<L>({ clock, ...opts });
  return { io, clock };
}

/** Opens a fake Engine.IO connection to `io` (no namespace joined yet). */
export function openConnection(io: Server<any, any, any, any>, init?: FakeRequestInit): FakeEngineSocket {
  const conn = new FakeEngineSocket(init);
  // Registered like a real session, so engine.close() reaches it.
  io.engine.clients.set(conn.id, conn);
  conn.onClosed = () => io.engine.clients.delete(conn.id);
  io.engine.emit("connection", conn);
  return conn;
}

/** Lets every pending microtask and promise settle. */
export function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Opens a connection and joins `nsp` ("/" by default); returns the conn after the CONNECT reply. */
export async function connectTo(
  io: Server<any, any, any, any>,
  nsp = "/",
  auth?: Record<string, unknown>,
  init?: FakeRequestInit,
): Promise<FakeEngineSocket> {
  const conn = openConnection(io, init);
  conn.receive(connectFrame(nsp, auth));
  await flush();
  return conn;
}

export function connectFrame(nsp: string, auth?: Record<string, unknown>): string {
  const prefix = nsp === "/" ? "0" : `0${nsp},`;
  return auth ? prefix + JSON.stringify(auth) : prefix;
}

/** The server-side socket most recently connected to `nsp`. */
export function lastSocket(io: Server<any, any, any, any>, nsp = "/") {
  const sockets = [...io.of(nsp).sockets.values()];
  return sockets[sockets.length - 1]!;
}
