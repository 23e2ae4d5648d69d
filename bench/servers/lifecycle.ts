/**
 * What every benchmark server does around its app, on any runtime:
 * - reads PORT (0 = a free port) and always listens on 127.0.0.1;
 * - prints `{"port":N,"pid":P}` on stdout once it listens;
 * - runs a full GC on SIGUSR2, so the memory scenario reads RSS after the
 *   garbage of the handshakes is gone (Node needs --expose-gc, Deno
 *   --v8-flags=--expose-gc; Bun has Bun.gc);
 * - exits on SIGTERM / SIGINT.
 */

interface DenoLike {
  env: { get(k: string): string | undefined };
  pid: number;
  addSignalListener(sig: string, fn: () => void): void;
  exit(code?: number): never;
}
interface BunLike {
  gc(force: boolean): void;
}
interface ProcessLike {
  env: Record<string, string | undefined>;
  pid: number;
  on(sig: string, fn: () => void): void;
  exit(code?: number): never;
  stdout: { write(s: string): boolean };
}

const g = globalThis as unknown as { Deno?: DenoLike; Bun?: BunLike; process?: ProcessLike; gc?: () => void };

export const HOST = "127.0.0.1";

export function runtimeName(): "node" | "bun" | "deno" {
  return g.Deno ? "deno" : g.Bun ? "bun" : "node";
}

export function portFromEnv(): number {
  const raw = g.Deno ? g.Deno.env.get("PORT") : g.process?.env.PORT;
  const n = Number(raw ?? 0);
  return Number.isInteger(n) && n >= 0 && n < 65536 ? n : 0;
}

/** A full GC where the runtime exposes one (see the flags above). */
export function fullGc(): void {
  if (g.Bun) g.Bun.gc(true);
  else if (typeof g.gc === "function") g.gc();
}

function onSignal(sig: string, fn: () => void): void {
  if (g.Deno) g.Deno.addSignalListener(sig, fn);
  else g.process?.on(sig, fn);
}

function exit(): never {
  if (g.Deno) return g.Deno.exit(0);
  return g.process!.exit(0);
}

let installed = false;

/** Announces the port to the runner and installs the signal hooks. */
export function ready(port: number): void {
  if (!installed) {
    installed = true;
    onSignal("SIGUSR2", fullGc);
    onSignal("SIGTERM", exit);
    onSignal("SIGINT", exit);
  }
  const pid = g.Deno ? g.Deno.pid : g.process!.pid;
  const line = JSON.stringify({ port, pid, runtime: runtimeName() }) + "\n";
  if (g.Deno) console.log(line.trimEnd());
  else g.process!.stdout.write(line);
}
