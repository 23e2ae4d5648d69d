/**
 * The worker of deadline-app.ts for a test file's load tests: started
 * before its tests; after them, the client processes the tests forked
 * (pushed to `children`) are closed, then the worker.
 */
import { afterAll, beforeAll } from "vitest";
import { type RunningWorker, startWorker } from "./harness.ts";
import type { RawClients } from "./raw-clients.ts";

export interface DeadlineWorker {
  /** The worker's base URL (set once the file's tests run). */
  readonly url: string;
  readonly children: RawClients[];
}

export function useDeadlineWorker(): DeadlineWorker {
  let w: RunningWorker | undefined;
  const children: RawClients[] = [];
  beforeAll(async () => {
    w = await startWorker(new URL("./deadline-app.ts", import.meta.url).pathname, { FAST: "FastObject", DEFAULTS: "DefaultsObject", HARD: "HardObject" });
  });
  afterAll(async () => {
    await Promise.all(children.map((c) => c.close()));
    await w?.dispose();
  });
  return {
    get url() {
      return w!.url;
    },
    children,
  };
}
