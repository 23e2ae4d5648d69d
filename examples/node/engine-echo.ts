// A bare Engine.IO echo server on Node: every message comes back.
import { Engine } from "../../src/index.ts";
import { serve } from "../../src/runtimes/node.ts";

const engine = new Engine();
engine.on("connection", (socket) => {
  socket.on("message", (data) => socket.send(data));
});
const port = Number(process.env.PORT ?? 3000);
serve(engine, { port });
console.log(`Engine.IO echo server on http://localhost:${port}/engine.io/`);
