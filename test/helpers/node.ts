/**
 * Real-network helpers: start a target on a free port with the Node shim and
 * tear everything down afterwards.
 */
import { createServer, request, type Server as HttpServer, type IncomingHttpHeaders, type ServerOptions } from "node:http";
import { connect, type AddressInfo } from "node:net";
import { WebSocket, type ClientOptions } from "ws";
import { attach, serve, type RequestTarget } from "../../src/runtimes/node.ts";

export interface Running {
  server: HttpServer;
  port: number;
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** `ws://127.0.0.1:<port>` */
  wsUrl: string;
  close(): Promise<void>;
}

function listening(server: HttpServer): Promise<void> {
  return new Promise((resolve, reject) => {
    if (server.listening) return resolve();
    server.once("listening", () => resolve());
    server.once("error", reject);
  });
}

async function wrap(server: HttpServer, target: RequestTarget): Promise<Running> {
  await listening(server);
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}`,
    async close() {
      await target.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** `serve(target)` on 127.0.0.1 and a free port. */
export function startNode(target: RequestTarget): Promise<Running> {
  return wrap(serve(target, { port: 0, hostname: "127.0.0.1" }), target);
}

/** `attach(target, server)` to a fresh http.Server running `app`, listening on a free port. */
export async function startAttached(
  target: RequestTarget,
  app?: Parameters<typeof createServer>[1],
  serverOptions: ServerOptions = {},
): Promise<Running> {
  const server = app ? createServer(serverOptions, app) : createServer(serverOptions);
  attach(target, server);
  server.listen(0, "127.0.0.1");
  return wrap(server, target);
}

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * A request through node:http, for what `fetch` cannot do: a chunked body
 * with no Content-Length, written piece by piece.
 */
export function rawRequest(
  url: string,
  opts: { method?: string; headers?: Record<string, string>; chunks?: Array<string | Uint8Array> },
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: opts.method ?? "GET", headers: opts.headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on("error", reject);
    });
    // The server may answer (413) and close while we still upload; that is not a failure here.
    req.on("error", (err) => {
      if ((err as NodeJS.ErrnoException).code !== "EPIPE" && (err as NodeJS.ErrnoException).code !== "ECONNRESET") reject(err);
    });
    const chunks = opts.chunks ?? [];
    let i = 0;
    const writeNext = () => {
      if (req.destroyed) return;
      if (i === chunks.length) return void req.end();
      req.write(chunks[i++]!, () => setImmediate(writeNext));
    };
    writeNext();
  });
}

/** Writes `text` as is on a fresh TCP connection and returns everything the server answered. */
export function rawHttp(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let out = "";
    socket.setEncoding("latin1");
    socket.on("data", (c: string) => (out += c));
    socket.on("error", reject);
    socket.on("close", () => resolve(out));
    socket.write(text);
  });
}

/**
 * A raw `ws` client with a message queue: `next()` resolves with the next
 * frame (text as string, binary as Buffer), `closed` with the close code.
 */
export class WsClient {
  readonly ws: WebSocket;
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number; reason: string }>;
  #queue: Array<string | Buffer> = [];
  #waiters: Array<(m: string | Buffer) => void> = [];

  constructor(url: string, options: ClientOptions = {}) {
    this.ws = new WebSocket(url, options);
    this.ws.on("message", (data: Buffer, isBinary: boolean) => {
      const m = isBinary ? data : data.toString();
      const w = this.#waiters.shift();
      if (w) w(m);
      else this.#queue.push(m);
    });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once("open", () => resolve());
      this.ws.once("error", reject);
      this.ws.once("unexpected-response", (_req, res) => reject(new Error(`unexpected response ${res.statusCode}`)));
    });
    this.opened.catch(() => {});
    this.closed = new Promise((resolve) => this.ws.once("close", (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  next(timeout = 3000): Promise<string | Buffer> {
    const m = this.#queue.shift();
    if (m !== undefined) return Promise.resolve(m);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no frame within timeout")), timeout);
      this.#waiters.push((frame) => {
        clearTimeout(timer);
        resolve(frame);
      });
    });
  }

  send(data: string | Uint8Array): void {
    this.ws.send(data);
  }

  close(): void {
    this.ws.terminate();
  }
}

/** Opens a WebSocket that the server must refuse; resolves with the HTTP refusal it got. */
export function refusedUpgrade(url: string, headers: Record<string, string> = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.on("open", () => {
      ws.terminate();
      reject(new Error("the upgrade was accepted"));
    });
    ws.on("error", () => {});
    ws.on("unexpected-response", (_req, res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
  });
}
