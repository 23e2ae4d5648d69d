/**
 * Ceiling on Deno: bare `Deno.serve` + `Deno.upgradeWebSocket` speaking the
 * same Engine.IO/Socket.IO frames as the real servers. Deno has no publish,
 * so a broadcast sends the same string to every socket.
 */
import { HOST, portFromEnv, ready } from "./lifecycle.ts";
import { answerSocketIo, ENGINE_PATH, nextId, openPacket, PollingCeiling } from "./wire.ts";

declare const Deno: {
  upgradeWebSocket(req: Request, options?: { idleTimeout?: number }): { socket: WebSocket; response: Response };
  serve(
    options: { port?: number; hostname?: string; onListen?: (addr: { port: number }) => void },
    handler: (req: Request) => Response | Promise<Response>,
  ): unknown;
};

const clients = new Set<WebSocket>();
const polling = new PollingCeiling();
const text = (body: string, status = 200) =>
  new Response(body, { status, headers: { "content-type": "text/plain; charset=UTF-8" } });

function broadcast(data: string): void {
  for (const ws of clients) if (ws.readyState === 1) ws.send(data);
}

function upgrade(req: Request): Response {
  const { socket, response } = Deno.upgradeWebSocket(req, { idleTimeout: 0 });
  socket.onopen = () => {
    clients.add(socket);
    socket.send(openPacket(nextId("d")));
  };
  socket.onmessage = (e: MessageEvent) => {
    const message = e.data;
    if (typeof message !== "string" || message.charCodeAt(0) !== 52 /* 4 */) return;
    const a = answerSocketIo(message.slice(1));
    if (!a) return;
    if (a.kind === "reply") socket.send("4" + a.packet);
    else broadcast("4" + a.packet);
  };
  socket.onclose = () => clients.delete(socket);
  socket.onerror = () => clients.delete(socket);
  return response;
}

Deno.serve({ port: portFromEnv(), hostname: HOST, onListen: ({ port }) => ready(port) }, async (req: Request) => {
  const url = req.url.slice(req.url.indexOf("/", 8));
  if (!url.startsWith(ENGINE_PATH)) return text("", 404);
  if (req.headers.get("upgrade") === "websocket") return upgrade(req);
  const sid = PollingCeiling.sidOf(url);
  if (req.method === "GET") {
    const out = polling.get(sid);
    if (out === undefined) return text("", 400);
    return text(typeof out === "string" ? out : await out);
  }
  if (req.method === "POST") return text("ok", polling.post(sid, await req.text()) ? 200 : 400);
  return text("", 400);
});
