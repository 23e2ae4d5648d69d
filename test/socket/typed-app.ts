/**
 * A small app typed like socket.io's TypeScript guide
 * (https://socket.io/docs/v4/typescript). It must type-check against unio
 * (`npx tsc --noEmit -p .`); typed-app.socketio.ts is the same source
 * importing socket.io, and typed-app.test.ts checks the two stay identical
 * below their imports. The `@ts-expect-error` lines prove misuse is refused.
 */
import { Server, type Socket, type Namespace, type ExtendedError, type RemoteSocket } from "../../src/index.ts";
// ---- identical below this line ----

interface ServerToClientEvents {
  noArg: () => void;
  basicEmit: (a: number, b: string, c: Uint8Array) => void;
  withAck: (d: string, callback: (e: number) => void) => void;
  withErrorAck: (callback: (err: Error, value: string) => void) => void;
  message: (text: string) => void;
}

interface ClientToServerEvents {
  hello: () => void;
  chat: (text: string, ack: (ok: boolean) => void) => void;
}

interface InterServerEvents {
  ping: () => void;
  count: (cb: (n: number) => void) => void;
}

interface SocketData {
  name: string;
  age: number;
}

type AppSocket = Socket<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;

export function typedApp(): Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData> {
  const io = new Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>();

  io.use((socket, next) => {
    if (socket.handshake.auth.token) return next();
    const err: ExtendedError = new Error("not authorized");
    err.data = { content: "Please retry later" };
    next(err);
  });

  io.on("connection", (socket) => {
    socket.emit("noArg");
    socket.emit("basicEmit", 1, "2", new Uint8Array([3]));
    socket.emit("withAck", "4", (e) => {
      const n: number = e;
      void n;
    });
    socket.timeout(1000).emit("withAck", "4", (err, e) => {
      const failure: Error = err;
      const n: number = e;
      void failure;
      void n;
    });
    // @ts-expect-error wrong argument type
    socket.emit("basicEmit", "1", "2", new Uint8Array([3]));
    // @ts-expect-error unknown event
    socket.emit("nope");

    io.emit("noArg");
    io.to("room1").emit("basicEmit", 1, "2", new Uint8Array([3]));
    io.except("room2").emit("message", "hi");
    socket.broadcast.emit("message", "others");
    socket.to("room1").emit("noArg");

    io.timeout(1000).emit("withAck", "4", (err, responses) => {
      const all: number[] = responses;
      void err;
      void all;
    });

    socket.on("hello", () => {});
    socket.on("chat", (text, ack) => {
      const t: string = text;
      void t;
      ack(true);
    });
    socket.on("disconnect", (reason) => {
      const r: string = reason;
      void r;
    });
    // @ts-expect-error listener arguments must match
    socket.on("chat", (text: number) => void text);

    socket.data.name = "john";
    socket.data.age = 42;
    // @ts-expect-error SocketData is typed
    socket.data.age = "old";

    socket.join("room1");
    socket.leave("room1");
  });

  io.serverSideEmit("ping");
  io.on("ping", () => {});
  io.serverSideEmit("count", (err, counts) => {
    const c: number[] = counts;
    void err;
    void c;
  });

  const admin: Namespace<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData> = io.of("/admin");
  admin.on("connection", (socket: AppSocket) => {
    socket.emit("message", `welcome ${socket.data.name}`);
  });
  io.of(/^\/dyn-\d+$/).on("connection", (socket) => socket.emit("noArg"));

  return io;
}

export async function promises(io: ReturnType<typeof typedApp>, socket: AppSocket): Promise<void> {
  const n: number = await socket.timeout(5000).emitWithAck("withAck", "123");
  const s: string = await socket.emitWithAck("withErrorAck");
  const all: number[] = await io.timeout(5000).emitWithAck("withAck", "123");
  const counts: number[] = await io.serverSideEmitWithAck("count");
  const sockets: RemoteSocket<ServerToClientEvents, SocketData>[] = await io.in("room1").fetchSockets();
  for (const remote of sockets) {
    const name: string = remote.data.name;
    void name;
    remote.emit("message", "hello");
  }
  void n;
  void s;
  void all;
  void counts;
}
