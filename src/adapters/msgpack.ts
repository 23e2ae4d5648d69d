/**
 * A small MessagePack codec over `Uint8Array`, for the messages adapters
 * exchange through a broker. No runtime-specific API: it runs on Node, Bun,
 * Deno and Workers alike.
 *
 * It writes what notepack.io 3 (used by @socket.io/redis-adapter and
 * @socket.io/redis-emitter) and @msgpack/msgpack (used by
 * @socket.io/redis-streams-adapter) write for the same values, byte for
 * byte: `undefined` as nil (and object keys holding `undefined` left out),
 * a `Date` as the timestamp extension (-1) in its smallest form, binary of
 * any kind as `bin`, safe integers in their smallest form and every other
 * number as a float64. It also reads notepack.io 2's extensions (type 0: `undefined`,
 * `Date`, `ArrayBuffer`). Binary comes back as a plain `Uint8Array`.
 */

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

/** A growable output buffer. */
class Writer {
  buf = new Uint8Array(256);
  view = new DataView(this.buf.buffer);
  pos = 0;

  ensure(n: number): void {
    const need = this.pos + n;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  u8u8(a: number, b: number): void {
    this.ensure(2);
    this.buf[this.pos++] = a;
    this.buf[this.pos++] = b;
  }

  u8u16(a: number, b: number): void {
    this.ensure(3);
    this.buf[this.pos++] = a;
    this.view.setUint16(this.pos, b);
    this.pos += 2;
  }

  u8u32(a: number, b: number): void {
    this.ensure(5);
    this.buf[this.pos++] = a;
    this.view.setUint32(this.pos, b);
    this.pos += 4;
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
}

function writeString(w: Writer, s: string): void {
  // A UTF-8 string takes at most 3 bytes per UTF-16 unit: reserve, write, then patch the header.
  const max = s.length * 3;
  const headerSize = max < 0x20 ? 1 : max < 0x100 ? 2 : max < 0x10000 ? 3 : 5;
  w.ensure(headerSize + max);
  const start = w.pos;
  const { written } = textEncoder.encodeInto(s, w.buf.subarray(start + headerSize));
  const len = written ?? 0;
  // Rewrite with the smallest header when the reserved one is larger than needed.
  const exact = len < 0x20 ? 1 : len < 0x100 ? 2 : len < 0x10000 ? 3 : 5;
  if (exact !== headerSize) w.buf.copyWithin(start + exact, start + headerSize, start + headerSize + len);
  w.pos = start;
  if (exact === 1) w.u8(0xa0 | len);
  else if (exact === 2) w.u8u8(0xd9, len);
  else if (exact === 3) w.u8u16(0xda, len);
  else w.u8u32(0xdb, len);
  w.pos += len;
}

function writeNumber(w: Writer, n: number): void {
  // Integers beyond 2^53 are not exact anyway: float64 carries them faithfully
  // (notepack.io 3 would mangle 1e300 into a wrong uint64).
  if (!Number.isSafeInteger(n)) {
    w.ensure(9);
    w.buf[w.pos++] = 0xcb;
    w.view.setFloat64(w.pos, n);
    w.pos += 8;
    return;
  }
  if (n >= 0) {
    if (n < 0x80) w.u8(n);
    else if (n < 0x100) w.u8u8(0xcc, n);
    else if (n < 0x10000) w.u8u16(0xcd, n);
    else if (n < 0x100000000) w.u8u32(0xce, n);
    else {
      w.u8u32(0xcf, Math.floor(n / 0x100000000));
      w.ensure(4);
      w.view.setUint32(w.pos, n >>> 0);
      w.pos += 4;
    }
    return;
  }
  if (n >= -0x20) w.u8(n & 0xff);
  else if (n >= -0x80) w.u8u8(0xd0, n & 0xff);
  else if (n >= -0x8000) w.u8u16(0xd1, n & 0xffff);
  else if (n >= -0x80000000) w.u8u32(0xd2, n >>> 0);
  else {
    w.u8u32(0xd3, Math.floor(n / 0x100000000) >>> 0);
    w.ensure(4);
    w.view.setUint32(w.pos, n >>> 0);
    w.pos += 4;
  }
}

function writeBinary(w: Writer, b: Uint8Array): void {
  const len = b.length;
  if (len < 0x100) w.u8u8(0xc4, len);
  else if (len < 0x10000) w.u8u16(0xc5, len);
  else w.u8u32(0xc6, len);
  w.bytes(b);
}

function writeDate(w: Writer, d: Date): void {
  const ms = d.getTime();
  const sec = Math.floor(ms / 1000);
  const nsec = (ms - sec * 1000) * 1e6;
  w.ensure(15);
  if (sec >= 0 && sec < 0x400000000) {
    if (nsec === 0 && sec < 0x100000000) {
      // timestamp 32: seconds only.
      w.buf[w.pos++] = 0xd6;
      w.buf[w.pos++] = 0xff;
      w.view.setUint32(w.pos, sec);
      w.pos += 4;
      return;
    }
    // timestamp 64: 30 bits of nanoseconds, 34 bits of seconds.
    w.buf[w.pos++] = 0xd7;
    w.buf[w.pos++] = 0xff;
    w.view.setUint32(w.pos, nsec * 4 + Math.floor(sec / 0x100000000));
    w.view.setUint32(w.pos + 4, sec >>> 0);
    w.pos += 8;
    return;
  }
  // timestamp 96: nanoseconds, then signed 64-bit seconds.
  w.buf[w.pos++] = 0xc7;
  w.buf[w.pos++] = 12;
  w.buf[w.pos++] = 0xff;
  w.view.setUint32(w.pos, nsec);
  w.view.setInt32(w.pos + 4, Math.floor(sec / 0x100000000));
  w.view.setUint32(w.pos + 8, sec >>> 0);
  w.pos += 12;
}

function writeValue(w: Writer, value: unknown, depth: number): void {
  if (depth > 512) throw new Error("msgpack: value nested too deeply");
  switch (typeof value) {
    case "string":
      writeString(w, value);
      return;
    case "number":
      writeNumber(w, value);
      return;
    case "boolean":
      w.u8(value ? 0xc3 : 0xc2);
      return;
    case "undefined":
      w.u8(0xc0);
      return;
    case "object":
      break;
    case "bigint":
      // notepack.io goes through toJSON for custom types; without one there is no encoding.
      if (typeof (value as { toJSON?: unknown }).toJSON === "function") {
        writeValue(w, (value as unknown as { toJSON(): unknown }).toJSON(), depth + 1);
        return;
      }
      throw new Error("msgpack: cannot encode a bigint");
    default:
      throw new Error(`msgpack: cannot encode a ${typeof value}`);
  }
  if (value === null) {
    w.u8(0xc0);
    return;
  }
  if (Array.isArray(value)) {
    const len = value.length;
    if (len < 0x10) w.u8(0x90 | len);
    else if (len < 0x10000) w.u8u16(0xdc, len);
    else w.u8u32(0xdd, len);
    for (let i = 0; i < len; i++) writeValue(w, value[i], depth + 1);
    return;
  }
  if (value instanceof Uint8Array) {
    writeBinary(w, value);
    return;
  }
  if (value instanceof ArrayBuffer) {
    writeBinary(w, new Uint8Array(value));
    return;
  }
  if (ArrayBuffer.isView(value)) {
    writeBinary(w, new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
    return;
  }
  if (value instanceof Date) {
    writeDate(w, value);
    return;
  }
  const obj = value as Record<string, unknown>;
  if (typeof obj.toJSON === "function") {
    writeValue(w, (obj.toJSON as () => unknown)(), depth + 1);
    return;
  }
  const keys: string[] = [];
  for (const key of Object.keys(obj)) {
    const v = obj[key];
    if (v !== undefined && typeof v !== "function") keys.push(key);
  }
  const len = keys.length;
  if (len < 0x10) w.u8(0x80 | len);
  else if (len < 0x10000) w.u8u16(0xde, len);
  else w.u8u32(0xdf, len);
  for (const key of keys) {
    writeString(w, key);
    writeValue(w, obj[key], depth + 1);
  }
}

/**
 * Encodes a value. Object keys holding functions or `undefined` are left
 * out, objects with `toJSON` are encoded through it (as notepack.io does).
 *
 * @example encode([uid, packet, opts]) // Uint8Array
 */
export function encode(value: unknown): Uint8Array {
  const w = new Writer();
  writeValue(w, value, 0);
  return w.buf.slice(0, w.pos);
}

/** Reads one value at a time, with bounds checks: truncated input throws. */
class Reader {
  pos = 0;
  readonly view: DataView;

  constructor(readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  need(n: number): void {
    if (this.pos + n > this.buf.length) throw new Error("msgpack: unexpected end of input");
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  u16(): number {
    this.need(2);
    const v = this.view.getUint16(this.pos);
    this.pos += 2;
    return v;
  }

  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.pos);
    this.pos += 4;
    return v;
  }

  /** A fresh copy, so nothing keeps the broker's receive buffer alive. */
  bin(n: number): Uint8Array {
    this.need(n);
    const out = new Uint8Array(n);
    out.set(this.buf.subarray(this.pos, this.pos + n));
    this.pos += n;
    return out;
  }

  str(n: number): string {
    this.need(n);
    const s = textDecoder.decode(this.buf.subarray(this.pos, this.pos + n));
    this.pos += n;
    return s;
  }

  value(depth: number): unknown {
    if (depth > 512) throw new Error("msgpack: input nested too deeply");
    const b = this.u8();
    if (b < 0x80) return b;
    if (b < 0x90) return this.map(b & 0x0f, depth);
    if (b < 0xa0) return this.array(b & 0x0f, depth);
    if (b < 0xc0) return this.str(b & 0x1f);
    if (b >= 0xe0) return b - 0x100;
    switch (b) {
      case 0xc0:
        return null;
      case 0xc2:
        return false;
      case 0xc3:
        return true;
      case 0xc4:
        return this.bin(this.u8());
      case 0xc5:
        return this.bin(this.u16());
      case 0xc6:
        return this.bin(this.u32());
      case 0xc7:
        return this.ext(this.u8());
      case 0xc8:
        return this.ext(this.u16());
      case 0xc9:
        return this.ext(this.u32());
      case 0xca: {
        this.need(4);
        const v = this.view.getFloat32(this.pos);
        this.pos += 4;
        return v;
      }
      case 0xcb: {
        this.need(8);
        const v = this.view.getFloat64(this.pos);
        this.pos += 8;
        return v;
      }
      case 0xcc:
        return this.u8();
      case 0xcd:
        return this.u16();
      case 0xce:
        return this.u32();
      case 0xcf: {
        const hi = this.u32();
        return hi * 0x100000000 + this.u32();
      }
      case 0xd0: {
        const v = this.u8();
        return v > 0x7f ? v - 0x100 : v;
      }
      case 0xd1: {
        const v = this.u16();
        return v > 0x7fff ? v - 0x10000 : v;
      }
      case 0xd2:
        return this.u32() | 0;
      case 0xd3: {
        const hi = this.u32() | 0;
        return hi * 0x100000000 + this.u32();
      }
      case 0xd4:
        return this.ext(1);
      case 0xd5:
        return this.ext(2);
      case 0xd6:
        return this.ext(4);
      case 0xd7:
        return this.ext(8);
      case 0xd8:
        return this.ext(16);
      case 0xd9:
        return this.str(this.u8());
      case 0xda:
        return this.str(this.u16());
      case 0xdb:
        return this.str(this.u32());
      case 0xdc:
        return this.array(this.u16(), depth);
      case 0xdd:
        return this.array(this.u32(), depth);
      case 0xde:
        return this.map(this.u16(), depth);
      case 0xdf:
        return this.map(this.u32(), depth);
      default:
        throw new Error(`msgpack: invalid byte 0x${b.toString(16)}`);
    }
  }

  array(n: number, depth: number): unknown[] {
    // Each element takes at least one byte: a bogus length fails here, before allocating.
    this.need(n);
    const out = new Array<unknown>(n);
    for (let i = 0; i < n; i++) out[i] = this.value(depth + 1);
    return out;
  }

  map(n: number, depth: number): Record<string, unknown> {
    this.need(n * 2);
    const out: Record<string, unknown> = {};
    for (let i = 0; i < n; i++) {
      const key = String(this.value(depth + 1));
      const v = this.value(depth + 1);
      if (key === "__proto__") Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
      else out[key] = v;
    }
    return out;
  }

  ext(n: number): unknown {
    const type = (this.u8() << 24) >> 24;
    if (type === 0) {
      // notepack.io: fixext 1 is undefined, fixext 8 a Date, any other size an ArrayBuffer.
      if (n === 1) {
        this.bin(1);
        return undefined;
      }
      if (n === 8) {
        this.need(8);
        const ms = this.view.getInt32(this.pos) * 0x100000000 + this.view.getUint32(this.pos + 4);
        this.pos += 8;
        return new Date(ms);
      }
      return this.bin(n);
    }
    if (type === -1) return this.timestamp(n);
    // Unknown extension: the same [type, bytes] pair notepack.io hands back.
    return [type, this.bin(n)];
  }

  timestamp(n: number): Date {
    this.need(n);
    const v = this.view;
    const p = this.pos;
    let sec: number;
    let nsec = 0;
    if (n === 4) {
      sec = v.getUint32(p);
    } else if (n === 8) {
      const hi = v.getUint32(p);
      nsec = hi >>> 2;
      sec = (hi & 0x3) * 0x100000000 + v.getUint32(p + 4);
    } else if (n === 12) {
      nsec = v.getUint32(p);
      sec = v.getInt32(p + 4) * 0x100000000 + v.getUint32(p + 8);
    } else {
      throw new Error("msgpack: invalid timestamp length");
    }
    this.pos += n;
    return new Date(sec * 1000 + Math.floor(nsec / 1e6));
  }
}

/**
 * Decodes one value; throws on malformed or truncated input. Binary comes
 * back as `Uint8Array`.
 */
export function decode(bytes: Uint8Array): unknown {
  const r = new Reader(bytes);
  const value = r.value(0);
  if (r.pos !== bytes.length) throw new Error("msgpack: trailing bytes");
  return value;
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
