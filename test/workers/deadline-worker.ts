/**
 * The worker of deadline-app.ts for a test file's load tests (useWorker),
 * and the client processes its tests fork (pushed to `children`), closed
 * with it after the tests.
 */
import { afterAll } from "vitest";
import { useWorker } from "./harness.ts";
import type { RawClients } from "./raw-clients.ts";

export interface DeadlineWorker {
  /** The worker's base URL (set once the file's tests run). */
  readonly url: string;
  readonly children: RawClients[];
}

export function useDeadlineWorker(): DeadlineWorker {
  const w = useWorker(new URL("./deadline-app.ts", import.meta.url).pathname, { FAST: "FastObject", DEFAULTS: "DefaultsObject", HARD: "HardObject", RECOVER: "RecoverObject" });
  const children: RawClients[] = [];
  // With the worker, in either order: a client process whose worker is gone only sees its sockets close.
  afterAll(async () => {
    await Promise.all(children.map((c) => c.close()));
  });
  return {
    get url() {
      return w.url;
    },
    children,
  };
}
