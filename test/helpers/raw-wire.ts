/**
 * Hand-made clients: raw HTTP/1.1 over TCP (any header, any body framing,
 * resets) and the one raw WebSocket client of the suite, which writes any
 * frame (fragments, bad UTF-8, floods, a compressed message built by hand)
 * and shows what arrives on the wire: each message's RSV1 bit (compressed)
 * and size, beside its data. Loopback only; every wait is bounded.
 */
import { randomBytes } from "node:crypto";
import { connect, type Socket as NetSocket } from "node:net";
import { constants, createDeflateRaw, inflateRawSync } from "node:zlib";
import { once, sleep, within } from "./wait.ts";

export const HOST = "127.0.0.1";

// ── raw HTTP ───────────────────────────────────────────────────────────────

export interface RawResponse {
  /** null when the server closed without a status line. */
  status: number | null;
  headers: Record<string, string>;
  body: string;
  /** The server closed the connection (or reset it). */
  closed: boolean;
  /** The whole response, for failure messages. */
  raw: string;
}

function parseResponse(buf: Buffer, closed: boolean): { done: boolean; res: RawResponse } {
  const raw = buf.toString("latin1");
  const end = raw.indexOf("\r\n\r\n");
  const empty = { status: null, headers: {}, body: "", closed, raw };
  if (end === -1) return { done: closed, res: empty };
  const [statusLine, ...lines] = raw.slice(0, end).split("\r\n");
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? "");
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(":");
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  const status = m ? Number(m[1]) : null;
  const rest = buf.subarray(Buffer.byteLength(raw.slice(0, end + 4), "latin1"));
  const res = (body: Buffer): RawResponse => ({ status, headers, body: body.toString("utf8"), closed, raw });
  if (status === 101) return { done: true, res: res(Buffer.alloc(0)) };
  if (headers["transfer-encoding"]?.includes("chunked")) {
    const chunks: Buffer[] = [];
    let p = 0;
    for (;;) {
      const nl = rest.indexOf("\r\n", p);
      if (nl === -1) return { done: closed, res: res(Buffer.concat(chunks)) };
      const size = parseInt(rest.subarray(p, nl).toString(), 16);
      if (Number.isNaN(size)) return { done: true, res: res(Buffer.concat(chunks)) };
      if (size === 0) return { done: true, res: res(Buffer.concat(chunks)) };
      if (rest.length < nl + 2 + size + 2) return { done: closed, res: res(Buffer.concat(chunks)) };
      chunks.push(rest.subarray(nl + 2, nl + 2 + size));
      p = nl + 2 + size + 2;
    }
  }
  if (headers["content-length"] !== undefined) {
    const n = Number(headers["content-length"]);
    return { done: closed || rest.length >= n, res: res(rest.subarray(0, n)) };
  }
  return { done: closed, res: res(rest) };
}

export interface RawRequestOptions {
  /** Give up waiting after this long (the result then has what arrived). Default 3000. */
  timeoutMs?: number;
  /** Write these after the head, each after a short pause (a body arriving in pieces). */
  pieces?: Array<string | Buffer>;
  /** Resolve as soon as the response is complete (default) or only when the socket closes. */
  waitForClose?: boolean;
}

/** Sends `head` (+ `body`) on a fresh TCP connection and reads one response. */
export function rawRequest(port: number, head: string, body?: string | Buffer, opts: RawRequestOptions = {}): Promise<RawResponse> {
  return new Promise((resolve) => {
    const sock = connect(port, HOST);
    let buf = Buffer.alloc(0);
    let settled = false;
    const finish = (closed: boolean) => {
      if (settled) return;
      const { done, res } = parseResponse(buf, closed);
      if (!done && !closed) return;
      if (opts.waitForClose && !closed) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(res);
    };
    const timer = setTimeout(() => {
      settled = true;
      sock.destroy();
      resolve(parseResponse(buf, false).res);
    }, opts.timeoutMs ?? 3000);
    sock.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      finish(false);
    });
    sock.on("error", () => finish(true));
    sock.on("close", () => finish(true));
    sock.on("connect", async () => {
      sock.write(head);
      if (body !== undefined) sock.write(body);
      for (const p of opts.pieces ?? []) {
        // Pacing, not waiting: a body arriving in pieces, 20 ms apart.
        await sleep(20);
        if (sock.destroyed) break;
        sock.write(p);
      }
    });
  });
}

/** A request head with CRLFs; `headers` may repeat names. */
export function head(method: string, path: string, port: number, headers: Array<[string, string]> = []): string {
  let h = `${method} ${path} HTTP/1.1\r\nHost: ${HOST}:${port}\r\n`;
  for (const [k, v] of headers) h += `${k}: ${v}\r\n`;
  return h + "\r\n";
}

// ── raw WebSocket ──────────────────────────────────────────────────────────

export type Frame = string | Uint8Array;

/** A data message as it came over the wire. */
export interface WireFrame {
  /** RSV1 on its first frame: the message was compressed (permessage-deflate). */
  compressed: boolean;
  opcode: number;
  /** Payload bytes on the wire (all fragments). */
  wireBytes: number;
  /** The message, inflated when compressed: text as string, binary as Uint8Array. */
  data: Frame;
}

export interface FrameSpec {
  fin?: boolean;
  opcode: number;
  payload?: Buffer | string;
  /** Client frames must be masked; a test may send unmasked ones. */
  mask?: boolean;
  /** RSV1: a permessage-deflate compressed message. */
  rsv1?: boolean;
}

export function encodeFrame({ fin = true, opcode, payload = Buffer.alloc(0), mask = true, rsv1 = false }: FrameSpec): Buffer {
  const data = typeof payload === "string" ? Buffer.from(payload) : payload;
  const len = data.length;
  const headLen = 2 + (len < 126 ? 0 : len < 65536 ? 2 : 8) + (mask ? 4 : 0);
  const out = Buffer.allocUnsafe(headLen + len);
  out[0] = (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode;
  let p = 2;
  if (len < 126) out[1] = len;
  else if (len < 65536) {
    out[1] = 126;
    out.writeUInt16BE(len, 2);
    p = 4;
  } else {
    out[1] = 127;
    out.writeBigUInt64BE(BigInt(len), 2);
    p = 10;
  }
  if (mask) {
    out[1]! |= 0x80;
    const key = randomBytes(4);
    key.copy(out, p);
    p += 4;
    for (let i = 0; i < len; i++) out[p + i] = data[i]! ^ key[i & 3]!;
  } else {
    data.copy(out, p);
  }
  return out;
}

export interface RawWsOptions {
  /** Extra request headers, in order (names may repeat). */
  headers?: Array<[string, string]>;
  /** Put `headers` before the WebSocket ones (so a header cap drops the key, CVE-2024-37890). */
  headersFirst?: boolean;
  /** Answer Engine.IO pings ("2") with pongs ("3"). Default true. */
  autoPong?: boolean;
  /**
   * Offer permessage-deflate, with no context takeover on both sides so that
   * each message inflates on its own (every runtime here accepts it; Bun insists on it).
   */
  deflate?: boolean;
  timeoutMs?: number;
}

const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/**
 * A WebSocket client over a bare TCP socket: the handshake and every frame
 * are written by hand, so a test can send what no library would.
 */
export class RawWs {
  /** Messages received and not yet read, as they came over the wire. */
  readonly wire: WireFrame[] = [];
  #waiters: Array<(f: WireFrame | null) => void> = [];
  #buf: Buffer = Buffer.alloc(0);
  #fragments: Buffer[] = [];
  #fragOpcode = 0;
  #fragCompressed = false;
  /** Close code the server sent (1005 when none), or null while open. */
  closeCode: number | null = null;
  /** Resolves when the TCP connection ends, with the close code seen (or 1006). */
  readonly closed: Promise<number>;
  #onClosed!: (code: number) => void;
  autoPong: boolean;

  private constructor(
    readonly sock: NetSocket,
    autoPong: boolean,
    /** The 101's headers, lower-cased. */
    readonly headers: Record<string, string>,
  ) {
    this.autoPong = autoPong;
    this.closed = new Promise((r) => (this.#onClosed = r));
    sock.on("close", () => {
      this.#onClosed(this.closeCode ?? 1006);
      for (const w of this.#waiters.splice(0)) w(null);
    });
    sock.on("error", () => {});
  }

  /** The data of the messages received and not yet read. */
  get frames(): Frame[] {
    return this.wire.map((f) => f.data);
  }

  /** Whether the server accepted permessage-deflate in its 101. */
  get negotiated(): boolean {
    return (this.headers["sec-websocket-extensions"] ?? "").includes("permessage-deflate");
  }

  get isClosed(): boolean {
    return this.sock.destroyed || this.closeCode !== null;
  }

  /**
   * Opens `path`; resolves with the socket after a 101, or with the refusal
   * response (status, body) when the server did not upgrade.
   */
  static open(port: number, path: string, opts: RawWsOptions = {}): Promise<RawWs | RawResponse> {
    return new Promise((resolve) => {
      const sock = connect(port, HOST);
      sock.setNoDelay(true);
      let buf = Buffer.alloc(0);
      let done = false;
      const timer = setTimeout(() => settle(parseResponse(buf, false).res), opts.timeoutMs ?? 3000);
      const settle = (v: RawWs | RawResponse) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        sock.off("data", onData);
        if (!(v instanceof RawWs)) sock.destroy();
        resolve(v);
      };
      const onData = (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        const end = buf.indexOf("\r\n\r\n");
        if (end === -1) return;
        const status = /^HTTP\/1\.1 (\d{3})/.exec(buf.toString("latin1", 0, end));
        if (status?.[1] === "101") {
          const ws = new RawWs(sock, opts.autoPong !== false, parseResponse(buf.subarray(0, end + 4), false).res.headers);
          settle(ws);
          const rest = buf.subarray(end + 4);
          sock.on("data", (chunk: Buffer) => ws.#onData(chunk));
          if (rest.length) ws.#onData(rest);
        } else {
          const { done: complete, res } = parseResponse(buf, false);
          if (complete) settle(res);
        }
      };
      sock.on("data", onData);
      sock.on("close", () => settle(parseResponse(buf, true).res));
      sock.on("error", () => {});
      sock.on("connect", () => {
        const key = randomBytes(16).toString("base64");
        const ws: Array<[string, string]> = [
          ["Upgrade", "websocket"],
          ["Connection", "Upgrade"],
          ["Sec-WebSocket-Key", key],
          ["Sec-WebSocket-Version", "13"],
        ];
        if (opts.deflate) {
          ws.push(["Sec-WebSocket-Extensions", "permessage-deflate; client_no_context_takeover; server_no_context_takeover"]);
        }
        const extra = opts.headers ?? [];
        const headers = opts.headersFirst ? [...extra, ...ws] : [...ws, ...extra];
        sock.write(head("GET", path, port, headers));
      });
    });
  }

  /** Opens `path` like `open`, but rejects unless the server upgraded. */
  static async connect(port: number, path: string, opts: RawWsOptions = {}): Promise<RawWs> {
    const ws = await RawWs.open(port, path, { timeoutMs: 5000, ...opts });
    if (!isRawWs(ws)) throw new Error(`not upgraded: ${ws.status ?? "no answer"} ${ws.raw.slice(0, 300)}`);
    return ws;
  }

  #onData(chunk: Buffer): void {
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, chunk]) : chunk;
    for (;;) {
      const b = this.#buf;
      if (b.length < 2) return;
      let len = b[1]! & 0x7f;
      let p = 2;
      if (len === 126) {
        if (b.length < 4) return;
        len = b.readUInt16BE(2);
        p = 4;
      } else if (len === 127) {
        if (b.length < 10) return;
        len = Number(b.readBigUInt64BE(2));
        p = 10;
      }
      if (b.length < p + len) return;
      const fin = (b[0]! & 0x80) !== 0;
      const rsv1 = (b[0]! & 0x40) !== 0;
      const opcode = b[0]! & 0x0f;
      const payload = b.subarray(p, p + len);
      this.#buf = b.subarray(p + len);
      this.#onFrame(fin, rsv1, opcode, Buffer.from(payload));
    }
  }

  #onFrame(fin: boolean, rsv1: boolean, opcode: number, payload: Buffer): void {
    if (opcode === 0x8) {
      this.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
      if (!this.sock.destroyed) this.sock.end(encodeFrame({ opcode: 0x8, payload: payload.subarray(0, 2) }));
      return;
    }
    if (opcode === 0x9) return void this.writeFrame({ opcode: 0xa, payload });
    if (opcode === 0xa) return;
    if (opcode !== 0) {
      this.#fragOpcode = opcode;
      this.#fragCompressed = rsv1;
    }
    this.#fragments.push(payload);
    if (!fin) return;
    const wireBytes = this.#fragments.reduce((n, f) => n + f.length, 0);
    const joined = Buffer.concat(this.#fragments);
    this.#fragments = [];
    const compressed = this.#fragCompressed;
    const raw = compressed ? inflateRawSync(Buffer.concat([joined, TAIL]), { finishFlush: constants.Z_SYNC_FLUSH }) : joined;
    const data: Frame = this.#fragOpcode === 0x1 ? raw.toString("utf8") : new Uint8Array(raw);
    if (this.autoPong && data === "2") {
      this.sendText("3");
      return;
    }
    const frame: WireFrame = { compressed, opcode: this.#fragOpcode, wireBytes, data };
    const w = this.#waiters.shift();
    if (w) w(frame);
    else this.wire.push(frame);
  }

  /** The next data frame, or null if the connection ended or `ms` passed. */
  async next(ms = 2000): Promise<Frame | null> {
    return (await this.nextFrame(ms))?.data ?? null;
  }

  /** The next message as it came over the wire, or null if the connection ended or `ms` passed. */
  nextFrame(ms = 2000): Promise<WireFrame | null> {
    const f = this.wire.shift();
    if (f !== undefined) return Promise.resolve(f);
    if (this.sock.destroyed) return Promise.resolve(null);
    return new Promise((resolve) => {
      const waiter = (fr: WireFrame | null) => {
        clearTimeout(timer);
        resolve(fr);
      };
      const timer = setTimeout(() => {
        const i = this.#waiters.indexOf(waiter);
        if (i !== -1) this.#waiters.splice(i, 1);
        resolve(null);
      }, ms);
      this.#waiters.push(waiter);
    });
  }

  /** The next data frame that satisfies `pred` (others are dropped), or null. */
  async nextMatching(pred: (f: Frame) => boolean, ms = 2000): Promise<Frame | null> {
    const end = Date.now() + ms;
    for (;;) {
      const left = end - Date.now();
      if (left <= 0) return null;
      const f = await this.next(left);
      if (f === null || pred(f)) return f;
    }
  }

  /** The next text message starting with `prefix` (others are dropped), as it came over the wire, or null. */
  async nextText(prefix: string, ms = 3000): Promise<WireFrame | null> {
    const end = Date.now() + ms;
    for (;;) {
      const left = end - Date.now();
      if (left <= 0) return null;
      const f = await this.nextFrame(left);
      if (f === null || (typeof f.data === "string" && f.data.startsWith(prefix))) return f;
    }
  }

  writeFrame(spec: FrameSpec): boolean {
    if (this.sock.destroyed) return false;
    return this.sock.write(encodeFrame(spec));
  }

  sendText(text: string): boolean {
    return this.writeFrame({ opcode: 0x1, payload: text });
  }

  sendBinary(bytes: Uint8Array): boolean {
    return this.writeFrame({ opcode: 0x2, payload: Buffer.from(bytes) });
  }

  /** Sends `deflated` (raw deflate data, sync-flush tail removed) as one compressed text message. */
  sendCompressed(deflated: Buffer): boolean {
    return this.writeFrame({ opcode: 0x1, payload: deflated, rsv1: true });
  }

  /**
   * Whether the server closed the connection within `ms`. Where the test
   * expects false, the window asserts silence: the server left it open that long.
   */
  async closedWithin(ms: number): Promise<boolean> {
    if (this.sock.destroyed) return true;
    return within(this.closed, { timeout: ms, what: "the server to close" }).then(
      () => true,
      () => this.sock.destroyed,
    );
  }

  /** A clean close from our side. */
  close(): void {
    if (!this.sock.destroyed) {
      this.writeFrame({ opcode: 0x8, payload: Buffer.from([0x03, 0xe8]) });
      this.sock.end();
    }
  }

  /** Vanish: no close frame, no FIN (a TCP reset). */
  reset(): void {
    if (!this.sock.destroyed) this.sock.resetAndDestroy();
  }
}

export function isRawWs(v: RawWs | RawResponse): v is RawWs {
  return v instanceof RawWs;
}

/**
 * A deflate bomb: `"4"` then `megabytes` MiB of `a`, raw-deflated as a
 * permessage-deflate message (about 1 KiB on the wire per MiB inflated).
 * Built in 1 MiB steps, so the test process never holds the inflated text.
 */
export async function deflateBomb(megabytes: number): Promise<Buffer> {
  const z = createDeflateRaw({ level: 9 });
  const out: Buffer[] = [];
  z.on("data", (c: Buffer) => out.push(c));
  const mib = Buffer.alloc(1 << 20, 0x61);
  z.write("4");
  for (let i = 0; i < megabytes; i++) {
    if (!z.write(mib)) await once(z, "drain", { timeout: 30_000 });
  }
  await new Promise<void>((r) => z.flush(constants.Z_SYNC_FLUSH, () => r()));
  const all = Buffer.concat(out);
  // permessage-deflate drops the sync flush's empty block marker (RFC 7692 §7.2.1).
  return all.subarray(0, all.length - 4);
}
