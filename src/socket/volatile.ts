/**
 * When a volatile packet is dropped for a client. socket.io's rule, kept by
 * default: unless the transport is idle (nothing written this tick, nothing
 * waiting). With `bufferedLowWaterMark`, a budget instead: dropped only
 * while the bytes queued for the client exceed the mark, so a client that
 * keeps up receives several volatile packets per tick, and one that falls
 * behind skips them until it has caught up.
 */
import type { EngineSocket } from "../engine/types.ts";

/** Whether a volatile packet for `conn` is dropped now; `lowWaterMark` 0 means socket.io's rule. */
export function dropsVolatile(conn: EngineSocket, lowWaterMark: number): boolean {
  return lowWaterMark > 0 ? conn.bufferedAmount > lowWaterMark : !conn.transport.writable;
}
