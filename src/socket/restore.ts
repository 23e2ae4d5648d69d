/**
 * Socket.IO state across an object's eviction, for runtimes that keep the
 * client's connection while dropping every object of the server (Workers
 * hibernation). Two halves:
 *
 * - `SocketTracker` follows which sockets ride on which Engine.IO session
 *   and says when a session's state changed (a socket connected or left, a
 *   room was joined or left), so the runtime can store it with the connection;
 *   `snapshot(sid)` gives that state as plain JSON.
 * - `restoreClient()` rebuilds a Client on a restored engine session and its
 *   sockets with their ids, rooms and data. No CONNECT reply goes out: for
 *   the client nothing happened. The `connection` handlers run again, with
 *   `socket.recovered === true`, so per-socket listeners exist again;
 *   connection middlewares are skipped, as for connection state recovery.
 *   Pending acks come back too: `ackNamed()` ones reach their `onAck()`
 *   handler (reply or deadline), closures are reported lost (`onLostAck`).
 *
 * Works with the socket layer's internals as they are; see the note on
 * `pidOf` for the one thing it cannot read.
 */
import type { EngineSocket } from "../engine/types.ts";
import { PacketType } from "../protocol/socket-io-packet.ts";
import type { AnyNamespace, AnySocket } from "./adapter.ts";
import { Client } from "./client.ts";
import type { AckSnapshot } from "./named-acks.ts";
import type { Server } from "./server.ts";
import { Socket } from "./socket.ts";
import type { Session } from "./types.ts";

/** One socket of a session, as stored: JSON only. */
export interface SocketSnapshot {
  nsp: string;
  id: string;
  /** The private id for connection state recovery, when on. */
  pid?: string;
  rooms: string[];
  data: unknown;
  auth: Record<string, unknown>;
  issued: number;
  /**
   * Acks awaited from the client: ids, deadlines, and the name and context
   * of `ackNamed()` ones (closures cannot be stored: their replies are
   * reported lost). Absent when none.
   */
  acks?: AckSnapshot[];
}

// biome-ignore lint: the tracker serves servers of any event typing
type AnyServer = Server<any, any, any, any>;

/** The connection-state-recovery private id of a socket, kept so a rebuilt socket stays recoverable. */
function pidOf(socket: AnySocket): string | undefined {
  return socket._pid;
}

/**
 * Follows the sockets of every namespace, grouped by engine session id.
 *
 * @example
 * const tracker = new SocketTracker(io, (sid) => dirty.add(sid));
 * const state = tracker.snapshot(sid); // [{ nsp: "/", id, rooms, data, ... }]
 */
export class SocketTracker {
  readonly #bySession = new Map<string, Set<AnySocket>>();
  readonly #hooked = new WeakSet<AnyNamespace>();
  #count = 0;

  constructor(
    readonly server: AnyServer,
    readonly onChange: (sid: string) => void,
  ) {
    for (const nsp of server._nsps.values()) this.#hook(nsp);
    server.on("new_namespace", (nsp: AnyNamespace) => this.#hook(nsp));
    // An ack sent, answered or timed out changes what a rebuild must know.
    server._acks.onChange = (socket) => {
      if (socket.connected) onChange(socket.conn.id);
    };
  }

  /** Connected sockets in this server, all namespaces. */
  get size(): number {
    return this.#count;
  }

  #hook(nsp: AnyNamespace): void {
    if (this.#hooked.has(nsp)) return;
    this.#hooked.add(nsp);
    // Before the app's handlers: a handler that disconnects at once must find the socket tracked.
    nsp.prependListener("connection", (socket: AnySocket) => this.#track(socket));
    const onRoom = (_room: string, id: string) => {
      const socket = nsp.sockets.get(id);
      if (socket) this.onChange(socket.conn.id);
    };
    nsp.adapter.on("join-room", onRoom);
    nsp.adapter.on("leave-room", onRoom);
  }

  #track(socket: AnySocket): void {
    const sid = socket.conn.id;
    let set = this.#bySession.get(sid);
    if (!set) this.#bySession.set(sid, (set = new Set()));
    if (set.has(socket)) return;
    set.add(socket);
    this.#count++;
    socket.on("disconnect", () => {
      if (set.delete(socket)) this.#count--;
      if (set.size === 0 && this.#bySession.get(sid) === set) this.#bySession.delete(sid);
      this.onChange(sid);
    });
    this.onChange(sid);
  }

  /** The sockets of engine session `sid`, as JSON-safe state. */
  snapshot(sid: string): SocketSnapshot[] {
    const set = this.#bySession.get(sid);
    if (!set) return [];
    const out: SocketSnapshot[] = [];
    for (const socket of set) {
      if (!socket.connected) continue;
      const state: SocketSnapshot = {
        nsp: socket.nsp.name,
        id: socket.id,
        rooms: [...socket.rooms],
        data: socket.data,
        auth: socket.handshake.auth,
        issued: socket.handshake.issued,
      };
      const pid = pidOf(socket);
      if (pid !== undefined) state.pid = pid;
      const acks = socket._ackSnapshot();
      if (acks) state.acks = acks;
      out.push(state);
    }
    return out;
  }
}

/**
 * Rebuilds the Socket.IO side of a restored engine session: a Client, then
 * each socket in its namespace (a dynamic child namespace is asked of its
 * parents again; if none accepts it any more, the client gets a DISCONNECT
 * for it). Returns the Client.
 *
 * @example
 * const { socket: conn } = engine.restore(snapshot, wsConnection);
 * restoreClient(io, conn, storedStates);
 */
export function restoreClient(server: AnyServer, conn: EngineSocket, states: readonly SocketSnapshot[]): Client {
  const client = new Client(server, conn);
  for (const state of states) {
    const nsp = server._nsps.get(state.nsp);
    if (nsp) {
      revive(nsp, client, state);
      continue;
    }
    server._checkNamespace(state.nsp, state.auth, (found) => {
      if (conn.readyState !== "open") return;
      if (found) revive(found, client, state);
      else client._packet({ type: PacketType.DISCONNECT, nsp: state.nsp }, true, false);
    });
  }
  return client;
}

function revive(nsp: AnyNamespace, client: Client, state: SocketSnapshot): void {
  const session = {
    sid: state.id,
    pid: state.pid,
    rooms: state.rooms,
    data: state.data,
    missedPackets: [],
  } as unknown as Session;
  const socket = new Socket(nsp, client, state.auth, session);
  socket.handshake.issued = state.issued;
  socket.handshake.time = new Date(state.issued).toString();
  // Before the connection handlers: an emit there must not reuse a pending ack's id.
  if (state.acks) socket._restoreAcks(state.acks);
  nsp.sockets.set(socket.id, socket);
  // Connected and in its own room again, without a second CONNECT reply: the client never left.
  socket._onconnect(false);
  client._connected(socket);
  nsp._parent?._emitReservedConnection(socket);
  nsp._emitReservedConnection(socket);
}
