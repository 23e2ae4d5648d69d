/**
 * Socket.IO-level Worker for tests: a Server in each Durable Object, routed
 * by `?shard=`, one cluster across objects, and test hooks.
 */
import type { Server, Socket } from "../../src/index.ts";
import { defineDurableServer } from "../../src/runtimes/workers.ts";

type Env = { IO: any };

function handlers(io: Server, socket: Socket): void {
  if (!socket.recovered) socket.emit("hello", socket.id);
  socket.on("whoami", (ack) => ack({ id: socket.id, nsp: socket.nsp.name, recovered: socket.recovered }));
  // Answers with the arguments it got, as one array (emitWithAck resolves with the first ack argument).
  socket.on("echo", (...args) => {
    const ack = args.pop() as (a: unknown[]) => void;
    ack(args);
  });
  socket.on("join", async (room: string | string[], ack) => {
    await socket.join(room);
    ack([...socket.rooms]);
  });
  socket.on("rooms", (ack) => ack([...socket.rooms]));
  socket.on("set", (key: string, value: unknown, ack) => {
    socket.data[key] = value;
    ack();
  });
  socket.on("get", (key: string, ack) => ack(socket.data[key] ?? null));
  socket.on("to", (room: string, event: string, payload: unknown) => socket.nsp.to(room).emit(event, payload));
  socket.on("ask", async (question: unknown, ack) => {
    try {
      ack(await socket.timeout(3000).emitWithAck("question", question));
    } catch (err) {
      ack({ error: String(err) });
    }
  });
  socket.on("ask-room", async (room: string, ack) => {
    try {
      ack(await socket.nsp.in(room).timeout(3000).emitWithAck("question", "room"));
    } catch (err) {
      ack({ error: String(err), responses: (err as { responses?: unknown }).responses });
    }
  });
  socket.on("fetch", async (room: string, ack) => {
    const sockets = await socket.nsp.in(room).fetchSockets();
    ack(sockets.map((s) => s.id).sort());
  });
  socket.on("join-all", (room: string, target: string) => socket.nsp.in(target).socketsJoin(room));
  // Every other object answers with the ids of its sockets in the namespace (see "where" below).
  socket.on("servers", async (ack) => {
    try {
      ack(await socket.nsp.serverSideEmitWithAck("where"));
    } catch (err) {
      ack({ error: String(err) });
    }
  });
}

export const IoObject = defineDurableServer<Env>(
  (io) => {
    io.on("connection", (socket) => handlers(io, socket));
    io.on("where", (ack: (ids: string[]) => void) => ack([...io.of("/").sockets.keys()]));
    io.of("/admin").on("connection", (socket) => handlers(io, socket));
    io.of(/^\/dyn-\d+$/).on("connection", (socket) => handlers(io, socket));
  },
  {
    pingInterval: 500,
    pingTimeout: 400,
    testHooks: true,
    cluster: { binding: "IO" },
    connectionStateRecovery: { maxDisconnectionDuration: 30_000 },
    // socket.io-client 2 too (eio3.test.ts).
    allowEIO3: true,
  },
);

const shardOf = (req: Request) => new URL(req.url).searchParams.get("shard") ?? "default";
// allowEIO3 (and the rest of the server's options) reach the router from the class.
const router = IoObject.route("IO", { name: shardOf });

export default {
  async fetch(req: Request, env: Env, ctx: any): Promise<Response> {
    const url = new URL(req.url);
    if (url.pathname.startsWith("/__test/")) {
      const stub = env.IO.get(env.IO.idFromName(shardOf(req)));
      if (url.pathname === "/__test/evict") return Response.json(await stub.unioTestEvict());
      if (url.pathname === "/__test/stats") return Response.json(await stub.unioTestStats());
      // The object's drain (its RPC method), answered when it resolved.
      if (url.pathname === "/__test/drain") {
        const started = Date.now();
        await stub.drain({ timeout: Number(url.searchParams.get("timeout")) });
        return Response.json({ started, resolvedAt: Date.now() });
      }
      // Whether the hub lists the shard's object as a member: its join reached the hub.
      if (url.pathname === "/__test/member") {
        const members: string[] = await env.IO.get(env.IO.idFromName("unio-hub")).unioHubMembers();
        return Response.json(members.includes(env.IO.idFromName(shardOf(req)).toString()));
      }
    }
    return router.fetch(req, env, ctx);
  },
};
