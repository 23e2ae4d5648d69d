/**
 * Cross-checks unio's codec against the reference socket.io-parser (the one
 * socket.io and socket.io-client use) and the msgpack parser's shape.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Decoder as RefDecoder, Encoder as RefEncoder, PacketType as RefPacketType } from "socket.io-parser";
import * as msgpackParser from "socket.io-msgpack-parser";
import { Decoder, Encoder, PacketType, type Packet, type Parser } from "../../src/protocol/socket-io.ts";

const require = createRequire(import.meta.url);
const bytes = (...values: number[]) => new Uint8Array(values);

/** What the reference decoder makes of some frames: the packets it emitted, or the error it threw. */
function refDecode(frames: ReadonlyArray<string | Uint8Array>): { packets: unknown[]; error?: string } {
  const decoder = new RefDecoder();
  const packets: unknown[] = [];
  decoder.on("decoded", (packet: unknown) => packets.push(packet));
  try {
    for (const frame of frames) decoder.add(frame);
  } catch (err) {
    return { packets, error: (err as Error).message };
  }
  return { packets };
}

function ourDecode(frames: ReadonlyArray<string | Uint8Array>): Packet[] {
  const decoder = new Decoder();
  const packets: Packet[] = [];
  for (const frame of frames) {
    const step = decoder.push(frame);
    if (step.kind === "error") throw new Error(step.message);
    if (step.kind === "packet") packets.push(step.packet);
  }
  return packets;
}

/** Binary comes back as whatever was pushed (Buffer, Uint8Array, or ArrayBuffer from msgpack); compare contents only. */
function normalise(value: unknown): unknown {
  const replacer = (_key: string, v: unknown): unknown => {
    if (v instanceof ArrayBuffer) return { bin: Array.from(new Uint8Array(v)) };
    if (ArrayBuffer.isView(v)) return { bin: Array.from(new Uint8Array(v.buffer, v.byteOffset, v.byteLength)) };
    // Buffer#toJSON runs before the replacer sees the Buffer.
    if (v !== null && typeof v === "object" && (v as { type?: unknown }).type === "Buffer") return { bin: (v as { data: number[] }).data };
    return v;
  };
  return JSON.parse(JSON.stringify(value, replacer));
}

const packets: Array<[string, Packet]> = [
  ["CONNECT", { type: PacketType.CONNECT, nsp: "/" }],
  ["CONNECT reply with sid", { type: PacketType.CONNECT, nsp: "/admin", data: { sid: "abc", pid: "def" } }],
  ["DISCONNECT", { type: PacketType.DISCONNECT, nsp: "/admin" }],
  ["EVENT", { type: PacketType.EVENT, nsp: "/", data: ["hello", 1, "two", { three: [3] }, null] }],
  ["EVENT with ack", { type: PacketType.EVENT, nsp: "/chat", id: 42, data: ["msg", "ünïcödé 𝄞"] }],
  ["EVENT numeric name", { type: PacketType.EVENT, nsp: "/", data: [7] }],
  ["ACK", { type: PacketType.ACK, nsp: "/", id: 0, data: [] }],
  ["ACK with data", { type: PacketType.ACK, nsp: "/x", id: 99, data: [null, "ok"] }],
  ["CONNECT_ERROR", { type: PacketType.CONNECT_ERROR, nsp: "/", data: { message: "Invalid namespace" } }],
  ["CONNECT_ERROR with data", { type: PacketType.CONNECT_ERROR, nsp: "/a", data: { message: "no", data: { code: 3 } } }],
  ["binary EVENT", { type: PacketType.EVENT, nsp: "/", data: ["baz", bytes(1, 2, 3)] }],
  ["binary EVENT nested", { type: PacketType.EVENT, nsp: "/n", id: 5, data: ["n", { a: [bytes(1), { b: bytes(2) }] }, [[bytes(3)]]] }],
  ["binary ACK", { type: PacketType.ACK, nsp: "/admin", id: 789, data: [bytes(), bytes(255), "x"] }],
  ["ten attachments", { type: PacketType.EVENT, nsp: "/", data: ["ten", ...Array.from({ length: 10 }, (_, i) => bytes(i))] }],
];

describe("reference socket.io-parser", () => {
  it("resolves from node_modules", () => {
    const path = require.resolve("socket.io-parser");
    expect(path).toMatch(/node_modules[\\/]socket\.io-parser[\\/]/);
    const manifest = path.slice(0, path.lastIndexOf("socket.io-parser")) + "socket.io-parser/package.json";
    expect(JSON.parse(readFileSync(manifest, "utf8")).version).toMatch(/^4\.2\./);
    expect(RefPacketType.BINARY_ACK).toBe(PacketType.BINARY_ACK);
  });

  it.each(packets)("encodes %s to the same frames as the reference", (_name, packet) => {
    const ours = new Encoder().encode(packet);
    const theirs = new RefEncoder().encode(structuredClone(packet) as never);
    expect(ours).toHaveLength(theirs.length);
    expect(ours[0]).toBe(theirs[0]);
    expect(normalise(ours.slice(1))).toEqual(normalise(theirs.slice(1)));
  });

  it.each(packets)("reference decodes our %s", (_name, packet) => {
    const result = refDecode(new Encoder().encode(packet));
    expect(result.error).toBeUndefined();
    expect(result.packets).toHaveLength(1);
    expect(normalise(result.packets[0])).toEqual(normalise(packet));
  });

  it.each(packets)("we decode the reference's %s", (_name, packet) => {
    const frames = new RefEncoder().encode(structuredClone(packet) as never) as Array<string | Uint8Array>;
    const decoded = ourDecode(frames);
    expect(decoded).toHaveLength(1);
    expect(decoded[0]).toEqual(packet);
  });

  it("both decoders agree on the packet type of binary packets (EVENT/ACK)", () => {
    const frames = new Encoder().encode({ type: PacketType.ACK, nsp: "/", id: 1, data: [bytes(1)] });
    expect((refDecode(frames).packets[0] as Packet).type).toBe(PacketType.ACK);
    expect(ourDecode(frames)[0]!.type).toBe(PacketType.ACK);
  });

  it("encodes JSON corner cases (Date, undefined, toJSON, functions) like the reference", () => {
    const data = ["c", new Date(0), undefined, { f: () => 1, u: undefined, j: { toJSON: () => ["J", bytes(4)] } }, bytes(5)];
    const ours = new Encoder().encode({ type: PacketType.EVENT, nsp: "/", data });
    const theirs = new RefEncoder().encode({ type: RefPacketType.EVENT, nsp: "/", data });
    expect(ours[0]).toBe(theirs[0]);
    expect(normalise(ours.slice(1))).toEqual(normalise(theirs.slice(1)));
  });

  it("rejects everything the reference rejects, on a corpus of malformed packets", () => {
    const corpus = [
      "7", 'a["a"]', '5["a"]', '51["a"]', '5-["a"]', '511-["a"]', '2["a"', '2[]', '2{}', '2[null]', '2[{"toString":"foo"}]',
      '2["connect"]', '2["disconnect"]', '31{}', "0[]", '0"x"', '1["a"]', '4["a"]', '2/admin,["a"',
      ['51-["x",{"_placeholder":true,"num":"splice"}]', bytes(1)],
      ['51-["x",{"_placeholder":true,"num":1}]', bytes(1)],
      ['51-["x",{"_placeholder":true,"num":0}]', '2["y"]'],
      [bytes(1)],
    ];
    for (const entry of corpus) {
      const frames = Array.isArray(entry) ? entry : [entry];
      expect(refDecode(frames).error, JSON.stringify(entry)).toBeDefined();
      expect(() => ourDecode(frames), JSON.stringify(entry)).toThrow();
    }
  });

  /**
   * Where unio rejects on purpose what the reference accepts (rows of the
   * malformed-input table in socket-io.test.ts): anything else unio rejects,
   * the reference must reject too.
   */
  const HEADER = /^(\d)(\d*-)?(\/[^,]*,)?(\d*)/;
  const STRICTER: Array<[string, (text: string) => boolean]> = [
    ["an empty frame (the reference reads a CONNECT to /)", (text) => text === ""],
    [
      "whitespace in the header (the reference reads `2 [...]` as ack id 0)",
      (text) => /\s/.test(/^[^[{"]*/.exec(text)![0]),
    ],
    [
      "a namespace with no comma after it (the reference makes the rest of the frame the namespace)",
      (text) => text.startsWith("/", 1 + (/^\d(\d*-)?/.exec(text)?.[1]?.length ?? 0)) && !text.includes(","),
    ],
    ["an ack id past 2^53 (CVE-2020-36049)", (text) => (HEADER.exec(text)?.[4]?.length ?? 0) > 15],
    [
      "an EVENT, ACK or CONNECT_ERROR with no payload (the reference leaves `data` undefined)",
      (text) => {
        const m = HEADER.exec(text);
        return m !== null && m[0] === text && "23456".includes(m[1]!);
      },
    ],
  ];

  it("accepts and rejects what the reference does (bar documented strictness), and decodes the same", () => {
    const alphabet = ["0", "1", "2", "3", "4", "5", "6", "9", "-", "/", ",", "a", "[", "]", "{", "}", '"', ":", " ", "x", "_", "."];
    const fragment = fc.oneof(
      fc.constantFrom(...alphabet),
      fc.constantFrom('"connect"', '"ev"', "null", "[]", "{}", '{"_placeholder":true,"num":0}', "/admin,", "12"),
    );
    const noise = fc.array(fragment, { maxLength: 12 }).map((parts) => parts.join(""));
    // Mostly well-formed packets with odd parts, so that many are accepted and compared.
    const args = fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 3 });
    const placeholderArg = fc.constantFrom('{"_placeholder":true,"num":0}', '{"_placeholder":true,"num":1}', '{"_placeholder":true,"num":"splice"}');
    const eventPayload = fc.tuple(fc.oneof(fc.string(), fc.integer(), fc.constantFrom("connect", "newListener")), args, fc.option(placeholderArg)).map(
      ([name, rest, ph]) => JSON.stringify([name, ...rest]).slice(0, -1) + (ph === null ? "]" : `,${ph}]`),
    );
    const payloadFor: Record<string, fc.Arbitrary<string>> = {
      "0": fc.oneof(fc.constant(""), fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 1 })).map((o) => JSON.stringify(o))),
      "1": fc.constant(""),
      "2": eventPayload,
      "3": args.map((a) => JSON.stringify(a)),
      "4": fc.oneof(fc.string().map((m) => JSON.stringify(m)), fc.string().map((m) => JSON.stringify({ message: m }))),
      "5": eventPayload,
      "6": args.map((a) => JSON.stringify(a)),
    };
    const anyPayload = fc.oneof(fc.constantFrom("", "[]", "{}", "null", " []"), fc.jsonValue().map((v) => JSON.stringify(v)));
    const shaped = fc.constantFrom("0", "1", "2", "3", "4", "5", "6").chain((type) =>
      fc
        .tuple(
          fc.constant(type),
          type === "5" || type === "6" ? fc.constantFrom("1-", "2-", "10-", "0-", "11-", " 1-", "01-", "-") : fc.constantFrom("", "", "", "1-"),
          fc.constantFrom("", "", "/", "/admin,", "/admin", "/a/b,", "/,", ","),
          fc.constantFrom("", "", "0", "7", "12", "007", " 1", "1 ", "12345678901234567"),
          fc.oneof({ arbitrary: payloadFor[type]!, weight: 4 }, { arbitrary: anyPayload, weight: 1 }),
        )
        .map((parts) => parts.join("")),
    );
    const wire = fc.oneof({ arbitrary: noise, weight: 1 }, { arbitrary: shaped, weight: 3 });
    let accepted = 0;
    let rejected = 0;
    fc.assert(
      fc.property(wire, (text) => {
        // Documented difference: a `0-` attachment count, which reference 4.2.7 rejects.
        if (/^[56]0+-/.test(text)) return;
        const decoder = new Decoder();
        const frames: Array<string | Uint8Array> = [text];
        let step = decoder.push(text);
        // Feed attachments until the packet completes, then compare the whole exchange.
        while (step.kind === "pending" && frames.length <= 11) {
          const attachment = bytes(frames.length);
          frames.push(attachment);
          step = decoder.push(attachment);
        }
        const ref = refDecode(frames);
        if (step.kind === "error") {
          rejected++;
          if (ref.error === undefined) {
            expect(STRICTER.some(([, rule]) => rule(text)), `unio rejects (${step.message}) what the reference accepts: ${JSON.stringify(text)}`).toBe(true);
          }
          return;
        }
        accepted++;
        expect(ref.error, text).toBeUndefined();
        expect(ref.packets, text).toEqual(step.kind === "packet" ? [step.packet] : []);
      }),
      { numRuns: 5000 },
    );
    // Both directions are exercised: about a fifth of the cases are well-formed enough to decode.
    expect(accepted).toBeGreaterThanOrEqual(500);
    expect(rejected).toBeGreaterThanOrEqual(500);
  });
});

describe("socket.io-msgpack-parser", () => {
  it("has the shape of our Parser type", () => {
    // Its index.d.ts types `encode` as returning one ArrayBuffer, but it returns an array
    // (checked below), so only the Decoder can be checked by the compiler.
    const decoderCtor: Parser["Decoder"] = msgpackParser.Decoder;
    const parser = msgpackParser as unknown as Parser;
    expect(typeof decoderCtor).toBe("function");
    const encoder = new parser.Encoder();
    const decoder = new parser.Decoder();
    expect(typeof encoder.encode).toBe("function");
    expect(typeof decoder.add).toBe("function");
    expect(typeof decoder.on).toBe("function");
    expect(typeof decoder.destroy).toBe("function");
    expect(decoder.push).toBeUndefined();
  });

  it("round-trips a packet with binary", () => {
    const parser = msgpackParser as unknown as Parser;
    const packet: Packet = { type: PacketType.EVENT, nsp: "/admin", id: 3, data: ["file", bytes(1, 2, 3), { ok: true }] };
    const frames = new parser.Encoder().encode(packet);
    expect(Array.isArray(frames)).toBe(true);
    expect(frames).toHaveLength(1);
    const decoder = new parser.Decoder();
    const got: Packet[] = [];
    decoder.on("decoded", (p) => got.push(p));
    for (const frame of frames) decoder.add(frame);
    expect(normalise(got)).toEqual(normalise([packet]));
    decoder.destroy();
  });
});
