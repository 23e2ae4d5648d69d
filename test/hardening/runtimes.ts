/**
 * The runtimes the hardening suite runs against: the commands of
 * test/conformance/runtimes.ts, with the hardening fixtures (and, on Deno,
 * `--expose-gc` so memory figures can be taken after a full collection).
 */
import { processRuntimes, type RuntimeSpec, selectedRuntimes as select } from "../conformance/runtimes.ts";

export type { RuntimeSpec };

export const HARDENING_RUNTIMES: RuntimeSpec[] = processRuntimes("test/hardening/fixtures", ["--v8-flags=--expose-gc"]);

/** `UNIO_RUNTIMES=node,bun` narrows a local run, as in the conformance suite. */
export function selectedRuntimes(): RuntimeSpec[] {
  return select(HARDENING_RUNTIMES, []);
}
