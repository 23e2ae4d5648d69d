import { encodeBase64 } from "../protocol/base64.ts";
import { encodeBinaryPacketV3 } from "../protocol/engine-io-v3.ts";
import type { WireItem } from "./transport.ts";

/** The `message` type code, which v3 writes into binary packets. */
const MESSAGE = 4;

/**
 * One Engine.IO `message`, encoded lazily once per wire form and then shared:
 * a broadcast builds one `OutboundMessage` and hands the same object to every
 * recipient, so the `4` prefix, the base64 of a binary attachment and (on
 * runtimes that support it) the framed bytes are each computed once.
 */
export class OutboundMessage implements WireItem {
  #text: string | undefined;
  #v3: V3BinaryMessage | undefined;
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

  /** The v3 form: text is written as in v4; binary gets its own frame and text, made once. */
  get v3(): WireItem {
    if (typeof this.data === "string") return this;
    return (this.#v3 ??= new V3BinaryMessage(this, this.data));
  }
}

/**
 * A binary message as Engine.IO v3 writes it: `[4, ...bytes]` on a
 * WebSocket and in binary polling payloads, `b4<base64>` as text. A
 * separate `SharedFrame`, so a shim's cached framing of the v4 bytes is
 * never sent to a v3 client (or the reverse).
 */
class V3BinaryMessage implements WireItem {
  readonly wsFrame: Uint8Array;
  framed: unknown = undefined;
  #text: string | undefined;

  constructor(
    readonly v4: OutboundMessage,
    data: Uint8Array,
  ) {
    this.wsFrame = encodeBinaryPacketV3(MESSAGE, data);
  }

  get text(): string {
    // The v4 text is `b<base64>`: its base64 is reused rather than computed twice.
    return (this.#text ??= "b4" + this.v4.text.slice(1));
  }

  get size(): number {
    return this.wsFrame.byteLength;
  }

  get v3(): WireItem {
    return this;
  }
}
