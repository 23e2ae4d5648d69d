/**
 * The runtimes the conformance suite runs against. Each starts the same
 * fixture app (app.ts) through its own shim, as a child process on a free
 * port. Differences are declared here as capabilities, never as name checks
 * inside tests.
 */
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));
const bin = (name: string) => `${root}node_modules/.bin/${name}`;
const fixture = (name: string) => `${root}test/conformance/fixtures/${name}.ts`;

export interface Capabilities {
  /** The runtime reports the peer address to the shim. */
  remoteAddress: boolean;
}

export interface RuntimeSpec {
  name: "node" | "bun" | "deno";
  command: string[];
  capabilities: Capabilities;
}

export const RUNTIMES: RuntimeSpec[] = [
  {
    name: "node",
    command: [process.execPath, "--import", "tsx", fixture("node")],
    capabilities: { remoteAddress: true },
  },
  {
    name: "bun",
    command: [bin("bun"), "run", fixture("bun")],
    capabilities: { remoteAddress: true },
  },
  {
    name: "deno",
    command: [bin("deno"), "run", "--allow-net", "--allow-env", "--allow-read", "--no-lock", fixture("deno")],
    capabilities: { remoteAddress: true },
  },
];

/** `UNIO_RUNTIMES=node,bun` narrows a local run; CI runs all three. */
export function selectedRuntimes(): RuntimeSpec[] {
  const only = process.env.UNIO_RUNTIMES?.split(",").filter(Boolean);
  return only ? RUNTIMES.filter((r) => only.includes(r.name)) : RUNTIMES;
}
