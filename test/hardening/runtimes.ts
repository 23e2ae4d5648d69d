/**
 * The runtimes the hardening suite runs against: the commands of
 * test/conformance/runtimes.ts, with the hardening fixtures (and, on Deno,
 * `--expose-gc` so memory figures can be taken after a full collection),
 * plus workerd (fixtures/workers.ts: the app in a Durable Object behind the
 * router, through Miniflare). What a runtime cannot do is declared here as
 * a capability, with the reason; tests check capabilities, not names.
 */
import { fileURLToPath } from "node:url";
import { processRuntimes, type RuntimeSpec, selectedRuntimes as select } from "../conformance/runtimes.ts";

export interface HardeningCapabilities {
  /**
   * The fixture can read the process's memory (RSS, heap) and force a full
   * GC. workerd gives an isolate neither (no process.memoryUsage, no gc()),
   * and the process holding it is Miniflare's workerd, not the fixture's.
   */
  memory: boolean;
  /**
   * How long the runtime may take to drop the TCP connection of a WebSocket
   * that broke the framing (reserved opcode, endless fragments), ms. Node's
   * ws, Bun and Deno drop it at once (3 s allows for a loaded machine).
   * null: workerd ends the session at once (the server sees the transport
   * close) but was not seen to drop the TCP connection within 15 s, whether
   * or not the object calls close(); that socket is the platform's to reap.
   */
  protocolErrorCloseMs: number | null;
  /**
   * The runtime's HTTP parser refuses what the others refuse before unio
   * sees it: a 100 KB URL, more than ~2,000 headers, a DEL byte in a header
   * value. workerd passes all of them on (Cloudflare's edge applies its own
   * URL and header limits first, which cannot run locally), so the router's
   * request check answers them, before any object.
   */
  strictHttpParser: boolean;
  /**
   * The server hears that the client of a held polling GET went away.
   * workerd does not tell an object (request.signal does not fire across
   * the Worker → object hop, even with `enable_request_signal`), so the
   * session ends at the client's next request or at its ping timeout.
   */
  seesAbortedRequests: boolean;
  /**
   * The server sees how many bytes wait to go out on a WebSocket, so
   * `maxBufferedBytes` closes a client that stops reading. workerd does not
   * expose the queued byte count of a hibernatable WebSocket (the shim
   * reports 0): the runtime queues the writes and such a client ends by its
   * heartbeat instead (its pongs stop coming).
   */
  wsBackpressure: boolean;
}

export type { RuntimeSpec };

export type HardeningRuntime = RuntimeSpec & { hardening: HardeningCapabilities };

const root = fileURLToPath(new URL("../..", import.meta.url));

export const HARDENING_RUNTIMES: HardeningRuntime[] = [
  ...processRuntimes("test/hardening/fixtures", ["--v8-flags=--expose-gc"]).map((r) => ({ ...r, hardening: { memory: true, protocolErrorCloseMs: 3000, strictHttpParser: true, seesAbortedRequests: true, wsBackpressure: true } })),
  {
    name: "workers",
    command: [process.execPath, "--import", "tsx", `${root}test/hardening/fixtures/workers.ts`],
    capabilities: { remoteAddress: true, wsDeflate: "runtime", httpCompression: "platform" },
    hardening: { memory: false, protocolErrorCloseMs: null, strictHttpParser: false, seesAbortedRequests: false, wsBackpressure: false },
  },
];

/** `UNIO_RUNTIMES=node,bun` narrows a local run, as in the conformance suite. */
export function selectedRuntimes(): HardeningRuntime[] {
  return select(HARDENING_RUNTIMES, []) as HardeningRuntime[];
}
