/**
 * The checks every Engine.IO request passes before any session is looked
 * at, in one function: the engine runs it, and so does the Workers router
 * in front of the Durable Objects, so a request is refused (or let through)
 * the same way on both sides of that hop.
 *
 *   request ─▶ CORS (origin function failed?) ──────────────▶ refused 400 code 3
 *           ─▶ OPTIONS preflight (cors on) ─────────────────▶ preflight (answered here)
 *           ─▶ transport unknown / disabled ────────────────▶ refused code 0
 *           ─▶ Origin holds invalid characters ─────────────▶ refused code 3
 *           ─▶ has a sid ─────────────────────────────────▶ session (the caller finds it)
 *           ─▶ not GET ───────────────────────────────────▶ refused code 2
 *           ─▶ `transport=websocket` ≠ is an upgrade ───────▶ refused code 3
 *           ─▶ draining, or over a load limit (limits.ts) ─▶ refused 503/429 code 3
 *           ─▶ allowRequest (the engine's only) refuses ───▶ refused code 4
 *           ─▶ EIO neither 4 nor (allowEIO3) 3 ────────────▶ refused code 5
 *           ─▶ handshake
 *
 * A query key given twice counts with its last value, as in the reference
 * (`Object.fromEntries(url.searchParams)`): `EIO=3&EIO=4` is a v4 request,
 * `sid=a&sid=b` names session b.
 */
import { corsHeaders, type CorsOptions } from "./cors.ts";
import { ErrorCode, type RequestError, requestError } from "./errors.ts";
import type { IncomingRequest, OutgoingResponse } from "./facade.ts";
import type { AllowRequest } from "./options.ts";
import type { TransportName } from "./types.ts";

/** The server options that decide a request's fate before any session is involved. */
export interface RequestRules {
  readonly transports: readonly TransportName[];
  readonly allowEIO3: boolean;
  readonly cors: CorsOptions | undefined;
  /** Only where the app runs (the engine); the Workers router leaves it to the object. */
  readonly allowRequest?: AllowRequest;
  /**
   * The engine's load limits (`maxConnections`, `handshakeRateLimit`):
   * a refusal for a handshake, or undefined. Before allowRequest, so a
   * refused client costs no app code.
   */
  readonly admit?: (req: IncomingRequest) => RequestError | undefined;
}

/** What the query says about the client, for a request that passed. */
interface QueryFacts {
  transport: TransportName;
  /** False when the client asked for `b64` (binary as base64 text). */
  supportsBinary: boolean;
}

/**
 * The verdict. `headers` are the CORS headers every answer to the request
 * carries (empty when cors is off, or when the origin function failed).
 */
export type RequestCheck =
  /** A CORS preflight, answered by `response`. */
  | { kind: "preflight"; response: OutgoingResponse }
  /** A request for session `sid`: whether it exists and takes this transport is the caller's to check. */
  | ({ kind: "session"; headers: Record<string, string>; sid: string } & QueryFacts)
  /** A handshake that may open a session of revision `protocol`. */
  | ({
      kind: "handshake";
      headers: Record<string, string>;
      protocol: 3 | 4;
      /** v3 JSONP polling (`j=`): the callback index, or null. */
      jsonp: string | null;
    } & QueryFacts)
  /** Refused: `errorResponse(error, headers)` is the answer. */
  | { kind: "refused"; headers: Record<string, string>; error: RequestError };

// RFC 7230 field-vchar plus tab and obs-text: anything else in Origin is refused.
const INVALID_HEADER_CHAR = /[^\t\x20-\x7e\x80-\xff]/;

/**
 * Checks `req` against `rules`, in the reference's order (drawn above).
 * `upgrade`: the request asks for a WebSocket (`Upgrade: websocket`).
 *
 * @example
 * const checked = await checkRequest(req, false, { transports: ["polling"], allowEIO3: false, cors: undefined });
 * if (checked.kind === "refused") return errorResponse(checked.error, checked.headers);
 */
export async function checkRequest(req: IncomingRequest, upgrade: boolean, rules: RequestRules): Promise<RequestCheck> {
  let headers: Record<string, string> = {};
  const cors = rules.cors;
  if (cors) {
    try {
      headers = await corsHeaders(cors, req.method, req.headers);
    } catch (error) {
      // The cors README's way to refuse an origin is `cb(new Error(...))`: the reference's
      // middleware then fails the request with 400 code 3, and it must not throw into the runtime.
      const message = String((error as Error)?.message ?? error);
      return refused({}, ErrorCode.BAD_REQUEST, { name: "MIDDLEWARE_FAILURE", error: message });
    }
    if (req.method === "OPTIONS" && !cors.preflightContinue) {
      const response = { status: cors.optionsSuccessStatus ?? 204, headers: { ...headers, "content-length": "0" }, body: "" };
      return { kind: "preflight", response };
    }
  }

  const query = parseQuery(req.url);
  const transport = query.get("transport") ?? null;
  if (transport === null || !rules.transports.includes(transport as TransportName)) {
    return refused(headers, ErrorCode.UNKNOWN_TRANSPORT, { transport });
  }
  const origin = req.headers.origin;
  if (origin !== undefined && INVALID_HEADER_CHAR.test(origin)) {
    return refused(headers, ErrorCode.BAD_REQUEST, { name: "INVALID_ORIGIN", origin });
  }
  const facts: QueryFacts = { transport: transport as TransportName, supportsBinary: !query.has("b64") };
  const sid = query.get("sid");
  if (sid) return { kind: "session", headers, sid, ...facts };

  if (req.method !== "GET") return refused(headers, ErrorCode.BAD_HANDSHAKE_METHOD, { method: req.method });
  if ((transport === "websocket") !== upgrade) {
    return refused(headers, ErrorCode.BAD_REQUEST, { name: "TRANSPORT_HANDSHAKE_ERROR" });
  }
  const limited = rules.admit?.(req);
  if (limited) return { kind: "refused", headers, error: limited };
  if (rules.allowRequest) {
    const denied = await askAllowRequest(rules.allowRequest, req);
    if (denied) return { kind: "refused", headers, error: denied };
  }
  // With allowEIO3, exactly `EIO=3` is a v3 session; the reference takes anything but "4"
  // (a missing or garbled EIO) for v3, which unio still refuses.
  const eio = query.get("EIO");
  if (eio !== "4" && !(eio === "3" && rules.allowEIO3)) {
    return refused(headers, ErrorCode.UNSUPPORTED_PROTOCOL_VERSION, { protocol: 3 });
  }
  const protocol = eio === "3" ? 3 : 4;
  // `j` asks for JSONP, which only v3 clients (engine.io-client 3.x without XHR) speak.
  return { kind: "handshake", headers, protocol, jsonp: protocol === 3 ? (query.get("j") ?? null) : null, ...facts };
}

function refused(headers: Record<string, string>, code: ErrorCode, context: Record<string, unknown>): RequestCheck {
  return { kind: "refused", headers, error: requestError(code, context) };
}

/** The app's `allowRequest` verdict (callback or Promise, or a throw): a 403 refusal, or none. */
async function askAllowRequest(allow: AllowRequest, req: IncomingRequest): Promise<RequestError | undefined> {
  const verdict = await new Promise<{ err: string | null | undefined; ok: boolean }>((resolve) => {
    let settled = false;
    const done = (err: string | null | undefined, ok: boolean) => {
      if (!settled) resolve({ err, ok: !!ok });
      settled = true;
    };
    try {
      const r = allow(req, done);
      if (r && typeof (r as Promise<boolean>).then === "function") {
        (r as Promise<boolean>).then((ok) => done(null, ok), (e) => done(String(e?.message ?? e), false));
      }
    } catch (e) {
      done(String((e as Error)?.message ?? e), false);
    }
  });
  if (verdict.ok) return undefined;
  return requestError(ErrorCode.FORBIDDEN, { message: verdict.err }, verdict.err || undefined);
}

// What a query holds beyond letters, digits and `-._~=&`: then URLSearchParams decodes it.
const ENCODED = /[%+]/;

/**
 * The query, with one value per key: the last, as in the reference (see
 * above). The query engine.io-client sends (`EIO=4&transport=polling&t=...
 * &sid=...`) has nothing to decode, and is split as it is; anything with `%`
 * or `+` goes through URLSearchParams, the decoding of record. (Building two
 * URLSearchParams and iterating one was ~9% of a polling request's CPU.)
 */
function parseQuery(url: string): Map<string, string> {
  const q = url.indexOf("?");
  const out = new Map<string, string>();
  if (q === -1) return out;
  const query = url.slice(q + 1);
  if (ENCODED.test(query)) {
    for (const [key, value] of new URLSearchParams(query)) out.set(key, value);
    return out;
  }
  for (const pair of query.split("&")) {
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    if (eq === -1) out.set(pair, "");
    else out.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  return out;
}
