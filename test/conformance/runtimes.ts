/**
 * The runtimes the conformance suite runs against. Each starts the same
 * fixture app (app.ts) through its own shim, as a child process on a free
 * port. Differences are declared here as capabilities, never as name checks
 * inside tests.
 */
import { fileURLToPath } from "node:url";
import { it } from "vitest";

const root = fileURLToPath(new URL("../..", import.meta.url));
const bin = (name: string) => `${root}node_modules/.bin/${name}`;
const fixture = (name: string) => `${root}test/conformance/fixtures/${name}.ts`;

export interface Capabilities {
  /** The runtime reports the peer address to the shim. */
  remoteAddress: boolean;
  /** The runtime publishes to topics natively (Bun): room broadcasts to WebSocket clients are one publish. */
  fanout?: boolean;
  /**
   * WebSocket permessage-deflate: "option" where unio's `perMessageDeflate`
   * turns it on (Node's ws, Bun); "runtime" where the runtime negotiates it
   * itself whenever a client offers it and unio refuses the option
   * (workerd); "none" where the runtime cannot compress WebSockets and unio
   * refuses the option (Deno).
   */
  wsDeflate: "option" | "runtime" | "none";
  /**
   * Who compresses polling responses: "core" where unio's `httpCompression`
   * does (gzip or deflate, per Accept-Encoding, off with `false`);
   * "platform" where the runtime encodes responses for the client itself
   * (Workers: gzip or br, whatever the option says).
   */
  httpCompression?: "platform";
  /**
   * The server reads a `Content-Encoding: gzip` POST body as if it were
   * plain (the reference does); unio refuses it with 415.
   */
  readsEncodedBodies?: boolean;
  /** permessage-deflate compresses a message sent with `compress: false` anyway (the reference, Q-13). */
  ignoresWsCompressFlag?: boolean;
  /** `false` where the runtime does not tell a WebSocket's unsent bytes (Workers: `bufferedAmount` is 0). */
  wsBufferedAmount?: false;
  /**
   * The server process's RSS grows with a message flood whatever the app
   * does with the messages (workerd queues them in front of the object), so
   * it cannot show that dropped messages are not kept.
   */
  rssFollowsFloods?: true;
  /**
   * Frames bound for one WebSocket in one turn of the event loop leave in one
   * write system call (`true`: Node's ws corked by unio, Bun's uWebSockets by
   * itself), or one call per frame (`false`: Deno has no way to batch, nor
   * does socket.io). Absent: not measured (workerd). Checked with strace.
   */
  coalescesWrites?: boolean;
}

export interface RuntimeSpec {
  name: "node" | "bun" | "deno" | "workers" | "reference";
  command: string[];
  capabilities: Capabilities;
}

/**
 * The three process runtimes, each running `<fixtureDir>/<name>.ts` through
 * its shim. Other suites (test/hardening) reuse it with their own fixtures.
 */
export function processRuntimes(fixtureDir: string, denoFlags: string[] = []): RuntimeSpec[] {
  const at = (name: string) => `${root}${fixtureDir}/${name}.ts`;
  return [
    {
      name: "node",
      command: [process.execPath, "--import", "tsx", at("node")],
      capabilities: { remoteAddress: true, wsDeflate: "option", coalescesWrites: true },
    },
    {
      name: "bun",
      command: [bin("bun"), "run", at("bun")],
      capabilities: { remoteAddress: true, fanout: true, wsDeflate: "option", coalescesWrites: true },
    },
    {
      name: "deno",
      command: [bin("deno"), "run", "--allow-net", "--allow-env", "--allow-read", "--no-lock", ...denoFlags, at("deno")],
      capabilities: { remoteAddress: true, wsDeflate: "none", coalescesWrites: false },
    },
  ];
}

export const RUNTIMES: RuntimeSpec[] = [
  ...processRuntimes("test/conformance/fixtures"),
  {
    name: "workers",
    // A Node launcher bundles the app with esbuild and runs it in workerd through Miniflare.
    command: [process.execPath, "--import", "tsx", fixture("workers")],
    // workerd passes the peer as CF-Connecting-IP, locally as on Cloudflare.
    capabilities: {
      remoteAddress: true,
      wsDeflate: "runtime",
      httpCompression: "platform",
      wsBufferedAmount: false,
      rssFollowsFloods: true,
    },
  },
];

/**
 * Not a runtime of unio: the same app on socket.io and engine.io themselves
 * (fixtures/reference.ts). It runs with the others, so a test that expects
 * what the reference server does not (a divergence) fails the suite too.
 * Differences unio keeps on purpose are left out of the shared tests.
 */
export const REFERENCE: RuntimeSpec = {
  name: "reference",
  command: [process.execPath, "--import", "tsx", fixture("reference")],
  capabilities: {
    remoteAddress: true,
    wsDeflate: "option",
    readsEncodedBodies: true,
    ignoresWsCompressFlag: true,
    coalescesWrites: false,
  },
};

/** Every runtime and the reference; `UNIO_RUNTIMES=node,bun` narrows a local run, CI runs them all. */
export function selectedRuntimes(all: RuntimeSpec[] = RUNTIMES, extra: RuntimeSpec[] = [REFERENCE]): RuntimeSpec[] {
  const only = process.env.UNIO_RUNTIMES?.split(",").filter(Boolean);
  return only ? [...all, ...extra].filter((r) => only.includes(r.name)) : [...all, ...extra];
}

/**
 * `it` for a test that applies to a runtime only when `applies` (a capability):
 * otherwise no test is defined, so nothing is reported as skipped. The other
 * side of the capability is asserted by its own test.
 */
export function itWhen(applies: boolean): typeof it {
  return applies ? it : ((() => undefined) as unknown as typeof it);
}
