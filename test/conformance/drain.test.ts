/**
 * `io.drain({ timeout })` on every runtime (Node, Bun, Deno, Workers), with
 * the real socket.io-client and raw HTTP/WebSocket. Each test starts its own
 * fixture (a drain is the end of a server) and triggers the drain from a
 * client (`start-drain`, production-app.ts); the fixture prints a report on
 * its stdout when the drain's Promise resolves (drain-report.ts).
 *
 * On Workers the drained server is the Durable Object's: that object refuses
 * new handshakes and moves its clients off; the router still sends new
 * handshakes to it (one object here), so they get its 503, as a lone Node
 * server's would.
 */
import { io as ioc, type Socket as ClientSocket } from "socket.io-client";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { once, waitFor, within } from "../helpers/wait.ts";
import { type DrainReport, findDrainReport } from "./drain-report.ts";
import { type RunningFixture, startFixture } from "./harness.ts";
import { RUNTIMES, selectedRuntimes } from "./runtimes.ts";

// A slow heartbeat: a client must leave by the drain, never by a ping timeout on a loaded machine.
const ENV = { FIXTURE_PRODUCTION: JSON.stringify({ metrics: true, pingInterval: 2000, pingTimeout: 20_000 }) };

type Transports = Array<"websocket" | "polling">;

/** A client that reconnects (as apps run it), with what it saw. */
interface Watched {
  socket: ClientSocket;
  transports: Transports;
  /** When it saw "disconnect" (test clock), and the reason. */
  closedAt?: number;
  reason?: string;
  /** `socket.active` right after the disconnect: whether it reconnects. */
  activeAfter?: boolean;
  /** connect_error messages after the disconnect (its reconnection attempts, refused). */
  refusals: string[];
}

/** A raw WebSocket handshake's HTTP status (101 when accepted). */
function wsHandshakeStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    ws.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
    ws.on("open", () => {
      ws.close();
      resolve(101);
    });
    ws.on("error", () => {});
  });
}

describe.each(selectedRuntimes(RUNTIMES, []))("io.drain() on $name", (runtime) => {
  let fx: RunningFixture | undefined;
  const all: ClientSocket[] = [];

  afterEach(async () => {
    for (const c of all.splice(0)) c.disconnect();
    await fx?.stop();
    fx = undefined;
  });

  async function connect(transports: Transports): Promise<Watched> {
    const socket = ioc(fx!.url, {
      forceNew: true,
      transports,
      reconnectionDelay: 200,
      reconnectionDelayMax: 400,
      randomizationFactor: 0,
    });
    all.push(socket);
    const w: Watched = { socket, transports, refusals: [] };
    socket.on("disconnect", (reason) => {
      w.closedAt ??= Date.now();
      w.reason ??= reason;
      w.activeAfter ??= socket.active;
    });
    socket.on("connect_error", (err) => {
      if (w.closedAt !== undefined) w.refusals.push(err.message);
    });
    await once(socket, "connect", { failOn: "connect_error", what: `a ${transports.join("+")} client connected` });
    return w;
  }

  /** Emits `start-drain` from `from`; the fixture's clock when the drain started. */
  async function startDrain(from: ClientSocket, timeout: number): Promise<{ started: number; connections: number }> {
    return (await from.timeout(5000).emitWithAck("start-drain", timeout)) as { started: number; connections: number };
  }

  async function drainReport(timeout: number): Promise<DrainReport> {
    let report: DrainReport | undefined;
    await waitFor(() => (report = findDrainReport(fx!.output())) !== undefined, {
      timeout,
      what: `the drain report on the fixture's output:\n${fx!.output().slice(-2000)}`,
    });
    return report!;
  }

  it(
    "spreads the closes over the timeout (polling and WebSocket clients see 'transport close' and reconnect), refuses new handshakes with 503 + Retry-After, holds a socket until its pending ack is answered, and resolves once the last client is gone",
    async () => {
      const T = 3000;
      fx = await startFixture(runtime, ENV);
      // Slot 0: a client the server awaits an ack from (it answers 1.2 s into the drain).
      const acker = await connect(["websocket"]);
      let answerJob: ((v: string) => void) | undefined;
      acker.socket.on("job", (ack: (v: string) => void) => (answerJob = ack));
      const asked = acker.socket.timeout(T + 10_000).emitWithAck("ask-me", { event: "job", timeout: 60_000 });
      await waitFor(() => answerJob !== undefined, { what: "the server's question to the acker" });
      // Slots 1..10: plain clients, both transports.
      const plain: Watched[] = [];
      for (let i = 0; i < 5; i++) {
        plain.push(await connect(["websocket"]));
        plain.push(await connect(["polling"]));
      }
      const { started, connections } = await startDrain(plain[plain.length - 1]!.socket, T);
      expect(connections).toBe(11);

      // New handshakes, polling and WebSocket, are refused while it drains.
      const res = await fetch(`${fx.url}/socket.io/?EIO=4&transport=polling`);
      expect(res.status).toBe(503);
      const retryAfter = Number(res.headers.get("retry-after"));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(T / 1000);
      expect(await res.json()).toEqual({ code: 3, message: "Server is draining" });
      expect(await wsHandshakeStatus(`ws://127.0.0.1:${fx.port}/socket.io/?EIO=4&transport=websocket`)).toBe(503);

      // The acker's slot came at once, but it stays until it answers.
      await new Promise((r) => setTimeout(r, Math.max(0, started + 1200 - Date.now()))); // scenario time: the answer comes late
      expect(acker.closedAt).toBeUndefined();
      const answeredAt = Date.now();
      answerJob!("done");
      expect(await asked).toEqual({ ok: true, value: "done" });

      const report = await drainReport(T + 10_000);
      const watched = [acker, ...plain];
      await waitFor(() => watched.every((w) => w.closedAt !== undefined), { what: "every client's disconnect" });
      for (const w of watched) {
        expect(w.reason, w.transports.join("+")).toBe("transport close");
        expect(w.activeAfter, "reconnects").toBe(true);
      }
      expect(acker.closedAt!).toBeGreaterThanOrEqual(answeredAt);
      // Spread over the timeout, not all at once: slot i of 11 falls at i·T/11 (plain ones 273 ms to 2.7 s).
      const closes = plain.map((w) => w.closedAt! - started).sort((a, b) => a - b);
      expect(closes[0]).toBeLessThan(1000);
      expect(closes[closes.length - 1]).toBeGreaterThanOrEqual(2000);
      expect(closes[closes.length - 1]! - closes[0]!).toBeGreaterThanOrEqual(1500);
      for (const t of closes) expect(closes.filter((u) => u >= t && u < t + 500).length).toBeLessThanOrEqual(5);
      // The server's own view: every socket disconnected as "server shutting down", spread likewise.
      expect(report.departures).toHaveLength(11);
      for (const d of report.departures) expect(d.reason).toBe("server shutting down");
      expect(new Set(report.departures.map((d) => d.transport))).toEqual(new Set(["websocket", "polling"]));
      const serverCloses = report.departures.map((d) => d.at - started);
      expect(serverCloses[serverCloses.length - 1]! - serverCloses[0]!).toBeGreaterThanOrEqual(1500);
      // The Promise resolved after the last client left, without waiting for the deadline.
      expect(report.resolvedAt).toBeGreaterThanOrEqual(report.departures[report.departures.length - 1]!.at);
      expect(report.resolvedAt - started).toBeLessThan(T);
      expect(report.connections).toBe(0);
      expect(report.draining).toBe(true);
      expect(report.drain).toEqual({ draining: true, drained: 11, atDeadline: 0 });
      // The clients keep trying; the drained server keeps refusing them.
      await waitFor(() => watched.every((w) => w.refusals.length >= 1), { what: "a refused reconnection of every client" });
      for (const w of watched) expect(w.socket.active).toBe(true);
      expect((await fetch(`${fx.url}/socket.io/?EIO=4&transport=polling`)).status).toBe(503);
    },
    60_000,
  );

  it("an ack never answered holds its socket until the deadline, no later; the drain then resolves", async () => {
    const T = 1500;
    fx = await startFixture(runtime, ENV);
    const holder = await connect(["polling"]);
    holder.socket.on("job", () => {}); // never answers
    void holder.socket.timeout(T + 10_000).emitWithAck("ask-me", { event: "job", timeout: 60_000 }).catch(() => {});
    const other = await connect(["websocket"]);
    await new Promise((r) => setTimeout(r, 100)); // scenario time: the question reaches the holder
    const { started } = await startDrain(other.socket, T);
    const report = await within(drainReport(T + 10_000), { what: "the drain report" });
    await waitFor(() => holder.closedAt !== undefined && other.closedAt !== undefined, { what: "both disconnects" });
    expect(holder.reason).toBe("transport close");
    expect(holder.activeAfter).toBe(true);
    // The other one left in its slot (T/2); the holder only at the deadline.
    expect(other.closedAt! - started).toBeLessThan(T - 300);
    expect(holder.closedAt! - started).toBeGreaterThanOrEqual(T - 50);
    expect(holder.closedAt! - started).toBeLessThan(T + 2000);
    expect(report.resolvedAt - started).toBeGreaterThanOrEqual(T - 50);
    expect(report.connections).toBe(0);
    expect(report.drain).toEqual({ draining: true, drained: 2, atDeadline: 1 });
  }, 40_000);
});
