/**
 * A WebSocket client over a bare TCP socket that offers permessage-deflate
 * and shows what arrives on the wire: each frame's RSV1 bit (set on a
 * compressed message) and its size, beside the decoded text. It can also
 * send a compressed message built by hand (a deflate bomb).
 *
 * The offer asks for no context takeover on both sides, so each message
 * inflates on its own (every runtime here accepts it; Bun insists on it).
 */
import { randomBytes } from "node:crypto";
import { connect, type Socket } from "node:net";
import { constants, createDeflateRaw, inflateRawSync } from "node:zlib";

export interface WireFrame {
  /** RSV1: the message was compressed. */
  compressed: boolean;
  opcode: number;
  /** Payload bytes on the wire. */
  wireBytes: number;
  /** The message, inflated when compressed (text frames as string). */
  data: string | Buffer;
}

const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

export class DeflateWs {
  readonly frames: WireFrame[] = [];
  #waiters: Array<(f: WireFrame | null) => void> = [];
  #buf: Buffer = Buffer.alloc(0);
  closeCode: number | null = null;
  readonly closed: Promise<number>;
  #onClosed!: (code: number) => void;

  private constructor(
    readonly sock: Socket,
    /** The 101's headers, lower-cased. */
    readonly headers: Record<string, string>,
  ) {
    this.closed = new Promise((r) => (this.#onClosed = r));
    sock.on("close", () => {
      this.#onClosed(this.closeCode ?? 1006);
      for (const w of this.#waiters.splice(0)) w(null);
    });
    sock.on("error", () => {});
  }

  /** Whether the server accepted the extension in its 101. */
  get negotiated(): boolean {
    return (this.headers["sec-websocket-extensions"] ?? "").includes("permessage-deflate");
  }

  /** Opens `path` offering permessage-deflate (unless `offer` is false); rejects unless the answer is 101. */
  static open(port: number, path: string, offer = true): Promise<DeflateWs> {
    return new Promise((resolve, reject) => {
      const sock = connect(port, "127.0.0.1");
      sock.setNoDelay(true);
      let buf = Buffer.alloc(0);
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new Error(`no 101 within 5 s: ${buf.toString("latin1")}`));
      }, 5000);
      const onData = (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        const end = buf.indexOf("\r\n\r\n");
        if (end === -1) return;
        clearTimeout(timer);
        sock.off("data", onData);
        const lines = buf.toString("latin1", 0, end).split("\r\n");
        if (!/^HTTP\/1\.1 101/.test(lines[0]!)) {
          sock.destroy();
          return reject(new Error(`not upgraded: ${lines[0]}`));
        }
        const headers: Record<string, string> = {};
        for (const l of lines.slice(1)) {
          const i = l.indexOf(":");
          headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
        }
        const ws = new DeflateWs(sock, headers);
        sock.on("data", (c: Buffer) => ws.#onData(c));
        const rest = buf.subarray(end + 4);
        if (rest.length) ws.#onData(rest);
        resolve(ws);
      };
      sock.on("data", onData);
      sock.on("error", (e) => reject(e));
      sock.on("connect", () => {
        const lines = [
          `GET ${path} HTTP/1.1`,
          `Host: 127.0.0.1:${port}`,
          "Upgrade: websocket",
          "Connection: Upgrade",
          `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}`,
          "Sec-WebSocket-Version: 13",
        ];
        if (offer) lines.push("Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover; server_no_context_takeover");
        sock.write(lines.join("\r\n") + "\r\n\r\n");
      });
    });
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
      const payload = Buffer.from(b.subarray(p, p + len));
      this.#buf = b.subarray(p + len);
      this.#onFrame(b[0]!, payload);
    }
  }

  #onFrame(first: number, payload: Buffer): void {
    const opcode = first & 0x0f;
    const compressed = (first & 0x40) !== 0;
    if (opcode === 0x8) {
      this.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
      if (!this.sock.destroyed) this.sock.end(frame(0x8, payload.subarray(0, 2), false));
      return;
    }
    if (opcode === 0x9) return void this.sock.write(frame(0xa, payload, false));
    if (opcode !== 0x1 && opcode !== 0x2) return;
    const raw = compressed ? inflateRawSync(Buffer.concat([payload, TAIL]), { finishFlush: constants.Z_SYNC_FLUSH }) : payload;
    const data = opcode === 0x1 ? raw.toString("utf8") : raw;
    // Engine.IO heartbeats are answered so a slow test is not cut off by a ping timeout.
    if (data === "2") return void this.sendText("3");
    const f: WireFrame = { compressed, opcode, wireBytes: payload.length, data };
    const w = this.#waiters.shift();
    if (w) w(f);
    else this.frames.push(f);
  }

  /** The next data frame, or null when the connection ended or `ms` passed. */
  next(ms = 3000): Promise<WireFrame | null> {
    const f = this.frames.shift();
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

  /** The next frame whose text starts with `prefix` (others are dropped), or null. */
  async nextText(prefix: string, ms = 3000): Promise<WireFrame | null> {
    const end = Date.now() + ms;
    for (;;) {
      const left = end - Date.now();
      if (left <= 0) return null;
      const f = await this.next(left);
      if (f === null || (typeof f.data === "string" && f.data.startsWith(prefix))) return f;
    }
  }

  sendText(text: string): void {
    if (!this.sock.destroyed) this.sock.write(frame(0x1, Buffer.from(text), false));
  }

  /** Sends `deflated` (raw deflate data, sync-flush tail removed) as one compressed text message. */
  sendCompressed(deflated: Buffer): boolean {
    if (this.sock.destroyed) return false;
    return this.sock.write(frame(0x1, deflated, true));
  }

  close(): void {
    if (!this.sock.destroyed) this.sock.destroy();
  }
}

/** One masked client frame (or the unmasked echo of a control frame). */
function frame(opcode: number, data: Buffer, rsv1: boolean, mask = true): Buffer {
  const len = data.length;
  const headLen = 2 + (len < 126 ? 0 : len < 65536 ? 2 : 8) + (mask ? 4 : 0);
  const out = Buffer.allocUnsafe(headLen + len);
  out[0] = 0x80 | (rsv1 ? 0x40 : 0) | opcode;
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
  } else data.copy(out, p);
  return out;
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
    if (!z.write(mib)) await new Promise((r) => z.once("drain", r));
  }
  await new Promise<void>((r) => z.flush(constants.Z_SYNC_FLUSH, () => r()));
  const all = Buffer.concat(out);
  // permessage-deflate drops the sync flush's empty block marker (RFC 7692 §7.2.1).
  return all.subarray(0, all.length - 4);
}
