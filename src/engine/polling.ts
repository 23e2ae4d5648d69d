import { decodePayload, type EnginePacket, RECORD_SEPARATOR } from "../protocol/engine-io.ts";
import { statusResponse } from "./errors.ts";
import type { IncomingRequest, OutgoingResponse } from "./facade.ts";
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

  constructor(readonly maxHttpBufferSize: number) {}

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
      const pending: PendingPoll = { resolve, headers };
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
    p.resolve({ status: 200, headers: { ...p.headers, "content-type": "text/plain; charset=UTF-8" }, body });
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
