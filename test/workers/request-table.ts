/**
 * One table of requests, answered by the engine (a core Server behind a
 * fetch handler, in Node) and by the Workers router in front of Durable
 * Objects (in workerd): request-check.test.ts asserts both give the same
 * answer to each. Imported by the test and bundled into request-check-app.ts.
 */

/** The options both sides run with, per path. */
export const SERVERS = {
  /** Defaults, and a cors origin function that refuses one origin by failing. */
  "/socket.io": {
    cors: {
      origin: (origin: string | undefined, cb: (err: Error | null, allow?: boolean) => void) =>
        origin === "https://refused.example" ? cb(new Error("origin refused")) : cb(null, true),
    },
  },
  /** WebSocket only, v3 clients welcome. */
  "/v3": { path: "/v3", transports: ["websocket" as const], allowEIO3: true },
};

export interface Row {
  name: string;
  path: keyof typeof SERVERS;
  method: "GET" | "POST" | "OPTIONS";
  query: string;
  headers?: Record<string, string>;
  /** What both must answer: a status, and the Engine.IO error code when refused. */
  expect: { status: number; code?: number };
}

const WS = { upgrade: "websocket", connection: "Upgrade", "sec-websocket-version": "13", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==" };

export const ROWS: Row[] = [
  { name: "a v4 polling handshake", path: "/socket.io", method: "GET", query: "EIO=4&transport=polling", expect: { status: 200 } },
  { name: "EIO twice, the last 4 (the reference's last-value rule)", path: "/socket.io", method: "GET", query: "EIO=3&EIO=4&transport=polling", expect: { status: 200 } },
  { name: "EIO twice, the last 3, without allowEIO3", path: "/socket.io", method: "GET", query: "EIO=4&EIO=3&transport=polling", expect: { status: 400, code: 5 } },
  { name: "EIO twice, the last 3, with allowEIO3", path: "/v3", method: "GET", query: "EIO=4&EIO=3&transport=websocket", headers: WS, expect: { status: 101 } },
  { name: "no EIO", path: "/socket.io", method: "GET", query: "transport=polling", expect: { status: 400, code: 5 } },
  { name: "EIO=5", path: "/socket.io", method: "GET", query: "EIO=5&transport=polling", expect: { status: 400, code: 5 } },
  { name: "no transport", path: "/socket.io", method: "GET", query: "EIO=4", expect: { status: 400, code: 0 } },
  { name: "an unknown transport", path: "/socket.io", method: "GET", query: "EIO=4&transport=tcp", expect: { status: 400, code: 0 } },
  { name: "transport __proto__", path: "/socket.io", method: "GET", query: "EIO=4&transport=__proto__", expect: { status: 400, code: 0 } },
  { name: "a disabled transport", path: "/v3", method: "GET", query: "EIO=4&transport=polling", expect: { status: 400, code: 0 } },
  { name: "transport twice, the last polling", path: "/socket.io", method: "GET", query: "EIO=4&transport=websocket&transport=polling", expect: { status: 200 } },
  { name: "transport twice, the last websocket, no upgrade", path: "/socket.io", method: "GET", query: "EIO=4&transport=polling&transport=websocket", expect: { status: 400, code: 3 } },
  { name: "a POST handshake", path: "/socket.io", method: "POST", query: "EIO=4&transport=polling", expect: { status: 400, code: 2 } },
  { name: "websocket without an upgrade", path: "/socket.io", method: "GET", query: "EIO=4&transport=websocket", expect: { status: 400, code: 3 } },
  { name: "an upgrade for polling", path: "/socket.io", method: "GET", query: "EIO=4&transport=polling", headers: WS, expect: { status: 400, code: 3 } },
  { name: "a WebSocket handshake", path: "/socket.io", method: "GET", query: "EIO=4&transport=websocket", headers: WS, expect: { status: 101 } },
  { name: "an unknown sid", path: "/socket.io", method: "GET", query: "EIO=4&transport=polling&sid=nope", expect: { status: 400, code: 1 } },
  { name: "sid twice, the last empty: a handshake", path: "/socket.io", method: "GET", query: "EIO=4&transport=polling&sid=nope&sid=", expect: { status: 200 } },
  { name: "sid twice, the last unknown", path: "/socket.io", method: "GET", query: "EIO=4&transport=polling&sid=&sid=nope", expect: { status: 400, code: 1 } },
  { name: "an unknown sid, POST", path: "/socket.io", method: "POST", query: "EIO=4&transport=polling&sid=nope", expect: { status: 400, code: 1 } },
  { name: "an Origin with a control character", path: "/socket.io", method: "GET", query: "EIO=4&transport=polling", headers: { origin: "https://a\x7fb.example" }, expect: { status: 400, code: 3 } },
  { name: "a CORS preflight", path: "/socket.io", method: "OPTIONS", query: "EIO=4&transport=polling", headers: { origin: "https://app.example", "access-control-request-method": "POST" }, expect: { status: 204 } },
  { name: "an origin the cors function fails", path: "/socket.io", method: "GET", query: "EIO=4&transport=polling", headers: { origin: "https://refused.example" }, expect: { status: 400, code: 3 } },
  { name: "OPTIONS without cors", path: "/v3", method: "OPTIONS", query: "EIO=4&transport=websocket", expect: { status: 400, code: 2 } },
  { name: "b64 on a handshake", path: "/socket.io", method: "GET", query: "EIO=4&transport=polling&b64=1", headers: { origin: "https://app.example" }, expect: { status: 200 } },
];

/** A row as a Web `Request` to `base` (no trailing slash). */
export function toRequest(base: string, row: Row): Request {
  return new Request(`${base}${row.path}/?${row.query}`, { method: row.method, headers: row.headers ?? {} });
}

/** What is compared of an answer: status, body (the sid of a handshake blanked out) and the CORS origin. */
export interface Outcome {
  status: number;
  body: string;
  allowOrigin: string | null;
}

/** `undefined`: the fetch handler upgraded the request itself (as Bun's does). */
export async function outcome(res: Response | undefined): Promise<Outcome> {
  if (res === undefined) return { status: 101, body: "", allowOrigin: null };
  const body = res.status === 101 ? "" : (await res.text()).replace(/"sid":"[^"]*"/, '"sid":"<sid>"');
  return { status: res.status, body, allowOrigin: res.status === 101 ? null : res.headers.get("access-control-allow-origin") };
}
