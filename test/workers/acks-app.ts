/**
 * Pending acks across evictions (acks.test.ts): the server asks the client
 * "job" with a named ack (`ackNamed("job-done")`) or a closure, with or
 * without a deadline; handlers report to the client. Default heartbeat
 * (pingInterval 25 s), so within a test the object's only alarms are the
 * ack deadlines.
 */
import { ackNamed } from "../../src/index.ts";
import { defineDurableServer } from "../../src/runtimes/workers.ts";

type Env = { ACKS: any };

interface Start {
  tag: string;
  /** The deadline, ms (socket.timeout(ms)); none: the ack waits for ever. */
  ms?: number;
  /** A closure instead of ackNamed(). */
  closure?: boolean;
}

export const AckObject = defineDurableServer<Env>(
  (io) => {
    // Registered at setup: a rebuilt object has it again.
    io.onAck("job-done", ({ socket, context, restored, id }, err, ...args) => {
      const { tag, due } = context as { tag: string; due: number | null };
      socket.emit("ack-result", { tag, id, restored, err: err ? err.message : null, args, late: due === null ? null : Date.now() - due });
    });
    io.onLostAck(({ socket, id, outcome, args }) => socket.emit("lost-ack", { id, outcome, args }));
    io.on("connection", (socket) => {
      socket.on("start", ({ tag, ms, closure }: Start, ack: (id: number) => void) => {
        const due = ms === undefined ? null : Date.now() + ms;
        const cb = closure
          ? (...args: unknown[]) => socket.emit("closure-result", { tag, args })
          : ackNamed("job-done", { tag, due });
        const id = socket.nsp._ids;
        (ms === undefined ? socket : socket.timeout(ms)).emit("job", tag, cb);
        ack(id);
      });
      socket.on("whoami", (ack: (v: unknown) => void) => ack({ id: socket.id, recovered: socket.recovered }));
    });
  },
  { testHooks: true },
);

const router = AckObject.route("ACKS", { name: (req) => new URL(req.url).searchParams.get("shard") ?? "default" });

export default {
  async fetch(req: Request, env: Env, ctx: any): Promise<Response> {
    const url = new URL(req.url);
    if (url.pathname.startsWith("/__test/")) {
      const stub = env.ACKS.get(env.ACKS.idFromName(url.searchParams.get("shard") ?? "default"));
      if (url.pathname === "/__test/evict") return Response.json(await stub.unioTestEvict(url.searchParams.has("lazy")));
      if (url.pathname === "/__test/stats") return Response.json(await stub.unioTestStats());
    }
    return router.fetch(req, env, ctx);
  },
};
