/**
 * What the Admin UI page does, with the official client: connect to the
 * admin namespace, keep every event the server sends it, and send the
 * commands its buttons send. Every wait is bounded.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { io as ioc, type ManagerOptions, type Socket as ClientSocket, type SocketOptions } from "socket.io-client";
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
  const [cmd, ...args] = command;
  const child = spawn(cmd!, args, {
    cwd: root,
    env: { ...(process.env as Record<string, string>), NO_COLOR: "1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-20_000);
  });
  const ready = await new Promise<{ port: number; pid: number }>((resolve, reject) => {
    let buffer = "";
    const timer = setTimeout(() => fail(new Error(`${cmd}: no ready line within ${timeout} ms\n${stderr}`)), timeout);
    const onExit = (code: number | null) => fail(new Error(`${cmd} exited (${code}) before ready\n${stderr}`));
    const onData = (chunk: Buffer) => {
      buffer += chunk.toString();
      for (let i = buffer.indexOf("\n"); i !== -1; i = buffer.indexOf("\n")) {
        const line = buffer.slice(0, i);
        buffer = buffer.slice(i + 1);
        try {
          const parsed = JSON.parse(line);
          if (typeof parsed.port === "number") {
            cleanup();
            return resolve(parsed);
          }
        } catch {
          // not the ready line
        }
      }
    };
    const cleanup = () => {
      clearTimeout(timer);
      child.off("exit", onExit);
      child.stdout!.off("data", onData);
      child.stdout!.resume();
    };
    const fail = (err: Error) => {
      cleanup();
      child.kill("SIGKILL");
      reject(err);
    };
    child.on("exit", onExit);
    child.stdout!.on("data", onData);
  });
  return {
    url: `http://127.0.0.1:${ready.port}`,
    pid: ready.pid,
    stderr: () => stderr,
    kill: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const timer = setTimeout(resolve, 5000);
        child.once("exit", () => {
          clearTimeout(timer);
          resolve();
        });
        child.kill("SIGKILL");
      }),
  };
}

const root = fileURLToPath(new URL("../..", import.meta.url));
/** A binary installed in node_modules/.bin. */
export const bin = (name: string) => `${root}node_modules/.bin/${name}`;
/** A fixture of this folder. */
export const fixture = (name: string) => `${root}test/admin-ui/fixtures/${name}`;
