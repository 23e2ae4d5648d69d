/**
 * A session's part in its runtime's native fan-out (topics the runtime
 * publishes to: see `Fanout` in facade.ts). The Socket.IO layer reaches every fan-out member
 * of a session here, as `session.fanout`, which exists only on an engine
 * whose runtime can publish; elsewhere it is null and nothing of this runs.
 *
 *   Adapter / RoomTopics (socket layer)        this facet              shim
 *   ───────────────────────────────────        ──────────              ────
 *   join, leave, connect, upgrade ───────────▶ subscribe(topic) ─────▶ ws.subscribe
 *   broadcast: every recipient `ready`? ─────▶ ready
 *     yes: one publish, leaving out `self` ─────────────────────────▶ server.publish / ws.publish
 *          then each recipient ──────────────▶ delivered(messages)
 */
import type { WsConnection } from "./facade.ts";
import type { OutboundMessage } from "./outbound.ts";
import type { SessionWriter } from "./session-writer.ts";
import type { SessionFanout } from "./types.ts";
import { WebSocketTransport } from "./websocket.ts";

/**
 * The facet of one session, made the first time it is asked for (on
 * runtimes with a fan-out only): its session, and a bound on what the
 * runtime holds unsent for it.
 */
export class WsSessionFanout implements SessionFanout {
  /**
   * @internal At least the bytes the runtime holds unsent for this socket: what it held when
   * last asked, plus what was published to it since (session-writer.ts `_sentByRuntime`).
   */
  unreadBound = 0;

  constructor(readonly session: SessionWriter) {}

  /** Open, on a WebSocket whose runtime can subscribe, nothing queued: a publish now arrives in order. */
  get ready(): boolean {
    const s = this.session;
    const t = s.transport;
    return s.readyState === "open" && !s.writePending && t instanceof WebSocketTransport && t.canSubscribe;
  }

  /** A no-op on polling: the layer above subscribes the WebSocket after the upgrade (`SessionHandler.onUpgrade`). */
  subscribe(topic: string): void {
    const t = this.session.transport;
    if (t instanceof WebSocketTransport) t.subscribe(topic);
  }

  unsubscribe(topic: string): void {
    const t = this.session.transport;
    if (t instanceof WebSocketTransport) t.unsubscribe(topic);
  }

  get self(): WsConnection | null {
    const t = this.session.transport;
    return t instanceof WebSocketTransport && t.canSubscribe ? t.conn : null;
  }

  delivered(messages?: readonly OutboundMessage[]): void {
    this.session._sentByRuntime(messages);
  }
}
