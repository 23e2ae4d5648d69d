/**
 * Property tests through live servers on every runtime: random frame
 * sequences over a raw WebSocket, random POST bodies over polling. The
 * decoders' own totality is checked in test/protocol/property.test.ts; here
 * the property is about the server: whatever a client sends, it either keeps
 * answering that client or closes that connection (never hangs it), no
 * error reaches the runtime, Object.prototype stays clean, and the
 * bystanders never notice. Runs are few (each is a real connection) and
 * bounded; a failure prints fast-check's seed and the shrunk frame list.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningFixture, startFixture } from "../conformance/harness.ts";
import {
  type Bystander,
  bystander,
  bystanderEchoes,
  http,
  newTag,
  pollPath,
  rawEchoes,
  sioPolling,
  sioWs,
  stats,
} from "./helpers.ts";
import { selectedRuntimes } from "./runtimes.ts";
import type { Frame } from "../helpers/raw-wire.ts";

const RUNS = Number(process.env.HARDENING_FUZZ_RUNS ?? 40);

// Event names: harmless ones, reserved ones, prototype keys, and random text. Never the fixture's
// load-generating events (flood, stream, broadcast, join-later, ask).
const eventName = fc.oneof(
  fc.constantFrom("echo", "nope", "error", "__proto__", "hasOwnProperty", "constructor", "disconnect", "connect", "newListener", ""),
  fc.string({ maxLength: 8 }).filter((s) => !/^(flood|stream|broadcast|join-later|ask|ask-all|inspect)$/.test(s)),
);
const json = fc.jsonValue({ maxDepth: 4 });
const nspPart = fc.constantFrom("", "", "", "/admin,", "/nope,", "/", "/admin");
const ackPart = fc.oneof(fc.constant(""), fc.constant(""), fc.nat({ max: 99999 }).map(String), fc.constant("1".repeat(20)));
const attachPart = fc.constantFrom("0-", "1-", "2-", "11-", "-", "a-", "");

/** A Socket.IO packet as text, usually well formed enough to get past the first checks. */
const sioText = fc.oneof(
  fc
    .tuple(fc.constantFrom("0", "1", "2", "3", "4", "5", "6", "7", "9"), attachPart, nspPart, ackPart, fc.oneof(eventName.map((n) => [n]), json), fc.array(json, { maxLength: 3 }))
    .map(([type, att, nsp, ack, head, rest]) => {
      const binary = type === "5" || type === "6";
      const data = Array.isArray(head) ? [...head, ...rest] : head;
      return type + (binary ? att : "") + nsp + ack + (data === undefined ? "" : JSON.stringify(data));
    }),
  fc.constantFrom(
    '451-["echo",{"_placeholder":true,"num":0}]',
    '452-["echo",{"_placeholder":true,"num":1},{"_placeholder":true,"num":"splice"}]',
    '42["echo",{"__proto__":{"polluted":1}}]',
    '40{"__proto__":{"isAdmin":true}}',
    "40/admin,",
    "41/admin,",
    "41",
  ),
  fc.string({ maxLength: 40 }),
);

/** One frame: a Socket.IO packet in an Engine.IO message, another Engine.IO packet, or bytes. */
const frame: fc.Arbitrary<Frame> = fc.oneof(
  { weight: 6, arbitrary: sioText.map((t) => "4" + t) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom("0", "3", "5", "6", "b", "x", ""), fc.string({ maxLength: 10 })).map(([t, d]) => t + d) },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 16 }) },
);

const postBody = fc
  .array(
    fc.oneof(
      sioText.map((t) => "4" + t),
      fc.constantFrom("2", "3", "5", "6", "1", "bAQI=", "b%%", ""),
      fc.string({ maxLength: 20 }),
    ),
    { minLength: 1, maxLength: 4 },
  )
  .map((parts) => parts.join("\x1e"));

describe.each(selectedRuntimes())("live-server properties on $name", (runtime) => {
  let fx: RunningFixture;
  let bystanders: Bystander[] = [];

  beforeAll(async () => {
    fx = await startFixture(runtime);
    bystanders = [await bystander(fx, "websocket"), await bystander(fx, "polling")];
  });
  afterAll(async () => {
    for (const b of bystanders) b.socket.close();
    await fx?.stop();
  });

  it("any frame sequence over WebSocket: the server answers that client or closes it; nothing else is disturbed", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(frame, { minLength: 1, maxLength: 6 }), async (frames) => {
        const ws = await sioWs(fx, newTag("fuzz-ws"));
        for (const f of frames) typeof f === "string" ? ws.sendText(f) : ws.sendBinary(f);
        const answered = await rawEchoes(ws, "/", 1500);
        const closed = answered ? false : await ws.closedWithin(2500);
        ws.reset();
        expect(answered || closed, "neither answered nor closed").toBe(true);
        const s = await stats(fx);
        expect({ uncaught: s.uncaught, polluted: s.polluted }, s.uncaughtMessages.join("\n")).toEqual({ uncaught: 0, polluted: false });
      }),
      { numRuns: RUNS, endOnFailure: true },
    );
    for (const b of bystanders) expect(await bystanderEchoes(b), `bystander over ${b.name}`).toBe(true);
  });

  it("any POST body over polling: 200 ok or a 4xx, the session answers or is gone; nothing else is disturbed", async () => {
    await fc.assert(
      fc.asyncProperty(postBody, async (body) => {
        const tag = newTag("fuzz-poll");
        const sid = await sioPolling(fx, tag);
        const post = await http(fx, pollPath(tag, sid), { method: "POST", body });
        expect([200, 400, 413]).toContain(post.status);
        // The next GET gets data, a noop/close packet, or code 1: it never hangs past a heartbeat.
        const next = await http(fx, pollPath(tag, sid), { timeoutMs: 3000 });
        expect([200, 400]).toContain(next.status);
        const s = await stats(fx);
        expect({ uncaught: s.uncaught, polluted: s.polluted }, s.uncaughtMessages.join("\n")).toEqual({ uncaught: 0, polluted: false });
      }),
      { numRuns: RUNS, endOnFailure: true },
    );
    for (const b of bystanders) expect(await bystanderEchoes(b), `bystander over ${b.name}`).toBe(true);
  });
});
