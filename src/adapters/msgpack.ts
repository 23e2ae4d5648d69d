/**
 * MessagePack for the messages adapters exchange through a broker, on
 * @msgpack/msgpack, set up to write and read what the official adapters do:
 * notepack.io 3 (@socket.io/redis-adapter, @socket.io/redis-emitter) and
 * @msgpack/msgpack itself (@socket.io/redis-streams-adapter), byte for byte.
 *
 * What the library does not do on its own, and notepack.io does, is added
 * here: object members holding `undefined` or a function are left out,
 * `toJSON()` is honoured, an `ArrayBuffer` is binary; notepack.io 2's
 * extension type 0 (`undefined`, `Date`, `ArrayBuffer`) is read, and other
 * unknown extensions come back as notepack.io hands them: `[type, bytes]`.
 * Decoding is bounded (nesting depth) and every failure is an `Error`
 * whose message starts with "msgpack: ", so callers drop bad input in one
 * catch. No runtime-specific API.
 */
import { Decoder, Encoder, ExtensionCodec } from "@msgpack/msgpack";

/** Deeper values are refused both ways (user data is never this deep; a hostile message may be). */
const MAX_DEPTH = 512;

const encoder = new Encoder({ ignoreUndefined: true, maxDepth: MAX_DEPTH + 1 });

/** Decoding extensions: the timestamp (-1, built in), notepack.io 2's type 0, and the rest kept raw. */
const decodeExtensions = new ExtensionCodec();
decodeExtensions.register({
  type: 0,
  encode: () => null,
  // notepack.io 2: fixext 1 is undefined, fixext 8 a Date (int64 ms), any other size an ArrayBuffer.
  decode: (data) => {
    if (data.length === 1) return undefined;
    if (data.length === 8) {
      const view = new DataView(data.buffer, data.byteOffset, 8);
      return new Date(view.getInt32(0) * 0x100000000 + view.getUint32(4));
    }
    return data;
  },
});
for (let type = -128; type < 128; type++) {
  if (type === 0 || type === -1) continue;
  decodeExtensions.register({ type, encode: () => null, decode: (data) => [type, data] });
}

const decoder = new Decoder({
  extensionCodec: decodeExtensions,
  // notepack.io reads any key as a string.
  mapKeyConverter: (key) => (typeof key === "string" || typeof key === "number" ? key : String(key)),
});
boundDepth(decoder);

/**
 * The library's decoder keeps its own stack (no recursion), but has no
 * depth limit: the decoded value would overflow whoever walks it next
 * (JSON, the Socket.IO encoder). The two methods that open an array or a
 * map on that stack are wrapped to refuse one level too many; they are the
 * library's (3.x) internals, and test/redis/msgpack.test.ts fails if they change.
 */
function boundDepth(d: Decoder): void {
  const internals = d as unknown as {
    stack: { length: number };
    pushArrayState(size: number): void;
    pushMapState(size: number): void;
  };
  const pushArray = internals.pushArrayState;
  const pushMap = internals.pushMapState;
  internals.pushArrayState = function (this: typeof internals, size: number) {
    if (this.stack.length >= MAX_DEPTH) throw new Error("input nested too deeply");
    pushArray.call(this, size);
  };
  internals.pushMapState = function (this: typeof internals, size: number) {
    if (this.stack.length >= MAX_DEPTH) throw new Error("input nested too deeply");
    pushMap.call(this, size);
  };
}

const SKIP = Symbol("skip");

/**
 * The value as notepack.io sees it: through `toJSON`, `ArrayBuffer` as
 * bytes, function members left out. The same object when nothing changes
 * (the common case), so nothing is copied.
 */
function prepare(value: unknown, depth: number): unknown {
  if (value === null || typeof value !== "object") {
    if (typeof value === "bigint" && typeof (value as { toJSON?: unknown }).toJSON === "function") {
      return prepare((value as unknown as { toJSON(): unknown }).toJSON(), depth + 1);
    }
    return value;
  }
  if (depth > MAX_DEPTH) throw new Error("msgpack: value nested too deeply");
  if (ArrayBuffer.isView(value) || value instanceof Date) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const v = value[i];
      const p = prepare(v, depth + 1);
      if (p !== v) (out ??= value.slice())[i] = p;
    }
    return out ?? value;
  }
  const obj = value as Record<string, unknown>;
  if (typeof obj.toJSON === "function") return prepare((obj.toJSON as () => unknown)(), depth + 1);
  const keys = Object.keys(obj);
  let out: Record<string, unknown> | undefined;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    const v = obj[key];
    const p = typeof v === "function" ? SKIP : prepare(v, depth + 1);
    if (out === undefined && p !== v) {
      out = {};
      for (let j = 0; j < i; j++) define(out, keys[j]!, obj[keys[j]!]);
    }
    if (out !== undefined && p !== SKIP) define(out, key, p);
  }
  return out ?? value;
}

/** Sets an own member, even one named "__proto__". */
function define(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === "__proto__") Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}

/**
 * Encodes a value. Object members holding functions or `undefined` are
 * left out, objects with `toJSON` are encoded through it (as notepack.io does).
 *
 * @example encode([uid, packet, opts]) // Uint8Array
 */
export function encode(value: unknown): Uint8Array {
  const prepared = prepare(value, 0);
  try {
    return encoder.encode(prepared);
  } catch (err) {
    throw new Error(`msgpack: ${(err as Error)?.message ?? String(err)}`);
  }
}

/**
 * Decodes one value; throws an `Error` starting with "msgpack: " on
 * malformed or truncated input, trailing bytes, or nesting deeper than 512.
 * Binary comes back as `Uint8Array`, over a private copy of the input
 * (so it does not change when the caller reuses its receive buffer).
 *
 * @example decode(bytes) // [uid, packet, opts]
 */
export function decode(bytes: Uint8Array): unknown {
  try {
    return decoder.decode(new Uint8Array(bytes));
  } catch (err) {
    throw new Error(`msgpack: ${(err as Error)?.message ?? String(err)}`);
  }
}

/** Whether a value holds binary anywhere (then JSON cannot carry it). */
export function hasBinary(value: unknown, depth = 0): boolean {
  if (value === null || typeof value !== "object" || depth > 512) return false;
  if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) return true;
  if (Array.isArray(value)) {
    for (const v of value) if (hasBinary(v, depth + 1)) return true;
    return false;
  }
  const obj = value as Record<string, unknown>;
  for (const key in obj) {
    if (Object.prototype.hasOwnProperty.call(obj, key) && hasBinary(obj[key], depth + 1)) return true;
  }
  if (typeof obj.toJSON === "function" && depth === 0) return hasBinary((obj.toJSON as () => unknown)(), depth + 1);
  return false;
}
