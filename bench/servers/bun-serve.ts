/**
 * Ceiling on Bun: bare `Bun.serve` speaking the same Engine.IO/Socket.IO
 * frames as the real servers. Every socket subscribes to one topic, so a
 * broadcast is a single `server.publish` (uWebSockets frames it once).
 */
import { HOST, portFromEnv, ready } from "./lifecycle.ts";
import { answerSocketIo, ENGINE_PATH, MAX_PAYLOAD, nextId, openPacket, PollingCeiling } from "./wire.ts";

interface Ws {
  send(data: string): number;
  subscribe(topic: string): void;
}
interface BunServer {
  port: number;
  upgrade(req: Request): boolean;
  publish(topic: string, data: string): number;
  timeout(req: Request, seconds: number): void;
}
declare const Bun: { serve(options: Record<string, unknown>): BunServer };

const TOPIC = "all";
const polling = new PollingCeiling();
const text = (body: string, status = 200) =>
  new Response(body, { status, headers: { "content-type": "text/plain; charset=UTF-8" } });

let server: BunServer;
server = Bun.serve({
  port: portFromEnv(),
  hostname: HOST,
  idleTimeout: 120,
  async fetch(req: Request, srv: BunServer): Promise<Response | undefined> {
    const url = req.url.slice(req.url.indexOf("/", 8));
    if (!url.startsWith(ENGINE_PATH)) return text("", 404);
    if (req.headers.get("upgrade") === "websocket") {
      return srv.upgrade(req) ? undefined : text("upgrade failed", 400);
    }
    const sid = PollingCeiling.sidOf(url);
    if (req.method === "GET") {
      const out = polling.get(sid);
      if (out === undefined) return text("", 400);
      if (typeof out === "string") return text(out);
      srv.timeout(req, 0);
      return text(await out);
    }
    if (req.method === "POST") return text("ok", polling.post(sid, await req.text()) ? 200 : 400);
    return text("", 400);
  },
  websocket: {
    maxPayloadLength: MAX_PAYLOAD,
    perMessageDeflate: false,
    idleTimeout: 0,
    sendPings: false,
    open(ws: Ws) {
      ws.subscribe(TOPIC);
      ws.send(openPacket(nextId("b")));
    },
    message(ws: Ws, message: string | Uint8Array) {
      if (typeof message !== "string" || message.charCodeAt(0) !== 52 /* 4 */) return;
      const a = answerSocketIo(message.slice(1));
      if (!a) return;
      if (a.kind === "reply") ws.send("4" + a.packet);
      else server.publish(TOPIC, "4" + a.packet);
    },
    close() {},
  },
});
ready(server.port);
