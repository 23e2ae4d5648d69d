import type { WsConnection, WsHandler } from "./facade.ts";
import { currentTick, type Held, holdUntilTickEnd } from "./tick.ts";
import type { Transport, WireItem } from "./transport.ts";

/** Where a WebSocket transport reports frames and its end. */
export interface WsSink {
  onWsFrame(transport: WebSocketTransport, data: string | Uint8Array): void;
  onWsClose(transport: WebSocketTransport, error?: unknown): void;
  /** Whether writes are queued for the transport (they go out on the next flush). */
  readonly writePending: boolean;
  /** Frames the runtime held this tick were written: their bytes now count in `bufferedAmount`. */
  onWsReleased?(transport: WebSocketTransport): void;
}

/** A UTF-8 byte count that stops early: enough to compare against a limit. */
function utf8Exceeds(text: string, limit: number): boolean {
  if (text.length > limit) return true;
  if (text.length * 3 <= limit) return false;
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    bytes += c < 0x80 ? 1 : c < 0x800 ? 2 : c >= 0xd800 && c <= 0xdbff ? (i++, 4) : 3;
    if (bytes > limit) return true;
  }
  return false;
}

/**
 * The WebSocket transport: one Engine.IO packet per frame. It is also the
 * `WsHandler` the shim feeds, so frames go straight to the session without
 * a closure per socket.
 */
export class WebSocketTransport implements Transport, WsHandler, Held {
  readonly name = "websocket" as const;
  #closed = false;
  /** The tick of the last write (see tick.ts); -1 before the first. */
  #sentTick = -1;
  sink: WsSink | null = null;

  constructor(
    readonly conn: WsConnection,
    /** False when the client asked for `b64`: binary then goes as `b<base64>` text. */
    readonly supportsBinary: boolean,
    readonly maxPayload: number,
    /** The session's protocol revision: v3 puts a type byte in front of binary frames. */
    readonly protocol: 3 | 4 = 4,
  ) {}

  get ready(): boolean {
    return !this.#closed;
  }

  /**
   * Nothing written this tick, nothing left in the runtime's buffer, nothing
   * queued in the session: socket.io's "the last write has been flushed"
   * (ws's send callback), told the same way on every runtime.
   */
  get writable(): boolean {
    return (
      !this.#closed &&
      this.#sentTick !== currentTick() &&
      this.conn.bufferedAmount === 0 &&
      this.sink?.writePending !== true
    );
  }

  /** A frame went out for this socket by another way (a runtime publish to its topics). */
  noteSent(): void {
    this.#sentTick = currentTick();
  }

  get closed(): boolean {
    return this.#closed;
  }

  write(items: readonly WireItem[]): void {
    if (this.#closed) return;
    for (let i = 0; i < items.length; i++) this.send(items[i]!);
  }

  send(item: WireItem): void {
    if (this.#closed) return;
    if (this.protocol === 3) item = item.v3;
    const conn = this.conn;
    const tick = currentTick();
    // The first frame of a tick holds the connection's writes until the tick ends (see tick.ts):
    // what else this tick sends it joins them, in one write. (A frame the runtime published
    // for this socket, `noteSent`, also counts as the first: then there is no hold this tick.)
    if (this.#sentTick !== tick) {
      this.#sentTick = tick;
      if (conn.cork !== undefined && conn.cork()) holdUntilTickEnd(this);
    }
    // A `b64` client takes binary as base64 text; anything else goes as the shared frame.
    if (!this.supportsBinary && typeof item.wsFrame !== "string") conn.send(item.text, item.compress);
    else if (conn.sendShared) conn.sendShared(item);
    else conn.send(item.wsFrame, item.compress);
  }

  /** The tick ended: what the connection held goes out (`Held`, called from tick.ts). */
  release(): void {
    this.conn.uncork!();
    this.sink?.onWsReleased?.(this);
  }

  /**
   * Whether the runtime can deliver this socket's share of a topic publish (see `Fanout`).
   * Not for v3: a published binary frame is the v4 one, without the type byte.
   */
  get canSubscribe(): boolean {
    return !this.#closed && this.supportsBinary && this.protocol === 4 && this.conn.subscribe !== undefined;
  }

  subscribe(topic: string): void {
    if (!this.canSubscribe) return;
    try {
      this.conn.subscribe!(topic);
    } catch {
      // The runtime already closed the socket; its close event follows.
    }
  }

  unsubscribe(topic: string): void {
    if (this.#closed || !this.conn.unsubscribe) return;
    try {
      this.conn.unsubscribe(topic);
    } catch {
      // As above: nothing left to unsubscribe.
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.conn.close();
    } catch {
      // Already gone on the runtime side; nothing left to release.
    }
  }

  onMessage(data: string | Uint8Array): void {
    if (this.#closed) return;
    // Runtimes that cannot cap frames themselves (Deno) rely on this check.
    const tooBig = typeof data === "string" ? utf8Exceeds(data, this.maxPayload) : data.byteLength > this.maxPayload;
    if (tooBig) {
      this.#closed = true;
      this.conn.close(1009, "Message too big");
      this.sink?.onWsClose(this, new Error("message too big"));
      return;
    }
    this.sink?.onWsFrame(this, data);
  }

  onClose(): void {
    this.#closed = true;
    this.sink?.onWsClose(this);
  }

  onError(error: unknown): void {
    this.#closed = true;
    this.sink?.onWsClose(this, error);
  }
}
