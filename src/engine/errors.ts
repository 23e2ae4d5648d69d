import type { IncomingRequest, OutgoingResponse } from "./facade.ts";

/** Engine.IO error codes, as the reference numbers them. */
export const ErrorCode = {
  UNKNOWN_TRANSPORT: 0,
  UNKNOWN_SID: 1,
  BAD_HANDSHAKE_METHOD: 2,
  BAD_REQUEST: 3,
  FORBIDDEN: 4,
  UNSUPPORTED_PROTOCOL_VERSION: 5,
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export const ERROR_MESSAGES: Record<ErrorCode, string> = {
  0: "Transport unknown",
  1: "Session ID unknown",
  2: "Bad handshake method",
  3: "Bad request",
  4: "Forbidden",
  5: "Unsupported protocol version",
};

/**
 * A request the engine refuses, as a value. Every refusal is built here and
 * turned into a response in `errorResponse`, so status codes and bodies are
 * decided in one place.
 */
export interface RequestError {
  code: ErrorCode;
  /** Overrides the standard message in the body (allowRequest's text). */
  message?: string;
  context: Record<string, unknown>;
}

/** The payload of the engine's `connection_error` event. */
export interface ConnectionErrorEvent {
  req: IncomingRequest;
  code: ErrorCode;
  message: string;
  context: Record<string, unknown>;
}

export function requestError(code: ErrorCode, context: Record<string, unknown> = {}, message?: string): RequestError {
  return message === undefined ? { code, context } : { code, message, context };
}

/** 400 with `{"code":N,"message":"..."}`; 403 for Forbidden, as the reference does for polling. */
export function errorResponse(err: RequestError, headers: Record<string, string>): OutgoingResponse {
  const body = JSON.stringify({ code: err.code, message: err.message ?? ERROR_MESSAGES[err.code] });
  return {
    status: err.code === ErrorCode.FORBIDDEN ? 403 : 400,
    headers: { ...headers, "content-type": "application/json" },
    body,
  };
}

/** A bare status reply (413, 500, the 400s of the polling transport). */
export function statusResponse(status: number, headers: Record<string, string> = {}, body = ""): OutgoingResponse {
  return { status, headers: { ...headers, "content-type": "text/html" }, body };
}
