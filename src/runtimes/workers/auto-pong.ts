/**
 * Pongs the runtime answers for the object: with the auto-response on, the
 * client's heartbeat PONG (`3`) is answered by workerd with a noop (`6`)
 * without waking the object, and only its time is kept
 * (`getWebSocketAutoResponseTimestamp`). This module reads those times back
 * and hands them to the sessions as pongs.
 *
 *   PING sent (pinged) ──▶ ... client answers, the runtime notes the time ...
 *   session's PONG deadline ──▶ lastAutoPong() ──▶ at(): a pong since the ping? the session goes on
 *   pingInterval < pingTimeout only: the next ping is due before that deadline, so the alarm
 *     wakes at the due time (armWake) and collect() hands the pongs over first
 *
 * Times here are wall-clock ms (Date.now), as the runtime reports them and
 * as the connection stores them for a rebuild.
 */
import type { AlarmClock } from "./clock.ts";
import type { DoWsConnection } from "./connection.ts";
import { autoResponsePair, type DurableObjectState } from "./platform.ts";

/** The engine frame of a PONG. */
export const PONG = "3";

export class AutoPongs {
  /** Pongs the runtime answered, seen so far (`HostStats.autoPongs`). */
  seen = 0;
  /**
   * Whether the alarm must look for pongs the runtime answered: only when
   * pingInterval < pingTimeout, where a session's next ping is due before
   * its PONG deadline. Otherwise (the defaults) each session finds its pong
   * at its PONG deadline, O(1), and schedules the next ping from the pong's
   * time; scanning every awaiting socket on each wake made 1,000 sockets'
   * alarms fall seconds behind.
   */
  readonly #scan: boolean;
  readonly #awaiting = new Set<DoWsConnection>();

  constructor(
    readonly ctx: DurableObjectState,
    readonly clock: AlarmClock,
    /** Whether the runtime answers pongs at all (the `autoPong` option). */
    readonly enabled: boolean,
    readonly pingInterval: number,
    pingTimeout: number,
  ) {
    this.#scan = enabled && pingInterval < pingTimeout;
  }

  /** Asks the runtime to answer PONGs from now on (the setting outlives hibernation). */
  install(): void {
    if (this.enabled) this.ctx.setWebSocketAutoResponse(autoResponsePair(PONG, "6"));
  }

  /** A PING went out on `conn` (its `pingAt` set). */
  pinged(conn: DoWsConnection): void {
    if (!this.#scan) return;
    this.#awaiting.add(conn);
    // Every session pinged in this turn has the same due time: O(1) each.
    const due = conn.pingAt! + this.pingInterval;
    const wake = this.clock.wake;
    if (due < wake || wake <= conn.pingAt!) this.clock.wakeAt(due);
  }

  /** `conn` closed: nothing more to look for. */
  forget(conn: DoWsConnection): void {
    this.#awaiting.delete(conn);
  }

  /** The time the runtime last answered a PONG on `conn`, or null; counts each new one. */
  at(conn: DoWsConnection): number | null {
    if (!this.enabled) return null;
    const at = this.ctx.getWebSocketAutoResponseTimestamp(conn.ws)?.getTime() ?? null;
    if (at !== null && conn.pingAt !== null && at >= conn.pingAt && at !== conn.pongAt) {
      // A pong the runtime answered, seen for the first time (by the session's PONG deadline or the scan).
      conn.pongAt = at;
      this.seen++;
    }
    return at;
  }

  /**
   * Hands the pongs the runtime answered to their sessions, each as if it
   * arrived when the runtime answered it, in that order. Only when scanning
   * (see above); runs first in the alarm, so the deadlines that fall due in
   * it see them.
   */
  collect(): void {
    if (!this.#scan || this.#awaiting.size === 0) return;
    const now = Date.now();
    const found: Array<[DoWsConnection, number]> = [];
    for (const conn of this.#awaiting) {
      if (conn.dead || conn.pingAt === null) {
        this.#awaiting.delete(conn);
        continue;
      }
      const at = this.at(conn);
      if (at !== null && at >= conn.pingAt) found.push([conn, Math.min(at, now)]);
    }
    found.sort((a, b) => a[1] - b[1]);
    for (const [conn, at] of found) {
      this.#awaiting.delete(conn);
      this.clock.at(at, () => conn.handler?.onMessage(PONG));
    }
  }

  /**
   * When pingInterval is shorter than pingTimeout, a session's next ping is
   * due before its PONG deadline wakes the object: wake at the ping's due
   * time to pick up the pong the runtime answered. With the defaults (25 s
   * interval, 20 s timeout) the PONG deadline comes first and this adds no
   * wake: the earliest due time is past by then, or the set is empty.
   */
  armWake(): void {
    const now = Date.now();
    let at = Infinity;
    for (const conn of this.#awaiting) {
      const due = (conn.pingAt ?? 0) + this.pingInterval;
      if (due > now && due < at) at = due;
    }
    this.clock.wakeAt(at);
  }
}
