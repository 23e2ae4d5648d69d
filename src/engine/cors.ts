/**
 * CORS for engine requests, with the semantics of the `cors` middleware the
 * reference installs: an origin that does not match gets no
 * Access-Control-Allow-Origin but the request still proceeds; a preflight is
 * answered here unless `preflightContinue`.
 */
type OriginCallback = (err: Error | null, origin?: boolean | string | RegExp | Array<string | RegExp>) => void;
export type StaticOrigin = boolean | string | RegExp | Array<string | RegExp>;
export type CustomOrigin = (origin: string | undefined, callback: OriginCallback) => void;

export interface CorsOptions {
  origin?: StaticOrigin | CustomOrigin;
  methods?: string | string[];
  allowedHeaders?: string | string[];
  /** Alias of `allowedHeaders`. */
  headers?: string | string[];
  exposedHeaders?: string | string[];
  credentials?: boolean;
  maxAge?: number;
  preflightContinue?: boolean;
  optionsSuccessStatus?: number;
}

const DEFAULT_METHODS = "GET,HEAD,PUT,PATCH,POST,DELETE";

function join(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(",") : v;
}

function originMatches(origin: string, allowed: StaticOrigin): boolean {
  if (Array.isArray(allowed)) return allowed.some((a) => originMatches(origin, a));
  if (typeof allowed === "string") return origin === allowed;
  if (allowed instanceof RegExp) return allowed.test(origin);
  return !!allowed;
}

async function resolveOrigin(options: CorsOptions, origin: string | undefined): Promise<StaticOrigin> {
  const o = options.origin ?? "*";
  if (typeof o !== "function") return o;
  return new Promise((resolve, reject) => {
    o(origin, (err, value) => (err ? reject(err) : resolve(value ?? false)));
  });
}

/** The CORS headers for a request: those of a simple request, or of a preflight. */
export async function corsHeaders(
  options: CorsOptions,
  method: string,
  headers: Readonly<Record<string, string>>,
): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const origin = headers.origin;
  const allowed = await resolveOrigin(options, origin);
  if (allowed === "*") {
    out["access-control-allow-origin"] = "*";
  } else if (typeof allowed === "string") {
    out["access-control-allow-origin"] = allowed;
    out.vary = "Origin";
  } else {
    if (origin !== undefined && originMatches(origin, allowed)) out["access-control-allow-origin"] = origin;
    out.vary = "Origin";
  }
  if (options.credentials) out["access-control-allow-credentials"] = "true";
  const exposed = join(options.exposedHeaders);
  if (exposed) out["access-control-expose-headers"] = exposed;
  if (method === "OPTIONS") {
    out["access-control-allow-methods"] = join(options.methods) ?? DEFAULT_METHODS;
    const allowedHeaders = join(options.allowedHeaders ?? options.headers);
    if (allowedHeaders !== undefined) {
      out["access-control-allow-headers"] = allowedHeaders;
    } else if (headers["access-control-request-headers"]) {
      out["access-control-allow-headers"] = headers["access-control-request-headers"];
      out.vary = out.vary ? `${out.vary}, Access-Control-Request-Headers` : "Access-Control-Request-Headers";
    }
    if (options.maxAge !== undefined) out["access-control-max-age"] = String(options.maxAge);
  }
  return out;
}

