import { decodePayload, type DecodedPayload, type EnginePacket, RECORD_SEPARATOR } from "../protocol/engine-io.ts";
import {
  decodeBinaryPayloadV3,
  decodePayloadV3,
  encodeBinaryPayloadV3,
  encodeTextPayloadV3,
} from "../protocol/engine-io-v3.ts";
import { ErrorCode, errorResponse, requestError, statusResponse } from "./errors.ts";
import type { IncomingRequest, OutgoingResponse } from "./facade.ts";
import { compressText, type HttpEncoding, negotiateEncoding, unsupportedContentEncoding, utf8AtLeast } from "./http-compression.ts";
import type { Transport, WireItem } from "./transport.ts";

/** Where the polling transport reports what the client did. */
export interface PollingSink {
  /** A GET is now held: write whatever is waiting. */
  onPollReady(): void;
  onPackets(packets: EnginePacket[]): void;
  onParseError(): void;
  onTransportError(message: string): void;
  /** Whether writes are queued for the transport (they go out on the next flush). */
  readonly writePending: boolean;
}

interface PendingPoll {
  resolve(res: OutgoingResponse): void;
  headers: Record<string, string>;
  /** The GET's `Accept-Encoding`, read only when a body is big enough to compress. */
  acceptEncoding: string | undefined;
}

/** Whether a write may be compressed: as in the reference, unless every packet in it said `compress: false`. */
function anyCompressible(items: readonly WireItem[]): boolean {
  for (let i = 0; i < items.length; i++) if (items[i]!.compress !== false) return true;
  return false;
}

const decoder = new TextDecoder();
const TEXT = "text/plain; charset=UTF-8";
// JSONP POST bodies escape the payload's newlines as `\n` and its literal `\n` as `\\n`.
const JSONP_NEWLINES = /\\\\n|\\n/g;
const unescapeNewline = (m: string) => (m === "\\n" ? "\n" : "\\n");

/**
 * HTTP long-polling. A GET is a pending `Promise<OutgoingResponse>` that the
 * session settles exactly once: with data, a ping, a noop (upgrade) or the
 * close packet. At most one GET and one POST may be in flight.
 *
 * v4 payloads are text joined by `\x1e`. v3 payloads are length-prefixed
 * text, or, when the client reads binary (no `b64` in its handshake) and
 * something binary is queued, the binary payload format; a v3 client may
 * POST either (engine-io-v3.ts). A v3 JSONP client (`j=<n>` in its
 * handshake) reads `___eio[<n>]("<payload>");` scripts and POSTs forms
 * `d=<payload>`, always text. Text bodies of either revision are compressed
 * under `httpCompression`; v3 binary payloads are sent as they are.
 */
export class PollingTransport implements Transport {
  readonly name = "polling" as const;
  #pending: PendingPoll | null = null;
  #posting = false;
  #closed = false;
  /** The JSONP callback index (digits only), or null for XHR polling. */
  #jsonp: string | null = null;

  /** Set by the session that owns this transport. */
  sink!: PollingSink;

  constructor(
    readonly maxHttpBufferSize: number,
    /** `httpCompression`: `false`, or the smallest body (bytes) compressed. */
    readonly httpCompression: false | { threshold: number } = false,
    readonly protocol: 3 | 4 = 4,
    /** v3 only: false when the client asked for `b64` (binary then goes as `b4<base64>` text). */
    readonly supportsBinary = true,
    jsonp: string | null = null,
  ) {
    // Only the digits of `j` reach the script: nothing a client sends can break out of it.
    if (jsonp !== null) this.#jsonp = jsonp.replace(/[^0-9]/g, "");
  }

  get ready(): boolean {
    return this.#pending !== null;
  }

  /** A held GET with nothing queued for it yet (socket.io: a write makes polling unwritable until the next GET). */
  get writable(): boolean {
    return this.#pending !== null && !this.sink.writePending;
  }

  /** A GET: held until the session writes. */
  poll(req: IncomingRequest, headers: Record<string, string>): Promise<OutgoingResponse> {
    if (this.#closed) return Promise.resolve(statusResponse(400, headers));
    if (this.#pending) {
      // The reference closes the session on overlap; the held GET gets the close packet.
      this.sink.onTransportError("overlap from client");
      return Promise.resolve(statusResponse(400, headers));
    }
    return new Promise((resolve) => {
      const pending: PendingPoll = { resolve, headers, acceptEncoding: req.headers["accept-encoding"] };
      this.#pending = pending;
      this.sink.onPollReady();
      // Watched only when it is held: a GET answered at once has no client to lose
      // (and on some runtimes watching costs an AbortSignal per request).
      if (this.#pending !== pending) return;
      req.onAbort(() => {
        if (this.#pending !== pending) return;
        this.#pending = null;
        this.sink.onTransportError("poll connection closed prematurely");
      });
    });
  }

  /** A POST: its packets are handed to the session before `ok` is answered. */
  async data(req: IncomingRequest, headers: Record<string, string>): Promise<OutgoingResponse> {
    if (this.#posting) {
      this.sink.onTransportError("data request overlap from client");
      return statusResponse(400, headers);
    }
    const binary = (req.headers["content-type"] ?? "").startsWith("application/octet-stream");
    if (binary && this.protocol === 4) {
      this.sink.onTransportError("invalid content");
      return statusResponse(400, headers);
    }
    if (unsupportedContentEncoding(req.headers["content-encoding"])) {
      // Not read at all: inflating a client's body would make maxHttpBufferSize
      // bound the compressed size, not the memory (a small gzip bomb inflates to gigabytes).
      this.sink.onTransportError("unsupported content encoding");
      const refused = errorResponse(
        requestError(ErrorCode.BAD_REQUEST, { name: "UNSUPPORTED_CONTENT_ENCODING" }),
        { ...headers, "accept-encoding": "identity" },
      );
      return { ...refused, status: 415 };
    }
    this.#posting = true;
    const body = await req.readBody(this.maxHttpBufferSize);
    this.#posting = false;
    if (!body.ok) {
      if (body.reason === "too-large") return statusResponse(413, headers);
      this.sink.onTransportError("data request connection closed prematurely");
      return statusResponse(400, headers);
    }
    const { packets, error } = this.#decode(body.bytes, binary);
    if (packets.length) this.sink.onPackets(packets);
    if (error) this.sink.onParseError();
    return { status: 200, headers: { ...headers, "content-type": "text/html" }, body: "ok" };
  }

  #decode(bytes: Uint8Array, binary: boolean): DecodedPayload {
    if (this.protocol === 4) return decodePayload(decoder.decode(bytes));
    if (binary) return decodeBinaryPayloadV3(bytes);
    const text = decoder.decode(bytes);
    if (this.#jsonp === null) return decodePayloadV3(text);
    const d = new URLSearchParams(text).get("d");
    // A form without `d` carries nothing (the reference ignores it too).
    return d === null ? { packets: [] } : decodePayloadV3(d.replace(JSONP_NEWLINES, unescapeNewline));
  }

  write(items: readonly WireItem[]): void {
    const p = this.#pending;
    if (!p) return;
    this.#pending = null;
    if (this.protocol === 3) return this.#writeV3(p, items);
    let body = items[0]!.text;
    for (let i = 1; i < items.length; i++) body += RECORD_SEPARATOR + items[i]!.text;
    this.#respond(p, items, TEXT, body);
  }

  #writeV3(p: PendingPoll, items: readonly WireItem[]): void {
    const v3 = items.map((item) => item.v3);
    if (this.#jsonp !== null) {
      // JSON.stringify leaves U+2028/2029 raw, which older engines end a script line at.
      const js = JSON.stringify(encodeTextPayloadV3(v3.map((item) => item.text))).replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
      return this.#respond(p, items, "text/javascript; charset=UTF-8", `___eio[${this.#jsonp}](${js});`);
    }
    // As the reference: the binary format only when the client reads it and there is binary to send.
    if (this.supportsBinary && v3.some((item) => typeof item.wsFrame !== "string")) {
      const body = encodeBinaryPayloadV3(v3.map((item) => item.wsFrame));
      p.resolve({ status: 200, headers: { ...p.headers, "content-type": "application/octet-stream" }, body });
    } else {
      this.#respond(p, items, TEXT, encodeTextPayloadV3(v3.map((item) => item.text)));
    }
  }

  /** Settles the GET with a text body, compressed when `httpCompression` and the client allow. */
  #respond(p: PendingPoll, items: readonly WireItem[], contentType: string, body: string): void {
    const headers = { ...p.headers, "content-type": contentType };
    // The common small response settles on the length compare: no header parsing, no allocation.
    const hc = this.httpCompression;
    if (hc && utf8AtLeast(body, hc.threshold) && anyCompressible(items)) {
      const encoding = negotiateEncoding(p.acceptEncoding);
      if (encoding) return void this.#resolveCompressed(p, headers, body, encoding);
    }
    p.resolve({ status: 200, headers, body });
  }

  /**
   * Answers with the compressed body once it is ready. The GET is already
   * released (`#pending` is null), and the client sends no other GET before
   * this answer, so nothing can overtake it.
   */
  async #resolveCompressed(p: PendingPoll, headers: Record<string, string>, body: string, encoding: HttpEncoding): Promise<void> {
    const packed = await compressText(body, encoding);
    if (packed === null) return p.resolve({ status: 200, headers, body });
    headers["content-encoding"] = encoding;
    p.resolve({ status: 200, headers, body: packed });
  }

  close(final: WireItem | null): void {
    if (this.#closed) return;
    this.#closed = true;
    const p = this.#pending;
    if (!p) return;
    if (final) return this.write([final]);
    // The session is on its WebSocket now: a GET still held is refused as one that
    // arrives next is (see Transport.close).
    this.#pending = null;
    p.resolve(errorResponse(requestError(ErrorCode.BAD_REQUEST, { name: "TRANSPORT_MISMATCH", transport: "polling", previousTransport: "websocket" }), p.headers));
  }
}
