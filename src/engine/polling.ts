import { decodePayload, type EnginePacket, RECORD_SEPARATOR } from "../protocol/engine-io.ts";
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

/**
 * HTTP long-polling. A GET is a pending `Promise<OutgoingResponse>` that the
 * session settles exactly once: with data, a ping, a noop (upgrade) or the
 * close packet. At most one GET and one POST may be in flight.
 */
export class PollingTransport implements Transport {
  readonly name = "polling" as const;
  #pending: PendingPoll | null = null;
  #posting = false;
  #closed = false;

  /** Set by the session that owns this transport. */
  sink!: PollingSink;

  constructor(
    readonly maxHttpBufferSize: number,
    /** `httpCompression`: `false`, or the smallest body (bytes) compressed. */
    readonly httpCompression: false | { threshold: number } = false,
  ) {}

  get writable(): boolean {
    return this.#pending !== null;
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
      req.onAbort(() => {
        if (this.#pending !== pending) return;
        this.#pending = null;
        this.sink.onTransportError("poll connection closed prematurely");
      });
      this.sink.onPollReady();
    });
  }

  /** A POST: its packets are handed to the session before `ok` is answered. */
  async data(req: IncomingRequest, headers: Record<string, string>): Promise<OutgoingResponse> {
    if (this.#posting) {
      this.sink.onTransportError("data request overlap from client");
      return statusResponse(400, headers);
    }
    if ((req.headers["content-type"] ?? "").startsWith("application/octet-stream")) {
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
    const { packets, error } = decodePayload(decoder.decode(body.bytes));
    if (packets.length) this.sink.onPackets(packets);
    if (error) this.sink.onParseError();
    return { status: 200, headers: { ...headers, "content-type": "text/html" }, body: "ok" };
  }

  write(items: readonly WireItem[]): void {
    const p = this.#pending;
    if (!p) return;
    this.#pending = null;
    let body = items[0]!.text;
    for (let i = 1; i < items.length; i++) body += RECORD_SEPARATOR + items[i]!.text;
    const headers = { ...p.headers, "content-type": "text/plain; charset=UTF-8" };
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

  close(final: WireItem): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#pending) {
      const p = this.#pending;
      this.#pending = null;
      p.resolve({ status: 200, headers: { ...p.headers, "content-type": "text/plain; charset=UTF-8" }, body: final.text });
    }
  }
}
