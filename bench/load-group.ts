/**
 * A group of idle-client load generators (bench/scale-load.ts processes) for
 * more sockets than one process may hold here (20,000 open files at most):
 * each generator holds at most `per` sockets and connects from its own source
 * address 127.0.0.(2+i), so neither the open-file limit nor the ephemeral
 * ports of one address run out. Used by the scale mode (bench/scale.ts) and by
 * the main benchmark's generator (bench/load.ts) for its 18,000-client runs.
 */
import { ROOT } from "./catalog.ts";
import { Child } from "./scale-procs.ts";

export interface LoadGroup {
  gens: Child[];
  /** The sockets each generator is meant to hold, in order; they add up to the total asked for. */
  shares: number[];
}

/** `total` split as evenly as possible over `n` parts. */
export function splitEvenly(total: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => Math.floor(total / n) + (i < total % n ? 1 : 0));
}

/** Starts ceil(total / per) generators (no socket open yet) and waits until each is ready. */
export async function startLoadgens(port: number, total: number, per: number, concurrency = 48): Promise<LoadGroup> {
  const n = Math.max(1, Math.ceil(total / per));
  const gens: Child[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const cfg = { host: "127.0.0.1", port, sourceIp: `127.0.0.${2 + i}`, concurrency };
      const g = new Child([process.execPath, "--import", "tsx", `${ROOT}bench/scale-load.ts`, JSON.stringify(cfg)], process.env, true, true);
      gens.push(g);
      await g.next((l) => l.type === "ready", 30_000, `load generator ${i}`);
    }
  } catch (err) {
    for (const g of gens) await g.stop();
    throw err;
  }
  return { gens, shares: splitEvenly(total, n) };
}

/**
 * Has generator i connect until it holds shares[i] sockets (a target, not an
 * increment), all in parallel; `tick` runs every second meanwhile (and may
 * throw to abort). Resolves with the time until the last one was done.
 */
export async function connectAll(
  gens: Child[],
  shares: number[],
  deadlineMs: number,
  tick?: () => void,
): Promise<{ ms: number; open: number; failures: number; firstError?: string }> {
  const t0 = performance.now();
  gens.forEach((g, i) => g.send({ cmd: "connect", n: shares[i] ?? 0, deadlineMs }));
  const watch = tick ? setInterval(tick, 1_000) : undefined;
  try {
    const done = await Promise.all(gens.map((g, i) => g.next((l) => l.type === "connected", deadlineMs + 60_000, `connect ${i}`)));
    return {
      ms: performance.now() - t0,
      open: done.reduce((a, l) => a + Number(l.open), 0),
      failures: done.reduce((a, l) => a + Number(l.failures), 0),
      firstError: done.map((l) => l.firstError as string | undefined).find(Boolean),
    };
  } finally {
    if (watch) clearInterval(watch);
  }
}

/** Sockets open, broadcast frames received since the last report (counters reset), and the time of the last one. */
export async function reportAll(gens: Child[]): Promise<{ open: number; received: number; lastAt: number }> {
  for (const g of gens) g.send({ cmd: "report" });
  const rs = await Promise.all(gens.map((g) => g.next((l) => l.type === "report", 30_000, "report")));
  return {
    open: rs.reduce((a, r) => a + Number(r.open), 0),
    received: rs.reduce((a, r) => a + Number(r.received), 0),
    lastAt: Math.max(0, ...rs.map((r) => Number(r.lastAt))),
  };
}
