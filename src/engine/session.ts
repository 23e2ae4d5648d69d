import { decodePacket, isDecodeError, type EngineDecodeError, type EnginePacket } from "../protocol/engine-io.ts";
import { decodePacketV3 } from "../protocol/engine-io-v3.ts";
import type { IncomingRequest } from "./facade.ts";
import { OutboundMessage } from "./outbound.ts";
import { receivedPacket } from "./packet-info.ts";
import { PollingTransport, type PollingSink } from "./polling.ts";
import type { TimerEntry } from "./scheduler.ts";
import { requestFacts, type SessionSnapshot, snapshotOf } from "./session-snapshot.ts";
import { ABORT, PROBED, SessionUpgrade, UPGRADE, UPGRADE_CHECK, UPGRADE_DUE } from "./session-upgrade.ts";
import { DRAIN_CHECK, type SessionHost, SessionWriter } from "./session-writer.ts";
import { CLOSE, ControlPacket, NOOP, PING, PONG } from "./transport.ts";
import type { EngineCloseReason, EngineSocket, SessionHandler } from "./types.ts";
import { WebSocketTransport, type WsSink } from "./websocket.ts";

export type { SessionHost } from "./session-writer.ts";
export { requestFacts, type SessionSnapshot } from "./session-snapshot.ts";

// Kinds of scheduler entries a session owns (UPGRADE_DUE 2 and UPGRADE_CHECK 6 are the
// upgrade's, session-upgrade.ts; DRAIN_CHECK 5 the writer's, session-writer.ts).
const PING_DUE = 0;
const PONG_DUE = 1;
const CLOSE_DUE = 3;
/** v3: the client's next ping is overdue (it pings, the server answers). */
const CLIENT_PING_DUE = 4;

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
 * The upgrade from polling to WebSocket runs beside the `open` state; its
 * sequence is drawn in session-upgrade.ts. Writing (the buffer, its limits,
 * "drain", the fan-out facet) is the base class's, session-writer.ts.
 *
 * Heartbeats, the upgrade timeout and the polling close wait are entries in
 * the engine's shared scheduler, not timers of their own.
 *
 * An Engine.IO v3 session (`protocol` 3, from the transport it opened on)
 * differs in its heartbeat only: the client sends `2`, the session answers
 * `3`, and a client silent for pingInterval + pingTimeout is closed with
 * "ping timeout". Its transports do the v3 framing.
 */
export class EngineSession extends SessionWriter implements EngineSocket, PollingSink, WsSink {
  /** The upgrade in progress, if any. */
  #upgrade: SessionUpgrade | null = null;
  #heartbeat: TimerEntry | null = null;
  #pingSentAt = 0;
  #closeOnPoll = false;
  #handler: SessionHandler | null = null;
  /** The facts of the opening request, copied: the runtime's request object is not kept alive. */
  readonly request: IncomingRequest;

  constructor(
    host: SessionHost,
    readonly id: string,
    request: IncomingRequest,
    transport: PollingTransport | WebSocketTransport,
  ) {
    super(host, transport);
    this.request = requestFacts(request);
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
    return this.#upgrade !== null;
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
    this._enqueue(new ControlPacket("0" + handshake));
    if (opts.initialPacket !== undefined) this._enqueue(new OutboundMessage(opts.initialPacket));
    if (v3) this.#awaitClientPing();
    else this.#heartbeat = this.host.scheduler.schedule(this, PING_DUE, opts.pingInterval);
  }

  /** The snapshot of a WebSocket session; `null` on polling (a held GET cannot outlive the object). */
  snapshot(): SessionSnapshot | null {
    return snapshotOf(this);
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
        this._enqueue(PING);
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
      case UPGRADE_CHECK:
        this.#upgrade?.onCheck();
        break;
      case UPGRADE_DUE:
        this.#abortUpgrade();
        break;
      case CLOSE_DUE:
        this.#onClose("forced close");
        break;
      case CLIENT_PING_DUE: {
        // v3: a PONG from the client is the wrong direction; where the runtime answered one
        // without telling us (an automatic response), it still counts as that error.
        const t = this.transport;
        if (t instanceof WebSocketTransport && (t.conn.lastAutoPong?.() ?? null) !== null) this.onTransportError("invalid heartbeat direction");
        else this.#onClose("ping timeout");
        break;
      }
      case DRAIN_CHECK:
        this._onDrainCheck();
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
        this._enqueue(PONG);
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
    if (this.writePending) return this._flush();
    if (this.#closeOnPoll) {
      // A graceful close that had no GET to ride on: this one carries it.
      this.transport.write([NOOP, CLOSE]);
      return this.#onClose("forced close");
    }
    // While a probe succeeded, a held GET is released with a noop by the next UPGRADE_CHECK.
  }

  onWsFrame(t: WebSocketTransport, data: string | Uint8Array): void {
    const up = this.#upgrade;
    if (up !== null && t === up.ws) return this.#onProbeFrame(up, data);
    if (t !== this.transport) return;
    const p = this.#decode(data);
    if (isDecodeError(p)) return this.onParseError();
    this.#onPacket(p);
  }

  #decode(frame: string | Uint8Array): EnginePacket | EngineDecodeError {
    return this.protocol === 3 ? decodePacketV3(frame) : decodePacket(frame);
  }

  onWsClose(t: WebSocketTransport, error?: unknown): void {
    if (t === this.#upgrade?.ws) return this.#abortUpgrade();
    if (t !== this.transport) return;
    if (error) this.#onClose("transport error", error);
    else this.#onClose("transport close");
  }

  // ── upgrade ────────────────────────────────────────────────────────────

  /** Starts probing `ws` as the new transport (see the sequence in session-upgrade.ts). */
  beginUpgrade(ws: WebSocketTransport): void {
    ws.sink = this;
    this.#upgrade = new SessionUpgrade(this, ws);
  }

  #onProbeFrame(up: SessionUpgrade, data: string | Uint8Array): void {
    const step = up.onFrame(data);
    if (step === PROBED) {
      this.emitReserved("upgrading", up.ws);
      // (A listener may have ended the upgrade.)
      if (this.#upgrade === up) up.startChecks();
    } else if (step === UPGRADE) this.#completeUpgrade(up);
    else if (step === ABORT) this.#abortUpgrade();
  }

  #completeUpgrade(up: SessionUpgrade): void {
    up.end();
    this.#upgrade = null;
    const ws = up.ws;
    this.transport.close(null);
    this.transport = ws;
    if (this.host.counters) this.host.counters.upgrades++;
    // The layer above subscribes the new WebSocket to its topics before anything else is written.
    this.#handler?.onUpgrade?.();
    this.emitReserved("upgrade", ws);
    if (this.readyState === "closing") return this.#onClose("forced close");
    this._flush();
  }

  #abortUpgrade(): void {
    const up = this.#upgrade;
    if (up === null) return;
    up.end();
    this.#upgrade = null;
    up.ws.close();
  }

  // ── closing ────────────────────────────────────────────────────────────

  /**
   * Closes the session. Gracefully (the default), queued messages go out
   * first and the reason is "forced close"; with `discard` they are dropped.
   */
  close(discard = false): this {
    if (this.readyState === "closed") return this;
    if (discard) {
      this._discardBuffer();
      this.#onClose("forced close");
      return this;
    }
    if (this.readyState !== "open") return this;
    this.readyState = "closing";
    if (!this.writePending) this._finishGracefulClose();
    return this;
  }

  /** @internal Nothing (more) to write: close now, or with the next GET. */
  protected _finishGracefulClose(): void {
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

  /** @internal */
  protected _close(reason: EngineCloseReason, description?: unknown): void {
    this.#onClose(reason, description);
  }

  #onClose(reason: EngineCloseReason, description?: unknown): void {
    if (this.readyState === "closed") return;
    this.readyState = "closed";
    this.#heartbeat?.cancel();
    this.#heartbeat = null;
    if (this.host.counters) this.host.counters.closes[reason]++;
    this.#abortUpgrade();
    // A client that ended the session itself gets a noop on its held GET; otherwise the close packet.
    this.transport.close(reason === "transport close" ? NOOP : CLOSE);
    this._stopWriting();
    this.host.onSessionClose(this);
    this.#handler?.onClose(reason, description);
    this.emitReserved("close", reason, description);
  }
}
