/** Markdown tables of the scale benchmark (bench/scale.ts), printed and kept in bench/SCALE.md. */

export interface SingleRow {
  id: string;
  label: string;
  at?: string;
  connections: number;
  pingInterval: number;
  open?: number;
  openAfter?: number;
  connectMs?: number;
  rssKiB?: number;
  kibPerConn?: number;
  heapKiBPerConn?: number;
  idleCpuPct?: number;
  idleWindowMs?: number;
  broadcastMs?: number[];
  errors: string[];
}

export interface ClusterRow extends SingleRow {
  workers: number;
  redisBytesPerBroadcast?: number;
  redisCommandsPerBroadcast?: number;
  peakGrowthGiB?: number;
}

const f = (x: number | undefined, digits = 1) => (x === undefined || !Number.isFinite(x) ? "–" : x.toFixed(digits));
const int = (x: number | undefined) => (x === undefined ? "–" : x.toLocaleString("en-US"));
const med = (xs: number[] | undefined) => {
  if (!xs?.length) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)];
};
const bcast = (xs: number[] | undefined) => (xs?.length ? `${f(med(xs), 0)} (${xs.map((x) => x.toFixed(0)).join(", ")})` : "–");

export function renderScale(single: SingleRow[], cluster: ClusterRow[]): string {
  const out: string[] = [];
  if (single.length) {
    out.push(
      "### One process per server: idle connections with heartbeats",
      "",
      "| server | connections (open after) | connect all, s | RSS, MiB | KiB/conn RSS | KiB/conn JS heap | idle CPU, % of a core | broadcast to all, ms: median (each) | pingInterval, ms |",
      "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
      ...single.map(
        (r) =>
          `| ${r.label} | ${int(r.open)} (${int(r.openAfter)}) | ${f(r.connectMs === undefined ? undefined : r.connectMs / 1000)} | ${f(
            r.rssKiB === undefined ? undefined : r.rssKiB / 1024,
            0,
          )} | ${f(r.kibPerConn, 2)} | ${f(r.heapKiBPerConn, 2)} | ${f(r.idleCpuPct)} | ${bcast(r.broadcastMs)} | ${r.pingInterval} |`,
      ),
      "",
    );
  }
  if (cluster.length) {
    out.push(
      "### Several processes on one port, joined by the Redis adapter",
      "",
      "| server | processes | connections (open after) | connect all, s | total RSS, MiB | KiB/conn | idle CPU, % of a core | io.emit to all, ms: median (each) | Redis bytes / broadcast | pingInterval, ms |",
      "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
      ...cluster.map(
        (r) =>
          `| ${r.label} | ${r.workers} | ${int(r.open)} (${int(r.openAfter)}) | ${f(r.connectMs === undefined ? undefined : r.connectMs / 1000)} | ${f(
            r.rssKiB === undefined ? undefined : r.rssKiB / 1024,
            0,
          )} | ${f(r.kibPerConn, 2)} | ${f(r.idleCpuPct)} | ${bcast(r.broadcastMs)} | ${f(r.redisBytesPerBroadcast, 0)} | ${r.pingInterval} |`,
      ),
      "",
    );
  }
  const notes = [...single, ...cluster].flatMap((r) => r.errors.map((e) => `- ${r.label}: ${e}`));
  // Each row with the run it comes from (rows of one run share its stamp).
  const byRun = new Map<string, string[]>();
  for (const [part, rows] of [["one process", single], ["cluster", cluster]] as const) {
    for (const r of rows) if (r.at) byRun.set(r.at, [...(byRun.get(r.at) ?? []), `${r.label} (${part})`]);
  }
  const when = [...byRun].map(([at, labels]) => `- ${at}: ${labels.join(", ")}`);
  if (when.length) out.push("Measured (date, load average 1/5/15 min at the start of the run, commit):", "", ...when, "");
  if (notes.length) out.push("Problems during the runs:", "", ...notes, "");
  return out.join("\n");
}
