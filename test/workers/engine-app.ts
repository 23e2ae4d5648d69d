/**
 * Engine-level Worker for tests: an Engine.IO echo server in Durable
 * Objects, routed by `?shard=`, with test hooks to evict an object and read
 * what woke it.
 */
import { defineDurableEngine } from "../../src/runtimes/workers.ts";

type Env = { ENGINE: any; ENGINE_MANUAL: any };

const setup = (engine: import("../../src/index.ts").Engine) => {
  engine.on("connection", (socket) => {
    socket.send("welcome " + (socket.id.length > 43 ? "sid-ok" : "sid-short"));
    socket.on("message", (data) => {
      if (data === "close me") socket.close();
      else if (data === "whoami") socket.send("you are " + socket.id);
      else socket.send(data);
    });
  });
};

const options = { path: "/engine.io", pingInterval: 500, pingTimeout: 400, maxHttpBufferSize: 100_000, testHooks: true };
export const EngineObject = defineDurableEngine(setup, options);
/** The same without the runtime answering pongs, to compare what wakes the object. */
export const EngineManual = defineDurableEngine(setup, { ...options, autoPong: false });

const byShard = (req: Request) => new URL(req.url).searchParams.get("shard") ?? "default";
const auto = EngineObject.route("ENGINE", { name: byShard });
const manual = EngineManual.route("ENGINE_MANUAL", { name: byShard });

export default {
  async fetch(req: Request, env: Env, ctx: any): Promise<Response> {
    const url = new URL(req.url);
    const binding = url.searchParams.get("manual") ? "ENGINE_MANUAL" : "ENGINE";
    if (url.pathname.startsWith("/__test/")) {
      const ns = env[binding];
      const stub = ns.get(ns.idFromName(url.searchParams.get("shard") ?? "default"));
      if (url.pathname === "/__test/evict") return Response.json(await stub.unioTestEvict());
      if (url.pathname === "/__test/stats") return Response.json(await stub.unioTestStats());
      if (url.pathname === "/__test/id") return new Response(ns.idFromName(url.searchParams.get("shard") ?? "default").toString());
    }
    return (binding === "ENGINE_MANUAL" ? manual : auto).fetch(req, env, ctx);
  },
};
