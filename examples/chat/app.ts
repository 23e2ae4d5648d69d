/**
 * The chat demo's realtime side, shared by every runtime entry point
 * (examples/chat/server.ts on Node, examples/bun/chat.ts, examples/deno/chat.ts).
 * Runtime-agnostic: plain Socket.IO server code, as you would write it for
 * socket.io itself.
 *
 * Client -> server                          Server -> client
 *   join {nick, room}, ack(result)            message {id, nick, text, ts}
 *   message text, ack({id, ts})               image {id, nick, type, data, ts}
 *   image bytes, {type}, ack({id, ts})        system {text, ts}
 *   typing boolean                            typing {id, nick, typing}
 *   echo ...args, ack(...args)                presence [{id, nick}]
 *                                             rooms [{name, count}]
 */
import { Server } from "../../src/index.ts";

export const DEFAULT_ROOMS = ["general", "random", "help"];
const HISTORY_SIZE = 50;
const MAX_TEXT = 2000;
/** Images travel as binary attachments; the engine's message limit is raised to fit them. */
export const MAX_IMAGE_BYTES = 2 * 1024 * 1024;
/** A user who drops off and comes back within this window (connection state recovery) is not announced as gone. */
const LEAVE_GRACE_MS = 3000;

export interface ChatUser {
  nick: string;
  room: string;
}

type HistoryItem =
  | { kind: "message"; id: string; nick: string; text: string; ts: number }
  | { kind: "image"; id: string; nick: string; type: string; data: Uint8Array; ts: number }
  | { kind: "system"; text: string; ts: number };

export interface ChatOptions {
  /** Forwarded to `new Server()`, over the demo's defaults. */
  serverOptions?: ConstructorParameters<typeof Server>[0];
}

/** Room names: lower case letters, digits and dashes, 1 to 24 of them. */
export function cleanRoom(value: unknown): string | null {
  if (typeof value !== "string") return null;
  const room = value
    .trim()
    .toLowerCase()
    .replace(/\s+/g, "-")
    .replace(/[^a-z0-9-]/g, "")
    .slice(0, 24);
  return room || null;
}

/** Nicknames: 1 to 24 printable characters, surrounding spaces removed. */
export function cleanNick(value: unknown): string | null {
  if (typeof value !== "string") return null;
  // Control characters never belong in a name.
  const nick = value.replace(/[\u0000-\u001f\u007f]/g, "").trim().slice(0, 24);
  return nick || null;
}

function toBytes(value: unknown): Uint8Array | null {
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  return null;
}

let counter = 0;
function nextId(): string {
  counter = (counter + 1) % 1e9;
  return `${Date.now().toString(36)}-${counter.toString(36)}`;
}

/**
 * Creates the demo's Socket.IO server with its handlers. Serve it with any
 * runtime shim.
 *
 * @example
 * import { serve } from "unio/node";
 * serve(createChat(), { port: 3000 });
 */
export function createChat(options: ChatOptions = {}): Server {
  const io = new Server({
    // Missed messages are delivered after a short network drop, and the socket keeps its id and rooms.
    connectionStateRecovery: { maxDisconnectionDuration: 2 * 60 * 1000 },
    maxHttpBufferSize: MAX_IMAGE_BYTES + 64 * 1024,
    ...options.serverOptions,
  });

  const rooms = new Set(DEFAULT_ROOMS);
  const history = new Map<string, HistoryItem[]>();
  /** room -> socket id -> nick, for the online list. */
  const members = new Map<string, Map<string, string>>();
  const pendingLeaves = new Map<string, ReturnType<typeof setTimeout>>();

  const remember = (room: string, item: HistoryItem) => {
    let list = history.get(room);
    if (!list) history.set(room, (list = []));
    list.push(item);
    if (list.length > HISTORY_SIZE) list.shift();
  };
  const usersIn = (room: string) =>
    [...(members.get(room) ?? new Map<string, string>())].map(([id, nick]) => ({ id, nick }));
  const roomList = () => [...rooms].map((name) => ({ name, count: members.get(name)?.size ?? 0 }));
  const announce = (room: string, text: string) => {
    const item = { kind: "system" as const, text, ts: Date.now() };
    remember(room, item);
    io.to(room).emit("system", { text, ts: item.ts });
  };
  const addMember = (room: string, id: string, nick: string) => {
    let m = members.get(room);
    if (!m) members.set(room, (m = new Map()));
    m.set(id, nick);
  };
  const removeMember = (room: string, id: string) => {
    const m = members.get(room);
    if (!m) return false;
    const had = m.delete(id);
    if (m.size === 0) members.delete(room);
    return had;
  };
  const publishPresence = (room: string) => {
    io.to(room).emit("presence", usersIn(room));
    io.emit("rooms", roomList());
  };

  io.on("connection", (socket) => {
    const user = socket.data as Partial<ChatUser>;

    if (socket.recovered && user.nick && user.room) {
      // Back within the recovery window: same id, same rooms, missed packets already delivered.
      const pending = pendingLeaves.get(socket.id);
      if (pending) {
        clearTimeout(pending);
        pendingLeaves.delete(socket.id);
      }
      addMember(user.room, socket.id, user.nick);
      publishPresence(user.room);
    } else {
      socket.emit("rooms", roomList());
    }

    socket.on("join", async (payload: unknown, ack?: (result: unknown) => void) => {
      if (typeof ack !== "function") return;
      const p = (payload ?? {}) as { nick?: unknown; room?: unknown };
      const nick = cleanNick(p.nick);
      const room = cleanRoom(p.room ?? "general");
      if (!nick) return ack({ ok: false, error: "Pick a nickname (1 to 24 characters)." });
      if (!room) return ack({ ok: false, error: "Room names use letters, digits and dashes." });

      const previous = user.room;
      if (previous && previous !== room) {
        await socket.leave(previous);
        if (removeMember(previous, socket.id)) {
          announce(previous, `${user.nick} moved to #${room}`);
          publishPresence(previous);
        }
      }
      const rejoin = previous === room && user.nick === nick;
      user.nick = nick;
      user.room = room;
      rooms.add(room);
      await socket.join(room);
      addMember(room, socket.id, nick);
      ack({
        ok: true,
        id: socket.id,
        nick,
        room,
        users: usersIn(room),
        history: history.get(room) ?? [],
      });
      if (!rejoin) announce(room, `${nick} joined #${room}`);
      publishPresence(room);
    });

    socket.on("message", (text: unknown, ack?: (result: unknown) => void) => {
      if (!user.nick || !user.room || typeof text !== "string") return;
      const body = text.trim().slice(0, MAX_TEXT);
      if (!body) return;
      const msg = { id: nextId(), nick: user.nick, text: body, ts: Date.now() };
      remember(user.room, { kind: "message", ...msg });
      socket.to(user.room).emit("message", msg);
      if (typeof ack === "function") ack({ id: msg.id, ts: msg.ts });
    });

    socket.on("image", (data: unknown, meta: unknown, ack?: (result: unknown) => void) => {
      if (!user.nick || !user.room) return;
      const bytes = toBytes(data);
      const type = typeof (meta as { type?: unknown })?.type === "string" ? (meta as { type: string }).type : "";
      if (!bytes || bytes.byteLength > MAX_IMAGE_BYTES || !/^image\/(png|jpeg|gif|webp)$/.test(type)) {
        if (typeof ack === "function") ack({ error: "Images only (PNG, JPEG, GIF, WebP), up to 2 MB." });
        return;
      }
      const img = { id: nextId(), nick: user.nick, type, data: bytes, ts: Date.now() };
      remember(user.room, { kind: "image", ...img });
      socket.to(user.room).emit("image", img);
      if (typeof ack === "function") ack({ id: img.id, ts: img.ts });
    });

    socket.on("typing", (typing: unknown) => {
      if (!user.nick || !user.room) return;
      socket.volatile.to(user.room).emit("typing", { id: socket.id, nick: user.nick, typing: typing === true });
    });

    // Sends its arguments back: a quick way to check what survives a round trip (binary included).
    socket.on("echo", (...args: unknown[]) => {
      const ack = args.pop();
      if (typeof ack === "function") ack(...args);
    });

    socket.on("disconnect", (reason) => {
      const { nick, room } = user;
      if (!nick || !room) return;
      if (!removeMember(room, socket.id)) return;
      socket.to(room).emit("typing", { id: socket.id, nick, typing: false });
      publishPresence(room);
      // Say goodbye only if the user does not come back through connection state recovery.
      const recoverable = reason !== "client namespace disconnect" && reason !== "server namespace disconnect";
      if (!recoverable) return announce(room, `${nick} left`);
      const timer = setTimeout(() => {
        pendingLeaves.delete(socket.id);
        if (!members.get(room)?.has(socket.id)) announce(room, `${nick} left`);
      }, LEAVE_GRACE_MS);
      pendingLeaves.set(socket.id, timer);
    });
  });

  return io;
}
