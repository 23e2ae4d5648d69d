/**
 * The benchmark app for every server with the socket.io v4 API (socket.io on
 * Node, socket.io + @socket.io/bun-engine on Bun, unio everywhere): the same
 * two handlers, so the servers do comparable work.
 *
 *   "bcast" <payload>         -> io.emit("msg", payload)   (a broadcast to all)
 *   "echo"  <payload>, ack    -> ack(payload)              (an acked echo)
 */

/** The slice of the socket.io v4 server API the app touches. */
export interface IoLike {
  on(event: "connection", listener: (socket: SocketLike) => void): unknown;
  emit(event: string, ...args: unknown[]): unknown;
}
export interface SocketLike {
  on(event: string, listener: (...args: any[]) => void): unknown;
}

export function installApp(io: IoLike): void {
  io.on("connection", (socket) => {
    socket.on("bcast", (payload: unknown) => {
      io.emit("msg", payload);
    });
    socket.on("echo", (payload: unknown, ack?: (reply: unknown) => void) => {
      if (typeof ack === "function") ack(payload);
    });
  });
}
