/**
 * The Workers side of request-check.test.ts: the table's servers as
 * Durable Object classes behind their routers. POST /__table answers every
 * row of the table through the router, from inside workerd, as JSON outcomes.
 */
import { defineDurableServer } from "../../src/runtimes/workers.ts";
import { outcome, ROWS, SERVERS, toRequest } from "./request-table.ts";

type Env = { MAIN: any; V3: any };

export const MainObject = defineDurableServer<Env>(() => {}, SERVERS["/socket.io"]);
export const V3Object = defineDurableServer<Env>(() => {}, SERVERS["/v3"]);

const routers = { "/socket.io": MainObject.route("MAIN"), "/v3": V3Object.route("V3") };

export default {
  async fetch(req: Request, env: Env, ctx: any): Promise<Response> {
    if (new URL(req.url).pathname !== "/__table") return new Response("Not Found", { status: 404 });
    const out = [];
    for (const row of ROWS) {
      const res = await routers[row.path].fetch(toRequest("http://worker.test", row), env, ctx);
      const ws = (res as Response & { webSocket?: { accept(): void; close(code?: number): void } }).webSocket;
      if (ws) {
        // An accepted WebSocket is not used: closing it ends the session it opened.
        ws.accept();
        ws.close(1000);
      }
      out.push(await outcome(res));
    }
    return Response.json(out);
  },
};
