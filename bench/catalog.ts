/**
 * The catalog of servers the benchmark knows: each a script in bench/servers/ run as its
 * own process, with the runtime, the family it belongs to and the rows it is
 * compared against (socket.io and the bare ceiling of the same runtime).
 */
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("..", import.meta.url));
const bin = (name: string) => `${ROOT}node_modules/.bin/${name}`;
const script = (name: string) => `${ROOT}bench/servers/${name}.ts`;

export type Runtime = "node" | "bun" | "deno";
export type Family = "unio" | "unio-engine" | "socket.io" | "ceiling";

export interface ServerSpec {
  id: string;
  label: string;
  runtime: Runtime;
  family: Family;
  command: string[];
  /** Why it cannot run here, or null. */
  unavailable(): string | null;
}

export function nodeCommand(name: string): string[] {
  return [process.execPath, "--expose-gc", "--import", "tsx", script(name)];
}
export function bunCommand(name: string): string[] {
  return [bin("bun"), "run", script(name)];
}
export function denoCommand(name: string): string[] {
  return [
    bin("deno"),
    "run",
    "--allow-net",
    "--allow-env",
    "--allow-read",
    "--no-lock",
    "--v8-flags=--expose-gc",
    script(name),
  ];
}

const need = (path: string, what: string) => () => (existsSync(path) ? null : `${what} is not installed`);
const needBun = need(bin("bun"), "bun (node_modules/.bin/bun)");
const needDeno = need(bin("deno"), "deno (node_modules/.bin/deno)");

/** unio's Socket.IO `Server` is exported from src/index.ts (it is being written alongside). */
export function unioServerExported(): boolean {
  try {
    const index = readFileSync(`${ROOT}src/index.ts`, "utf8");
    return /^export\s*\{[^}]*\bServer\b[^}]*\}/m.test(index) || /^export\s+(class|const|function)\s+Server\b/m.test(index);
  } catch {
    return false;
  }
}
const needUnioServer = () => (unioServerExported() ? null : "unio's Server is not exported from src/index.ts yet");
const both =
  (...checks: Array<() => string | null>) =>
  () => {
    for (const c of checks) {
      const r = c();
      if (r) return r;
    }
    return null;
  };
const needModule = (name: string) => need(`${ROOT}node_modules/${name}/package.json`, `npm package ${name}`);

export const SERVERS: ServerSpec[] = [
  {
    id: "unio-node",
    label: "unio (Node)",
    runtime: "node",
    family: "unio",
    command: nodeCommand("unio-node"),
    unavailable: needUnioServer,
  },
  {
    id: "unio-node-metrics",
    label: "unio, metrics on (Node)",
    runtime: "node",
    family: "unio",
    command: nodeCommand("unio-node-metrics"),
    unavailable: needUnioServer,
  },
  {
    id: "engine-node",
    label: "unio Engine only (Node)",
    runtime: "node",
    family: "unio-engine",
    command: nodeCommand("engine-node"),
    unavailable: () => null,
  },
  {
    id: "socketio-node",
    label: "socket.io 4.8 (Node)",
    runtime: "node",
    family: "socket.io",
    command: nodeCommand("socketio-node"),
    unavailable: needModule("socket.io"),
  },
  {
    id: "ws-node",
    label: "bare ws (Node)",
    runtime: "node",
    family: "ceiling",
    command: nodeCommand("ws-node"),
    unavailable: needModule("ws"),
  },
  {
    id: "unio-bun",
    label: "unio (Bun)",
    runtime: "bun",
    family: "unio",
    command: bunCommand("unio-bun"),
    unavailable: both(needBun, needUnioServer),
  },
  {
    id: "unio-bun-metrics",
    label: "unio, metrics on (Bun)",
    runtime: "bun",
    family: "unio",
    command: bunCommand("unio-bun-metrics"),
    unavailable: both(needBun, needUnioServer),
  },
  {
    id: "engine-bun",
    label: "unio Engine only (Bun)",
    runtime: "bun",
    family: "unio-engine",
    command: bunCommand("engine-bun"),
    unavailable: needBun,
  },
  {
    id: "socketio-bun",
    label: "socket.io + bun-engine (Bun)",
    runtime: "bun",
    family: "socket.io",
    command: bunCommand("socketio-bun"),
    unavailable: both(needBun, needModule("socket.io"), needModule("@socket.io/bun-engine")),
  },
  {
    id: "bun-serve",
    label: "bare Bun.serve (Bun)",
    runtime: "bun",
    family: "ceiling",
    command: bunCommand("bun-serve"),
    unavailable: needBun,
  },
  {
    id: "unio-deno",
    label: "unio (Deno)",
    runtime: "deno",
    family: "unio",
    command: denoCommand("unio-deno"),
    unavailable: both(needDeno, needUnioServer),
  },
  {
    id: "engine-deno",
    label: "unio Engine only (Deno)",
    runtime: "deno",
    family: "unio-engine",
    command: denoCommand("engine-deno"),
    unavailable: needDeno,
  },
  {
    id: "deno-serve",
    label: "bare Deno.serve (Deno)",
    runtime: "deno",
    family: "ceiling",
    command: denoCommand("deno-serve"),
    unavailable: needDeno,
  },
];

/** The socket.io row and the ceiling row a server is compared with (same runtime). */
export function referencesOf(spec: ServerSpec): { socketio?: ServerSpec; ceiling?: ServerSpec } {
  const same = SERVERS.filter((s) => s.runtime === spec.runtime);
  return {
    socketio: same.find((s) => s.family === "socket.io"),
    ceiling: same.find((s) => s.family === "ceiling"),
  };
}

/**
 * Picks servers from a comma list of ids, runtimes (node, bun, deno) or
 * families (unio, unio-engine, socket.io, ceiling); empty means all.
 */
export function selectServers(list: string | undefined): ServerSpec[] {
  const words = (list ?? "")
    .split(",")
    .map((w) => w.trim())
    .filter(Boolean);
  if (words.length === 0) return SERVERS;
  const unknown = words.filter((w) => !SERVERS.some((s) => s.id === w || s.runtime === w || s.family === w));
  if (unknown.length) {
    throw new Error(`unknown server(s): ${unknown.join(", ")}; known: ${SERVERS.map((s) => s.id).join(", ")}`);
  }
  return SERVERS.filter((s) => words.some((w) => s.id === w || s.runtime === w || s.family === w));
}

/**
 * The rows a full run measures at every client count (unio's Server on each
 * runtime, socket.io, the bare ceilings); the metrics-on and Engine-only rows
 * run at the first size only unless `--all-sizes`, to keep a full run's wall time down.
 */
export function isMainRow(spec: ServerSpec): boolean {
  return spec.family === "socket.io" || spec.family === "ceiling" || (spec.family === "unio" && !spec.id.endsWith("-metrics"));
}
