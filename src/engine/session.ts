import { decodePacket, isDecodeError, type EngineDecodeError, type EnginePacket } from "../protocol/engine-io.ts";
import { decodePacketV3 } from "../protocol/engine-io-v3.ts";
import type { EngineCounters } from "./counters.ts";
import { Emitter } from "./emitter.ts";
import type { Fanout, IncomingRequest, SharedFrame } from "./facade.ts";
import { OutboundMessage } from "./outbound.ts";
import { createdPacket, receivedPacket } from "./packet-info.ts";
import type { ResolvedEngineOptions } from "./options.ts";
import { PollingTransport, type PollingSink } from "./polling.ts";
import type { Scheduler, TimerEntry, TimerTarget } from "./scheduler.ts";
import { CLOSE, ControlPacket, NOOP, PING, PONG, PONG_PROBE, type Transport, type WireItem } from "./transport.ts";
import type {
  EngineCloseReason,
  EngineSocket,
  EngineSocketEvents,
  SessionFanout,
  SessionHandler,
  SessionState,
} from "./types.ts";
import { WsSessionFanout } from "./session-fanout.ts";
import { WebSocketTransport, type WsSink } from "./websocket.ts";

/**
 * What a runtime that evicts objects (Workers hibernation) keeps with a
 * WebSocket to rebuild its session later: small, plain JSON.
 */
export interface SessionSnapshot {
  sid: string;
  url: string;
  headers: Record<string, string>;
  remoteAddress: string;
  secure: boolean;
  supportsBinary: boolean;
  /** Present (3) only for an Engine.IO v3 session. */
  protocol?: 3;
}

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

// Kinds of scheduler entries a session owns.
const PING_DUE = 0;
const PONG_DUE = 1;
const UPGRADE_DUE = 2;
const CLOSE_DUE = 3;
/** v3: the client's next ping is overdue (it pings, the server answers). */
const CLIENT_PING_DUE = 4;
/** Over `bufferedLowWaterMark`: look again whether the runtime wrote enough to emit "drain". */
const DRAIN_CHECK = 5;
/**
 * How often a congested session re-reads its runtime's buffered amount. No
 * runtime tells every shim when a WebSocket's buffer empties (Deno and
 * Workers have no such event), so congested sessions, and only those, poll.
 */
const DRAIN_CHECK_MS = 50;
/** While a probe succeeded: release a held GET with a noop so the client can pause polling. */
const UPGRADE_CHECK = 6;
/**
 * How long a held GET waits, once the probe succeeded, before it is released
 * with a noop (and again every so often until the upgrade ends), as on the
 * reference. Releasing it at once would hand clients a `noop` packet event
 * the reference never sends within that time (socket.io-client's suite
 * counts the packets of the first 100 ms); anything written meanwhile
 * releases it anyway.
 */
const UPGRADE_CHECK_MS = 100;

/** How long a gracefully closing polling session waits for a GET to carry `1`. */
const POLLING_CLOSE_TIMEOUT = 30_000;

/**
 * One Engine.IO session: an explicit state machine over one transport, with
 * a write buffer, the heartbeat, and at most one upgrade in progress.
 *
 *   opening ──open()──▶ open ──close()────▶ closing ──buffer flushed──▶ closed
 *                         │                                              ▲
 *                         └── ping timeout / transport error / parse ────┘
 *                             error / client close / close(true)
 *
 * The upgrade from polling to WebSocket runs beside the `open` state:
 *
 *   client                         server (this session)
 *   ──────                         ─────────────────────
 *   WS ?sid=…&transport=websocket  beginUpgrade(ws): start upgradeTimeout
 *   "2probe"  ───────────────────▶ "3probe" on the WS (its first frame), emit
 *                                  "upgrading"; every 100 ms a held GET with
 *                                  nothing to carry gets a noop "6", so the
 *                                  client can pause polling
 *   "5"       ───────────────────▶ polling closed (held GET → noop), the WS
 *                                  becomes the transport, emit "upgrade",
 *                                  flush the buffer over the WS
 *   anything else / WS closed / upgradeTimeout ──▶ abort: the WS is closed,
 *                                  the session carries on over polling
 *
 * Heartbeats, the upgrade timeout and the polling close wait are entries in
 * the engine's shared scheduler, not timers of their own.
 *
 * An Engine.IO v3 session (`protocol` 3, from the transport it opened on)
 * differs in its heartbeat only: the client sends `2`, the session answers
 * `3`, and a client silent for pingInterval + pingTimeout is closed with
 * "ping timeout". Its transports do the v3 framing.
 */
export class EngineSession extends Emitter<EngineSocketEvents> implements EngineSocket, TimerTarget, PollingSink, WsSink {
  readyState: SessionState = "opening";
  transport: Transport;
  /** The WebSocket being probed during an upgrade. */
  #probe: WebSocketTransport | null = null;
  #probed = false;
  /** Items waiting for the transport; `null` when none (an idle WebSocket session keeps no array). */
  #buffer: WireItem[] | null = null;
  #bufferedBytes = 0;
  #callbacks: Array<() => void> | null = null;
  #heartbeat: TimerEntry | null = null;
  #pingSentAt = 0;
  #upgradeTimer: TimerEntry | null = null;
  #upgradeCheck: TimerEntry | null = null;
  #closeOnPoll = false;
  #flushQueued = false;
  #flushTask: (() => void) | null = null;
  #handler: SessionHandler | null = null;
  /** Over `bufferedLowWaterMark` since the last "drain"; the entry re-checks until it is not. */
  #drainCheck: TimerEntry | null = null;
  #fanout: WsSessionFanout | null = null;
  /** The facts of the opening request, copied: the runtime's request object is not kept alive. */
  readonly request: IncomingRequest;

  constructor(
    readonly host: SessionHost,
    readonly id: string,
    request: IncomingRequest,
    transport: PollingTransport | WebSocketTransport,
  ) {
    super();
    this.request = requestFacts(request);
    this.transport = transport;
    transport.sink = this;
  }

  // Read from the transport: an instance field would be one more slot in every session.
  get protocol(): 3 | 4 {
    return this.transport.protocol;
  }

  get remoteAddress(): string {
    // A bound connection may have no request behind it (socket.io's WebTransport
    // sessions; code written for them deletes `request`): no address then.
    return (this.request as IncomingRequest | undefined)?.remoteAddress ?? "";
  }

  get upgrading(): boolean {
    return this.#probe !== null;
  }

  /**
   * Bytes queued for the client and not yet written out: the write buffer
   * (polling: what waits for the next GET) plus, on a WebSocket, what the
   * runtime holds unsent (0 where the runtime cannot tell, as on Workers).
   * @example if (socket.conn.bufferedAmount > 1e6) socket.conn.once("drain", resume);
   */
  get bufferedAmount(): number {
    const t = this.transport;
    return this.#bufferedBytes + (t instanceof WebSocketTransport ? t.conn.bufferedAmount : 0);
  }

  /** Sends the handshake and starts the heartbeat. */
  open(): void {
    const { opts } = this.host;
    const upgrades =
      this.transport.name === "polling" && opts.allowUpgrades && opts.transports.includes("websocket")
        ? ["websocket"]
        : [];
    this.readyState = "open";
    const v3 = this.protocol === 3;
    const handshake = JSON.stringify({
      sid: this.id,
      upgrades,
      pingInterval: opts.pingInterval,
      pingTimeout: opts.pingTimeout,
      // v3 clients size nothing by it (the v3 spec has no such field).
      maxPayload: v3 ? undefined : opts.maxHttpBufferSize,
    });
    this.#enqueue(new ControlPacket("0" + handshake));
    if (opts.initialPacket !== undefined) this.#enqueue(new OutboundMessage(opts.initialPacket));
    if (v3) this.#awaitClientPing();
    else this.#heartbeat = this.host.scheduler.schedule(this, PING_DUE, opts.pingInterval);
  }

  /** The snapshot of a WebSocket session; `null` on polling (a held GET cannot outlive the object). */
  snapshot(): SessionSnapshot | null {
    const t = this.transport;
    if (!(t instanceof WebSocketTransport) || this.readyState !== "open") return null;
    const r = this.request;
    return {
      sid: this.id,
      url: r.url,
      headers: { ...r.headers },
      remoteAddress: r.remoteAddress,
      secure: r.secure,
      supportsBinary: t.supportsBinary,
      ...(t.protocol === 3 ? { protocol: 3 as const } : {}),
    };
  }

  /**
   * Carries on a restored session: no handshake is sent; the next ping goes
   * out after `pingDelay` ms (v3: the client's next ping is awaited afresh).
   * With `awaiting`, a ping sent before the restore (at `sentAt`, on the
   * clock's scale) is still unanswered: its PONG deadline is kept, `delay`
   * ms from now, instead of pinging again.
   */
  resume(pingDelay: number, awaiting?: { sentAt: number; delay: number }): void {
    this.readyState = "open";
    if (this.protocol === 3) this.#awaitClientPing();
    else if (awaiting) {
      this.#pingSentAt = awaiting.sentAt;
      this.#heartbeat = this.host.scheduler.schedule(this, PONG_DUE, awaiting.delay);
    } else this.#heartbeat = this.host.scheduler.schedule(this, PING_DUE, pingDelay);
  }

  // ── writing ────────────────────────────────────────────────────────────

  send(data: string | Uint8Array, options?: { compress?: boolean }, callback?: () => void): this {
    if (this.readyState !== "open") return this;
    if (callback) (this.#callbacks ??= []).push(callback);
    this.#enqueue(new OutboundMessage(data, options?.compress !== false));
    return this;
  }

  write(data: string | Uint8Array, options?: { compress?: boolean }, callback?: () => void): this {
    return this.send(data, options, callback);
  }

  sendMessages(messages: readonly OutboundMessage[]): void {
    if (this.readyState !== "open") return;
    // One message is a broadcast the reference would pre-frame (a binary packet is several).
    const single = messages.length === 1;
    for (let i = 0; i < messages.length; i++) this.#enqueue(messages[i]!, single);
  }

  /** `shared`: a broadcast's single message, whose pre-built frame `packetCreate` listeners see. */
  #enqueue(item: WireItem, shared = false): void {
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
    return t instanceof WebSocketTransport && t.conn.bufferedAmount > this.host.opts.maxBufferedBytes;
  }

  #overflow(): void {
    this.#onClose("transport error", new Error("write buffer full: the client is not reading"));
  }

  #scheduleFlush(): void {
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    // Batch every send of this tick into one polling response.
    queueMicrotask((this.#flushTask ??= () => {
      this.#flushQueued = false;
      this.#flush();
    }));
  }

  #flush(): void {
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
    if (this.readyState === "closing" && this.#buffer === null) this.#finishGracefulClose();
  }

  #runCallbacks(): void {
    const cbs = this.#callbacks;
    if (!cbs) return;
    this.#callbacks = null;
    for (const cb of cbs) cb();
  }

  // ── timers ─────────────────────────────────────────────────────────────

  onTimer(kind: number): void {
    if (this.readyState === "closed") return;
    switch (kind) {
      case PING_DUE: {
        const scheduler = this.host.scheduler;
        const now = scheduler.clock.now();
        const { pingTimeout } = this.host.opts;
        this.#pingSentAt = now;
        // A polling client sees the ping only with its next GET: with none held, when the
        // ping was queued is invisible to it, and its deadline counts from when the ping was
        // due, as with exact timers. A late timer (a loaded event loop, a Durable Object's
        // alarm rounded up and delivered late) then does not lengthen it, and a poll made at
        // pingInterval + pingTimeout finds the session closed, as on the reference.
        // Lateness past half the pingTimeout (a stalled host) is not charged to the client.
        const t = this.transport;
        const late = now - (this.#heartbeat?.at ?? now);
        const charged = t instanceof PollingTransport && !t.ready && late <= pingTimeout / 2 ? Math.max(0, late) : 0;
        this.#enqueue(PING);
        this.#heartbeat = scheduler.schedule(this, PONG_DUE, pingTimeout - charged);
        break;
      }
      case PONG_DUE: {
        // A pong the runtime answered on our behalf still proves the client alive.
        const t = this.transport;
        const auto = t instanceof WebSocketTransport ? (t.conn.lastAutoPong?.() ?? null) : null;
        if (auto !== null && auto >= this.#pingSentAt) this.#onPong(auto);
        else this.#onClose("ping timeout");
        break;
      }
      case UPGRADE_CHECK: {
        const t = this.transport;
        this.#upgradeCheck = this.#probed ? this.host.scheduler.schedule(this, UPGRADE_CHECK, UPGRADE_CHECK_MS) : null;
        if (this.#probed && this.#buffer === null && t instanceof PollingTransport && t.ready) t.write([NOOP]);
        break;
      }
      case UPGRADE_DUE:
        this.#upgradeTimer = null;
        this.#abortUpgrade();
        break;
      case CLOSE_DUE:
        this.#onClose("forced close");
        break;
      case CLIENT_PING_DUE: {
        // v3: a PONG from the client is the wrong direction; where the runtime answered one
        // without telling us (Workers' auto-response), it still counts as that error.
        const t = this.transport;
        if (t instanceof WebSocketTransport && (t.conn.lastAutoPong?.() ?? null) !== null) this.onTransportError("invalid heartbeat direction");
        else this.#onClose("ping timeout");
        break;
      }
      case DRAIN_CHECK:
        this.#drainCheck = null;
        if (this.bufferedAmount <= this.host.opts.bufferedLowWaterMark) this.emitReserved("drain");
        else this.#drainCheck = this.host.scheduler.schedule(this, DRAIN_CHECK, DRAIN_CHECK_MS);
        break;
    }
  }

  /** v3: (re)starts the wait for the client's next ping. */
  #awaitClientPing(): void {
    const { pingInterval, pingTimeout } = this.host.opts;
    this.#heartbeat?.cancel();
    this.#heartbeat = this.host.scheduler.schedule(this, CLIENT_PING_DUE, pingInterval + pingTimeout);
  }

  // ── reading ────────────────────────────────────────────────────────────

  onPackets(packets: EnginePacket[]): void {
    for (const p of packets) {
      if (this.readyState !== "open") return;
      this.#onPacket(p);
    }
  }

  #onPacket(p: EnginePacket): void {
    if (this.readyState !== "open") return;
    if (this.hasListeners("packet")) this.emitReserved("packet", receivedPacket(p, this.host.binaryType));
    const c = this.host.counters;
    if (c) {
      c.packetsIn++;
      const d = p.data;
      c.bytesIn += 1 + (d === undefined ? 0 : typeof d === "string" ? d.length : d.byteLength);
    }
    switch (p.type) {
      case "message":
        this.#onMessage(this.#toBinaryType(p.data ?? ""));
        break;
      case "pong":
        if (this.protocol === 3) this.onTransportError("invalid heartbeat direction");
        else this.#onPong();
        break;
      case "ping":
        // In v4 only the server pings; `2probe` belongs on a probing transport.
        if (this.protocol === 4) return this.onTransportError("invalid heartbeat direction");
        this.#awaitClientPing();
        this.#enqueue(PONG);
        this.emitReserved("heartbeat");
        break;
      case "close":
        this.#onClose("transport close");
        break;
      default:
        // open, upgrade and noop carry nothing for the current transport.
        break;
    }
  }

  setHandler(handler: SessionHandler | null): void {
    this.#handler = handler;
  }

  #onMessage(data: string | Uint8Array): void {
    this.#handler?.onMessage(data);
    // Checked first: the emit's argument list is an array made per call, listeners or not.
    if (this.hasListeners("message")) this.emitReserved("message", data);
  }

  #toBinaryType(data: string | Uint8Array): string | Uint8Array {
    const wrap = this.host.binaryType;
    return wrap && typeof data !== "string" ? wrap(data) : data;
  }

  /** @param at when the pong arrived, if before now (one the runtime answered, noticed at the PONG deadline). */
  #onPong(at?: number): void {
    this.#heartbeat?.cancel();
    // The next ping is due pingInterval after the pong itself, not after the deadline that noticed it.
    const { pingInterval } = this.host.opts;
    const delay = at === undefined ? pingInterval : Math.max(0, pingInterval - (this.host.scheduler.clock.now() - at));
    this.#heartbeat = this.host.scheduler.schedule(this, PING_DUE, delay);
    this.emitReserved("heartbeat");
  }

  onParseError(): void {
    this.#onClose("parse error");
  }

  onTransportError(message: string): void {
    this.#onClose("transport error", new Error(message));
  }

  onPollReady(): void {
    if (this.readyState === "closed") return;
    if (this.#buffer !== null) return this.#flush();
    if (this.#closeOnPoll) {
      // A graceful close that had no GET to ride on: this one carries it.
      this.transport.write([NOOP, CLOSE]);
      return this.#onClose("forced close");
    }
    // While a probe succeeded, a held GET is released with a noop by the next UPGRADE_CHECK.
  }

  onWsFrame(t: WebSocketTransport, data: string | Uint8Array): void {
    if (t === this.#probe) return this.#onProbeFrame(t, data);
    if (t !== this.transport) return;
    const p = this.#decode(data);
    if (isDecodeError(p)) return this.onParseError();
    this.#onPacket(p);
  }

  #decode(frame: string | Uint8Array): EnginePacket | EngineDecodeError {
    return this.protocol === 3 ? decodePacketV3(frame) : decodePacket(frame);
  }

  onWsClose(t: WebSocketTransport, error?: unknown): void {
    if (t === this.#probe) return this.#abortUpgrade();
    if (t !== this.transport) return;
    if (error) this.#onClose("transport error", error);
    else this.#onClose("transport close");
  }

  // ── upgrade ────────────────────────────────────────────────────────────

  /** Starts probing `ws` as the new transport (see the sequence above). */
  beginUpgrade(ws: WebSocketTransport): void {
    this.#probe = ws;
    this.#probed = false;
    ws.sink = this;
    this.#upgradeTimer = this.host.scheduler.schedule(this, UPGRADE_DUE, this.host.opts.upgradeTimeout);
  }

  #onProbeFrame(ws: WebSocketTransport, data: string | Uint8Array): void {
    const p = this.#decode(data);
    if (!isDecodeError(p) && p.type === "ping" && p.data === "probe" && !this.#probed) {
      this.#probed = true;
      ws.send(PONG_PROBE);
      this.emitReserved("upgrading", ws);
      this.#upgradeCheck = this.host.scheduler.schedule(this, UPGRADE_CHECK, UPGRADE_CHECK_MS);
    } else if (!isDecodeError(p) && p.type === "upgrade") {
      this.#completeUpgrade(ws);
    } else {
      this.#abortUpgrade();
    }
  }

  #completeUpgrade(ws: WebSocketTransport): void {
    this.#upgradeTimer?.cancel();
    this.#upgradeTimer = null;
    this.#upgradeCheck?.cancel();
    this.#upgradeCheck = null;
    this.#probe = null;
    this.#probed = false;
    this.transport.close(null);
    this.transport = ws;
    if (this.host.counters) this.host.counters.upgrades++;
    // The layer above subscribes the new WebSocket to its topics before anything else is written.
    this.#handler?.onUpgrade?.();
    this.emitReserved("upgrade", ws);
    if (this.readyState === "closing") return this.#onClose("forced close");
    this.#flush();
  }

  #abortUpgrade(): void {
    this.#upgradeTimer?.cancel();
    this.#upgradeTimer = null;
    this.#upgradeCheck?.cancel();
    this.#upgradeCheck = null;
    const ws = this.#probe;
    this.#probe = null;
    this.#probed = false;
    ws?.close();
  }

  // ── closing ────────────────────────────────────────────────────────────

  /**
   * Closes the session. Gracefully (the default), queued messages go out
   * first and the reason is "forced close"; with `discard` they are dropped.
   */
  close(discard = false): this {
    if (this.readyState === "closed") return this;
    if (discard) {
      this.#buffer = null;
      this.#onClose("forced close");
      return this;
    }
    if (this.readyState !== "open") return this;
    this.readyState = "closing";
    if (this.#buffer === null) this.#finishGracefulClose();
    return this;
  }

  #finishGracefulClose(): void {
    this.#abortUpgrade();
    if (this.transport instanceof WebSocketTransport) return this.#onClose("forced close");
    if (this.transport.ready) {
      this.transport.write([CLOSE]);
      return this.#onClose("forced close");
    }
    this.#closeOnPoll = true;
    this.#heartbeat?.cancel();
    this.#heartbeat = this.host.scheduler.schedule(this, CLOSE_DUE, POLLING_CLOSE_TIMEOUT);
  }

  #onClose(reason: EngineCloseReason, description?: unknown): void {
    if (this.readyState === "closed") return;
    this.readyState = "closed";
    this.#heartbeat?.cancel();
    this.#heartbeat = null;
    this.#drainCheck?.cancel();
    this.#drainCheck = null;
    if (this.host.counters) this.host.counters.closes[reason]++;
    this.#abortUpgrade();
    // A client that ended the session itself gets a noop on its held GET; otherwise the close packet.
    this.transport.close(reason === "transport close" ? NOOP : CLOSE);
    this.#buffer = null;
    this.#bufferedBytes = 0;
    this.#callbacks = null;
    this.host.onSessionClose(this);
    this.#handler?.onClose(reason, description);
    this.emitReserved("close", reason, description);
  }
}

const NOTHING_TO_READ = () => Promise.resolve({ ok: true as const, bytes: new Uint8Array(0) });
const NO_ABORT = () => {};

/** A plain copy of what a session keeps of its opening request (headers are shared, not copied). */
export function requestFacts(r: Omit<IncomingRequest, "readBody" | "onAbort">): IncomingRequest {
  return {
    method: r.method,
    url: r.url,
    headers: r.headers,
    remoteAddress: r.remoteAddress,
    secure: r.secure,
    readBody: NOTHING_TO_READ,
    onAbort: NO_ABORT,
  };
}
