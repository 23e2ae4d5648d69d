/**
 * Turns benchmark rows into the markdown tables (figures and ratios) and the
 * hand-written SVG bar chart. Pure functions: no I/O here.
 */
import type { Family, Runtime } from "./catalog.ts";
import type { BroadcastResult, ConnectionsResult, EchoResult } from "./load.ts";

export interface SizeRuns {
  /** WebSocket clients held during these runs. */
  clients: number;
  /** One entry per run (a fresh server each), in the order measured. */
  broadcast: BroadcastResult[];
  echo: EchoResult[];
}

export interface Row {
  id: string;
  label: string;
  runtime: Runtime;
  family: Family;
  /** "skipped" rows carry the reason in `note`. */
  status: "ok" | "partial" | "failed" | "skipped";
  note?: string;
  errors: string[];
  connections?: ConnectionsResult;
  /** Broadcast and echo runs per size (client count). */
  sizes: SizeRuns[];
  /** Long-polling runs (alongside the first size's runs). */
  polling: EchoResult[];
}

/** Median and spread of repeated runs. */
export interface Stat {
  median: number;
  min: number;
  max: number;
  n: number;
}

/** Median (the mean of the middle two for an even count), min and max of the finite values; undefined if none. */
export function stat(values: Array<number | undefined>): Stat | undefined {
  const xs = values.filter((v): v is number => v !== undefined && Number.isFinite(v)).sort((a, b) => a - b);
  if (xs.length === 0) return undefined;
  const mid = xs.length >> 1;
  const median = xs.length % 2 ? xs[mid]! : (xs[mid - 1]! + xs[mid]!) / 2;
  return { median, min: xs[0]!, max: xs[xs.length - 1]!, n: xs.length };
}

interface Metric {
  key: string;
  /** What the ratio targets refer to: "cpud", "cpua", "mem", "cpup" (others have none). */
  base: string;
  title: string;
  /** "cost": lower is better; "rate": higher is better. */
  kind: "cost" | "rate" | "info";
  get(row: Row): Stat | undefined;
  format(v: number): string;
}

export function fmtRate(v: number): string {
  if (v >= 1e6) return (v / 1e6).toFixed(2) + "M";
  if (v >= 1e4) return (v / 1e3).toFixed(0) + "k";
  if (v >= 1e3) return (v / 1e3).toFixed(1) + "k";
  return v.toFixed(0);
}
export function fmtMicros(v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}
const fmtMs = (v: number) => (v >= 10 ? v.toFixed(1) : v.toFixed(2));
const fmtKiB = (v: number) => v.toFixed(1);
export const sizeLabel = (n: number) => (n % 1000 === 0 ? `${n / 1000}k` : String(n));

const one = (v: number | undefined) => stat([v]);
const runsAt = (row: Row, clients: number) => row.sizes.find((s) => s.clients === clients);

/** The WebSocket figures at one size: medians of the runs. */
export function wsMetrics(size: number): Metric[] {
  const at = sizeLabel(size);
  const b = (f: (x: BroadcastResult) => number) => (r: Row) => stat(runsAt(r, size)?.broadcast.map(f) ?? []);
  const e = (f: (x: EchoResult) => number) => (r: Row) => stat(runsAt(r, size)?.echo.map(f) ?? []);
  return [
    { key: `dps@${size}`, base: "dps", title: `bcast deliveries/s @${at}`, kind: "rate", get: b((x) => x.deliveriesPerSec), format: fmtRate },
    { key: `cpud@${size}`, base: "cpud", title: `CPU µs/delivery @${at}`, kind: "cost", get: b((x) => x.cpuUsPerDelivery), format: fmtMicros },
    { key: `aps@${size}`, base: "aps", title: `acks/s @${at}`, kind: "rate", get: e((x) => x.acksPerSec), format: fmtRate },
    { key: `p50@${size}`, base: "p50", title: `ack p50 ms @${at}`, kind: "info", get: e((x) => x.p50Ms), format: fmtMs },
    { key: `p99@${size}`, base: "p99", title: `ack p99 ms @${at}`, kind: "info", get: e((x) => x.p99Ms), format: fmtMs },
    { key: `cpua@${size}`, base: "cpua", title: `CPU µs/ack @${at}`, kind: "cost", get: e((x) => x.cpuUsPerAck), format: fmtMicros },
  ];
}

/** Memory per connection at each step (one run), its slope between the first and last step, conn/s and long-polling. */
export function otherMetrics(steps: number[]): Metric[] {
  const list: Metric[] = steps.map((n) => ({
    key: `mem${n}`,
    base: "mem",
    title: `KiB/conn @${sizeLabel(n)}`,
    kind: "cost" as const,
    get: (r: Row) => one(r.connections?.steps.find((s) => s.connections === n)?.kibPerConn),
    format: fmtKiB,
  }));
  if (steps.length > 1) {
    const [a, b] = [steps[0]!, steps[steps.length - 1]!];
    list.push({
      key: "memslope",
      base: "memslope",
      title: `KiB/conn ${sizeLabel(a)}→${sizeLabel(b)}`,
      kind: "cost",
      get: (r) => {
        const s0 = r.connections?.steps.find((s) => s.connections === a);
        const s1 = r.connections?.steps.find((s) => s.connections === b);
        return s0 && s1 ? one((s1.rssKiB - s0.rssKiB) / (b - a)) : undefined;
      },
      format: fmtKiB,
    });
  }
  list.push(
    { key: "cps", base: "cps", title: "conn/s", kind: "rate", get: (r) => one(r.connections?.connectRate), format: fmtRate },
    { key: "pps", base: "pps", title: "polling msg/s", kind: "rate", get: (r) => stat(r.polling.map((x) => x.acksPerSec)), format: fmtRate },
    { key: "cpup", base: "cpup", title: "CPU µs/polling msg", kind: "cost", get: (r) => stat(r.polling.map((x) => x.cpuUsPerAck)), format: fmtMicros },
  );
  return list;
}

export function metrics(sizes: number[], steps: number[]): Metric[] {
  return [...sizes.flatMap(wsMetrics), ...otherMetrics(steps)];
}

function table(header: string[], body: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  const align = header.map((_, i) => (i === 0 ? "---" : "---:"));
  return [line(header), line(align), ...body.map(line)].join("\n");
}

/** "median (min–max)" of repeated runs; the median alone for one run or no spread. */
function cell(m: Metric, st: Stat | undefined): string {
  if (!st) return "–";
  if (st.n < 2 || m.format(st.min) === m.format(st.max)) return m.format(st.median);
  return `${m.format(st.median)} (${m.format(st.min)}–${m.format(st.max)})`;
}

function figures(rows: Row[], ms: Metric[]): string {
  const body = rows.filter((r) => r.status !== "skipped").map((r) => [r.label, ...ms.map((m) => cell(m, m.get(r)))]);
  return table(["server", ...ms.map((m) => m.title)], body);
}

/**
 * The main figures: one table per WebSocket size (rows without runs at that
 * size left out) and one for memory, conn/s and long-polling.
 */
export function figuresTables(rows: Row[], sizes: number[], steps: number[]): string {
  const parts: string[] = [];
  for (const size of sizes) {
    const at = rows.filter((r) => runsAt(r, size));
    if (at.length === 0) continue;
    parts.push(`### WebSocket, ${size.toLocaleString("en-US")} clients held`, "", figures(at, wsMetrics(size)), "");
  }
  parts.push("### Memory per connection, connections/s, long-polling", "", figures(rows, otherMetrics(steps)));
  return parts.join("\n");
}

// ── targets (issue 21): unio's Server ÷ a reference of the same runtime ────

interface Target {
  runtime: Runtime;
  ref: "socket.io" | "ceiling";
  base: string;
  max: number;
  /** "below" rather than "at most". */
  strict?: boolean;
}
const TARGETS: Target[] = [
  { runtime: "node", ref: "socket.io", base: "cpud", max: 0.75 },
  { runtime: "node", ref: "socket.io", base: "cpua", max: 0.7 },
  { runtime: "node", ref: "ceiling", base: "cpud", max: 0.9 },
  { runtime: "node", ref: "ceiling", base: "cpua", max: 1.15 },
  { runtime: "node", ref: "ceiling", base: "mem", max: 1.1 },
  { runtime: "bun", ref: "ceiling", base: "cpud", max: 1.3 },
  { runtime: "bun", ref: "ceiling", base: "mem", max: 2 },
  { runtime: "bun", ref: "socket.io", base: "mem", max: 1, strict: true },
  { runtime: "deno", ref: "ceiling", base: "cpud", max: 1.1 },
  { runtime: "deno", ref: "ceiling", base: "mem", max: 1.1 },
  ...(["node", "bun", "deno"] as const).map((runtime) => ({ runtime, ref: "ceiling" as const, base: "cpup", max: 1.3 })),
];

export function targetOf(row: Row, ref: Row, base: string): Target | undefined {
  if (row.family !== "unio") return undefined;
  return TARGETS.find((t) => t.runtime === row.runtime && t.base === base && t.ref === ref.family);
}

const fmtRatio = (x: number) => x.toFixed(x >= 10 ? 1 : 2) + "×";

/**
 * Ratios of each row's cost figures (medians) to a reference row of the same
 * runtime, `server ÷ reference` (below 1× is better), with issue 21's target
 * beside it where there is one: "0.71× (target ≤ 0.75×) ✓".
 */
export function ratioTable(
  rows: Row[],
  sizes: number[],
  steps: number[],
  pick: (row: Row) => Row | undefined,
  include: (row: Row) => boolean,
): string | null {
  // Grouped by figure, sizes side by side: CPU/delivery @1k, @18k, CPU/ack @1k, @18k, memory, polling.
  const ws = sizes.map(wsMetrics);
  const ms = [
    ...ws.map((m) => m.find((x) => x.base === "cpud")!),
    ...ws.map((m) => m.find((x) => x.base === "cpua")!),
    ...otherMetrics(steps).filter((m) => m.kind === "cost"),
  ];
  const body: string[][] = [];
  for (const r of rows) {
    if (r.status === "skipped" || !include(r)) continue;
    const ref = pick(r);
    if (!ref || ref === r || ref.status === "skipped") continue;
    body.push([
      `${r.label} ÷ ${ref.label}`,
      ...ms.map((m) => {
        const a = m.get(r)?.median;
        const b = m.get(ref)?.median;
        if (a === undefined || b === undefined || b === 0) return "–";
        const t = targetOf(r, ref, m.base);
        if (!t) return fmtRatio(a / b);
        const met = t.strict ? a / b < t.max : a / b <= t.max;
        return `${fmtRatio(a / b)} (target ${t.strict ? "<" : "≤"} ${t.max}×) ${met ? "✓" : "✗"}`;
      }),
    ]);
  }
  if (body.length === 0) return null;
  const used = ms.map((_, i) => body.some((line) => line[i + 1] !== "–"));
  return table(
    ["ratio (lower is better)", ...ms.filter((_, i) => used[i]).map((m) => m.title)],
    body.map((line) => [line[0]!, ...line.slice(1).filter((_, i) => used[i])]),
  );
}

// ── chart ──────────────────────────────────────────────────────────────────

const COLORS: Record<Family, string> = {
  unio: "#2563eb",
  "unio-engine": "#93c5fd",
  "socket.io": "#f59e0b",
  ceiling: "#6b7280",
};
const FAMILY_LABEL: Record<Family, string> = {
  unio: "unio (Server)",
  "unio-engine": "unio Engine only",
  "socket.io": "socket.io 4.8",
  ceiling: "bare runtime ceiling",
};

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/**
 * A horizontal bar chart, one panel per headline figure, one bar per server
 * in the row order given, coloured by family; the bar is the median of the
 * runs and a whisker spans their min–max. No dependency: plain SVG text.
 */
export function chartSvg(rows: Row[], sizes: number[], steps: number[], subtitle: string): string {
  const ms = metrics(sizes, steps);
  const panelKeys = [...sizes.map((n) => `cpud@${n}`), ...sizes.map((n) => `cpua@${n}`), ...steps.map((n) => `mem${n}`), "cpup"];
  const panels = panelKeys
    .map((k) => ms.find((m) => m.key === k))
    .filter((m): m is Metric => m !== undefined)
    .map((m) => ({ m, bars: rows.filter((r) => r.status !== "skipped" && m.get(r) !== undefined) }))
    .filter((p) => p.bars.length > 0);

  const width = 900;
  const labelW = 230;
  const valueW = 70;
  const barH = 16;
  const gap = 6;
  const plotW = width - labelW - valueW - 20;
  const out: string[] = [];
  let y = 0;

  const titleBlock = () => {
    out.push(`<text x="20" y="28" class="h1">unio benchmark</text>`);
    out.push(`<text x="20" y="48" class="sub">${esc(subtitle)}</text>`);
    let x = 20;
    for (const fam of Object.keys(COLORS) as Family[]) {
      out.push(`<rect x="${x}" y="60" width="12" height="12" fill="${COLORS[fam]}"/>`);
      out.push(`<text x="${x + 18}" y="71" class="lbl">${esc(FAMILY_LABEL[fam])}</text>`);
      x += 30 + FAMILY_LABEL[fam].length * 7;
    }
    y = 95;
  };
  titleBlock();

  for (const { m, bars } of panels) {
    const better = m.kind === "cost" ? "lower is better" : "higher is better";
    out.push(`<text x="20" y="${y + 14}" class="h2">${esc(m.title)} (${better})</text>`);
    y += 26;
    const max = Math.max(...bars.map((r) => m.get(r)!.max));
    let runtime = bars[0]!.runtime;
    for (const r of bars) {
      // A little air between the runtimes' groups.
      if (r.runtime !== runtime) y += 6;
      runtime = r.runtime;
      const st = m.get(r)!;
      const v = st.median;
      const w = max > 0 ? Math.max(1, (v / max) * plotW) : 1;
      const xOf = (x: number) => (labelW + 8 + (max > 0 ? (x / max) * plotW : 0)).toFixed(1);
      out.push(`<text x="${labelW}" y="${y + barH - 3}" class="lbl" text-anchor="end">${esc(r.label)}</text>`);
      out.push(
        `<rect x="${labelW + 8}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${COLORS[r.family]}"><title>${esc(
          `${r.label}: ${m.format(v)}${st.n > 1 ? ` (median of ${st.n}, ${m.format(st.min)}–${m.format(st.max)})` : ""}`,
        )}</title></rect>`,
      );
      if (st.n > 1 && st.max > st.min) {
        // The spread of the runs: a whisker from min to max across the bar's end.
        out.push(`<line x1="${xOf(st.min)}" x2="${xOf(st.max)}" y1="${y + barH / 2}" y2="${y + barH / 2}" stroke="#111" stroke-width="1.5"/>`);
      }
      const tx = labelW + 14 + Math.max(w, max > 0 ? (st.max / max) * plotW : 0);
      out.push(`<text x="${tx.toFixed(1)}" y="${y + barH - 3}" class="val">${esc(m.format(v))}</text>`);
      y += barH + gap;
    }
    y += 14;
  }
  if (panels.length === 0) {
    out.push(`<text x="20" y="${y + 14}" class="lbl">no figures were measured</text>`);
    y += 30;
  }
  const height = y + 10;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif">`,
    `<style>.h1{font-size:20px;font-weight:700;fill:#111}.h2{font-size:14px;font-weight:600;fill:#111}.sub{font-size:12px;fill:#555}.lbl{font-size:12px;fill:#222}.val{font-size:11px;fill:#444}</style>`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    ...out,
    `</svg>`,
    "",
  ].join("\n");
}
