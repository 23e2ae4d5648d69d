import { describe, expect, it } from "vitest";
import {
  decodePacket,
  decodePayload,
  encodePacket,
  encodePayload,
  isDecodeError,
  PACKET_TYPES,
  RECORD_SEPARATOR,
  type EnginePacket,
} from "../../src/protocol/engine-io.ts";
import { decodeBase64, encodeBase64 } from "../../src/protocol/base64.ts";

const bytes = (...values: number[]) => new Uint8Array(values);

describe("engine.io packets", () => {
  it.each(PACKET_TYPES.map((type, code) => [type, code] as const))("round-trips %s as type char %i", (type, code) => {
    const withData: EnginePacket = { type, data: "hello" };
    expect(encodePacket(withData, true)).toBe(`${code}hello`);
    expect(decodePacket(`${code}hello`)).toEqual(withData);
    expect(encodePacket({ type }, true)).toBe(String(code));
    expect(decodePacket(String(code))).toEqual({ type });
  });

  it("writes the probe strings exactly", () => {
    expect(encodePacket({ type: "ping", data: "probe" }, true)).toBe("2probe");
    expect(encodePacket({ type: "pong", data: "probe" }, false)).toBe("3probe");
    expect(decodePacket("2probe")).toEqual({ type: "ping", data: "probe" });
  });

  it("sends binary raw when the transport carries binary frames", () => {
    const data = bytes(1, 2, 3, 255);
    expect(encodePacket({ type: "message", data }, true)).toBe(data);
    expect(decodePacket(data)).toEqual({ type: "message", data });
  });

  it("sends binary as b<base64> otherwise, and decodes it back", () => {
    const data = bytes(1, 2, 3, 255);
    const text = encodePacket({ type: "message", data }, false);
    expect(text).toBe("b" + Buffer.from(data).toString("base64"));
    expect(decodePacket(text)).toEqual({ type: "message", data });
  });

  it("keeps text data verbatim (UTF-8 and JSON-looking text included)", () => {
    for (const data of ['{"sid":"abc"}', "héllo wörld ✓ 𝄞", "   ", "4", "b"]) {
      expect(decodePacket(encodePacket({ type: "message", data }, true) as string)).toEqual({ type: "message", data });
    }
  });

  it("decodes an empty binary frame and an empty base64 packet as empty messages", () => {
    expect(decodePacket(new Uint8Array(0))).toEqual({ type: "message", data: new Uint8Array(0) });
    expect(decodePacket("b")).toEqual({ type: "message", data: new Uint8Array(0) });
  });

  it.each([
    ["empty", "", "empty packet"],
    ["type 7", "7", "unknown packet type"],
    ["type 9 with data", "9hello", "unknown packet type"],
    ["letter type", "xhello", "unknown packet type"],
    ["space type", " 4hi", "unknown packet type"],
    ["bad base64 char", "b!!!!", "invalid base64"],
    ["base64 of impossible length", "bQ", "invalid base64"],
    ["base64 with three pads", "bQ===", "invalid base64"],
    ["base64 with inner padding", "bQQ==QQ=", "invalid base64"],
    ["non-ASCII in base64", "bQUJD€", "invalid base64"],
  ])("rejects %s", (_name, input, reason) => {
    const result = decodePacket(input);
    expect(isDecodeError(result)).toBe(true);
    expect(result).toEqual({ error: "parse error", reason });
  });
});

describe("engine.io payloads", () => {
  it("joins packets with the record separator and splits them back", () => {
    const packets: EnginePacket[] = [
      { type: "message", data: "hello" },
      { type: "ping" },
      { type: "message", data: bytes(0, 1, 2) },
      { type: "noop" },
      { type: "close" },
    ];
    const payload = encodePayload(packets);
    expect(payload).toBe(["4hello", "2", "bAAEC", "6", "1"].join(RECORD_SEPARATOR));
    expect(decodePayload(payload)).toEqual({ packets });
  });

  it("writes the noop-then-close payload the socket.io test expects", () => {
    expect(encodePayload([{ type: "noop" }, { type: "close" }])).toBe("6\u001e1");
  });

  it("splits on \\x1e even inside what looks like data (no escaping exists)", () => {
    expect(decodePayload("4a\x1eb\x1e4c")).toEqual({
      packets: [{ type: "message", data: "a" }, { type: "message", data: new Uint8Array(0) }, { type: "message", data: "c" }],
    });
  });

  it("encodes an empty list as an empty payload, which does not decode", () => {
    expect(encodePayload([])).toBe("");
    expect(decodePayload("").error?.reason).toBe("empty packet");
  });

  it.each([
    ["unknown type in the middle", "4a\x1e9x\x1e4b", 1, "unknown packet type"],
    ["bad base64 first", "b***\x1e4b", 0, "invalid base64"],
    ["empty segment", "4a\x1e\x1e4b", 1, "empty packet"],
    ["trailing separator", "4a\x1e", 1, "empty packet"],
  ])("stops at the first invalid packet: %s", (_name, payload, kept, reason) => {
    const result = decodePayload(payload);
    expect(result.packets).toHaveLength(kept);
    expect(result.error).toEqual({ error: "parse error", reason });
  });
});

describe("base64", () => {
  it("matches Buffer for lengths 0..10 and round-trips", () => {
    for (let n = 0; n <= 10; n++) {
      const data = new Uint8Array(n).map((_, i) => (i * 37 + 200) & 0xff);
      const text = encodeBase64(data);
      expect(text).toBe(Buffer.from(data).toString("base64"));
      expect(decodeBase64(text)).toEqual(data);
    }
  });

  it("matches Buffer on random bytes of random lengths", () => {
    for (let round = 0; round < 200; round++) {
      const data = new Uint8Array(Math.floor(Math.random() * 300));
      for (let i = 0; i < data.length; i++) data[i] = Math.floor(Math.random() * 256);
      const text = encodeBase64(data);
      expect(text).toBe(Buffer.from(data).toString("base64"));
      expect(Array.from(decodeBase64(text)!)).toEqual(Array.from(data));
    }
  });

  it("handles inputs larger than its internal chunk size", () => {
    const data = new Uint8Array(100_000).map((_, i) => i & 0xff);
    const text = encodeBase64(data);
    expect(text).toBe(Buffer.from(data).toString("base64"));
    expect(Buffer.from(decodeBase64(text)!).equals(Buffer.from(data))).toBe(true);
  });

  it("accepts missing padding", () => {
    expect(decodeBase64("QQ")).toEqual(bytes(65));
    expect(decodeBase64("QUI")).toEqual(bytes(65, 66));
  });

  it.each(["Q", "QUJDR", "QQ===", "Q=Q=", "QU-_", "QUJD\n", "é"])("rejects %j", (text) => {
    expect(decodeBase64(text)).toBeNull();
  });
});
