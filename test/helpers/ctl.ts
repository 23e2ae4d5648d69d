/**
 * The `ctl:*` handlers of a test cluster node, for any socket.io-shaped
 * server (unio's on Node, Bun or Deno, or socket.io 4.8's): a client emits
 * `ctl:<op>` and the node makes the matching server-side call (broadcast,
 * fetchSockets, serverSideEmit, ...) and acks the result, so tests observe
 * only what socket.io-client sees. The Redis nodes (test/redis/fixtures/app.ts)
 * and the cluster and Postgres nodes (test/adapters/fixtures) all install these.
 */
type Ack = (result: unknown) => void;

interface Target {
  rooms?: string[];
  except?: string[];
  local?: boolean;
  volatile?: boolean;
  timeout?: number;
}

function errorInfo(err: unknown): { error: string; responses?: unknown } {
  const e = err as Error & { responses?: unknown };
  return { error: e?.message ?? String(err), responses: e?.responses };
}

const pid = (): number | undefined => {
  const g = globalThis as { process?: { pid: number }; Deno?: { pid: number } };
  return g.process?.pid ?? g.Deno?.pid;
};

export function installCtl(io: any, name: string): void {
  const target = (t: Target = {}) => {
    let op: any = io.to(t.rooms ?? []).except(t.except ?? []);
    if (t.local) op = op.local;
    if (t.volatile) op = op.volatile;
    if (t.timeout !== undefined) op = op.timeout(t.timeout);
    return op;
  };

  // Server-side events from other nodes: answered with this node's name, and shown to local clients.
  io.on("whoareyou", (arg: unknown, cb?: (v: unknown) => void) => {
    if (typeof cb === "function") cb({ from: name, arg });
  });
  io.on("notice", (arg: unknown) => {
    io.local.emit("notice-received", { node: name, arg });
  });

  io.on("connection", (socket: any) => {
    socket.data = { node: name, ...(socket.handshake.auth?.data ?? {}) };
    socket.emit("welcome", { node: name, id: socket.id, recovered: socket.recovered, pid: pid() });

    socket.on("ctl:join", (rooms: string | string[], ack: Ack) => {
      socket.join(rooms);
      ack({ rooms: [...socket.rooms] });
    });
    socket.on("ctl:leave", (room: string, ack: Ack) => {
      socket.leave(room);
      ack({ rooms: [...socket.rooms] });
    });
    socket.on("ctl:broadcast", (t: Target & { event: string; args?: unknown[] }, ack: Ack) => {
      target(t).emit(t.event, ...(t.args ?? []));
      ack({ ok: true });
    });
    socket.on("ctl:emitWithAck", (t: Target & { event: string; args?: unknown[] }, ack: Ack) => {
      target(t)
        .emitWithAck(t.event, ...(t.args ?? []))
        .then(
          (responses: unknown) => ack({ responses }),
          (err: unknown) => ack(errorInfo(err)),
        );
    });
    socket.on("ctl:fetchSockets", (t: Target, ack: Ack) => {
      const started = Date.now();
      target(t)
        .fetchSockets()
        .then(
          (sockets: any[]) =>
            ack({
              ms: Date.now() - started,
              sockets: sockets
                .map((s) => {
                  const auth = s.handshake?.auth;
                  const handshakeAuth = auth && Object.keys(auth).length > 0 ? auth : undefined;
                  return { id: s.id, rooms: [...s.rooms].sort(), data: s.data, ...(handshakeAuth ? { handshakeAuth } : {}) };
                })
                .sort((a, b) => (a.id < b.id ? -1 : 1)),
            }),
          (err: unknown) => ack({ ms: Date.now() - started, ...errorInfo(err) }),
        );
    });
    socket.on("ctl:socketsJoin", (t: Target & { room: string }, ack: Ack) => {
      target(t).socketsJoin(t.room);
      ack({ ok: true });
    });
    socket.on("ctl:socketsLeave", (t: Target & { room: string }, ack: Ack) => {
      target(t).socketsLeave(t.room);
      ack({ ok: true });
    });
    socket.on("ctl:disconnectSockets", (t: Target & { close?: boolean }, ack: Ack) => {
      target(t).disconnectSockets(t.close === true);
      ack({ ok: true });
    });
    socket.on("ctl:remoteEmit", (p: { id: string; event: string; args?: unknown[]; ack?: boolean }, ack: Ack) => {
      io.in(p.id)
        .fetchSockets()
        .then(async (sockets: any[]) => {
          const s = sockets.find((x) => x.id === p.id);
          if (!s) return ack({ error: "not found" });
          if (!p.ack) {
            s.emit(p.event, ...(p.args ?? []));
            return ack({ ok: true });
          }
          const response = await s.timeout(2000).emitWithAck(p.event, ...(p.args ?? []));
          ack({ response });
        })
        .catch((err: unknown) => ack(errorInfo(err)));
    });
    socket.on("ctl:serverSideEmit", (p: { event: string; args?: unknown[]; withAck?: boolean }, ack: Ack) => {
      const started = Date.now();
      if (!p.withAck) {
        io.serverSideEmit(p.event, ...(p.args ?? []));
        return ack({ ok: true });
      }
      io.serverSideEmitWithAck(p.event, ...(p.args ?? [])).then(
        (responses: unknown[]) => ack({ ms: Date.now() - started, responses }),
        (err: unknown) => ack({ ms: Date.now() - started, ...errorInfo(err) }),
      );
    });
    socket.on("ctl:serverCount", (ack: Ack) => {
      io.of("/").adapter.serverCount().then(
        (count: number) => ack({ count }),
        (err: unknown) => ack(errorInfo(err)),
      );
    });
    // The adapter's node id (socket.io-adapter's `uid`), which names its private response channel.
    socket.on("ctl:adapterUid", (ack: Ack) => ack({ uid: io.of("/").adapter.uid }));
    socket.on("ctl:allRooms", (ack: Ack) => {
      io.of("/").adapter.allRooms().then(
        (rooms: Set<string>) => ack({ rooms: [...rooms].sort() }),
        (err: unknown) => ack(errorInfo(err)),
      );
    });
  });
}
