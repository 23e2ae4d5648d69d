#!/usr/bin/env node
// Two behaviours of workerd (as Miniflare runs it) that socket.io's protocol
// suites meet on Workers, shown with a minimal Worker that does not use unio:
// a Durable Object accepting WebSockets with the hibernation API
// (ctx.acceptWebSocket), as unio's objects do, and with `accept()` to compare.
//
//   node scripts/workers-platform.mjs
//
// 1. Order: the client sends a WebSocket frame, then an HTTP request. How
//    often does the object see the request first? (The suite sends the
//    upgrade's "5" and then polls with the same sid, expecting 400.)
// 2. Close: the object closes a WebSocket whose client never sent a frame.
//    When does the client see the TCP connection end (ws's "close")? (The
//    suites' ping-timeout and no-handshake tests wait for it, 2-5 s at most.)
import { Miniflare } from "miniflare";
import WebSocket from "ws";

const objectSource = (hibernation) => `
import { DurableObject } from "cloudflare:workers";
export class Probe extends DurableObject {
  events = [];
  async fetch(req) {
    const url = new URL(req.url);
    if (req.headers.get("upgrade") === "websocket") {
      const [client, server] = Object.values(new WebSocketPair());
      if (${hibernation}) this.ctx.acceptWebSocket(server);
      else { server.accept(); server.addEventListener("message", (e) => this.events.push("frame")); }
      if (url.pathname === "/close-soon") setTimeout(() => server.close(1000, ""), 300);
      return new Response(null, { status: 101, webSocket: client });
    }
    if (url.pathname === "/log") { const e = this.events; this.events = []; return Response.json(e); }
    this.events.push("request");
    return new Response("ok");
  }
  webSocketMessage() { this.events.push("frame"); }
  webSocketClose(ws) { try { ws.close(1000, ""); } catch {} }
}
export default { fetch(req, env) { return env.PROBE.get(env.PROBE.idFromName("one")).fetch(req); } };
`;

async function run(hibernation) {
  const mf = new Miniflare({
    modules: true,
    script: objectSource(hibernation),
    compatibilityDate: "2025-09-01",
    host: "127.0.0.1",
    port: 0,
    cf: false,
    durableObjects: { PROBE: { className: "Probe", useSQLite: true } },
  });
  const http = (await mf.ready).toString().replace(/\/$/, "");
  const wsUrl = http.replace("http", "ws");
  const label = hibernation ? "acceptWebSocket (hibernation)" : "accept()";

  const orders = {};
  for (let i = 0; i < 20; i++) {
    const ws = new WebSocket(`${wsUrl}/ws`);
    await new Promise((r) => ws.on("open", r));
    ws.send("5");
    await (await fetch(`${http}/poll`)).text();
    await new Promise((r) => setTimeout(r, 50));
    const order = (await (await fetch(`${http}/log`)).json()).join(" before ");
    orders[order] = (orders[order] ?? 0) + 1;
    ws.terminate();
  }
  console.log(`${label}: frame sent, then a request, 20 times: ${JSON.stringify(orders)}`);

  for (const sendFirst of [false, true]) {
    const t0 = Date.now();
    const ws = new WebSocket(`${wsUrl}/close-soon`);
    let frameAt = 0;
    ws.on("open", () => sendFirst && ws.send("x"));
    const watch = setInterval(() => {
      if (ws.readyState === WebSocket.CLOSING && !frameAt) frameAt = Date.now() - t0;
    }, 1);
    const closedAt = await new Promise((r) => ws.on("close", () => r(Date.now() - t0)));
    clearInterval(watch);
    console.log(
      `${label}: object closes at 300 ms, client ${sendFirst ? "sent a frame" : "sent nothing"}: ` +
        `close frame seen at ${frameAt || closedAt} ms, TCP closed at ${closedAt} ms`,
    );
  }
  await mf.dispose();
}

await run(true);
await run(false);
