/**
 * One configuration: the options given to defineDurableServer govern what
 * the router answers (deadline-app.ts gives cors only there). Preflights
 * and refusals carry the server's CORS headers; malformed requests are
 * still refused by the router, before they reach (and bill) an object.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningWorker, startWorker } from "./harness.ts";

let w: RunningWorker;
beforeAll(async () => {
  w = await startWorker(new URL("./deadline-app.ts", import.meta.url).pathname, { FAST: "FastObject", DEFAULTS: "DefaultsObject", HARD: "HardObject" });
});
afterAll(async () => {
  await w?.dispose();
});

async function fetches(shard: string): Promise<number> {
  const stats = (await (await fetch(`${w.url}/__test/stats?shard=${shard}`)).json()) as { fetches: number };
  return stats.fetches;
}

describe("the router takes the server's options from its class", () => {
  it("answers a CORS preflight with the server's cors option, without reaching an object", async () => {
    const res = await fetch(`${w.url}/socket.io/?EIO=4&transport=polling&shard=cors-1`, {
      method: "OPTIONS",
      headers: { origin: "https://app.example", "access-control-request-method": "GET" },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(res.headers.get("access-control-allow-methods")).toMatch(/GET/);
    expect(await fetches("cors-1")).toBe(0);
  });

  it("refuses a malformed request itself, with the server's CORS headers", async () => {
    const res = await fetch(`${w.url}/socket.io/?EIO=4&transport=carrier-pigeon&shard=cors-2`, {
      headers: { origin: "https://app.example" },
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ code: 0, message: "Transport unknown" });
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(await fetches("cors-2")).toBe(0);
  });

  it("a handshake through it gets the server's CORS headers from the object", async () => {
    const res = await fetch(`${w.url}/socket.io/?EIO=4&transport=polling&shard=cors-3`, { headers: { origin: "https://app.example" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect((await res.text()).startsWith("0{")).toBe(true);
  });

  it("the class carries path, transports, cors, allowEIO3 and serveClient, and a second copy is refused", async () => {
    const r = (await (await fetch(`${w.url}/__test/config`)).json()) as Record<string, unknown>;
    expect(r.custom).toEqual({ path: "/rt/", transports: ["websocket"], cors: {}, allowEIO3: true, serveClient: false });
    expect(r.fast).toEqual({ path: "/socket.io/", transports: ["polling", "websocket"], cors: { origin: "*" }, allowEIO3: false, serveClient: true });
    // No cors (undefined, absent in JSON).
    expect(r.defaults).toEqual({ path: "/socket.io/", transports: ["polling", "websocket"], allowEIO3: false, serveClient: true });
    expect(r.twice).toMatch(/cors come from the server class's options; give them only to defineDurableServer/);
  });
});
