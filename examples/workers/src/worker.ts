/**
 * A chat on Cloudflare Workers: one Durable Object per room (the `room`
 * query parameter names it), Socket.IO in each, and a "shout" that reaches
 * every room through the cluster adapter.
 *
 *   browser ──▶ Worker (route) ──▶ ChatRoom "general" ─┐
 *   browser ──▶ Worker (route) ──▶ ChatRoom "random"  ─┴─ io.to("everyone") spans both
 *
 * Idle connections cost nothing while a room's object hibernates: the
 * nickname lives in socket.data and the history in the object's SQLite
 * storage, so both survive it.
 */
import clientBundle from "socket.io-client/dist/socket.io.js";
// In your own project: `from "unio"` and `from "unio/workers"`.
import { setClientBundleLoader } from "../../../src/index.ts";
import { defineDurableServer, route } from "../../../src/runtimes/workers.ts";

interface Env {
  CHAT: unknown;
}

interface Message {
  nick: string;
  text: string;
  ts: number;
}

const HISTORY = 50;
const CLIENT_VERSION = "4.8";

// The client bundle, served by the router at /socket.io/socket.io.js (no object involved).
const bundleBytes = new TextEncoder().encode(clientBundle as unknown as string);
setClientBundleLoader(async (file) => (file === "socket.io.js" ? bundleBytes : null), CLIENT_VERSION);

function clean(value: unknown, max: number): string | null {
  if (typeof value !== "string") return null;
  const text = value.replace(/[\u0000-\u001f\u007f]/g, "").trim().slice(0, max);
  return text || null;
}

export const ChatRoom = defineDurableServer<Env>(
  (io, _env, ctx) => {
    const sql = ctx.storage.sql!;
    sql.exec("CREATE TABLE IF NOT EXISTS messages (ts INTEGER NOT NULL, nick TEXT NOT NULL, text TEXT NOT NULL)");
    const history = () =>
      sql.exec<Message>("SELECT nick, text, ts FROM messages ORDER BY ts DESC LIMIT ?", HISTORY).toArray().reverse();

    // This object's own room. `local`: every object has a "room", and without it the cluster would
    // carry each message to every object (a billed request per object) only to find no one there.
    const room = () => io.local.to("room");

    io.on("connection", (socket) => {
      // After a hibernation the same socket comes back here with `recovered`: nothing to announce.
      socket.on("join", async (nick: unknown, ack: (r: unknown) => void) => {
        const name = clean(nick, 24);
        if (!name) return ack({ ok: false, error: "Pick a nickname (1 to 24 characters)." });
        socket.data.nick = name;
        await socket.join(["room", "everyone"]);
        ack({ ok: true, history: history() });
        room().emit("system", `${name} joined`);
      });

      socket.on("message", (text: unknown) => {
        const body = clean(text, 2000);
        const nick = socket.data.nick as string | undefined;
        if (!body || !nick) return;
        const msg: Message = { nick, text: body, ts: Date.now() };
        sql.exec("INSERT INTO messages (ts, nick, text) VALUES (?, ?, ?)", msg.ts, msg.nick, msg.text);
        room().emit("message", msg);
      });

      // Every room: "everyone" is joined in each object, and the cluster carries the emit across.
      socket.on("shout", (text: unknown) => {
        const body = clean(text, 200);
        const nick = socket.data.nick as string | undefined;
        if (body && nick) io.to("everyone").emit("shout", { nick, text: body, ts: Date.now() });
      });

      socket.on("disconnect", () => {
        const nick = socket.data.nick as string | undefined;
        if (nick) room().emit("system", `${nick} left`);
      });
    });
  },
  { cluster: { binding: "CHAT" } },
);

export default route<Env>("CHAT", {
  name: (request) => clean(new URL(request.url).searchParams.get("room"), 32)?.toLowerCase() ?? "general",
});
