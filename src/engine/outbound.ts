import { encodeBase64 } from "../protocol/base64.ts";

/**
 * One Engine.IO `message`, encoded lazily once per wire form and then shared:
 * a broadcast builds one `OutboundMessage` and hands the same object to every
 * recipient, so the `4` prefix, the base64 of a binary attachment and (on
 * runtimes that support it) the framed bytes are each computed once.
 */
export class OutboundMessage {
  #text: string | undefined;
  /** Slot for a shim's pre-framed form of `wsFrame` (e.g. a ws frame on Node). */
  framed: unknown = undefined;

  constructor(
    readonly data: string | Uint8Array,
    /**
     * socket.io's `compress` flag: `false` keeps the message out of polling
     * compression (as in the reference) and, unlike the reference, out of
     * permessage-deflate too.
     */
    readonly compress = true,
  ) {}

  get binary(): boolean {
    return typeof this.data !== "string";
  }

  /** The frame for a WebSocket that carries binary: `4<text>` or the raw bytes. */
  get wsFrame(): string | Uint8Array {
    return typeof this.data === "string" ? this.text : this.data;
  }

  /** The text form: `4<text>` or `b<base64>` (polling payloads and `b64` transports). */
  get text(): string {
    if (this.#text === undefined) {
      this.#text = typeof this.data === "string" ? "4" + this.data : "b" + encodeBase64(this.data);
    }
    return this.#text;
  }

  /** Bytes this message adds to a write buffer, for buffer limits. */
  get size(): number {
    return typeof this.data === "string" ? this.data.length + 1 : this.data.byteLength;
  }
}
