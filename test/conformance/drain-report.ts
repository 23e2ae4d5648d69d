/**
 * What a fixture prints once `io.drain()` resolved (production-app.ts
 * `start-drain`), and how the test finds it in the fixture's output. A line
 * on stdout because nothing else is left: the drain closed every client,
 * and the server refuses new ones. Times are the fixture's `Date.now()`
 * (the same machine clock as the test's).
 */
export const DRAIN_REPORT_MARK = "UNIO_DRAINED";

export interface DrainReport {
  /** When `start-drain` called `io.drain()`. */
  started: number;
  /** When the drain's Promise resolved. */
  resolvedAt: number;
  /** `io.draining` then. */
  draining: boolean;
  /** `io.engine.clientsCount` then. */
  connections: number;
  /** `io.metrics().drain` then. */
  drain: { draining: boolean; drained: number; atDeadline: number };
  /** Every socket disconnected during the drain, in order. */
  departures: Array<{ at: number; reason: string; transport: string }>;
}

/** The report in `output`, or undefined while the drain has not resolved. */
export function findDrainReport(output: string): DrainReport | undefined {
  const m = new RegExp(`${DRAIN_REPORT_MARK} (\\{.*\\})`).exec(output);
  return m ? (JSON.parse(m[1]!) as DrainReport) : undefined;
}
