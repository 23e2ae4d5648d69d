/**
 * `io.metrics()`: one snapshot of a server's state and counters, and two
 * ways out of it, `toPrometheus()` (the text format, for any route) and
 * `forEachMetric()` (flat samples, for OpenTelemetry observable instruments
 * or any other collector). No dependency on either.
 *
 * Counters (option `metrics: true`) are plain number fields bumped in place
 * (engine/counters.ts, `SocketCounters` below). Gauges (connections,
 * sockets per namespace, pending acks, buffered bytes) are read from the
 * live objects when a snapshot is taken, so they cost nothing between
 * scrapes: a snapshot walks the sessions and sockets once.
 */
import type { EngineCounters } from "../engine/counters.ts";
import type { EngineCloseReason, EngineSocket } from "../engine/types.ts";
import type { DisconnectReason } from "./types.ts";

/** The Socket.IO layer's counters (option `metrics: true`). */
export class SocketCounters {
  /** Acks whose `timeout()` / `ackTimeout` expired (socket emits and broadcasts). */
  acksTimedOut = 0;
  /** Incoming events dropped by `eventRateLimit`. */
  eventsRateLimited = 0;
  /** Volatile packets not sent because their client was busy. */
  volatileDropped = 0;
  /** Namespace connections accepted. */
  connects = 0;
  /** Connections closed by `io.drain()` (told to reconnect elsewhere)... */
  drained = 0;
  /** ...of which closed at the drain's deadline rather than in their slot (acks still awaited, or opened late). */
  drainedAtDeadline = 0;
  /** Cluster adapter requests to the other nodes (fetchSockets, serverSideEmit with ack) settled... */
  adapterRequests = 0;
  /** ...of which ended by their deadline... */
  adapterRequestsTimedOut = 0;
  /** ...and the sum of their durations, in ms. */
  adapterRequestMs = 0;

  /** A cluster adapter request settled after `ms`. */
  adapterRequest(ms: number, timedOut: boolean): void {
    this.adapterRequests++;
    if (timedOut) this.adapterRequestsTimedOut++;
    this.adapterRequestMs += ms;
  }
  /** Socket disconnects by reason (the keys are the fixed union, never client input). */
  readonly disconnects: Record<DisconnectReason, number> = {
    "transport error": 0,
    "transport close": 0,
    "forced close": 0,
    "ping timeout": 0,
    "parse error": 0,
    "server shutting down": 0,
    "forced server close": 0,
    "client namespace disconnect": 0,
    "server namespace disconnect": 0,
  };
}

/** What `io.metrics()` returns. Counters are totals since the server started; they stay 0 without `metrics: true`. */
export interface MetricsSnapshot {
  /** Whether counters are kept (`metrics: true`); gauges are filled either way. */
  counting: boolean;
  /** Open Engine.IO sessions, by current transport (gauge). */
  connections: { total: number; polling: number; websocket: number };
  /** Connected sockets per namespace name (gauge). */
  sockets: Record<string, number>;
  /** Sessions opened, by the transport they opened on. */
  handshakes: { polling: number; websocket: number };
  /** Requests refused: by `maxConnections` (503), `handshakeRateLimit` (429), a drain (503), or as invalid. */
  refused: { maxConnections: number; rateLimit: number; draining: number; other: number };
  upgrades: number;
  /** Namespace connections accepted. */
  connects: number;
  /** Engine.IO sessions closed, by reason. */
  closes: Record<EngineCloseReason, number>;
  /** Sockets disconnected, by reason. */
  disconnects: Record<DisconnectReason, number>;
  /** Engine.IO packets in and out (messages, pings, control). */
  packets: { in: number; out: number };
  /** Their size (UTF-16 code units for text, bytes for binary). */
  bytes: { in: number; out: number };
  /** Acks awaited now (gauge) and acks that timed out. */
  acks: { pending: number; timedOut: number };
  /** Incoming events dropped by `eventRateLimit`. */
  eventsRateLimited: number;
  /** Volatile packets dropped because their client was busy. */
  volatileDropped: number;
  /** Bytes queued for all clients and not yet written (gauge). */
  bufferedBytes: number;
  /**
   * `io.drain()`: whether the server is draining (gauge), connections it
   * closed, and how many of those only at its deadline.
   */
  drain: { draining: boolean; drained: number; atDeadline: number };
  /** Requests a cluster adapter made to the other nodes: settled, timed out, total duration (ms). */
  adapterRequests: { count: number; timedOut: number; totalMs: number };
}

/** What a snapshot is taken from: the Server, seen through the few members it needs. */
export interface MetricsSource {
  readonly engine: {
    readonly clients: ReadonlyMap<string, EngineSocket>;
    readonly counters: EngineCounters | null;
    readonly draining?: boolean;
  };
  readonly _nsps: ReadonlyMap<string, { readonly sockets: ReadonlyMap<string, { readonly _pendingAcks: number }> }>;
  readonly _counters: SocketCounters | null;
}

/** Takes a snapshot of `io` (what `io.metrics()` returns). */
export function collectMetrics(io: MetricsSource): MetricsSnapshot {
  let polling = 0;
  let websocket = 0;
  let bufferedBytes = 0;
  for (const conn of io.engine.clients.values()) {
    if (conn.transport.name === "polling") polling++;
    else websocket++;
    bufferedBytes += conn.bufferedAmount;
  }
  const sockets: Record<string, number> = Object.create(null);
  let pending = 0;
  for (const [name, nsp] of io._nsps) {
    sockets[name] = nsp.sockets.size;
    for (const socket of nsp.sockets.values()) pending += socket._pendingAcks;
  }
  const e = io.engine.counters;
  const s = io._counters;
  return {
    counting: e !== null,
    connections: { total: polling + websocket, polling, websocket },
    sockets,
    handshakes: { polling: e?.handshakesPolling ?? 0, websocket: e?.handshakesWebsocket ?? 0 },
    refused: {
      maxConnections: e?.refusedMaxConnections ?? 0,
      rateLimit: e?.refusedRateLimit ?? 0,
      draining: e?.refusedDraining ?? 0,
      other: e?.refusedOther ?? 0,
    },
    upgrades: e?.upgrades ?? 0,
    connects: s?.connects ?? 0,
    closes: { ...(e?.closes ?? ZERO_CLOSES) },
    disconnects: { ...(s?.disconnects ?? ZERO_DISCONNECTS) },
    packets: { in: e?.packetsIn ?? 0, out: e?.packetsOut ?? 0 },
    bytes: { in: e?.bytesIn ?? 0, out: e?.bytesOut ?? 0 },
    acks: { pending, timedOut: s?.acksTimedOut ?? 0 },
    eventsRateLimited: s?.eventsRateLimited ?? 0,
    volatileDropped: s?.volatileDropped ?? 0,
    bufferedBytes,
    drain: { draining: io.engine.draining === true, drained: s?.drained ?? 0, atDeadline: s?.drainedAtDeadline ?? 0 },
    adapterRequests: { count: s?.adapterRequests ?? 0, timedOut: s?.adapterRequestsTimedOut ?? 0, totalMs: s?.adapterRequestMs ?? 0 },
  };
}

const ZERO_DISCONNECTS = new SocketCounters().disconnects;
const ZERO_CLOSES: Record<EngineCloseReason, number> = {
  "transport close": 0,
  "transport error": 0,
  "ping timeout": 0,
  "parse error": 0,
  "forced close": 0,
  "forced server close": 0,
};

export type MetricKind = "counter" | "gauge";

/** One sample: a metric name (Prometheus style, `unio_` prefix), its kind, value and labels. */
export type MetricSink = (name: string, kind: MetricKind, value: number, labels: Readonly<Record<string, string>>, help: string) => void;

const NO_LABELS: Readonly<Record<string, string>> = Object.freeze({});

/**
 * Calls `sink` once per sample of `m`: the one list both exporters are built
 * on. For OpenTelemetry, create one observable instrument per name (counter
 * kinds as ObservableCounter, gauges as ObservableGauge) and observe the
 * samples in a batch callback.
 *
 * @example
 * // with @opentelemetry/api (not a dependency of unio)
 * const meter = metrics.getMeter("unio");
 * const instruments = new Map();
 * forEachMetric(io.metrics(), (name, kind, _v, _l, help) => {
 *   if (!instruments.has(name)) instruments.set(name, kind === "counter"
 *     ? meter.createObservableCounter(name, { description: help })
 *     : meter.createObservableGauge(name, { description: help }));
 * });
 * meter.addBatchObservableCallback((result) => {
 *   forEachMetric(io.metrics(), (name, _k, value, labels) => result.observe(instruments.get(name), value, labels));
 * }, [...instruments.values()]);
 */
export function forEachMetric(m: MetricsSnapshot, sink: MetricSink): void {
  const g = (name: string, value: number, help: string, labels = NO_LABELS) => sink(name, "gauge", value, labels, help);
  const c = (name: string, value: number, help: string, labels = NO_LABELS) => sink(name, "counter", value, labels, help);
  const open = "Open Engine.IO connections, by transport.";
  g("unio_connections", m.connections.polling, open, { transport: "polling" });
  g("unio_connections", m.connections.websocket, open, { transport: "websocket" });
  for (const name of Object.keys(m.sockets)) {
    g("unio_sockets", m.sockets[name]!, "Connected sockets, by namespace.", { namespace: name });
  }
  g("unio_buffered_bytes", m.bufferedBytes, "Bytes queued for clients and not yet written.");
  g("unio_acks_pending", m.acks.pending, "Acknowledgements awaited from clients.");
  const hs = "Engine.IO sessions opened, by transport.";
  c("unio_handshakes_total", m.handshakes.polling, hs, { transport: "polling" });
  c("unio_handshakes_total", m.handshakes.websocket, hs, { transport: "websocket" });
  const refused = "Requests refused, by reason.";
  c("unio_refused_total", m.refused.maxConnections, refused, { reason: "max_connections" });
  c("unio_refused_total", m.refused.rateLimit, refused, { reason: "rate_limit" });
  c("unio_refused_total", m.refused.draining, refused, { reason: "draining" });
  c("unio_refused_total", m.refused.other, refused, { reason: "invalid" });
  c("unio_upgrades_total", m.upgrades, "Polling sessions upgraded to WebSocket.");
  c("unio_connects_total", m.connects, "Namespace connections accepted.");
  for (const reason of Object.keys(m.closes) as EngineCloseReason[]) {
    c("unio_closes_total", m.closes[reason], "Engine.IO sessions closed, by reason.", { reason });
  }
  for (const reason of Object.keys(m.disconnects) as DisconnectReason[]) {
    c("unio_disconnects_total", m.disconnects[reason], "Sockets disconnected, by reason.", { reason });
  }
  c("unio_packets_total", m.packets.in, "Engine.IO packets, by direction.", { direction: "in" });
  c("unio_packets_total", m.packets.out, "Engine.IO packets, by direction.", { direction: "out" });
  c("unio_bytes_total", m.bytes.in, "Engine.IO packet bytes, by direction.", { direction: "in" });
  c("unio_bytes_total", m.bytes.out, "Engine.IO packet bytes, by direction.", { direction: "out" });
  c("unio_acks_timed_out_total", m.acks.timedOut, "Acknowledgements that timed out.");
  c("unio_events_rate_limited_total", m.eventsRateLimited, "Incoming events dropped by eventRateLimit.");
  c("unio_volatile_dropped_total", m.volatileDropped, "Volatile packets dropped for busy clients.");
  g("unio_draining", m.drain.draining ? 1 : 0, "1 while the server drains (io.drain()), else 0.");
  const drained = "Connections closed by io.drain(), by when: in their slot, or at the deadline.";
  c("unio_drained_total", m.drain.drained - m.drain.atDeadline, drained, { when: "spread" });
  c("unio_drained_total", m.drain.atDeadline, drained, { when: "deadline" });
  // Two counters: rate(seconds) / rate(requests) is the mean latency over any window.
  const ar = m.adapterRequests;
  c("unio_adapter_requests_total", ar.count, "Cluster adapter requests to other nodes settled (fetchSockets, serverSideEmit with ack).");
  c("unio_adapter_requests_timed_out_total", ar.timedOut, "Cluster adapter requests ended by their deadline.");
  c("unio_adapter_request_seconds_total", ar.totalMs / 1000, "Time cluster adapter requests took, in seconds.");
}

/**
 * The snapshot in the Prometheus text exposition format (version 0.0.4):
 * serve it with `Content-Type: text/plain; version=0.0.4` on any route.
 *
 * @example
 * // Node, next to the Socket.IO server
 * http.createServer((req, res) => {
 *   if (req.url === "/metrics") res.end(toPrometheus(io.metrics()));
 * });
 */
export function toPrometheus(m: MetricsSnapshot): string {
  let out = "";
  let last = "";
  forEachMetric(m, (name, kind, value, labels, help) => {
    if (name !== last) {
      out += `# HELP ${name} ${help}\n# TYPE ${name} ${kind}\n`;
      last = name;
    }
    const keys = Object.keys(labels);
    let sample = name;
    if (keys.length > 0) sample += `{${keys.map((k) => `${k}="${escapeLabel(labels[k]!)}"`).join(",")}}`;
    out += `${sample} ${value}\n`;
  });
  return out;
}

/** Label values may hold anything a namespace name does: backslash, quote and newline are escaped. */
function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}
