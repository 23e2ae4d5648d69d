/**
 * The upgrade of a polling session to WebSocket: the probe and its timers.
 * An object exists only while an upgrade runs, so a session that is not
 * upgrading (every WebSocket-only one among them) keeps one null field for
 * it. The session (session.ts) feeds it the probe's frames and does what
 * it answers: swap the transports, or give the probe up.
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
 */
import { decodePacket, isDecodeError } from "../protocol/engine-io.ts";
import { decodePacketV3 } from "../protocol/engine-io-v3.ts";
import { PollingTransport } from "./polling.ts";
import type { TimerEntry } from "./scheduler.ts";
import type { EngineSession } from "./session.ts";
import { NOOP, PONG_PROBE } from "./transport.ts";
import type { WebSocketTransport } from "./websocket.ts";

/** The session's scheduler entry kinds for an upgrade (session.ts numbers the others). */
export const UPGRADE_DUE = 2;
/** While a probe succeeded: release a held GET with a noop so the client can pause polling. */
export const UPGRADE_CHECK = 6;
/**
 * How long a held GET waits, once the probe succeeded, before it is released
 * with a noop (and again every so often until the upgrade ends), as on the
 * reference. Releasing it at once would hand clients a `noop` packet event
 * the reference never sends within that time (socket.io-client's suite
 * counts the packets of the first 100 ms); anything written meanwhile
 * releases it anyway.
 */
const UPGRADE_CHECK_MS = 100;

/** What a frame on the probe asks of the session (`SessionUpgrade.onFrame`). */
export const PROBED = 0;
export const UPGRADE = 1;
export const ABORT = 2;
export type ProbeStep = typeof PROBED | typeof UPGRADE | typeof ABORT;

/** One upgrade in progress: made by `beginUpgrade`, dropped when it completes or is aborted. */
export class SessionUpgrade {
  /** The client's "2probe" was answered. */
  #probed = false;
  /** upgradeTimeout: the upgrade is aborted when it falls due. */
  #deadline: TimerEntry;
  #check: TimerEntry | null = null;

  constructor(
    readonly session: EngineSession,
    /** The WebSocket being probed. */
    readonly ws: WebSocketTransport,
  ) {
    const { scheduler, opts } = session.host;
    this.#deadline = scheduler.schedule(session, UPGRADE_DUE, opts.upgradeTimeout);
  }

  /** A frame on the probe: answers "2probe" once, and tells the session the next step. */
  onFrame(data: string | Uint8Array): ProbeStep {
    const p = this.session.protocol === 3 ? decodePacketV3(data) : decodePacket(data);
    if (!isDecodeError(p) && p.type === "ping" && p.data === "probe" && !this.#probed) {
      this.#probed = true;
      this.ws.send(PONG_PROBE);
      return PROBED;
    }
    return !isDecodeError(p) && p.type === "upgrade" ? UPGRADE : ABORT;
  }

  /** After "upgrading" was emitted: start releasing held GETs. */
  startChecks(): void {
    this.#check = this.session.host.scheduler.schedule(this.session, UPGRADE_CHECK, UPGRADE_CHECK_MS);
  }

  /** UPGRADE_CHECK fell due: a held GET with nothing to carry gets a noop; look again later. */
  onCheck(): void {
    const s = this.session;
    this.#check = this.#probed ? s.host.scheduler.schedule(s, UPGRADE_CHECK, UPGRADE_CHECK_MS) : null;
    const t = s.transport;
    if (this.#probed && !s.writePending && t instanceof PollingTransport && t.ready) t.write([NOOP]);
  }

  /** The upgrade is over (completed or aborted): its timers stop. */
  end(): void {
    this.#deadline.cancel();
    this.#check?.cancel();
    this.#check = null;
  }
}
