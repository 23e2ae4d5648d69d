// The benchmark's tables: medians of repeated runs with their spread, and
// ratios of medians with issue 21's targets beside them (bench/report.ts).
import { describe, expect, it } from "vitest";
import type { BroadcastResult, EchoResult } from "../../bench/load.ts";
import { chartSvg, figuresTables, ratioTable, type Row, stat } from "../../bench/report.ts";

const bcast = (clients: number, cpuUsPerDelivery: number): BroadcastResult => ({
  clients,
  broadcasts: 100,
  deliveries: 100 * clients,
  expected: 100 * clients,
  seconds: 2,
  deliveriesPerSec: (100 * clients) / 2,
  cpuUsPerDelivery,
  serverCpuPct: 90,
  loadgenCpuPct: 80,
  foreignCpuPct: 5,
});
const echo = (cpuUsPerAck: number): EchoResult => ({
  clients: 100,
  acks: 1000,
  seconds: 3,
  acksPerSec: 333,
  p50Ms: 1,
  p99Ms: 2,
  cpuUsPerAck,
  serverCpuPct: 90,
  loadgenCpuPct: 80,
  foreignCpuPct: 5,
});
const row = (id: string, family: Row["family"], label: string, d1k: number[], d18k: number[], kib18k: number): Row => ({
  id,
  label,
  runtime: "node",
  family,
  status: "ok",
  errors: [],
  connections: {
    baselineKiB: 50_000,
    connectRate: 1000,
    connectFailures: 0,
    steps: [
      { connections: 1000, rssKiB: 60_000, kibPerConn: 10 },
      { connections: 18_000, rssKiB: 50_000 + kib18k * 18_000, kibPerConn: kib18k },
    ],
  },
  sizes: [
    { clients: 1000, broadcast: d1k.map((v) => bcast(1000, v)), echo: [echo(30), echo(20), echo(40)] },
    { clients: 18_000, broadcast: d18k.map((v) => bcast(18_000, v)), echo: [echo(30)] },
  ],
  polling: [],
});

describe("bench report", () => {
  it("takes the median of odd and even counts and the spread", () => {
    expect(stat([3, 1, 2])).toEqual({ median: 2, min: 1, max: 3, n: 3 });
    expect(stat([4, 1, NaN, 2, undefined, 3])).toEqual({ median: 2.5, min: 1, max: 4, n: 4 });
    expect(stat([])).toBeUndefined();
  });

  it("shows each size's figures as median (min–max)", () => {
    const unio = row("unio-node", "unio", "unio (Node)", [2, 3, 2.5], [2.2, 2.1, 2.4], 6);
    const md = figuresTables([unio], [1000, 18_000], [1000, 18_000]);
    expect(md).toContain("### WebSocket, 1,000 clients held");
    expect(md).toContain("### WebSocket, 18,000 clients held");
    expect(md).toContain("| unio (Node) | 50k | 2.50 (2.00–3.00) | 333 | 1.00 | 2.00 | 30.0 (20.0–40.0) |");
    expect(md).toContain("2.20 (2.10–2.40)");
  });

  it("divides medians and marks the target met or missed", () => {
    const unio = row("unio-node", "unio", "unio (Node)", [2, 3, 2.5], [2.2, 2.1, 2.4], 6);
    const ws = row("ws-node", "ceiling", "bare ws (Node)", [10, 9, 11], [2, 2, 2], 5);
    const md = ratioTable([unio, ws], [1000, 18_000], [1000, 18_000], (r) => (r === unio ? ws : undefined), () => true)!;
    const line = md.split("\n").find((l) => l.startsWith("| unio (Node) ÷ bare ws (Node)"))!;
    // CPU/delivery: 2.5 ÷ 10 at 1k (met), 2.2 ÷ 2 at 18k (missed); KiB/conn @18k 6 ÷ 5 (missed).
    expect(line).toContain("0.25× (target ≤ 0.9×) ✓");
    expect(line).toContain("1.10× (target ≤ 0.9×) ✗");
    expect(line).toContain("1.20× (target ≤ 1.1×) ✗");
    expect(md).not.toContain("CPU µs/polling msg"); // no polling measured: the column is left out
  });

  it("draws the spread of repeated runs as a whisker", () => {
    const unio = row("unio-node", "unio", "unio (Node)", [2, 3, 2.5], [2.2], 6);
    const svg = chartSvg([unio], [1000, 18_000], [1000, 18_000], "test");
    expect(svg).toContain("CPU µs/delivery @1k");
    expect(svg).toContain("(median of 3, 2.00–3.00)");
    expect(svg.match(/<line /g)?.length).toBeGreaterThan(0);
  });
});
