/**
 * The facade between a runtime shim and the core: the only types a shim
 * needs. A shim turns its runtime's HTTP request into an `IncomingRequest`,
 * hands it to a `RequestTarget` (an `Engine` or a Socket.IO `Server`), writes
 * back the `OutgoingResponse`, and for WebSocket upgrades connects the
 * runtime's socket to the `WsHandler` the target returns.
 *
 *   shim                         target (Engine / Server)
 *   ────                         ────────────────────────
 *   HTTP request ──────────────▶ handleRequest(req) ──▶ OutgoingResponse
 *   Upgrade request ───────────▶ handleUpgrade(req) ──▶ reject(response)
 *                                                    └▶ accept: open(conn)
 *   runtime socket opens ──────▶ accept.open(conn) ───▶ WsHandler
 *   frame arrives ─────────────▶ handler.onMessage(data)
 *   socket closes ─────────────▶ handler.onClose(code, reason)
 *   core writes ◀────────────── conn.send(data) / conn.close()
 *
 * Nothing here is runtime-specific: bytes are `Uint8Array`, text is `string`.
 */
import type { ResolvedPerMessageDeflate } from "./options.ts";

/** The result of reading a request body with a size cap. */
export type BodyResult =
  | { ok: true; bytes: Uint8Array }
  | { ok: false; reason: "too-large" | "aborted" };

/**
 * A request as the core sees it. Built by the shim: from a Web `Request`
 * with `fromWebRequest()` (Bun, Deno, Workers), or directly from Node's
 * `IncomingMessage` so Node pays for no `Request` object.
 */
export interface IncomingRequest {
  readonly method: string;
  /** Path and query as sent, e.g. `/socket.io/?EIO=4&transport=polling`. */
  readonly url: string;
  /** Header names in lower case; repeated headers joined with ", ". */
  readonly headers: Readonly<Record<string, string>>;
  /** The peer's IP address, or "" when the runtime cannot tell. */
  readonly remoteAddress: string;
  /** Whether the request arrived over TLS. */
  readonly secure: boolean;
  /** Reads the whole body, giving up as soon as more than `limit` bytes arrived. */
  readBody(limit: number): Promise<BodyResult>;
  /** Registers the function to call if the client goes away before the response is sent. */
  onAbort(listener: () => void): void;
}

/** A response as the core produces it; `toWebResponse()` turns it into a `Response`. */
export interface OutgoingResponse {
  status: number;
  headers: Record<string, string>;
  body: string | Uint8Array;
}

/**
 * A WebSocket frame the core may send to many connections: a broadcast's
 * message, or a constant control packet such as PING.
 */
export interface SharedFrame {
  /** The frame's payload: text (a text frame) or bytes (a binary frame). */
  readonly wsFrame: string | Uint8Array;
  /**
   * Free for the shim that sends it: a runtime that can frame once caches the
   * framed bytes here, so the second and later recipients pay only the write.
   */
  framed: unknown;
  /**
   * socket.io's `compress` flag: `false` asks that this message not be
   * compressed (polling `httpCompression`, WebSocket permessage-deflate).
   * Absent means compressible.
   */
  readonly compress?: boolean;
}

/** The open WebSocket, as the shim presents it to the core. */
export interface WsConnection {
  /**
   * Sends one text or binary frame. `compress: false` asks the runtime not
   * to deflate it when permessage-deflate was negotiated; runtimes that
   * decide alone (Workers) or never compress (Deno) ignore it.
   */
  send(data: string | Uint8Array, compress?: boolean): void;
  /**
   * Optional: sends a frame that other connections may share. A runtime that
   * can frame a message once (Node's ws) caches the bytes in `frame.framed`
   * and writes them as they are; without it the core calls `send(wsFrame)`.
   */
  sendShared?(frame: SharedFrame): void;
  /**
   * Optional, with `Fanout`: from now on this socket receives what is
   * published to `topic` (Bun's `ws.subscribe`). Idempotent.
   */
  subscribe?(topic: string): void;
  /** Optional, with `Fanout`: stops receiving `topic`. Idempotent. */
  unsubscribe?(topic: string): void;
  /**
   * Optional write coalescing. The core calls `cork()` before its first
   * frame to this connection in a turn of the event loop; `true` means the
   * runtime now holds this connection's writes, and the core then calls
   * `uncork()` once, when that turn's microtasks run (one shared microtask
   * for every connection), so the frames of the turn leave in one write
   * (Node: one `writev`) instead of one system call each. `false`: nothing
   * held (already closed, or writes queue behind a pending one anyway).
   * Held bytes are not counted in `bufferedAmount` (without the hold they
   * would have been written at once); a runtime may write them early when
   * they grow large. Order is unchanged: a hold never reorders frames.
   */
  cork?(): boolean;
  /** Writes what `cork()` held; a no-op if nothing is held. */
  uncork?(): void;

  /** Closes the socket (a no-op if already closed). */
  close(code?: number, reason?: string): void;
  /** Bytes queued in the runtime and not yet written; 0 where the runtime cannot tell. */
  readonly bufferedAmount: number;
  /**
   * When the runtime itself answered the client's last PONG (Workers'
   * WebSocket auto-response, which spares waking the object), the time it
   * did so in ms; `null` if never. The session counts it as a heartbeat.
   */
  lastAutoPong?(): number | null;
}

/**
 * A runtime's own fan-out (Bun's `server.publish`): one call frames a
 * message once and writes it, natively, to every WebSocket subscribed to
 * `topic`. The core publishes only when the subscribers are exactly the
 * intended recipients and none of them has anything queued before it.
 */
export interface Fanout {
  /**
   * `except`: one of this runtime's connections, subscribed or not, to leave
   * out (the sender of `socket.broadcast` / `socket.to()`: Bun's `ws.publish`).
   */
  publish(topic: string, frame: SharedFrame, except?: WsConnection): void;
}

/** What the core wants to hear from an open WebSocket. */
export interface WsHandler {
  onMessage(data: string | Uint8Array): void;
  onClose(code: number, reason: string): void;
  /** A transport-level failure; `onClose` still follows. */
  onError?(error: unknown): void;
}

/** The core accepted an upgrade: the shim completes it, then calls `open` with the socket. */
export interface UpgradeAccept {
  readonly kind: "accept";
  /** Extra headers for the 101 response (cookies, `headers` hook output). */
  readonly headers: Record<string, string>;
  open(conn: WsConnection): WsHandler;
}

/** The core refused an upgrade: the shim answers with this response and no socket. */
export interface UpgradeReject {
  readonly kind: "reject";
  readonly response: OutgoingResponse;
}

export type UpgradeResult = UpgradeAccept | UpgradeReject;

/** What shims serve: implemented by `Engine` and by the Socket.IO `Server`. */
export interface RequestTarget {
  /** Largest message accepted; shims pass it to their WebSocket server. */
  readonly maxPayload: number;
  /** Bytes a connection may have waiting to be written before it is closed (`maxBufferedBytes`). */
  readonly maxBufferedBytes: number;
  /**
   * The `perMessageDeflate` option after defaults: `false`, or the settings
   * (with `threshold`) the shim gives its WebSocket server. A shim whose
   * runtime cannot honour it throws when it is set.
   */
  readonly perMessageDeflate: ResolvedPerMessageDeflate;
  /** Whether a request path belongs to this target (anything else falls through). */
  matches(pathname: string): boolean;
  handleRequest(req: IncomingRequest): Promise<OutgoingResponse>;
  handleUpgrade(req: IncomingRequest): Promise<UpgradeResult>;
  /** Set by a shim to hand users its runtime's binary type (Node: `Buffer`). */
  binaryType: ((bytes: Uint8Array) => Uint8Array) | null;
  /**
   * Set by a shim that frames a broadcast once (Node): builds, or reads from
   * `frame.framed`, the WebSocket frame of a shared text message and returns
   * it as header and payload bytes. Called only for `packetCreate` listeners
   * (their `options.wsPreEncodedFrame`); `null` where there is no such frame.
   */
  preEncodeFrame: ((frame: SharedFrame) => Uint8Array[]) | null;
  /** Set by a shim whose runtime publishes to topics natively. */
  fanout: Fanout | null;
  /** Closes every session; shims call it when their server stops. */
  close(): void | Promise<void>;
}
