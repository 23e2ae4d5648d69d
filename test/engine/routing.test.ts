/**
 * Request verification, driven through Engine.handleRequest/handleUpgrade in
 * memory: the error code, the body, and the `connection_error` event a user
 * can log (its context is not visible on the wire).
 */
import { describe, expect, it } from "vitest";
import type { ConnectionErrorEvent } from "../../src/engine/errors.ts";
import type { EngineOptions } from "../../src/index.ts";
import { bodyText, createEngine, engineUrl, handshake, MemoryRequest, openWs, upgradeRequest } from "../helpers/memory.ts";

function recorder(opts: EngineOptions = {}) {
  const t = createEngine(opts);
  const errors: ConnectionErrorEvent[] = [];
  let headerEvents = 0;
  t.engine.on("connection_error", (e) => errors.push(e));
  t.engine.on("headers", () => headerEvents++);
  t.engine.on("initial_headers", () => headerEvents++);
  return { ...t, errors, headerEvents: () => headerEvents };
}

describe("connection_error", () => {
  it.each([
    ["no transport", "/engine.io/?EIO=4", "GET", 0, { transport: null }],
    ["unknown transport", "/engine.io/?EIO=4&transport=x", "GET", 0, { transport: "x" }],
    ["unknown sid", "/engine.io/?EIO=4&transport=polling&sid=zz", "GET", 1, { sid: "zz" }],
    ["POST handshake", "/engine.io/?EIO=4&transport=polling", "POST", 2, { method: "POST" }],
    ["websocket without upgrade", "/engine.io/?EIO=4&transport=websocket", "GET", 3, { name: "TRANSPORT_HANDSHAKE_ERROR" }],
    ["bad version", "/engine.io/?EIO=3&transport=polling", "GET", 5, { protocol: 3 }],
  ] as const)("%s: code %i with its context; no headers events", async (_label, url, method, code, context) => {
    const { engine, errors, headerEvents } = recorder();
    const req = new MemoryRequest(url, { method });
    const res = await engine.handleRequest(req);
    expect(res.status).toBe(400);
    expect(JSON.parse(bodyText(res)).code).toBe(code);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.req).toBe(req);
    expect(errors[0]!.code).toBe(code);
    expect(errors[0]!.message).toBe(JSON.parse(bodyText(res)).message);
    expect(errors[0]!.context).toMatchObject(context);
    expect(headerEvents()).toBe(0);
  });

  it("an invalid Origin is refused before the sid is looked at", async () => {
    const { engine, errors } = recorder();
    const res = await engine.handleRequest(
      new MemoryRequest(engineUrl({ sid: "unknown" }), { headers: { origin: "http://a\x01b" } }),
    );
    expect(JSON.parse(bodyText(res))).toEqual({ code: 3, message: "Bad request" });
    expect(errors[0]!.context).toEqual({ name: "INVALID_ORIGIN", origin: "http://a\x01b" });
  });

  it("allowRequest: 403, its message in the body and the context, and the standard message in the event", async () => {
    const { engine, errors } = recorder({ allowRequest: (_req, cb) => cb("too many", false) });
    const res = await engine.handleRequest(new MemoryRequest(engineUrl()));
    expect(res.status).toBe(403);
    expect(JSON.parse(bodyText(res))).toEqual({ code: 4, message: "too many" });
    expect(errors[0]!.message).toBe("Forbidden");
    expect(errors[0]!.context).toEqual({ message: "too many" });
  });

  it("allowRequest may answer with a Promise, and a throwing allowRequest refuses", async () => {
    const yes = recorder({ allowRequest: async () => true });
    await handshake(yes.engine);
    const no = recorder({ allowRequest: async () => false });
    expect((await no.engine.handleRequest(new MemoryRequest(engineUrl()))).status).toBe(403);
    const boom = recorder({
      allowRequest: () => {
        throw new Error("bug in user code");
      },
    });
    const res = await boom.engine.handleRequest(new MemoryRequest(engineUrl()));
    expect(res.status).toBe(403);
    expect(boom.engine.clientsCount).toBe(0);
  });

  it("allowRequest runs before the version check (the reference's order)", async () => {
    let asked = 0;
    const { engine } = recorder({
      allowRequest: (_req, cb) => {
        asked++;
        cb(null, false);
      },
    });
    const res = await engine.handleRequest(new MemoryRequest("/engine.io/?EIO=3&transport=polling"));
    expect(res.status).toBe(403);
    expect(asked).toBe(1);
  });

  it("a plain HTTP request naming transport=websocket on a WebSocket session is a bad request, not a crash", async () => {
    const { engine, sockets, errors } = recorder();
    await openWs(engine);
    const sid = sockets[0]!.id;
    for (const method of ["GET", "POST"]) {
      const res = await engine.handleRequest(
        new MemoryRequest(engineUrl({ sid, transport: "websocket" }), { method, body: "4x" }),
      );
      expect(res.status).toBe(400);
      expect(JSON.parse(bodyText(res))).toEqual({ code: 3, message: "Bad request" });
    }
    expect(errors.map((e) => e.context.name)).toEqual(["TRANSPORT_MISMATCH", "TRANSPORT_MISMATCH"]);
    expect(sockets[0]!.readyState).toBe("open");
  });

  it("an origin function that fails refuses the request with code 3, for requests and upgrades", async () => {
    const { engine, errors } = recorder({
      cors: { origin: (_origin, cb) => cb(new Error("Not allowed by CORS")) },
    });
    const res = await engine.handleRequest(new MemoryRequest(engineUrl(), { headers: { origin: "https://x" } }));
    expect(res.status).toBe(400);
    expect(JSON.parse(bodyText(res))).toEqual({ code: 3, message: "Bad request" });
    expect(errors[0]!.context).toMatchObject({ name: "MIDDLEWARE_FAILURE" });
    const up = await upgradeRequest(engine, {}, { headers: { origin: "https://x" } });
    expect(up.kind).toBe("reject");
    if (up.kind === "reject") expect(JSON.parse(bodyText(up.response)).code).toBe(3);
    expect(engine.clientsCount).toBe(0);
  });
});

describe("paths", () => {
  it("handles every URL under the path prefix, and only those", async () => {
    const { engine } = createEngine({ path: "/rt" });
    expect(engine.path).toBe("/rt/");
    expect(engine.matches("/rt/")).toBe(true);
    expect(engine.matches("/rt/anything")).toBe(true);
    expect(engine.matches("/rt")).toBe(false);
    expect(engine.matches("/other/")).toBe(false);
  });

  it("addTrailingSlash:false matches the bare path (a raw prefix, as the reference)", async () => {
    const { engine } = createEngine({ addTrailingSlash: false });
    expect(engine.path).toBe("/engine.io");
    expect(engine.matches("/engine.io")).toBe(true);
    expect(engine.matches("/engine.iofoo")).toBe(true);
    const { sid } = await handshake(engine);
    expect(sid).toBeTruthy();
  });
});
