import type { SharedFrame } from "./facade.ts";
import type { TransportName } from "./types.ts";

/**
 * One unit of a session's write buffer: an `OutboundMessage` or a control
 * packet. Both know their WebSocket frame and their text (polling) form.
 */
export interface WireItem extends SharedFrame {
  readonly text: string;
  readonly size: number;
  /**
   * This item as Engine.IO v3 writes it: itself, except for a binary
   * message, whose type moves into the frame (see engine-io-v3.ts). Made on
   * first use and kept, so a broadcast to v3 clients is encoded once too.
   */
  readonly v3: WireItem;
}

/** A control packet (ping, noop, close, 3probe): text only, made once. */
export class ControlPacket implements WireItem {
  readonly wsFrame: string;
  readonly size: number;
  framed: unknown = undefined;
  constructor(readonly text: string) {
    this.wsFrame = text;
    this.size = text.length;
  }
  // Control packets are text, which v3 writes as v4 does.
  get v3(): WireItem {
    return this;
  }
}

export const PING = new ControlPacket("2");
/** The v3 server's answer to a client ping. */
export const PONG = new ControlPacket("3");
export const PONG_PROBE = new ControlPacket("3probe");
export const NOOP = new ControlPacket("6");
export const CLOSE = new ControlPacket("1");

/** What a session needs of its transport; polling.ts and websocket.ts implement it. */
export interface Transport {
  readonly name: TransportName;
  /** The Engine.IO protocol revision spoken on it: the session's, fixed at the handshake. */
  readonly protocol: 3 | 4;
  /** Whether `write` would reach the client now (polling: a GET is pending; WebSocket: open). */
  readonly ready: boolean;
  /**
   * socket.io's `transport.writable`, which decides whether a volatile packet
   * is sent or dropped: ready, and no earlier write still on its way (polling:
   * nothing queued for the held GET; WebSocket: nothing written this tick and
   * nothing left in the runtime's buffer).
   */
  readonly writable: boolean;
  /** Writes a batch; callers check `ready` first. */
  write(items: readonly WireItem[]): void;
  /**
   * Ends the transport. Polling answers a pending GET with `final` (the
   * close packet, or a noop when the client itself ended), or with `null`,
   * when the session has just moved to a WebSocket, refuses it with 400 as
   * it refuses a GET that comes after the upgrade. A conforming client has
   * no GET in flight then (it waits for its poll to end before it sends
   * UPGRADE); one that raced the UPGRADE over another connection, and was
   * delivered first, gets the answer it would have got had it come second.
   */
  close(final: WireItem | null): void;
}
