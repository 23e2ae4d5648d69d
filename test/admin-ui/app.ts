/**
 * The app the admin UI watches in these tests, the same on every runtime and
 * on socket.io: data set in a connection middleware, rooms, events both
 * ways, broadcasts.
 */
// biome-ignore lint: the same code runs on a unio and a socket.io server
type AnyServer = any;

export function app(io: AnyServer): void {
  io.use((socket: AnyServer, next: (err?: Error) => void) => {
    socket.data.user = socket.handshake.auth.user ?? "anonymous";
    next();
  });
  io.on("connection", (socket: AnyServer) => {
    socket.on("join", (room: string, ack: () => void) => {
      socket.join(room);
      ack();
    });
    socket.on("leave", (room: string, ack: () => void) => {
      socket.leave(room);
      ack();
    });
    socket.on("set", (key: string, value: unknown, ack: () => void) => {
      socket.data[key] = value;
      ack();
    });
    socket.on("echo", (payload: unknown, ack: (p: unknown) => void) => ack(payload));
    socket.on("ping-me", () => socket.emit("pong-you", 1, "two"));
    socket.on("to-room", (room: string, ev: string, ack: () => void) => {
      io.to(room).emit(ev, room);
      ack();
    });
    socket.on("shout", (room: string, payload: unknown, ack: () => void) => {
      io.to(room).emit("shout", payload);
      ack();
    });
    socket.on("rooms", (ack: (rooms: string[]) => void) => ack([...socket.rooms]));
  });
}
