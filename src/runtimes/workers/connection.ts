import type { WsConnection, WsHandler } from "../../engine/facade.ts";
import type { CfWebSocket } from "./platform.ts";

/** What a connection reports to the object that owns it. */
export interface ConnectionOwner {
  onPingSent(conn: DoWsConnection): void;
  /** When the runtime last answered a PONG on `conn`, on the engine's clock (`Clock.now`); null if never. */
  autoPongAt(conn: DoWsConnection): number | null;
}

/** The frame of an Engine.IO PING (text on every transport encoding). */
export const PING_FRAME = "2";

/**
 * A hibernatable WebSocket as the engine's `WsConnection`. Besides sending,
 * it notes the facts the object stores with the socket: when the session
 * was last pinged and when a pong was last seen.
 */
export class DoWsConnection implements WsConnection {
  /** The session this socket carries (for a probe: the session it may upgrade). */
  sid: string | null = null;
  handler: WsHandler | null = null;
  /** Wall-clock ms (these three are stored with the socket and read by the next instance). */
  openedAt = 0;
  /** When the last PING went out on it. */
  pingAt: number | null = null;
  /** When the object last saw a PONG on it (pongs the runtime answered are read from the runtime). */
  pongAt: number | null = null;
  /** The last state document written to the attachment, and whether it lives in SQLite. */
  json: string | null = null;
  external = false;
  /** Set when the object that owned this connection is gone (its engine must not touch the socket). */
  dead = false;

  constructor(
    readonly ws: CfWebSocket,
    readonly owner: ConnectionOwner,
  ) {}

  send(data: string | Uint8Array): void {
    if (this.dead) return;
    if (data === PING_FRAME) this.owner.onPingSent(this);
    try {
      this.ws.send(data);
    } catch {
      // The peer is gone; webSocketClose follows and closes the session.
    }
  }

  /** Set once the engine closed this socket. */
  closed = false;

  close(code?: number, reason?: string): void {
    if (this.dead) return;
    this.closed = true;
    try {
      this.ws.close(code ?? 1000, reason ?? "");
    } catch {
      // Already closed.
    }
  }

  /** Workers does not expose the queued byte count. */
  get bufferedAmount(): number {
    return 0;
  }

  lastAutoPong(): number | null {
    return this.dead ? null : this.owner.autoPongAt(this);
  }
}
