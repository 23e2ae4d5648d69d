/**
 * The msgpack decoder reads what other servers put on Redis: whatever bytes
 * arrive, it returns a value or throws its own "msgpack: ..." error, which
 * every adapter call site catches and drops. Never a TypeError or RangeError
 * from inside, never a stack overflow, never a polluted prototype.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decode, encode } from "../../src/adapters/msgpack.ts";

/** Decodes, and sorts the outcome: a value, or the decoder's own error (anything else fails the property). */
function outcome(bytes: Uint8Array): "value" | "rejected" {
  try {
    decode(bytes);
    return "value";
  } catch (err) {
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).constructor).toBe(Error);
    expect((err as Error).message).toMatch(/^msgpack: /);
    return "rejected";
  }
}

describe("msgpack decode on arbitrary input", () => {
  it("any bytes give a value or the decoder's own error", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
        outcome(bytes);
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      }),
      { numRuns: 3000 },
    );
  });

  it("valid encodings with bytes flipped, cut or appended give a value or the decoder's own error", () => {
    const mutated = fc
      .tuple(fc.jsonValue({ maxDepth: 4 }), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom("flip", "cut", "append"))
      .map(([value, at, byte, how]) => {
        const bytes = encode(value);
        const i = bytes.length ? at % bytes.length : 0;
        if (how === "cut") return bytes.subarray(0, i);
        if (how === "append") return Uint8Array.from([...bytes, byte]);
        const copy = Uint8Array.from(bytes);
        if (copy.length) copy[i] = byte;
        return copy;
      });
    let rejected = 0;
    fc.assert(
      fc.property(mutated, (bytes) => {
        if (outcome(bytes) === "rejected") rejected++;
      }),
      { numRuns: 3000 },
    );
    // The mutations do reach the error paths.
    expect(rejected).toBeGreaterThan(100);
  });

  it("huge declared lengths are refused without allocating them", () => {
    for (const head of [0xdb, 0xc6, 0xdd, 0xdf]) {
      expect(outcome(Uint8Array.from([head, 0xff, 0xff, 0xff, 0xf0]))).toBe("rejected");
    }
  });
});
