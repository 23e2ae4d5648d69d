/**
 * ws's WebSocket as the Node shim uses it: the core's `send(data, compress)`
 * and `sendShared`, which writes a broadcast's frame built once to every
 * socket. That path reads private fields of ws (pinned in package.json to the
 * releases it is tested with); a probe turns it off if they are not there.
 */
import type { Duplex } from "node:stream";
import * as wsPackage from "ws";
import { WebSocket } from "ws";
import type { SharedFrame } from "../engine/facade.ts";

type FrameOptions = { fin: boolean; rsv1: boolean; opcode: number; mask: boolean; readOnly: boolean };
/** ws's public framing function (`Sender.frame`): header and payload of one unmasked frame. */
const frameWith = (wsPackage as unknown as { Sender: { frame(data: Buffer, o: FrameOptions): Buffer[] } }).Sender.frame;
const TEXT_FRAME: FrameOptions = { fin: true, rsv1: false, opcode: 1, mask: false, readOnly: false };
const BINARY_FRAME: FrameOptions = { ...TEXT_FRAME, opcode: 2 };

/** The private parts of ws's WebSocket that writing a pre-framed message relies on. */
interface WsInternals {
  _socket: Duplex | null;
  _sender: { _state?: number; _queue?: unknown[] } | null;
}

/**
 * Whether the shared-frame path may be used: ws's `Sender.frame` exists and
 * the first open socket has the private fields it reads, with the expected
 * types (checked once per process). A ws release that changed them makes
 * every `sendShared` a plain `send()`, slower but correct.
 */
let sharedFrames: boolean | undefined = typeof frameWith === "function" ? undefined : false;

/** Whether `ws` has the private fields `sendShared` writes through (exported for tests). */
export function internalsUsable(ws: WsInternals): boolean {
  const { _socket: socket, _sender: sender } = ws;
  return (
    !!socket &&
    typeof socket.write === "function" &&
    !!sender &&
    typeof sender._state === "number" &&
    Array.isArray(sender._queue)
  );
}

/**
 * Turns the shared-frame path off (`false`), on (`true`), or back to the
 * start-up probe (`undefined`). For tests: the fallback must stay correct.
 */
export function setSharedFrames(enabled: boolean | undefined): void {
  sharedFrames = enabled === undefined && typeof frameWith !== "function" ? false : enabled;
}

/** Whether the shared-frame path is in use (undefined until the first socket was probed). */
export function sharedFramesInUse(): boolean | undefined {
  return sharedFrames;
}

/**
 * The unmasked WebSocket frame of `frame` (ws's `Sender.frame`), built on
 * first use and cached in `frame.framed`, so every recipient (and a
 * `packetCreate` listener) shares one copy.
 */
function framedBytes(frame: SharedFrame): Buffer {
  const cached = frame.framed;
  if (cached instanceof Buffer) return cached;
  const data = frame.wsFrame;
  const parts =
    typeof data === "string"
      ? frameWith(Buffer.from(data), TEXT_FRAME)
      : frameWith(Buffer.from(data.buffer, data.byteOffset, data.byteLength), BINARY_FRAME);
  return (frame.framed = parts.length === 1 ? parts[0]! : Buffer.concat(parts));
}

/**
 * The frame of a broadcast as socket.io shows it in `packetCreate`
 * (`options.wsPreEncodedFrame`): `[header, payload]`, two views of the very
 * bytes `sendShared` writes. Null when ws has no public `Sender.frame`.
 *
 * @example
 * socket.conn.on("packetCreate", (p) => {
 *   const frame = p.options?.wsPreEncodedFrame; // [<Buffer 81 0b>, <Buffer 34 32 ...>]
 * });
 */
export const preEncodedFrame: ((frame: SharedFrame) => Buffer[]) | null =
  typeof frameWith === "function"
    ? (frame) => {
        const bytes = framedBytes(frame);
        // An unmasked header is 2 bytes, 4 with a 16-bit length (126), 10 with a 64-bit one (127).
        const len = bytes[1]! & 0x7f;
        const header = len < 126 ? 2 : len === 126 ? 4 : 10;
        return [bytes.subarray(0, header), bytes.subarray(header)];
      }
    : null;

/**
 * ws's WebSocket plus `sendShared`: a broadcast's frame is built once (ws's
 * own `Sender.frame`) and those bytes are written to every socket, where
 * `send()` would encode, frame and write the message again per recipient.
 * The direct write is taken only while ws's sender is idle (its state
 * DEFAULT and nothing queued, always so without permessage-deflate), so it
 * cannot overtake a frame ws still holds; otherwise it falls back to `send()`.
 * The bytes count in `bufferedAmount` as any other write does.
 *
 * With permessage-deflate negotiated, a message ws would compress (at least
 * the threshold, `compress` not false) goes through `send()`: deflate keeps
 * a window per connection, so a compressed frame cannot be shared. Smaller
 * ones are sent uncompressed by ws anyway, so their shared frame (RSV1
 * clear) is exactly what ws would write and the fast path stays.
 */
export class UnioWebSocket extends WebSocket {
  /**
   * The negotiated permessage-deflate threshold; `Infinity` (from the
   * prototype, so sockets without compression carry no slot) when not negotiated.
   */
  declare deflateThreshold: number;

  /** The core's `send(data, compress)`; ws's own `(data, options, cb)` form keeps working. */
  override send(data: unknown, options?: unknown, cb?: (err?: Error) => void): void {
    if (typeof options === "boolean") super.send(data as Buffer, options ? COMPRESS : NO_COMPRESS);
    else if (options === undefined && cb === undefined) super.send(data as Buffer);
    else super.send(data as Buffer, options as { compress?: boolean }, cb);
    spillIfLarge((this as unknown as WsInternals)._socket);
  }

  /**
   * Write coalescing (the facade's `cork`): corks the TCP socket, so what ws
   * writes until `uncork()` leaves in one `writev`. Not when a write is
   * already pending: Node then queues what follows and writes it in one
   * `writev` by itself.
   */
  cork(): boolean {
    const socket = (this as unknown as WsInternals)._socket;
    // Without ws's accessor to correct, held bytes would count as buffered: no hold then.
    if (!socket || !wsBuffered || this.readyState !== WebSocket.OPEN || socket.writableLength !== 0 || socket.writableCorked !== 0) return false;
    socket.cork();
    return true;
  }

  uncork(): void {
    const socket = (this as unknown as WsInternals)._socket;
    if (socket && socket.writableCorked !== 0) socket.uncork();
  }

  sendShared(frame: SharedFrame): void {
    if (this.readyState !== WebSocket.OPEN) return;
    const internals = this as unknown as WsInternals;
    if (sharedFrames === undefined) sharedFrames = internalsUsable(internals);
    const { _socket: socket, _sender: sender } = internals;
    if (!sharedFrames || !socket || !sender || sender._state !== 0 || sender._queue!.length !== 0 || this.#deflates(frame)) {
      this.send(frame.wsFrame, frame.compress);
      return;
    }
    socket.write(framedBytes(frame));
    spillIfLarge(socket);
  }

  /** Whether ws would compress this frame (so its shared, uncompressed bytes must not be used). */
  #deflates(frame: SharedFrame): boolean {
    const threshold = this.deflateThreshold;
    if (threshold === Infinity || frame.compress === false) return false;
    const data = frame.wsFrame;
    if (typeof data !== "string") return data.byteLength >= threshold;
    // As ws counts it: UTF-8 bytes; the UTF-16 length settles most cases without a scan.
    return data.length >= threshold || (data.length * 3 >= threshold && Buffer.byteLength(data) >= threshold);
  }
}

UnioWebSocket.prototype.deflateThreshold = Infinity;

/**
 * Bytes a corked socket holds before they are written early: a long burst
 * is written in pieces of this size, so the bytes the peer does not take
 * show in `bufferedAmount` (and `maxBufferedBytes`) during the burst, as
 * without coalescing, instead of piling up in the process unseen.
 */
export const HOLD_LIMIT = 64 * 1024;

/** Writes a corked socket's held bytes once they reach `HOLD_LIMIT`; holds again if they all went. */
function spillIfLarge(socket: Duplex | null): void {
  if (socket === null || socket.writableCorked === 0 || socket.writableLength < HOLD_LIMIT) return;
  socket.uncork();
  if (socket.writableLength === 0) socket.cork();
}

/**
 * ws's `bufferedAmount` counts the socket's unwritten bytes; while corked,
 * those are held bytes (the socket is corked only when it had none), which
 * the facade says not to count: without the hold they were written already.
 * Defined on the prototype, as ws defines it (an accessor, not a field).
 */
const wsBuffered = Object.getOwnPropertyDescriptor(WebSocket.prototype, "bufferedAmount")?.get;
if (wsBuffered) {
  Object.defineProperty(UnioWebSocket.prototype, "bufferedAmount", {
    configurable: true,
    get(this: UnioWebSocket): number {
      const all = wsBuffered.call(this) as number;
      const socket = (this as unknown as WsInternals)._socket;
      return socket !== null && socket.writableCorked !== 0 ? all - socket.writableLength : all;
    },
  });
}

const COMPRESS = { compress: true } as const;
const NO_COMPRESS = { compress: false } as const;
