/**
 * The writing half of an Engine.IO session (session.ts): the write buffer,
 * its batching into one polling response per tick, the buffer limits, the
 * "drain" event and the congestion watch, and the session's part in a
 * runtime's native fan-out. `EngineSession` extends it; the state machine,
 * reading, the heartbeat, the upgrade and closing are there.
 */
import type { EngineCounters } from "./counters.ts";
import { Emitter } from "./emitter.ts";
import type { Fanout, SharedFrame } from "./facade.ts";
import type { ResolvedEngineOptions } from "./options.ts";
import { OutboundMessage } from "./outbound.ts";
import { createdPacket } from "./packet-info.ts";
import type { Scheduler, TimerEntry, TimerTarget } from "./scheduler.ts";
import type { EngineSession } from "./session.ts";
import { WsSessionFanout } from "./session-fanout.ts";
import type { Transport, WireItem } from "./transport.ts";
import type { EngineCloseReason, EngineSocketEvents, SessionFanout, SessionState } from "./types.ts";
import { WebSocketTransport } from "./websocket.ts";

/** What a session needs from its engine. */
export interface SessionHost {
  readonly opts: ResolvedEngineOptions;
  readonly scheduler: Scheduler;
  readonly binaryType: ((bytes: Uint8Array) => Uint8Array) | null;
  /** The shim's framing of a broadcast, for `packetCreate`'s `wsPreEncodedFrame` (RequestTarget.preEncodeFrame). */
  readonly preEncodeFrame?: ((frame: SharedFrame) => Uint8Array[]) | null;
  /** Where packets, bytes, upgrades and closes are counted; null when metrics are off. */
  readonly counters?: EngineCounters | null;
  /** The runtime's native fan-out; null where it has none (sessions then have no `fanout`). */
  readonly fanout: Fanout | null;
  onSessionClose(session: EngineSession): void;
}

/** The scheduler entry kind of the congestion watch (session.ts numbers the others). */
export const DRAIN_CHECK = 5;
/**
 * How often a congested session re-reads its runtime's buffered amount. No
 * runtime tells every shim when a WebSocket's buffer empties (some have no
 * such event at all), so congested sessions, and only those, poll.
 */
const DRAIN_CHECK_MS = 50;
/** Bytes of control frames (pings, noops) a fan-out bound leaves room for (see `_sentByRuntime`). */
const CONTROL_MARGIN = 4096;

export abstract class SessionWriter extends Emitter<EngineSocketEvents> implements TimerTarget {
  readyState: SessionState = "opening";
  transport: Transport;
  /** Items waiting for the transport; `null` when none (an idle WebSocket session keeps no array). */
  #buffer: WireItem[] | null = null;
  #bufferedBytes = 0;
  #callbacks: Array<() => void> | null = null;
  #flushQueued = false;
  #flushTask: (() => void) | null = null;
  /** Over `bufferedLowWaterMark` since the last "drain"; the entry re-checks until it is not. */
  #drainCheck: TimerEntry | null = null;
  #fanout: WsSessionFanout | null = null;

  constructor(
    readonly host: SessionHost,
    transport: Transport,
  ) {
    super();
    this.transport = transport;
  }

  abstract onTimer(kind: number): void;

  /** @internal Ends the session (the writer's reason: a client that does not read). */
  protected abstract _close(reason: EngineCloseReason, description?: unknown): void;

  /** @internal A graceful close waited for the buffer, which is now written out. */
  protected abstract _finishGracefulClose(): void;

  /**
   * Bytes queued for the client and not yet written out: the write buffer
   * (polling: what waits for the next GET) plus, on a WebSocket, what the
   * runtime holds unsent (0 where the runtime cannot tell).
   * @example if (socket.conn.bufferedAmount > 1e6) socket.conn.once("drain", resume);
   */
  get bufferedAmount(): number {
    const t = this.transport;
    return this.#bufferedBytes + (t instanceof WebSocketTransport ? t.conn.bufferedAmount : 0);
  }

  send(data: string | Uint8Array, options?: { compress?: boolean }, callback?: () => void): this {
    if (this.readyState !== "open") return this;
    if (callback) (this.#callbacks ??= []).push(callback);
    this._enqueue(new OutboundMessage(data, options?.compress !== false));
    return this;
  }

  write(data: string | Uint8Array, options?: { compress?: boolean }, callback?: () => void): this {
    return this.send(data, options, callback);
  }

  sendMessages(messages: readonly OutboundMessage[]): void {
    if (this.readyState !== "open") return;
    // One message is a broadcast the reference would pre-frame (a binary packet is several).
    const single = messages.length === 1;
    for (let i = 0; i < messages.length; i++) this._enqueue(messages[i]!, single);
  }

  /**
   * @internal Queues `item`, or writes it at once on an idle WebSocket.
   * `shared`: a broadcast's single message, whose pre-built frame `packetCreate` listeners see.
   */
  protected _enqueue(item: WireItem, shared = false): void {
    if (this.hasListeners("packetCreate")) {
      const host = this.host;
      this.emitReserved("packetCreate", createdPacket(item, host.binaryType, shared ? (host.preEncodeFrame ?? null) : null));
    }
    const c = this.host.counters;
    if (c) {
      c.packetsOut++;
      c.bytesOut += item.size;
    }
    const t = this.transport;
    // Fast path: an open WebSocket with nothing queued gets the frame now.
    if (t instanceof WebSocketTransport && this.#buffer === null && !t.closed) {
      t.send(item);
      if (this.#overBuffered(t)) this.#overflow();
      else {
        if (this.#callbacks) this.#runCallbacks();
        if (this.host.opts.bufferedLowWaterMark > 0) this.#checkCongestion();
      }
      return;
    }
    (this.#buffer ??= []).push(item);
    this.#bufferedBytes += item.size;
    if (this.#bufferedBytes > this.host.opts.maxBufferedBytes) return this.#overflow();
    if (this.host.opts.bufferedLowWaterMark > 0) this.#checkCongestion();
    this.#scheduleFlush();
  }

  /** With `bufferedLowWaterMark`: starts watching for the drain once over the mark. */
  #checkCongestion(): void {
    if (this.#drainCheck !== null || this.bufferedAmount <= this.host.opts.bufferedLowWaterMark) return;
    this.#drainCheck = this.host.scheduler.schedule(this, DRAIN_CHECK, DRAIN_CHECK_MS);
  }

  /** Congested, and a flush brought the queue back under the mark: the flush's "drain" ends the congestion. */
  #endCongestionIfDrained(): void {
    if (this.#drainCheck === null || this.bufferedAmount > this.host.opts.bufferedLowWaterMark) return;
    this.#drainCheck.cancel();
    this.#drainCheck = null;
  }

  /** @internal The DRAIN_CHECK entry fell due: "drain" once under the mark, else look again later. */
  protected _onDrainCheck(): void {
    this.#drainCheck = null;
    if (this.bufferedAmount <= this.host.opts.bufferedLowWaterMark) this.emitReserved("drain");
    else this.#drainCheck = this.host.scheduler.schedule(this, DRAIN_CHECK, DRAIN_CHECK_MS);
  }

  // ── fan-out: runtimes that publish to topics natively ─────────────────

  /** This session's part in the runtime's fan-out (session-fanout.ts); null where there is none. */
  get fanout(): SessionFanout | null {
    return this.host.fanout === null ? null : (this.#fanout ??= new WsSessionFanout(this));
  }

  /** @internal A runtime publish reached this session (`SessionFanout.delivered`): as after a send of `messages`. */
  _sentByRuntime(messages?: readonly OutboundMessage[]): void {
    if (messages && this.hasListeners("packetCreate")) {
      const preEncode = messages.length === 1 ? (this.host.preEncodeFrame ?? null) : null;
      for (const m of messages) this.emitReserved("packetCreate", createdPacket(m, this.host.binaryType, preEncode));
    }
    const c = this.host.counters;
    if (c && messages) {
      c.packetsOut += messages.length;
      for (let i = 0; i < messages.length; i++) c.bytesOut += messages[i]!.size;
    }
    const t = this.transport;
    if (t instanceof WebSocketTransport) t.noteSent();
    const f = this.#fanout;
    if (messages && f !== null && this.host.opts.bufferedLowWaterMark === 0) {
      // Asking the runtime for a socket's unsent bytes after every publish cost more than the
      // publish itself (a native call per recipient). Its buffer can only have grown by what was
      // published since it was last asked, so it is asked only once that bound could pass the
      // limit: the socket is closed on the same publish as if it were asked every time. A frame
      // is at most 3 bytes per UTF-16 unit of its text, plus its header; the margin covers the
      // heartbeat's few-byte frames, which are written without a read.
      let bound = f.unreadBound;
      for (let i = 0; i < messages.length; i++) bound += 3 * messages[i]!.size + 16;
      if (bound <= this.host.opts.maxBufferedBytes - CONTROL_MARGIN) {
        f.unreadBound = bound;
        return;
      }
    }
    if (this.#overBuffered(t)) this.#overflow();
    else if (this.host.opts.bufferedLowWaterMark > 0) this.#checkCongestion();
  }

  /** Whether messages wait in the write buffer (a transport is busy while they do). */
  get writePending(): boolean {
    return this.#buffer !== null;
  }

  /**
   * The runtime wrote what it held this tick (write coalescing, see tick.ts):
   * what the socket could not take now counts, as it would have at each send.
   */
  onWsReleased(t: WebSocketTransport): void {
    if (t !== this.transport || this.readyState === "closed") return;
    if (this.#overBuffered(t)) this.#overflow();
    else if (this.host.opts.bufferedLowWaterMark > 0) this.#checkCongestion();
  }

  /** Whether a WebSocket holds more unwritten bytes in its runtime than `maxBufferedBytes` allows. */
  #overBuffered(t: Transport): boolean {
    if (!(t instanceof WebSocketTransport)) return false;
    const unsent = t.conn.bufferedAmount;
    // Every read restarts the fan-out's bound from the truth (direct sends included).
    if (this.#fanout !== null) this.#fanout.unreadBound = unsent;
    return unsent > this.host.opts.maxBufferedBytes;
  }

  #overflow(): void {
    this._close("transport error", new Error("write buffer full: the client is not reading"));
  }

  #scheduleFlush(): void {
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    // Batch every send of this tick into one polling response.
    queueMicrotask((this.#flushTask ??= () => {
      this.#flushQueued = false;
      this._flush();
    }));
  }

  /** @internal Writes the buffer out, if the transport can take it now. */
  protected _flush(): void {
    const items = this.#buffer;
    if (this.readyState === "closed" || items === null || !this.transport.ready) return;
    this.#buffer = null;
    this.#bufferedBytes = 0;
    const t = this.transport;
    t.write(items);
    // Whatever the runtime could not write yet counts against the limit too.
    if (this.#overBuffered(t)) return this.#overflow();
    this.#runCallbacks();
    if (this.#drainCheck !== null) this.#endCongestionIfDrained();
    this.emitReserved("drain");
    if (this.readyState === "closing" && this.#buffer === null) this._finishGracefulClose();
  }

  #runCallbacks(): void {
    const cbs = this.#callbacks;
    if (!cbs) return;
    this.#callbacks = null;
    for (const cb of cbs) cb();
  }

  /** @internal `close(true)`: what is queued is dropped, not sent. */
  protected _discardBuffer(): void {
    this.#buffer = null;
  }

  /** @internal The session closed: nothing queued is kept, no drain is watched for. */
  protected _stopWriting(): void {
    this.#drainCheck?.cancel();
    this.#drainCheck = null;
    this.#buffer = null;
    this.#bufferedBytes = 0;
    this.#callbacks = null;
  }
}
