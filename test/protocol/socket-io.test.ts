import { describe, expect, it } from "vitest";
import { Decoder, Encoder, PacketType, defaultParser, type DecodeStep, type Packet } from "../../src/protocol/socket-io.ts";
import { RESERVED_EVENTS } from "../../src/protocol/socket-io-packet.ts";
import { encodePacket } from "../../src/protocol/engine-io.ts";

const bytes = (...values: number[]) => new Uint8Array(values);
const placeholder = (num: number) => ({ _placeholder: true, num });

/** Pushes every frame; all but the last must leave the decoder pending. */
function decodeFrames(frames: Array<string | Uint8Array>, decoder = new Decoder()): DecodeStep {
  for (let i = 0; i < frames.length - 1; i++) expect(decoder.push(frames[i]!)).toEqual({ kind: "pending" });
  return decoder.push(frames[frames.length - 1]!);
}

function decodeOne(frames: Array<string | Uint8Array>): Packet {
  const step = decodeFrames(frames);
  if (step.kind !== "packet") throw new Error("expected a packet, got " + JSON.stringify(step));
  return step.packet;
}

function expectError(frames: Array<string | Uint8Array>, message: string | RegExp): void {
  const decoder = new Decoder();
  let step: DecodeStep = { kind: "pending" };
  for (const frame of frames) {
    step = decoder.push(frame);
    if (step.kind === "error") break;
  }
  expect(step.kind).toBe("error");
  if (step.kind === "error") expect(step.message).toMatch(message);
}

const encoder = new Encoder();

describe("socket.io encoder: exact wire strings", () => {
  it.each<[string, Packet, string]>([
    ["CONNECT to /", { type: PacketType.CONNECT, nsp: "/" }, "0"],
    ["CONNECT with auth", { type: PacketType.CONNECT, nsp: "/admin", data: { token: "x" } }, '0/admin,{"token":"x"}'],
    ["CONNECT reply", { type: PacketType.CONNECT, nsp: "/", data: { sid: "abc" } }, '0{"sid":"abc"}'],
    ["DISCONNECT", { type: PacketType.DISCONNECT, nsp: "/admin" }, "1/admin,"],
    ["DISCONNECT on /", { type: PacketType.DISCONNECT, nsp: "/" }, "1"],
    ["EVENT", { type: PacketType.EVENT, nsp: "/", data: ["foo", 1, { a: "b" }] }, '2["foo",1,{"a":"b"}]'],
    ["EVENT with nsp and ack", { type: PacketType.EVENT, nsp: "/chat", id: 12, data: ["msg"] }, '2/chat,12["msg"]'],
    ["EVENT with ack id 0", { type: PacketType.EVENT, nsp: "/", id: 0, data: ["a"] }, '20["a"]'],
    ["ACK", { type: PacketType.ACK, nsp: "/", id: 5, data: [] }, "35[]"],
    ["CONNECT_ERROR object", { type: PacketType.CONNECT_ERROR, nsp: "/", data: { message: "Invalid namespace" } }, '4{"message":"Invalid namespace"}'],
    ["CONNECT_ERROR string", { type: PacketType.CONNECT_ERROR, nsp: "/x", data: "nope" }, '4/x,"nope"'],
    ["null data is not written", { type: PacketType.CONNECT, nsp: "/", data: null }, "0"],
  ])("%s", (_name, packet, wire) => {
    expect(encoder.encode(packet)).toEqual([wire]);
  });

  it("writes 451-[\"baz\",<placeholder>] and then the attachment", () => {
    const file = bytes(1, 2, 3);
    const out = encoder.encode({ type: PacketType.EVENT, nsp: "/", data: ["baz", file] });
    expect(out).toEqual(['51-["baz",{"_placeholder":true,"num":0}]', file]);
    expect(encodePacket({ type: "message", data: out[0] as string }, true)).toBe('451-["baz",{"_placeholder":true,"num":0}]');
    expect(out[1]).toBe(file);
  });

  it("writes 462-/admin,789[...] for a binary ack in a namespace", () => {
    const out = encoder.encode({ type: PacketType.ACK, nsp: "/admin", id: 789, data: [bytes(1), { b: bytes(2) }] });
    expect(out[0]).toBe('62-/admin,789[{"_placeholder":true,"num":0},{"b":{"_placeholder":true,"num":1}}]');
    expect(encodePacket({ type: "message", data: out[0] as string }, true)).toMatch(/^462-\/admin,789\[/);
    expect(out.slice(1)).toEqual([bytes(1), bytes(2)]);
  });

  it("writes 40/admin,{\"token\":\"x\"} on the Engine.IO wire", () => {
    const [text] = encoder.encode({ type: PacketType.CONNECT, nsp: "/admin", data: { token: "x" } });
    expect(encodePacket({ type: "message", data: text as string }, true)).toBe('40/admin,{"token":"x"}');
  });

  it("numbers placeholders depth-first, in JSON order", () => {
    const [a, b, c, d] = [bytes(1), bytes(2), bytes(3), bytes(4)];
    const out = encoder.encode({ type: PacketType.EVENT, nsp: "/", data: ["e", { x: [a, { y: b }], z: c }, d] });
    expect(JSON.parse((out[0] as string).slice(3))).toEqual(["e", { x: [placeholder(0), { y: placeholder(1) }], z: placeholder(2) }, placeholder(3)]);
    expect(out.slice(1)).toEqual([a, b, c, d]);
  });

  it("emits every kind of binary as a Uint8Array over the same memory", () => {
    const backing = new ArrayBuffer(16);
    new Uint8Array(backing).forEach((_, i, arr) => (arr[i] = i));
    const view = new Int16Array(backing, 4, 2);
    const dataView = new DataView(backing, 8, 4);
    const buffer = Buffer.from([7, 8]);
    const out = encoder.encode({ type: PacketType.EVENT, nsp: "/", data: ["kinds", backing, view, dataView, buffer] });
    expect(out[0]).toMatch(/^54-/);
    const [ab, v, dv, buf] = out.slice(1) as Uint8Array[];
    for (const part of [ab, v, dv, buf]) expect(part).toBeInstanceOf(Uint8Array);
    expect(ab!.buffer).toBe(backing);
    expect([v!.buffer, v!.byteOffset, v!.byteLength]).toEqual([backing, 4, 4]);
    expect([dv!.buffer, dv!.byteOffset, dv!.byteLength]).toEqual([backing, 8, 4]);
    expect(buf).toBe(buffer);
  });

  it("follows toJSON like JSON.stringify, for detection and output", () => {
    const holder = { toJSON: () => ({ inner: bytes(9) }) };
    const date = new Date(0);
    const out = encoder.encode({ type: PacketType.EVENT, nsp: "/", data: ["j", holder, date] });
    expect(out[0]).toBe('51-["j",{"inner":{"_placeholder":true,"num":0}},"1970-01-01T00:00:00.000Z"]');
    expect(out[1]).toEqual(bytes(9));
  });

  it("keeps JSON.stringify semantics (undefined, functions, Date) without binary", () => {
    const data = ["x", undefined, () => 1, { f: () => 1, u: undefined, d: new Date(0) }];
    expect(encoder.encode({ type: PacketType.EVENT, nsp: "/", data })).toEqual([`2${JSON.stringify(data)}`]);
  });

  it("keeps JSON.stringify semantics in the binary path", () => {
    class Point {
      constructor(public x: number, public y: number) {}
    }
    const data = ["x", undefined, () => 1, { u: undefined, p: new Point(1, 2), n: new Number(3), s: new String("s"), nan: NaN }, bytes(1)];
    const out = encoder.encode({ type: PacketType.EVENT, nsp: "/", data });
    const plain = JSON.stringify(data.slice(0, 4));
    expect(out[0]).toBe(`51-${plain.slice(0, -1)},{"_placeholder":true,"num":0}]`);
  });

  it("sends a BINARY_EVENT or BINARY_ACK without binary as EVENT or ACK (no `0-` count)", () => {
    expect(encoder.encode({ type: PacketType.BINARY_EVENT, nsp: "/", data: ["a"] })).toEqual(['2["a"]']);
    expect(encoder.encode({ type: PacketType.BINARY_ACK, nsp: "/", id: 1, data: [] })).toEqual(["31[]"]);
  });

  it("ignores binary in packet types that cannot carry attachments", () => {
    expect(encoder.encode({ type: PacketType.CONNECT, nsp: "/", data: { b: bytes(1) } })).toEqual(['0{"b":{"0":1}}']);
  });

  it("counts a shared binary once per occurrence, like the reference", () => {
    const b = bytes(5);
    const shared = { b };
    const out = encoder.encode({ type: PacketType.EVENT, nsp: "/", data: ["s", shared, shared] });
    expect(out[0]).toBe('52-["s",{"b":{"_placeholder":true,"num":0}},{"b":{"_placeholder":true,"num":1}}]');
  });

  it("throws TypeError on cycles instead of hanging, with or without binary", () => {
    const plain: Record<string, unknown> = { a: 1 };
    plain.self = plain;
    expect(() => encoder.encode({ type: PacketType.EVENT, nsp: "/", data: ["c", plain] })).toThrow(TypeError);
    const withBinary: Record<string, unknown> = { b: bytes(1) };
    withBinary.self = withBinary;
    expect(() => encoder.encode({ type: PacketType.EVENT, nsp: "/", data: ["c", withBinary] })).toThrow(TypeError);
    // A long cycle-free chain that is wide enough to trip the cycle guard still encodes.
    const wide = Array.from({ length: 20_000 }, (_, i) => ({ i }));
    expect(encoder.encode({ type: PacketType.EVENT, nsp: "/", data: ["w", wide] })[0]).toBe(`2${JSON.stringify(["w", wide])}`);
  });

  it("writes a __proto__ own key as data, never as a prototype", () => {
    const tricky: Record<string, unknown> = {};
    Object.defineProperty(tricky, "__proto__", { value: { bin: bytes(1) }, enumerable: true, configurable: true, writable: true });
    const out = encoder.encode({ type: PacketType.EVENT, nsp: "/", data: ["p", tricky] });
    expect(out[0]).toBe('51-["p",{"__proto__":{"bin":{"_placeholder":true,"num":0}}}]');
    const packet = decodeOne(out);
    const decoded = (packet.data as unknown[])[1] as Record<string, unknown>;
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(decoded, "__proto__")?.value).toEqual({ bin: bytes(1) });
  });
});

describe("socket.io round trips", () => {
  const cases: Array<[string, Packet]> = [
    ["CONNECT /", { type: PacketType.CONNECT, nsp: "/" }],
    ["CONNECT with auth", { type: PacketType.CONNECT, nsp: "/admin", data: { token: "x", n: [1, 2] } }],
    ["DISCONNECT", { type: PacketType.DISCONNECT, nsp: "/admin" }],
    ["EVENT", { type: PacketType.EVENT, nsp: "/", data: ["hi", "there", null, true, 1.5] }],
    ["EVENT numeric name", { type: PacketType.EVENT, nsp: "/", data: [42, "x"] }],
    ["EVENT unicode", { type: PacketType.EVENT, nsp: "/ünï", id: 3, data: ["ëvent ✓", { "kéy": "𝄞" }] }],
    ["EVENT big ack id", { type: PacketType.EVENT, nsp: "/", id: Number.MAX_SAFE_INTEGER, data: ["a"] }],
    ["ACK", { type: PacketType.ACK, nsp: "/", id: 0, data: [] }],
    ["ACK with nsp", { type: PacketType.ACK, nsp: "/a/b", id: 77, data: [null, { ok: 1 }] }],
    ["CONNECT_ERROR object", { type: PacketType.CONNECT_ERROR, nsp: "/", data: { message: "no", data: { code: 1 } } }],
    ["CONNECT_ERROR string", { type: PacketType.CONNECT_ERROR, nsp: "/admin", data: "bad" }],
  ];
  it.each(cases)("%s", (_name, packet) => {
    const frames = encoder.encode(packet);
    expect(frames).toHaveLength(1);
    expect(decodeOne(frames)).toEqual(packet);
  });

  it.each([1, 2, 5, 25])("binary nested %i levels deep in arrays and objects", (depth) => {
    let value: unknown = bytes(depth, 0, 255);
    for (let i = 0; i < depth; i++) value = i % 2 === 0 ? [i, value] : { level: i, value };
    const packet: Packet = { type: PacketType.EVENT, nsp: "/deep", id: depth, data: ["nested", value] };
    const frames = encoder.encode(packet);
    expect(frames).toHaveLength(2);
    expect(frames[0]).toMatch(/^51-\/deep,\d+\["nested",/);
    expect(decodeOne(frames)).toEqual(packet);
  });

  it("binary ack with several attachments keeps them in order; comes out as ACK", () => {
    const packet: Packet = { type: PacketType.ACK, nsp: "/admin", id: 789, data: [bytes(1), { b: [bytes(2), bytes(3)] }, "x", bytes()] };
    const frames = encoder.encode(packet);
    expect(frames[0]).toMatch(/^64-\/admin,789\[/);
    const decoded = decodeOne(frames);
    expect(decoded).toEqual(packet);
    expect(decoded.type).toBe(PacketType.ACK);
    expect(decoded).not.toHaveProperty("attachments");
  });

  it("decodes a binary event as EVENT with the pushed buffers in place (no copy)", () => {
    const decoder = new Decoder();
    expect(decoder.push('51-["baz",{"_placeholder":true,"num":0}]')).toEqual({ kind: "pending" });
    const file = bytes(4, 2);
    const step = decoder.push(file);
    expect(step).toEqual({ kind: "packet", packet: { type: PacketType.EVENT, nsp: "/", data: ["baz", file] } });
    expect(step.kind === "packet" && (step.packet.data as unknown[])[1]).toBe(file);
  });

  it("exactly 10 attachments pass with the default limit", () => {
    const data = ["ten", ...Array.from({ length: 10 }, (_, i) => bytes(i))];
    const frames = encoder.encode({ type: PacketType.EVENT, nsp: "/", data });
    expect(frames[0]).toMatch(/^510-/);
    expect(decodeOne(frames).data).toEqual(data);
  });

  it("one decoder handles many packets in a row, text and binary interleaved", () => {
    const decoder = new Decoder();
    const packets: Packet[] = [
      { type: PacketType.EVENT, nsp: "/", data: ["a", bytes(1)] },
      { type: PacketType.EVENT, nsp: "/", data: ["b"] },
      { type: PacketType.ACK, nsp: "/x", id: 2, data: [bytes(2), bytes(3)] },
      { type: PacketType.CONNECT, nsp: "/y" },
    ];
    for (const packet of packets) expect(decodeFrames(encoder.encode(packet), decoder)).toEqual({ kind: "packet", packet });
  });
});

describe("socket.io decoder: accepted edge cases", () => {
  it.each<[string, Packet]>([
    ["0/random", { type: PacketType.CONNECT, nsp: "/random" }],
    ["0/admin,", { type: PacketType.CONNECT, nsp: "/admin" }],
    ["1/admin,", { type: PacketType.DISCONNECT, nsp: "/admin" }],
    ["2[1]", { type: PacketType.EVENT, nsp: "/", data: [1] }],
    ['2/a/b,["x"]', { type: PacketType.EVENT, nsp: "/a/b", data: ["x"] }],
    ["3/admin,5[]", { type: PacketType.ACK, nsp: "/admin", id: 5, data: [] }],
    ['2007["x"]', { type: PacketType.EVENT, nsp: "/", id: 7, data: ["x"] }],
    ['4"str"', { type: PacketType.CONNECT_ERROR, nsp: "/", data: "str" }],
    ['2["x",{"_placeholder":true,"num":0}]', { type: PacketType.EVENT, nsp: "/", data: ["x", { _placeholder: true, num: 0 }] }],
  ])("%s", (wire, packet) => {
    expect(new Decoder().push(wire)).toEqual({ kind: "packet", packet });
  });

  it("emits a `0-` binary packet at once and stays usable (unlike reference Q-11)", () => {
    const decoder = new Decoder();
    expect(decoder.push('50-["zero"]')).toEqual({ kind: "packet", packet: { type: PacketType.EVENT, nsp: "/", data: ["zero"] } });
    expect(decoder.push('2["next"]')).toEqual({ kind: "packet", packet: { type: PacketType.EVENT, nsp: "/", data: ["next"] } });
    expect(decoder.push('50-["zero",{"_placeholder":true,"num":0}]')).toEqual({ kind: "error", message: "illegal attachments" });
  });

  it("leaves non-placeholder look-alikes alone", () => {
    const packet = decodeOne(['51-["x",{"_placeholder":"true","num":0},{"_placeholder":true,"num":0}]', bytes(1)]);
    expect(packet.data).toEqual(["x", { _placeholder: "true", num: 0 }, bytes(1)]);
  });

  it("applies the reviver option", () => {
    const decoder = new Decoder({ reviver: (key, value) => (key === "when" ? new Date(value as string) : value) });
    const step = decoder.push('2["t",{"when":"1970-01-01T00:00:00.000Z"}]');
    expect(step.kind === "packet" && (step.packet.data as [string, { when: Date }])[1].when).toEqual(new Date(0));
  });

  it("survives a reviver that builds a cycle or throws", () => {
    const cyclic = new Decoder({
      reviver(key, value) {
        if (key === "loop") return this;
        return value;
      },
    });
    const frames = ['51-["x",{"loop":1,"b":{"_placeholder":true,"num":0}}]', bytes(1)];
    const step = decodeFrames(frames, cyclic);
    expect(step.kind).toBe("packet");
    const throwing = new Decoder({
      reviver: () => {
        throw new Error("boom");
      },
    });
    expect(throwing.push('2["x"]')).toEqual({ kind: "error", message: "invalid payload" });
    expect(throwing.push("0")).toEqual({ kind: "packet", packet: { type: PacketType.CONNECT, nsp: "/" } });
  });
});

describe("socket.io decoder: malformed packets", () => {
  const table: Array<[string, string, string]> = [
    ["empty string", "", "unknown packet type"],
    ["type 7", '7["a"]', "unknown packet type"],
    ["type letter", 'a["a"]', "unknown packet type"],
    ["type space", ' 2["a"]', "unknown packet type"],
    ["binary without count", '5["a"]', "Illegal attachments"],
    ["binary count without dash", '51["a"]', "Illegal attachments"],
    ["binary dash without count", '5-["a"]', "Illegal attachments"],
    ["binary count not digits", '5a-["a"]', "Illegal attachments"],
    ["binary count with space", '5 1-["a",{"_placeholder":true,"num":0}]', "Illegal attachments"],
    ["binary count hex", '50x1-["a"]', "Illegal attachments"],
    ["binary count alone", "51", "Illegal attachments"],
    ["11 attachments", '511-["a"]', "too many attachments"],
    ["huge attachment count", "5" + "9".repeat(100_000) + '-["a"]', "too many attachments"],
    ["huge attachment digits, no dash", "6" + "1".repeat(100_000), "too many attachments"],
    ["bad JSON", '2["a"', "invalid payload"],
    ["trailing garbage", '2["a"]x', "invalid payload"],
    ["comma without nsp", '2,["a"]', "invalid payload"],
    ["EVENT without payload", "2", "invalid payload"],
    ["EVENT empty array", "2[]", "invalid payload"],
    ["EVENT object", '2{"a":1}', "invalid payload"],
    ["EVENT string", '2"a"', "invalid payload"],
    ["EVENT null name", "2[null]", "invalid payload"],
    ["EVENT boolean name", "2[true]", "invalid payload"],
    ["EVENT array name", '2[["a"]]', "invalid payload"],
    ["EVENT object name (CVE-2023-32695)", '2[{"toString":"foo"}]', "invalid payload"],
    ["BINARY_EVENT object name", '51-[{"toString":"foo"},{"_placeholder":true,"num":0}]', "invalid payload"],
    ["nsp swallows the payload (no comma)", '2/admin["a"]', "invalid payload"],
    ["nsp then bad JSON", '2/admin,["a"', "invalid payload"],
    ["ACK without payload", "31", "invalid payload"],
    ["ACK object", "31{}", "invalid payload"],
    ["BINARY_ACK object", '61-{"a":{"_placeholder":true,"num":0}}', "invalid payload"],
    ["CONNECT array", "0[]", "invalid payload"],
    ["CONNECT string", '0"token"', "invalid payload"],
    ["CONNECT null", "0null", "invalid payload"],
    ["DISCONNECT with payload", '1["a"]', "invalid payload"],
    ["DISCONNECT with empty object", "1/admin,{}", "invalid payload"],
    ["CONNECT_ERROR without payload", "4", "invalid payload"],
    ["CONNECT_ERROR array", '4["a"]', "invalid payload"],
    ["CONNECT_ERROR in a namespace without payload", "4/x,", "invalid payload"],
    ["CONNECT_ERROR number", "4-1", "invalid payload"],
    ["payload after whitespace (the reference reads it as ack id 0)", '2 ["a"]', "invalid payload"],
    ["payload after a newline", '2/admin,\n["a"]', "invalid payload"],
    ["ack id then whitespace", '21 ["a"]', "invalid payload"],
    ["17-digit ack id", '2' + "1".repeat(17) + '["a"]', "invalid ack id"],
    ["ack id above 2^53", '29007199254740993["a"]', "invalid ack id"],
    ["megabyte ack id (CVE-2020-36049)", "2" + "1".repeat(1_000_000) + '["a"]', "invalid ack id"],
    ...[...RESERVED_EVENTS].map((name): [string, string, string] => [`reserved name ${name}`, `2${JSON.stringify([name])}`, "invalid payload"]),
  ];
  it.each(table)("%s", (_name, wire, message) => {
    expect(new Decoder().push(wire)).toEqual({ kind: "error", message });
  });

  it("rejects a megabyte ack id quickly", () => {
    const wire = "2" + "7".repeat(1_000_000) + '["a"]';
    const start = performance.now();
    for (let i = 0; i < 100; i++) new Decoder().push(wire);
    expect(performance.now() - start).toBeLessThan(1000);
  });

  it("honours maxAttachments and maxNamespaceLength", () => {
    expect(new Decoder({ maxAttachments: 2 }).push('53-["a"]')).toEqual({ kind: "error", message: "too many attachments" });
    expect(new Decoder({ maxAttachments: 20 }).push('515-["a"]')).toEqual({ kind: "pending" });
    const limited = new Decoder({ maxNamespaceLength: 6 });
    expect(limited.push("0/admin,").kind).toBe("packet");
    expect(limited.push("0/admins,")).toEqual({ kind: "error", message: "namespace too long" });
    expect(limited.push("0/" + "a".repeat(100_000))).toEqual({ kind: "error", message: "namespace too long" });
  });

  it("rejects more than 10 attachments from the encoder side too", () => {
    const frames = encoder.encode({ type: PacketType.EVENT, nsp: "/", data: ["many", ...Array.from({ length: 11 }, () => bytes(1))] });
    expect(frames[0]).toMatch(/^511-/);
    expectError(frames, "too many attachments");
  });
});

describe("socket.io decoder: placeholders and CVE rows", () => {
  it.each([
    ['num "splice" (CVE-2022-2421)', '"splice"'],
    ['num "toString"', '"toString"'],
    ['num "0" as a string', '"0"'],
    ["num out of range", "1"],
    ["negative num", "-1"],
    ["fractional num", "0.5"],
    ["num 1e400 (Infinity)", "1e400"],
    ["num null", "null"],
    ["num an object", '{"valueOf":0}'],
  ])("rejects placeholder with %s", (_name, num) => {
    expectError([`51-["x",{"_placeholder":true,"num":${num}}]`, bytes(1)], "illegal attachments");
  });

  it("rejects a placeholder without num", () => {
    expectError(['51-["x",{"_placeholder":true}]', bytes(1)], "illegal attachments");
  });

  it("42[{\"toString\":\"foo\"}] is an error, and toString keys elsewhere are plain data", () => {
    expect(new Decoder().push('2[{"toString":"foo"}]')).toEqual({ kind: "error", message: "invalid payload" });
    const packet = decodeOne(['51-["x",{"toString":"foo","valueOf":1,"b":{"_placeholder":true,"num":0}}]', bytes(3)]);
    expect(packet.data).toEqual(["x", { toString: "foo", valueOf: 1, b: bytes(3) }]);
  });

  it("never pollutes prototypes through __proto__ or constructor keys", () => {
    const decoder = new Decoder();
    const p1 = decoder.push('2["x",{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":2}}}]');
    expect(p1.kind).toBe("packet");
    const frames = [
      '52-["x",{"__proto__":{"_placeholder":true,"num":0},"constructor":{"prototype":{"_placeholder":true,"num":1}}}]',
      bytes(1),
      bytes(2),
    ];
    const packet = decodeOne(frames);
    const obj = (packet.data as unknown[])[1] as Record<string, unknown>;
    expect(Object.getPrototypeOf(obj)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(obj, "__proto__")?.value).toEqual(bytes(1));
    expect((obj.constructor as { prototype: unknown }).prototype).toEqual(bytes(2));
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty("polluted");
    expect(Object.prototype.constructor).toBe(Object);
  });
});

describe("socket.io decoder: binary sequencing", () => {
  it("rejects binary when none is expected", () => {
    expect(new Decoder().push(bytes(1))).toEqual({ kind: "error", message: "got binary data when not reconstructing a packet" });
  });

  it("rejects text while attachments are pending, then decodes cleanly again", () => {
    const decoder = new Decoder();
    expect(decoder.push('52-["x",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]')).toEqual({ kind: "pending" });
    expect(decoder.push(bytes(1))).toEqual({ kind: "pending" });
    expect(decoder.push('2["y"]')).toEqual({ kind: "error", message: "got plaintext data when reconstructing a packet" });
    expect(decoder.push(bytes(2)).kind).toBe("error");
    expect(decoder.push('2["y"]')).toEqual({ kind: "packet", packet: { type: PacketType.EVENT, nsp: "/", data: ["y"] } });
  });

  it("rejects values that are neither text nor bytes without throwing", () => {
    const decoder = new Decoder();
    for (const junk of [undefined, null, 42, {}, [], Symbol("s")]) {
      expect(decoder.push(junk as unknown as string).kind).toBe("error");
    }
  });
});

describe("socket.io: 20,000-deep nesting", () => {
  const DEPTH = 20_000;
  const nest = (leaf: unknown): unknown[] => {
    let value: unknown[] = leaf === undefined ? [] : [leaf];
    for (let i = 1; i < DEPTH; i++) value = [value];
    return value;
  };
  const leafOf = (value: unknown): unknown => {
    let node = value;
    for (let i = 0; i < DEPTH; i++) node = (node as unknown[])[0];
    return node;
  };

  it("encodes as a plain EVENT without a stack overflow", () => {
    const out = encoder.encode({ type: PacketType.EVENT, nsp: "/", data: ["deep", nest(undefined)] });
    expect(out).toEqual([`2["deep",${"[".repeat(DEPTH)}${"]".repeat(DEPTH)}]`]);
  });

  it("keeps JSON.stringify semantics in the depth-safe serialiser", () => {
    const mixed = { s: 'q"\n\u2028', n: -0, nan: NaN, inf: -Infinity, u: undefined, f: () => 1, d: new Date(0), b: new Boolean(false), arr: [undefined, () => 1, Symbol("x")], o: { toJSON: (k: string) => `key:${k}` }, "é": new String("x") };
    const out = encoder.encode({ type: PacketType.EVENT, nsp: "/", data: ["deep", nest(mixed)] });
    expect(out[0]).toBe(`2["deep",${"[".repeat(DEPTH)}${JSON.stringify(mixed)}${"]".repeat(DEPTH)}]`);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => encoder.encode({ type: PacketType.EVENT, nsp: "/", data: ["deep", nest(cyclic)] })).toThrow(TypeError);
    expect(() => encoder.encode({ type: PacketType.EVENT, nsp: "/", data: ["deep", nest(10n)] })).toThrow(TypeError);
  });

  it("encodes and decodes with a binary at the bottom", () => {
    const leaf = bytes(1, 2, 3);
    const frames = encoder.encode({ type: PacketType.EVENT, nsp: "/", data: ["deep", nest(leaf)] });
    expect(frames).toHaveLength(2);
    expect(frames[0]).toBe(`51-["deep",${"[".repeat(DEPTH)}{"_placeholder":true,"num":0}${"]".repeat(DEPTH)}]`);
    const packet = decodeOne(frames);
    expect(packet.type).toBe(PacketType.EVENT);
    expect(leafOf((packet.data as unknown[])[1])).toBe(frames[1]);
  });

  it("decodes deep text packets from the wire", () => {
    const wire = `2["deep",${"[".repeat(DEPTH)}${"]".repeat(DEPTH)}]`;
    expect(new Decoder().push(wire).kind).toBe("packet");
    const objects = `2["deep",${'{"a":'.repeat(DEPTH)}{"_placeholder":true,"num":0}${"}".repeat(DEPTH)}]`;
    expect(new Decoder().push(objects).kind).toBe("packet");
  });
});

describe("reference-compatible API", () => {
  it("add() emits decoded packets and throws on bad input", () => {
    const decoder = new Decoder();
    const seen: Packet[] = [];
    const listener = (packet: Packet) => seen.push(packet);
    decoder.on("decoded", listener);
    decoder.add('2["a"]');
    decoder.add('51-["b",{"_placeholder":true,"num":0}]');
    expect(seen).toHaveLength(1);
    decoder.add(new Uint16Array([0x0201]).buffer);
    expect(seen[1]).toEqual({ type: PacketType.EVENT, nsp: "/", data: ["b", bytes(1, 2)] });
    expect(() => decoder.add("9")).toThrow(new Error("unknown packet type"));
    expect(() => decoder.add(bytes(1))).toThrow("got binary data when not reconstructing a packet");
    expect(() => decoder.add(42)).toThrow(/Unknown type/);
    decoder.off("decoded", listener);
    decoder.add('2["c"]');
    expect(seen).toHaveLength(2);
  });

  it("destroy() drops a half-received packet", () => {
    const decoder = new Decoder();
    decoder.push('51-["b",{"_placeholder":true,"num":0}]');
    decoder.destroy();
    expect(decoder.push(bytes(1)).kind).toBe("error");
    expect(decoder.push('2["ok"]').kind).toBe("packet");
  });

  it("defaultParser has the socket.io parser shape", () => {
    const enc = new defaultParser.Encoder();
    const dec = new defaultParser.Decoder();
    const got: Packet[] = [];
    dec.on("decoded", (packet) => got.push(packet));
    for (const frame of enc.encode({ type: PacketType.EVENT, nsp: "/", data: ["x", bytes(1)] })) dec.add(frame);
    expect(got).toEqual([{ type: PacketType.EVENT, nsp: "/", data: ["x", bytes(1)] }]);
  });
});
