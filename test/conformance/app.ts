/**
 * The fixture app every runtime serves, unchanged: an Engine.IO echo server
 * at /engine.io/ and (with the Socket.IO layer) a Server at /socket.io/.
 * Behaviours the suite checks are made observable to clients: the server
 * echoes, reports what it saw, and closes on request.
 */
import { Engine } from "../../src/index.ts";

export function createEngine(): Engine {
  const engine = new Engine({ pingInterval: 150, pingTimeout: 300, maxHttpBufferSize: 100_000 });
  engine.on("connection", (socket) => {
    socket.on("message", (data) => {
      if (data === "close me") socket.close();
      else if (data === "address") socket.send(socket.remoteAddress);
      else socket.send(data);
    });
  });
  return engine;
}
