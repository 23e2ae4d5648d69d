/**
 * The engine's counters for `io.metrics()` (option `metrics: true`): plain
 * number fields incremented in place on the hot paths, so counting costs an
 * increment and a null check, with no allocation or keyed lookup per packet.
 * Gauges (open sessions, buffered bytes) are not counted here: they are read
 * from the sessions when a snapshot is taken.
 */
import type { EngineCloseReason } from "./types.ts";

/** Engine.IO close reasons, as counters. */
export type CloseCounts = Record<EngineCloseReason, number>;

export class EngineCounters {
  /** Sessions opened, by the transport they opened on. */
  handshakesPolling = 0;
  handshakesWebsocket = 0;
  /** Handshakes refused by `maxConnections` (503) and by `handshakeRateLimit` (429). */
  refusedMaxConnections = 0;
  refusedRateLimit = 0;
  /** Handshakes refused because the server is draining (`io.drain()`, 503). */
  refusedDraining = 0;
  /** Every other refused request (bad transport, unknown sid, allowRequest...). */
  refusedOther = 0;
  /** Polling sessions moved to WebSocket. */
  upgrades = 0;
  /** Engine.IO packets (messages and control packets) received and queued for sending. */
  packetsIn = 0;
  packetsOut = 0;
  /** Their size: UTF-16 code units for text, bytes for binary (cheap, and exact for ASCII). */
  bytesIn = 0;
  bytesOut = 0;
  /** Sessions closed, by reason (the keys are the fixed union, never client input). */
  readonly closes: CloseCounts = {
    "transport close": 0,
    "transport error": 0,
    "ping timeout": 0,
    "parse error": 0,
    "forced close": 0,
    "forced server close": 0,
  };
}
