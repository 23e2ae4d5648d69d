/**
 * Ceiling on Node: the bare `ws` package (and node:http for polling) speaking
 * the same Engine.IO/Socket.IO frames as the real servers, with no protocol
 * machinery. A broadcast is framed once (ws's `Sender.frame`) and the same
 * bytes are written to every socket.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { WebSocket, WebSocketServer } from "ws";
import { HOST, portFromEnv, ready } from "./lifecycle.ts";
import { answerSocketIo, ENGINE_PATH, MAX_PAYLOAD, nextId, openPacket, PollingCeiling } from "./wire.ts";

type Framer = (data: Buffer, options: Record<string, unknown>) => Buffer[];
const frame = (WebSocket as unknown as { Sender?: { frame?: Framer } }).Sender?.frame;
const FRAME_OPTIONS = { fin: true, rsv1: false, opcode: 1, mask: false, readOnly: false };

const clients = new Set<WebSocket>();

/** Writes `text` to every open client, framed once when ws lets us. */
function broadcast(text: string): void {
  const bytes = Buffer.from(text);
  const framed = frame ? Buffer.concat(frame(bytes, FRAME_OPTIONS)) : null;
  for (const ws of clients) {
    if (ws.readyState !== WebSocket.OPEN) continue;
    const socket = (ws as unknown as { _socket?: { write(b: Buffer): boolean } })._socket;
    if (framed && socket) socket.write(framed);
    else ws.send(text);
  }
}

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: false, maxPayload: MAX_PAYLOAD });
wss.on("connection", (ws: WebSocket) => {
  clients.add(ws);
  ws.send(openPacket(nextId("w")));
  ws.on("message", (data: Buffer, isBinary: boolean) => {
    if (isBinary) return;
    const text = data.toString();
    if (text.charCodeAt(0) !== 52 /* 4 */) return; // pongs and the rest carry nothing here
    const a = answerSocketIo(text.slice(1));
    if (!a) return;
    if (a.kind === "reply") ws.send("4" + a.packet);
    else broadcast("4" + a.packet);
  });
  ws.on("close", () => clients.delete(ws));
  ws.on("error", () => clients.delete(ws));
});

const polling = new PollingCeiling();

function reply(res: ServerResponse, status: number, body: string): void {
  if (res.destroyed) return;
  res.writeHead(status, { "content-type": "text/plain; charset=UTF-8", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

const server = createServer((req: IncomingMessage, res: ServerResponse) => {
  const url = req.url ?? "/";
  if (!url.startsWith(ENGINE_PATH)) return reply(res, 404, "");
  const sid = PollingCeiling.sidOf(url);
  if (req.method === "GET") {
    const out = polling.get(sid);
    if (out === undefined) return reply(res, 400, "");
    if (typeof out === "string") return reply(res, 200, out);
    void out.then((body) => reply(res, 200, body));
    return;
  }
  if (req.method === "POST") {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => reply(res, polling.post(sid, Buffer.concat(chunks).toString()) ? 200 : 400, "ok"));
    return;
  }
  reply(res, 400, "");
});
server.on("upgrade", (req, socket, head) => {
  socket.on("error", () => socket.destroy());
  if (!(req.url ?? "").startsWith(ENGINE_PATH)) return socket.destroy();
  wss.handleUpgrade(req, socket, head, (ws) => wss.emit("connection", ws, req));
});
server.listen(portFromEnv(), HOST, () => ready((server.address() as { port: number }).port));
