/**
 * unio's MessagePack codec against the two the official adapters use:
 * notepack.io 3 (@socket.io/redis-adapter, @socket.io/redis-emitter) and
 * @msgpack/msgpack (@socket.io/redis-streams-adapter). Same bytes out,
 * their bytes read back, malformed input rejected.
 */
import { createRequire } from "node:module";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decode, encode, hasBinary } from "../../src/adapters/msgpack.ts";

const require = createRequire(import.meta.url);
// The copies the official packages really load (the root notepack.io is an older major).
const notepack = createRequire(require.resolve("@socket.io/redis-adapter"))("notepack.io") as {
  encode(v: unknown): Buffer;
  decode(b: Uint8Array): unknown;
};
const msgpack = createRequire(require.resolve("@socket.io/redis-streams-adapter"))("@msgpack/msgpack") as {
  encode(v: unknown): Uint8Array;
  decode(b: Uint8Array): unknown;
};

const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");

/** Values socket.io messages are made of, at every size boundary of the format. */
const corpus: Array<[string, unknown]> = [
  ["small ints", [0, 1, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1]],
  ["negative ints", [-1, -32, -33, -128, -129, -32768, -32769, -(2 ** 31), -(2 ** 31) - 1, -(2 ** 53) + 1]],
  ["floats", [0.5, -1.25, 3.141592653589793, Number.MIN_VALUE, Number.NaN, Number.POSITIVE_INFINITY]],
  ["strings", ["", "a", "x".repeat(31), "x".repeat(32), "y".repeat(255), "y".repeat(256), "z".repeat(65536)]],
  ["unicode", ["héllo", "日本語", "emoji 😀 pair", "\u0000nul"]],
  ["constants", [null, true, false]],
  ["arrays", [[], [1], new Array(15).fill(1), new Array(16).fill(2), new Array(70000).fill(0)]],
  ["maps", [{}, { a: 1 }, Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`k${i}`, i]))]],
  ["binary", [new Uint8Array([]), new Uint8Array([1, 2, 3]), new Uint8Array(300).fill(7), new Uint8Array(70000)]],
  [
    "a broadcast",
    [
      "abc123",
      { type: 2, data: ["event", { nested: [1, "two", null] }, new Uint8Array([255, 0])], nsp: "/" },
      { rooms: ["room1"], except: [], flags: { volatile: true } },
    ],
  ],
  ["dates", [new Date(0), new Date(1_700_000_000_000), new Date(1_700_000_000_123), new Date(-1000), new Date(2 ** 35 * 1000)]],
];

describe("msgpack encode", () => {
  it.each(corpus)("writes %s exactly as notepack.io 3 and @msgpack/msgpack do", (_name, value) => {
    const ours = hex(encode(value));
    expect(ours).toBe(hex(notepack.encode(value)));
    expect(ours).toBe(hex(msgpack.encode(value)));
  });

  it("writes integers beyond 2^53 as float64, as @msgpack/msgpack does (notepack.io garbles 1e300)", () => {
    for (const n of [2 ** 53, -(2 ** 60), 1e300, -1e300]) {
      expect(hex(encode(n))).toBe(hex(msgpack.encode(n)));
      expect(decode(encode(n))).toBe(n);
    }
    expect(decode(notepack.encode(1e300))).not.toBe(1e300);
  });

  it("writes undefined as nil and leaves out undefined and function members, like notepack.io 3", () => {
    const value = { a: undefined, b: 1, f: () => 1, arr: [undefined, 2] };
    expect(hex(encode(value))).toBe(hex(notepack.encode(value)));
    expect(decode(encode(value))).toEqual({ b: 1, arr: [null, 2] });
  });

  it("writes every kind of binary as bin (views honour their offset)", () => {
    const backing = new Uint8Array([9, 9, 1, 2, 3, 9]);
    const view = backing.subarray(2, 5);
    expect(hex(encode(view))).toBe("c403010203");
    expect(hex(encode(new DataView(backing.buffer, 2, 3)))).toBe("c403010203");
    expect(hex(encode(backing.buffer.slice(2, 5)))).toBe("c403010203");
    expect(hex(encode(Buffer.from([1, 2, 3])))).toBe("c403010203");
  });

  it("goes through toJSON", () => {
    const value = { when: { toJSON: () => "later" } };
    expect(decode(encode(value))).toEqual({ when: "later" });
  });

  it("refuses what has no encoding", () => {
    expect(() => encode(Symbol("x"))).toThrow();
    expect(() => encode(10n)).toThrow();
  });
});

describe("msgpack decode", () => {
  it.each(corpus)("reads %s as written by notepack.io and @msgpack/msgpack", (_name, value) => {
    const fromNotepack = decode(notepack.encode(value));
    const fromMsgpack = decode(msgpack.encode(value));
    expect(fromNotepack).toEqual(normalize(value));
    expect(fromMsgpack).toEqual(normalize(value));
  });

  it("gives binary back as a plain Uint8Array, detached from the input", () => {
    const input = notepack.encode({ b: Buffer.from([1, 2]) });
    const out = decode(input) as { b: Uint8Array };
    expect(out.b.constructor).toBe(Uint8Array);
    input.fill(0);
    expect([...out.b]).toEqual([1, 2]);
  });

  it("reads notepack.io 2's extensions: undefined, Date and ArrayBuffer", () => {
    expect(decode(Uint8Array.from([0xd4, 0x00, 0x00]))).toBeUndefined();
    const ms = 1_700_000_000_123;
    const date = new Uint8Array(10);
    date.set([0xd7, 0x00]);
    new DataView(date.buffer).setInt32(2, Math.floor(ms / 2 ** 32));
    new DataView(date.buffer).setUint32(6, ms >>> 0);
    expect(decode(date)).toEqual(new Date(ms));
    expect(decode(Uint8Array.from([0xc7, 0x02, 0x00, 0xaa, 0xbb]))).toEqual(new Uint8Array([0xaa, 0xbb]));
  });

  it("reads float32 and keeps unknown extensions as [type, bytes]", () => {
    expect(decode(Uint8Array.from([0xca, 0x3f, 0xc0, 0x00, 0x00]))).toBe(1.5);
    expect(decode(Uint8Array.from([0xd5, 0x05, 0x01, 0x02]))).toEqual([5, new Uint8Array([1, 2])]);
  });

  it("does not let a __proto__ key change the prototype: @msgpack/msgpack refuses the message", () => {
    const bytes = msgpack.encode(JSON.parse('{"__proto__": {"polluted": true}}'));
    expect(() => decode(bytes)).toThrow(/^msgpack: .*__proto__/);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    // Deeper down too, and whoever wrote it (notepack.io writes the same bytes).
    const nested = notepack.encode([{ ok: 1 }, JSON.parse('{"a": {"__proto__": {"polluted": true}}}')]);
    expect(() => decode(nested)).toThrow(/^msgpack: /);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it.each([
    ["empty input", []],
    ["truncated string", [0xa5, 0x61]],
    ["truncated uint32", [0xce, 0x00, 0x01]],
    ["array longer than the input", [0xdd, 0xff, 0xff, 0xff, 0xff]],
    ["map longer than the input", [0xdf, 0x7f, 0xff, 0xff, 0xff, 0x00]],
    ["reserved byte 0xc1", [0xc1]],
    ["trailing bytes", [0x01, 0x02]],
    ["bad timestamp length", [0xc7, 0x03, 0xff, 0, 0, 0]],
  ])("rejects %s", (_name, bytes) => {
    expect(() => decode(Uint8Array.from(bytes as number[]))).toThrow();
  });

  it("rejects absurd nesting instead of overflowing the stack", () => {
    const deep = new Uint8Array(100_000).fill(0x91);
    expect(() => decode(deep)).toThrow(/nested/);
    // Maps too ({"a": {"a": ...}}), and a complete value just past the limit, not only a truncated one.
    const maps = new Uint8Array(3 * 600 + 1);
    for (let i = 0; i < 600; i++) maps.set([0x81, 0xa1, 0x61], i * 3);
    maps[maps.length - 1] = 0x01;
    expect(() => decode(maps)).toThrow(/nested/);
    const arrays = Uint8Array.from([...new Array(513).fill(0x91), 0x01]);
    expect(() => decode(arrays)).toThrow(/nested/);
    expect(decode(Uint8Array.from([...new Array(511).fill(0x91), 0x01]))).toBeTruthy();
  });

  it("round-trips arbitrary JSON-like values, and agrees with @msgpack/msgpack", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const bytes = encode(value);
        expect(hex(bytes)).toBe(hex(msgpack.encode(value)));
        // A "__proto__" member is refused on reading (the test above); everything else comes back.
        if (hasProtoKey(value)) expect(() => decode(bytes)).toThrow(/__proto__/);
        else expect(decode(bytes)).toEqual(normalize(value));
      }),
      { numRuns: 300 },
    );
  });
});

describe("hasBinary", () => {
  it("finds binary anywhere, and nothing in plain data", () => {
    expect(hasBinary(["a", { b: [1, { c: new Uint8Array(1) }] }])).toBe(true);
    expect(hasBinary({ x: new ArrayBuffer(2) })).toBe(true);
    expect(hasBinary(["a", { b: [1, { c: "d" }] }, null])).toBe(false);
  });
});

function hasProtoKey(value: unknown): boolean {
  if (value === null || typeof value !== "object") return false;
  if (Array.isArray(value)) return value.some(hasProtoKey);
  return Object.keys(value).some((k) => k === "__proto__" || hasProtoKey((value as Record<string, unknown>)[k]));
}

/** What a value looks like after a trip: -0 stays -0 in JSON-less land, binary becomes Uint8Array. */
function normalize(value: unknown): unknown {
  // MessagePack has no negative integer zero: -0 travels as the integer 0 (as with @msgpack/msgpack and JSON).
  if (Object.is(value, -0)) return 0;
  if (value instanceof Uint8Array) return new Uint8Array(value);
  if (Array.isArray(value)) return value.map(normalize);
  if (value instanceof Date || value === null || typeof value !== "object") return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalize(v)]));
}
