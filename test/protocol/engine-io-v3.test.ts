/**
 * The Engine.IO v3 codec (src/protocol/engine-io-v3.ts): the examples of
 * docs/engine.io-protocol/v3.md, round trips, and a table of malformed
 * input, every one of which must come back as an error value.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isDecodeError } from "../../src/protocol/engine-io.ts";
import {
  decodeBinaryPayloadV3,
  decodePacketV3,
  decodePayloadV3,
  encodeBase64PacketV3,
  encodeBinaryPacketV3,
  encodeBinaryPayloadV3,
  encodeTextPayloadV3,
} from "../../src/protocol/engine-io-v3.ts";

const bytes = (...b: number[]) => new Uint8Array(b);

describe("packets", () => {
  it("decodes text packets as v4 does", () => {
    expect(decodePacketV3("4hello")).toEqual({ type: "message", data: "hello" });
    expect(decodePacketV3("2probe")).toEqual({ type: "ping", data: "probe" });
    expect(decodePacketV3("2")).toEqual({ type: "ping" });
    expect(decodePacketV3("6")).toEqual({ type: "noop" });
  });

  it("reads the type from the first byte of a binary frame", () => {
    expect(decodePacketV3(bytes(4, 1, 2, 3))).toEqual({ type: "message", data: bytes(1, 2, 3) });
    expect(decodePacketV3(bytes(4))).toEqual({ type: "message", data: bytes() });
  });

  it("reads b<type><base64> as a binary packet", () => {
    expect(decodePacketV3("b4AQIDBA==")).toEqual({ type: "message", data: bytes(1, 2, 3, 4) });
  });

  it("encodes binary with its type byte, or as b4<base64>", () => {
    expect(encodeBinaryPacketV3(4, bytes(1, 2))).toEqual(bytes(4, 1, 2));
    expect(encodeBase64PacketV3(4, bytes(1, 2, 3, 4))).toBe("b4AQIDBA==");
  });

  it.each<[string, string | Uint8Array]>([
    ["an empty text frame", ""],
    ["an empty binary frame", bytes()],
    ["a type digit out of range", "7x"],
    ["a letter as type", "x"],
    ["a binary type byte out of range", bytes(7, 1)],
    ["a binary type byte that is an ASCII digit", bytes(52, 1)],
    ["b with no type", "b"],
    ["b with a bad type", "bxAQID"],
    ["b with broken base64", "b4%%%"],
    ["b with a base64 length that cannot be", "b4AQIDB"],
  ])("refuses %s", (_, frame) => {
    expect(isDecodeError(decodePacketV3(frame))).toBe(true);
  });
});

describe("text payloads", () => {
  it("writes the spec's examples", () => {
    expect(encodeTextPayloadV3(["4hello", "4€"])).toBe("6:4hello2:4€");
    expect(encodeTextPayloadV3(["4€", "b4AQIDBA=="])).toBe("2:4€10:b4AQIDBA==");
    expect(encodeTextPayloadV3([])).toBe("0:");
  });

  it("counts UTF-16 code units, not bytes", () => {
    expect(encodeTextPayloadV3(["4😀"])).toBe("3:4😀");
    expect(decodePayloadV3("3:4😀")).toEqual({ packets: [{ type: "message", data: "😀" }] });
  });

  it("reads several packets, text and base64 binary", () => {
    expect(decodePayloadV3("6:4hello10:b4AQIDBA==1:2")).toEqual({
      packets: [
        { type: "message", data: "hello" },
        { type: "message", data: bytes(1, 2, 3, 4) },
        { type: "ping" },
      ],
    });
  });

  it("skips zero-length entries (the reference's empty payload is 0:)", () => {
    expect(decodePayloadV3("0:")).toEqual({ packets: [] });
    expect(decodePayloadV3("0:1:2")).toEqual({ packets: [{ type: "ping" }] });
  });

  it.each([
    ["an empty payload", ""],
    ["no length", ":4hello"],
    ["a non-numeric length", "x:4hello"],
    ["a length with a sign", "+6:4hello"],
    ["a length with a space", " 6:4hello"],
    ["a hexadecimal length", "0x6:4hello"],
    ["a length larger than the body", "60:4hello"],
    ["no colon", "6"],
    ["trailing digits", "6:4hello6"],
    ["a huge length", `${"9".repeat(400)}:4`],
    ["a bad packet type", "6:9hello"],
    ["broken base64", "5:b4%%%"],
  ])("refuses %s", (_, payload) => {
    expect(decodePayloadV3(payload).error).toBeDefined();
  });

  it("keeps the packets before the first bad one, as the reference delivers them", () => {
    const { packets, error } = decodePayloadV3("6:4hello3:9xx6:4world");
    expect(packets).toEqual([{ type: "message", data: "hello" }]);
    expect(error?.reason).toBe("unknown packet type");
  });

  it("round-trips any text messages", () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: "grapheme", maxLength: 20 }), { minLength: 1, maxLength: 8 }), (texts) => {
        const payload = encodeTextPayloadV3(texts.map((t) => "4" + t));
        const { packets, error } = decodePayloadV3(payload);
        expect(error).toBeUndefined();
        expect(packets).toEqual(texts.map((t) => (t === "" ? { type: "message" } : { type: "message", data: t })));
      }),
    );
  });
});

describe("binary payloads", () => {
  // The reference test suite's example: "4hello" then binary 01 02 03 04.
  const example = bytes(0, 6, 255, 52, 104, 101, 108, 108, 111, 1, 5, 255, 4, 1, 2, 3, 4);

  it("writes the test suite's example", () => {
    expect(encodeBinaryPayloadV3(["4hello", bytes(4, 1, 2, 3, 4)])).toEqual(example);
  });

  it("counts text in UTF-8 bytes", () => {
    expect(encodeBinaryPayloadV3(["4€"])).toEqual(bytes(0, 4, 255, 52, 0xe2, 0x82, 0xac));
    expect(decodeBinaryPayloadV3(bytes(0, 4, 255, 52, 0xe2, 0x82, 0xac))).toEqual({ packets: [{ type: "message", data: "€" }] });
  });

  it("writes lengths of several digits", () => {
    const big = new Uint8Array(1234);
    const out = encodeBinaryPayloadV3([big]);
    expect([...out.subarray(0, 6)]).toEqual([1, 1, 2, 3, 4, 255]);
    expect(decodeBinaryPayloadV3(out).packets[0]!.data).toHaveLength(1233);
  });

  it("reads the example back", () => {
    expect(decodeBinaryPayloadV3(example)).toEqual({
      packets: [
        { type: "message", data: "hello" },
        { type: "message", data: bytes(1, 2, 3, 4) },
      ],
    });
  });

  it.each([
    ["an empty body", bytes()],
    ["a kind byte other than 0 or 1", bytes(2, 1, 255, 52)],
    ["no length digits", bytes(0, 255, 52)],
    ["a length byte above 9", bytes(0, 12, 255, 52)],
    ["no 255 separator", bytes(0, 1)],
    ["a length larger than the body", bytes(0, 9, 255, 52)],
    ["too many length digits", bytes(1, ...Array(20).fill(9), 255, 4)],
    ["an empty text packet", bytes(0, 0, 255)],
    ["an empty binary packet", bytes(1, 0, 255)],
    ["invalid UTF-8 in a text packet", bytes(0, 2, 255, 52, 0xff)],
    ["a bad type in a binary packet", bytes(1, 2, 255, 9, 1)],
  ])("refuses %s", (_, body) => {
    expect(decodeBinaryPayloadV3(body).error).toBeDefined();
  });
});
