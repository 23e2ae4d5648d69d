/**
 * The load of the no-sticky measurements: `clients` polling-only
 * socket.io-clients, each sending one acked message every `interval` ms for
 * `duration` ms, through `url`. Counts what was sent and acknowledged (a
 * message is lost if its ack never comes, or comes with other data) and the
 * ack round trips. Used by test/cluster (short) and bench/cluster-no-sticky.ts
 * (the full minute).
 */
import { io as ioc, type Socket } from "socket.io-client";
import { sleep } from "../helpers/wait.ts";

export interface LoadResult {
  clients: number;
  sent: number;
  acked: number;
  lost: number;
  /** ms, ack round trip: the POST carrying the event plus the GET carrying the ack. */
  p50: number;
  p99: number;
  mean: number;
  /** Clients that failed to connect or lost their session during the run. */
  errors: number;
}

const percentile = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]! : 0);

export async function runLoad(
  url: string,
  opts: { clients: number; duration: number; interval?: number; withCredentials?: boolean; payload?: number },
): Promise<LoadResult> {
  const interval = opts.interval ?? 1000;
  const sockets: Socket[] = [];
  let errors = 0;
  // Connect in small batches: a burst of 300 handshakes is not what is measured.
  for (let i = 0; i < opts.clients; i += 25) {
    const batch = Array.from({ length: Math.min(25, opts.clients - i) }, () => {
      const s = ioc(url, { transports: ["polling"], forceNew: true, reconnection: false, withCredentials: opts.withCredentials });
      sockets.push(s);
      return new Promise<void>((resolve) => {
        const t = setTimeout(() => (errors++, resolve()), 15_000);
        s.once("welcome", () => (clearTimeout(t), resolve()));
        s.once("connect_error", () => (clearTimeout(t), errors++, resolve()));
      });
    });
    await Promise.all(batch);
  }
  for (const s of sockets) s.on("disconnect", () => errors++);
  const filler = "x".repeat(opts.payload ?? 64);
  let sent = 0;
  let acked = 0;
  const rtts: number[] = [];
  const end = Date.now() + opts.duration;
  await Promise.all(
    sockets.map(async (s, k) => {
      // Pacing (the scenario's time): spread the clients over the interval so the rate is even.
      await sleep((interval * k) / sockets.length);
      let i = 0;
      while (Date.now() < end && s.connected) {
        const started = performance.now();
        const msg = { k, i, filler };
        sent++;
        try {
          const reply = await s.timeout(10_000).emitWithAck("echo", msg);
          if (reply?.data?.k === k && reply.data.i === i) {
            acked++;
            rtts.push(performance.now() - started);
          }
        } catch {
          // Counted as lost.
        }
        i++;
        const wait = interval - (performance.now() - started);
        if (wait > 0) await sleep(wait); // pacing: one message per client every interval
      }
    }),
  );
  for (const s of sockets) {
    s.off("disconnect");
    s.disconnect();
  }
  rtts.sort((a, b) => a - b);
  return {
    clients: sockets.length,
    sent,
    acked,
    lost: sent - acked,
    p50: percentile(rtts, 0.5),
    p99: percentile(rtts, 0.99),
    mean: rtts.reduce((a, b) => a + b, 0) / (rtts.length || 1),
    errors,
  };
}
