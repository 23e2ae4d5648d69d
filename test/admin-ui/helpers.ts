/**
 * What the Admin UI page does, with the official client: connect to the
 * admin namespace, keep every event the server sends it, and send the
 * commands its buttons send. Every wait is bounded.
 */
import { io as ioc, type ManagerOptions, type Socket as ClientSocket, type SocketOptions } from "socket.io-client";
import { bin, ROOT, startFixtureProcess } from "../helpers/fixture-process.ts";
import { once } from "../helpers/wait.ts";

/** One socket as the admin UI lists it (admin-ui's `serialize`, dates as JSON strings). */
export interface AdminSocket {
  id: string;
  clientId: string;
  transport: string;
  nsp: string;
  data: Record<string, unknown>;
  handshake: {
    address: string;
    headers: Record<string, string>;
    query: Record<string, string>;
    issued: number;
    secure: boolean;
    time: string;
    url: string;
    xdomain: boolean;
  };
  rooms: string[];
}

export interface ServerStats {
  serverId: string;
  hostname: string;
  pid: number;
  uptime: number;
  clientsCount: number;
  pollingClientsCount: number;
  aggregatedEvents: Array<{ timestamp: number; type: string; subType?: string; count: number }>;
  namespaces: Array<{ name: string; socketsCount: number }>;
}

export interface AdminClient {
  socket: ClientSocket;
  /** Every event received, in order: `[name, ...args]`. */
  events: unknown[][];
  /** The args of the first event `name` (already received or to come) for which `match` holds. */
  next<T extends unknown[] = any[]>(name: string, match?: (...args: any[]) => boolean, timeout?: number): Promise<T>;
  /** The stats the server sends every 2 s: the first one (received or to come) for which `match` holds. */
  stats(match?: (s: ServerStats) => boolean, timeout?: number): Promise<ServerStats>;
  /** Forgets what was received so far (the next waits only see new events). */
  clear(): void;
  close(): void;
}

/** Connects like the Admin UI page: `<url>/admin`, the auth in the CONNECT packet. */
export function connectAdmin(
  url: string,
  opts: Partial<ManagerOptions & SocketOptions> = {},
  nsp = "/admin",
): AdminClient {
  const socket = ioc(url + nsp, { forceNew: true, reconnection: false, ...opts });
  const events: unknown[][] = [];
  const waiters = new Set<(ev: unknown[]) => void>();
  socket.onAny((...args: unknown[]) => {
    events.push(args);
    for (const w of [...waiters]) w(args);
  });
  // connect_error is reserved: onAny does not see it.
  socket.on("connect_error", (err: Error) => {
    const ev = ["connect_error", err];
    events.push(ev);
    for (const w of [...waiters]) w(ev);
  });
  const next = <T extends unknown[]>(name: string, match: (...args: any[]) => boolean = () => true, timeout = 8000) =>
    new Promise<T>((resolve, reject) => {
      const found = events.find((e) => e[0] === name && match(...e.slice(1)));
      if (found) return resolve(found.slice(1) as T);
      const timer = setTimeout(() => {
        waiters.delete(on);
        reject(new Error(`admin client: no "${name}" matching within ${timeout} ms; got ${summary(events)}`));
      }, timeout);
      const on = (e: unknown[]) => {
        if (e[0] !== name || !match(...e.slice(1))) return;
        clearTimeout(timer);
        waiters.delete(on);
        resolve(e.slice(1) as T);
      };
      waiters.add(on);
    });
  return {
    socket,
    events,
    next,
    stats: (match = () => true, timeout = 8000) =>
      next<[ServerStats]>("server_stats", (s: ServerStats) => match(s), timeout).then(([s]) => s),
    clear: () => {
      events.length = 0;
    },
    close: () => socket.disconnect(),
  };
}

function summary(events: unknown[][]): string {
  return JSON.stringify(events.map((e) => e[0])).slice(0, 600);
}

/** An app client (what the instrumented app serves), connected. */
export async function connectApp(
  url: string,
  opts: Partial<ManagerOptions & SocketOptions> = {},
  nsp = "/",
  timeout = 8000,
): Promise<ClientSocket> {
  const socket = ioc(url + nsp, { forceNew: true, reconnection: false, ...opts });
  await once(socket, "connect", { timeout, failOn: "connect_error", what: `app client connect to ${url}${nsp}` });
  return socket;
}

/** The args of the next `event` on a client socket; rejects after `timeout` ms. */
export { next as nextEvent } from "../redis/harness.ts";

/** The sum of the aggregated events of one type (and subtype) in a stats message. */
export function countOf(stats: ServerStats, type: string, subType?: string): number {
  return stats.aggregatedEvents
    .filter((e) => e.type === type && (subType === undefined || e.subType === subType))
    .reduce((n, e) => n + e.count, 0);
}

export interface Fixture {
  url: string;
  pid: number;
  stderr(): string;
  kill(): Promise<void>;
}

/**
 * Starts a fixture process (`command`, with `env` added) and resolves once it
 * printed its `{"port":N,"pid":N}` line.
 */
export async function startFixture(command: string[], env: Record<string, string>, timeout = 30_000): Promise<Fixture> {
  const fixture = await startFixtureProcess(command, { env, timeout });
  return { url: fixture.url, pid: fixture.info.pid as number, stderr: fixture.stderr, kill: () => fixture.kill("SIGKILL") };
}

export { bin };
/** A fixture of this folder. */
export const fixture = (name: string) => `${ROOT}test/admin-ui/fixtures/${name}`;
