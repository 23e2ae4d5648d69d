/**
 * unio at the Engine.IO layer only: a standalone `Engine` at /socket.io/
 * whose app answers the Socket.IO frames by hand (wire.ts), as the ceilings
 * do. Against the full `Server` rows it separates the engine's cost from the
 * Socket.IO layer's; against the ceilings, the engine's from the runtime's.
 * A broadcast is one shared `OutboundMessage` handed to every session.
 */
import { Engine, OutboundMessage } from "../../src/index.ts";
import { answerSocketIo, ENGINE_PATH } from "./wire.ts";

export function createEngineApp(): Engine {
  const engine = new Engine({ path: ENGINE_PATH });
  engine.on("connection", (socket) => {
    socket.on("message", (data) => {
      if (typeof data !== "string") return;
      const a = answerSocketIo(data);
      if (!a) return;
      if (a.kind === "reply") {
        socket.send(a.packet);
        return;
      }
      const messages = [new OutboundMessage(a.packet)];
      for (const s of engine.clients.values()) s.sendMessages(messages);
    });
  });
  return engine;
}
