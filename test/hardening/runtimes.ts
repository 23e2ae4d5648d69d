/**
 * The runtimes the hardening suite runs against: the commands of
 * test/conformance/runtimes.ts, with the hardening fixtures (and, on Deno,
 * `--expose-gc` so memory figures can be taken after a full collection).
 */
import { fileURLToPath } from "node:url";
import type { RuntimeSpec } from "../conformance/runtimes.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const bin = (name: string) => `${root}node_modules/.bin/${name}`;
const fixture = (name: string) => `${root}test/hardening/fixtures/${name}.ts`;

export type { RuntimeSpec };

export const HARDENING_RUNTIMES: RuntimeSpec[] = [
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
    command: [
      bin("deno"),
      "run",
      "--allow-net",
      "--allow-env",
      "--allow-read",
      "--no-lock",
      "--v8-flags=--expose-gc",
      fixture("deno"),
    ],
    capabilities: { remoteAddress: true },
  },
];

/** `UNIO_RUNTIMES=node,bun` narrows a local run, as in the conformance suite. */
export function selectedRuntimes(): RuntimeSpec[] {
  const only = process.env.UNIO_RUNTIMES?.split(",").filter(Boolean);
  return only ? HARDENING_RUNTIMES.filter((r) => only.includes(r.name)) : HARDENING_RUNTIMES;
}
