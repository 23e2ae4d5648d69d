/**
 * What the browser tests share: the demo server as a child process (on
 * Node, Bun or Deno), Debian's Chromium through playwright-core, a TCP
 * proxy that can cut the network, and small bounded waits.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { connect, createServer, type Server as NetServer, type Socket } from "node:net";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";

export const root = fileURLToPath(new URL("../..", import.meta.url));
const bin = (name: string) => `${root}node_modules/.bin/${name}`;

export type RuntimeName = "node" | "bun" | "deno";

/** How each runtime starts the same chat app (examples/chat/app.ts). */
export const CHAT_COMMANDS: Record<RuntimeName, string[]> = {
  node: [process.execPath, "--import", "tsx", "examples/chat/server.ts"],
  bun: [bin("bun"), "run", "examples/bun/chat.ts"],
  deno: [bin("deno"), "run", "--allow-net", "--allow-read", "--allow-env", "--no-lock", "examples/deno/chat.ts"],
};

/** `UNIO_RUNTIMES=node,bun` narrows a local run, as in the conformance suite. */
export function selectedRuntimes(): RuntimeName[] {
  const all: RuntimeName[] = ["node", "bun", "deno"];
  const only = process.env.UNIO_RUNTIMES?.split(",").filter(Boolean);
  return only ? all.filter((r) => only.includes(r)) : all;
}

export interface RunningServer {
  port: number;
  url: string;
  /** Everything the server printed, for failure messages. */
  output(): string;
  /** Kills the process (SIGKILL: a crash, not a goodbye). */
  kill(): Promise<void>;
  /** Asks it to stop (SIGTERM) and waits, killing it after a few seconds. */
  stop(): Promise<void>;
}

const READY = /running at http:\/\/localhost:(\d+)/;

/**
 * Starts a server command as a child process and waits (bounded) for the
 * line with its URL. `port` 0 lets the OS pick one.
 */
export async function startServer(
  command: string[],
  { port = 0, env = {}, timeoutMs = 20_000 }: { port?: number; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<RunningServer> {
  const [cmd, ...args] = command;
  const child: ChildProcess = spawn(cmd!, args, {
    cwd: root,
    env: { ...process.env, PORT: String(port), HOST: "127.0.0.1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stderr!.on("data", (d) => (out += d));
  const actual = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${command.join(" ")} did not start within ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    child.stdout!.on("data", (d) => {
      out += d;
      const m = READY.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${command.join(" ")} exited (${code ?? signal}) before it was ready:\n${out}`));
    });
  });
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once("exit", () => resolve());
  });
  const signal = async (sig: NodeJS.Signals, graceMs: number) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill(sig);
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await exited;
    clearTimeout(timer);
  };
  return {
    port: actual,
    url: `http://127.0.0.1:${actual}`,
    output: () => out,
    kill: () => signal("SIGKILL", 0),
    stop: () => signal("SIGTERM", 3000),
  };
}

export function startChat(runtime: RuntimeName, opts: { port?: number } = {}): Promise<RunningServer> {
  return startServer(CHAT_COMMANDS[runtime], opts);
}

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** Debian's Chromium, headless, with the flags TOOLCHAIN.md lists for this machine. */
export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`No Chromium at ${CHROMIUM}: run "apt-get install -y chromium" (or set CHROMIUM_PATH)`);
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 30_000,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** Collects page errors so a test can assert the page ran cleanly. */
export function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("pageerror", (err) => errors.push(`pageerror: ${err.message}`));
  page.on("console", (msg) => {
    if (msg.type() === "error") errors.push(`console: ${msg.text()}`);
  });
  return errors;
}

/**
 * A TCP proxy in front of a server: `drop()` cuts every connection and
 * refuses new ones (the network is gone), `restore()` brings it back.
 */
export interface Proxy {
  port: number;
  url: string;
  drop(): void;
  restore(): void;
  close(): Promise<void>;
}

export async function startProxy(targetPort: number): Promise<Proxy> {
  const sockets = new Set<Socket>();
  let down = false;
  const server: NetServer = createServer((client) => {
    if (down) return void client.destroy();
    const upstream = connect(targetPort, "127.0.0.1");
    sockets.add(client).add(upstream);
    const forget = () => {
      sockets.delete(client);
      sockets.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", forget).on("close", forget);
    upstream.on("error", forget).on("close", forget);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    drop() {
      down = true;
      // A reset, as when a network path disappears: no orderly goodbye reaches either side.
      for (const s of sockets) s.resetAndDestroy();
      sockets.clear();
    },
    restore() {
      down = false;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
