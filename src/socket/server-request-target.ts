/**
 * The Server as a `RequestTarget`: what runtime shims call (`serve(io)`,
 * `attach(io, httpServer)`) is forwarded to its Engine, after the client
 * bundle (`serveClient`) had its look at the URL. A base class of `Server`
 * (server.ts), which binds the engine and rebuilds it when options change.
 */
import type { Clock } from "../engine/clock.ts";
import type { Engine } from "../engine/engine.ts";
import type { Fanout, IncomingRequest, OutgoingResponse, SharedFrame, UpgradeResult } from "../engine/facade.ts";
import type { ResolvedPerMessageDeflate } from "../engine/options.ts";
import type { Scheduler } from "../engine/scheduler.ts";
import { serveClientFile } from "./client-files.ts";
import { ServerBroadcasts } from "./server-broadcast.ts";
import type { EventsMap } from "./typed-events.ts";

/** The engine the server drives: unio's Engine, or anything with the same connection surface. */
export type ServerEngine = Engine;

export abstract class ServerRequestTarget<
    ListenEvents extends EventsMap,
    EmitEvents extends EventsMap,
    ServerSideEvents extends EventsMap,
    SocketData,
  >
  extends ServerBroadcasts<ListenEvents, EmitEvents, ServerSideEvents, SocketData>
{
  /** The Engine.IO server. */
  engine!: ServerEngine;
  #serveClient = true;

  /** The Engine.IO server under socket.io's internal name (`io.eio`), which some code reads. */
  get eio(): ServerEngine {
    return this.engine;
  }

  /** @internal The engine's clock: every socket-layer deadline reads it. */
  get _clock(): Clock {
    return this.engine.clock;
  }

  /** @internal The engine's scheduler: connect and ack timeouts are entries in it, not timers. */
  get _scheduler(): Scheduler {
    return this.engine.scheduler;
  }

  /** Gets or sets whether the client bundle is served. */
  serveClient(v: boolean): this;
  serveClient(): boolean;
  serveClient(v?: boolean): this | boolean {
    if (v === undefined) return this.#serveClient;
    this.#serveClient = v;
    return this;
  }

  get maxPayload(): number {
    return this.engine.maxPayload;
  }

  get maxBufferedBytes(): number {
    return this.engine.maxBufferedBytes;
  }

  get perMessageDeflate(): ResolvedPerMessageDeflate {
    return this.engine.perMessageDeflate;
  }

  /** Forwarded to the engine: the runtime's native fan-out, if any. */
  get fanout(): Fanout | null {
    return this.engine.fanout;
  }
  set fanout(fanout: Fanout | null) {
    this.engine.fanout = fanout;
  }

  /** Forwarded to the engine: the runtime's binary type for decoded bytes. */
  get binaryType(): ((bytes: Uint8Array) => Uint8Array) | null {
    return this.engine.binaryType;
  }
  set binaryType(wrap: ((bytes: Uint8Array) => Uint8Array) | null) {
    this.engine.binaryType = wrap;
  }

  /** Forwarded to the engine: the shim's framing of broadcasts, for `packetCreate` listeners. */
  get preEncodeFrame(): ((frame: SharedFrame) => Uint8Array[]) | null {
    return this.engine.preEncodeFrame;
  }
  set preEncodeFrame(frame: ((frame: SharedFrame) => Uint8Array[]) | null) {
    this.engine.preEncodeFrame = frame;
  }

  matches(pathname: string): boolean {
    return this.engine.matches(pathname);
  }

  handleRequest(req: IncomingRequest): Promise<OutgoingResponse> {
    // Engine.IO requests are for the path itself ("/socket.io/?EIO=4..."); only a
    // longer pathname can name a client bundle, so the common case skips the lookup.
    if (this.#serveClient && pathnameOf(req.url).length > this.engine.path.length) return this.#serveFile(req);
    return this.engine.handleRequest(req);
  }

  async #serveFile(req: IncomingRequest): Promise<OutgoingResponse> {
    const file = await serveClientFile(req, this.engine.path, { cors: this.engine.opts.cors });
    return file ?? this.engine.handleRequest(req);
  }

  handleUpgrade(req: IncomingRequest): Promise<UpgradeResult> {
    return this.engine.handleUpgrade(req);
  }
}

function pathnameOf(url: string): string {
  const q = url.indexOf("?");
  return q === -1 ? url : url.slice(0, q);
}
