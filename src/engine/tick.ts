/**
 * A counter of the event loop's turns, as far as the core can see them: it
 * moves on once per microtask checkpoint in which someone asked for it. A
 * write made at tick N has not reached the runtime's socket before tick N
 * ends on any runtime (Node's ws, for one, reports a frame written only
 * from a later tick), so "written this tick" is how the core tells that a
 * WebSocket is still busy (socket.io's `transport.writable`) without a
 * callback or timer per connection: one shared microtask serves every
 * session.
 *
 * The same microtask ends write coalescing: a connection whose runtime can
 * hold writes (`WsConnection.cork`) is held from its first frame of a tick,
 * and every held connection is released here, when the tick ends, so a
 * burst of frames to one connection goes out in one write.
 */
let epoch = 0;
let queued = false;

const RESOLVED = Promise.resolve();

/**
 * Runs `fn` on the microtask queue, in the same order `queueMicrotask`
 * would, for the per-packet hops (a tick's end, routing a client's
 * packets). A runtime may wrap each `queueMicrotask` call (an async
 * resource and a bound function); a reaction on a settled promise is one
 * small job.
 * `fn` must not throw: its error would surface as an unhandled rejection.
 */
export function microtask(fn: () => void): void {
  void RESOLVED.then(fn);
}

/** What `holdUntilTickEnd` releases: a WebSocket transport that corked its connection. */
export interface Held {
  release(): void;
}

/** Held this tick; emptied in place (no array per tick). */
const held: Held[] = [];

function advance(): void {
  queued = false;
  epoch++;
  if (held.length !== 0) releaseHeld();
}

function releaseHeld(): void {
  // Anything held while this loop runs (a release that writes) is released by it too.
  for (let i = 0; i < held.length; i++) {
    try {
      held[i]!.release();
    } catch {
      // One broken connection must not leave the others held.
    }
  }
  held.length = 0;
}

/** The current tick's number; it changes once the current microtask queue reaches this point. */
export function currentTick(): number {
  if (!queued) {
    queued = true;
    microtask(advance);
  }
  return epoch;
}

/** Calls `h.release()` when the current tick ends (with every other connection held in it). */
export function holdUntilTickEnd(h: Held): void {
  currentTick();
  held.push(h);
}
