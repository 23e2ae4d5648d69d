/**
 * `io.metrics().adapterRequests`: a cluster adapter's requests to the other
 * nodes (serverSideEmit with ack, fetchSockets) are counted with their
 * duration and whether their deadline ended them. Two servers on a
 * FakeClock, joined by an in-process bus.
 */
import { describe, expect, it } from "vitest";
import {
  type AnyNamespace,
  ClusterAdapterWithHeartbeat,
  type ClusterMessage,
  type ClusterResponse,
} from "../../src/cluster.ts";
import { Server, toPrometheus } from "../../src/index.ts";
import { FakeClock } from "../../src/testing.ts";

const TIMEOUT = 2000;
/** How long the bus takes to carry a message, on the fake clock. */
const HOP_MS = 7;

class Bus {
  readonly nodes = new Map<string, BusAdapter>();
  constructor(readonly clock: FakeClock) {}
  publish(from: string, message: ClusterMessage): void {
    const bytes = JSON.stringify(message);
    for (const [uid, node] of this.nodes) if (uid !== from) setImmediate(() => node.onMessage(JSON.parse(bytes)));
  }
  respond(to: string, response: ClusterResponse): void {
    const bytes = JSON.stringify(response);
    setImmediate(() => {
      this.clock.advance(HOP_MS);
      this.nodes.get(to)?.onResponse(JSON.parse(bytes));
    });
  }
}

class BusAdapter extends ClusterAdapterWithHeartbeat {
  constructor(
    nsp: AnyNamespace,
    readonly bus: Bus,
  ) {
    super(nsp, { heartbeatInterval: 60_000, heartbeatTimeout: 120_000, requestsTimeout: TIMEOUT });
    bus.nodes.set(this.uid, this);
  }
  protected doPublish(message: ClusterMessage): Promise<string> {
    this.bus.publish(this.uid, message);
    return Promise.resolve("");
  }
  protected doPublishResponse(requesterUid: string, response: ClusterResponse): Promise<void> {
    this.bus.respond(requesterUid, response);
    return Promise.resolve();
  }
}

const turns = async (n = 5) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

describe("metrics of cluster adapter requests", () => {
  it("counts answered and timed-out requests with their durations", async () => {
    const clock = new FakeClock();
    const bus = new Bus(clock);
    const a = new Server({ clock, metrics: true, adapter: (nsp: AnyNamespace) => new BusAdapter(nsp, bus) });
    const b = new Server({ clock, adapter: (nsp: AnyNamespace) => new BusAdapter(nsp, bus) });
    b.on("ask", (ack: (v: string) => void) => ack("from b"));
    b.on("ignore", () => {});
    await turns();
    expect(await a.serverSideEmitWithAck("ask")).toEqual(["from b"]);
    expect((await a.fetchSockets()).length).toBe(0);
    const ignored = a.serverSideEmitWithAck("ignore").catch((e: Error) => e);
    await turns();
    clock.advance(TIMEOUT);
    expect(((await ignored) as Error).message).toMatch(/^timeout reached/);
    const m = a.metrics().adapterRequests;
    expect(m).toEqual({ count: 3, timedOut: 1, totalMs: HOP_MS + HOP_MS + TIMEOUT });
    expect(toPrometheus(a.metrics())).toContain(`unio_adapter_request_seconds_total ${(2 * HOP_MS + TIMEOUT) / 1000}\n`);
    // The other server does not count: its option is off.
    expect(b.metrics().adapterRequests.count).toBe(0);
    await a.close();
    await b.close();
  });
});
