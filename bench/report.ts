/**
 * Turns benchmark rows into the markdown tables (figures and ratios) and the
 * hand-written SVG bar chart. Pure functions: no I/O here.
 */
import type { Family, Runtime } from "./catalog.ts";
import type { BroadcastResult, ConnectionsResult, EchoResult } from "./load.ts";

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
  broadcast?: BroadcastResult;
  echo?: EchoResult;
  polling?: EchoResult;
}

interface Metric {
  key: string;
  title: string;
  /** "cost": lower is better; "rate": higher is better. */
  kind: "cost" | "rate" | "info";
  get(row: Row): number | undefined;
  format(v: number): string;
}

const num = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? undefined : v);

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
const stepLabel = (n: number) => (n % 1000 === 0 ? `${n / 1000}k` : String(n));

function memoryAt(row: Row, conns: number): number | undefined {
  return num(row.connections?.steps.find((s) => s.connections === conns)?.kibPerConn);
}

/** The table's columns, with the memory steps the run used. */
export function metrics(steps: number[]): Metric[] {
  const list: Metric[] = [
    { key: "dps", title: "bcast deliveries/s", kind: "rate", get: (r) => num(r.broadcast?.deliveriesPerSec), format: fmtRate },
    { key: "cpud", title: "CPU µs/delivery", kind: "cost", get: (r) => num(r.broadcast?.cpuUsPerDelivery), format: fmtMicros },
    { key: "aps", title: "acks/s", kind: "rate", get: (r) => num(r.echo?.acksPerSec), format: fmtRate },
    { key: "p50", title: "ack p50 ms", kind: "info", get: (r) => num(r.echo?.p50Ms), format: fmtMs },
    { key: "p99", title: "ack p99 ms", kind: "info", get: (r) => num(r.echo?.p99Ms), format: fmtMs },
    { key: "cpua", title: "CPU µs/ack", kind: "cost", get: (r) => num(r.echo?.cpuUsPerAck), format: fmtMicros },
  ];
  for (const n of steps) {
    list.push({
      key: `mem${n}`,
      title: `KiB/conn @${stepLabel(n)}`,
      kind: "cost",
      get: (r) => memoryAt(r, n),
      format: fmtKiB,
    });
  }
  if (steps.length > 1) {
    const [a, b] = [steps[0]!, steps[steps.length - 1]!];
    list.push({
      key: "memslope",
      title: `KiB/conn ${stepLabel(a)}→${stepLabel(b)}`,
      kind: "cost",
      get: (r) => {
        const s0 = r.connections?.steps.find((s) => s.connections === a);
        const s1 = r.connections?.steps.find((s) => s.connections === b);
        return s0 && s1 ? num((s1.rssKiB - s0.rssKiB) / (b - a)) : undefined;
      },
      format: fmtKiB,
    });
  }
  list.push(
    { key: "cps", title: "conn/s", kind: "rate", get: (r) => num(r.connections?.connectRate), format: fmtRate },
    { key: "pps", title: "polling msg/s", kind: "rate", get: (r) => num(r.polling?.acksPerSec), format: fmtRate },
    { key: "cpup", title: "CPU µs/polling msg", kind: "cost", get: (r) => num(r.polling?.cpuUsPerAck), format: fmtMicros },
  );
  return list;
}

function table(header: string[], body: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  const align = header.map((_, i) => (i === 0 ? "---" : "---:"));
  return [line(header), line(align), ...body.map(line)].join("\n");
}

/** The main figures: one row per server, "–" where a figure is missing. */
export function figuresTable(rows: Row[], steps: number[]): string {
  const ms = metrics(steps);
  const body = rows
    .filter((r) => r.status !== "skipped")
    .map((r) => [r.label, ...ms.map((m) => {
      const v = m.get(r);
      return v === undefined ? "–" : m.format(v);
    })]);
  return table(["server", ...ms.map((m) => m.title)], body);
}

/**
 * Ratios of each row's figures to a reference row of the same runtime:
 * `server ÷ reference`. For costs (CPU, memory) below 1× is better; for
 * rates (per second) above 1× is better.
 */
export function ratioTable(
  rows: Row[],
  steps: number[],
  pick: (row: Row) => Row | undefined,
  include: (row: Row) => boolean,
): string | null {
  const ms = metrics(steps).filter((m) => m.kind !== "info");
  const body: string[][] = [];
  for (const r of rows) {
    if (r.status === "skipped" || !include(r)) continue;
    const ref = pick(r);
    if (!ref || ref === r || ref.status === "skipped") continue;
    body.push([
      `${r.label} ÷ ${ref.label}`,
      ...ms.map((m) => {
        const a = m.get(r);
        const b = m.get(ref);
        if (a === undefined || b === undefined || b === 0) return "–";
        return (a / b).toFixed(a / b >= 10 ? 1 : 2) + "×";
      }),
    ]);
  }
  if (body.length === 0) return null;
  return table(["ratio", ...ms.map((m) => `${m.title} (${m.kind === "cost" ? "lower" : "higher"} is better)`)], body);
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
 * in the row order given, coloured by family. No dependency: plain SVG text.
 */
export function chartSvg(rows: Row[], steps: number[], subtitle: string): string {
  const ms = metrics(steps);
  const panelKeys = ["cpud", "cpua", ...steps.map((n) => `mem${n}`), "cpup"];
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
    const max = Math.max(...bars.map((r) => m.get(r)!));
    let runtime = bars[0]!.runtime;
    for (const r of bars) {
      // A little air between the runtimes' groups.
      if (r.runtime !== runtime) y += 6;
      runtime = r.runtime;
      const v = m.get(r)!;
      const w = max > 0 ? Math.max(1, (v / max) * plotW) : 1;
      out.push(`<text x="${labelW}" y="${y + barH - 3}" class="lbl" text-anchor="end">${esc(r.label)}</text>`);
      out.push(
        `<rect x="${labelW + 8}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${COLORS[r.family]}"><title>${esc(
          `${r.label}: ${m.format(v)}`,
        )}</title></rect>`,
      );
      out.push(`<text x="${(labelW + 14 + w).toFixed(1)}" y="${y + barH - 3}" class="val">${esc(m.format(v))}</text>`);
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
