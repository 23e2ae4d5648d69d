/**
 * What a session keeps of its opening request, and the snapshot a runtime
 * that evicts objects keeps to rebuild a WebSocket session from it.
 */
import type { IncomingRequest } from "./facade.ts";
import type { EngineSession } from "./session.ts";
import { WebSocketTransport } from "./websocket.ts";

/**
 * What a runtime that evicts objects while their WebSockets stay open keeps
 * with a WebSocket to rebuild its session later: small, plain JSON.
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

/** The snapshot of a WebSocket session (`EngineSession.snapshot`); `null` on polling or once not open. */
export function snapshotOf(session: EngineSession): SessionSnapshot | null {
  const t = session.transport;
  if (!(t instanceof WebSocketTransport) || session.readyState !== "open") return null;
  const r = session.request;
  return {
    sid: session.id,
    url: r.url,
    headers: { ...r.headers },
    remoteAddress: r.remoteAddress,
    secure: r.secure,
    supportsBinary: t.supportsBinary,
    ...(t.protocol === 3 ? { protocol: 3 as const } : {}),
  };
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
