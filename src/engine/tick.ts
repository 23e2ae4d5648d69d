/**
 * A counter of the event loop's turns, as far as the core can see them: it
 * moves on once per microtask checkpoint in which someone asked for it. A
 * write made at tick N has not reached the runtime's socket before tick N
 * ends on any runtime (Node's ws, for one, reports a frame written only
 * from a later tick), so "written this tick" is how the core tells that a
 * WebSocket is still busy (socket.io's `transport.writable`) without a
 * callback or timer per connection: one shared microtask serves every
 * session.
 */
let epoch = 0;
let queued = false;

function advance(): void {
  queued = false;
  epoch++;
}

/** The current tick's number; it changes once the current microtask queue reaches this point. */
export function currentTick(): number {
  if (!queued) {
    queued = true;
    queueMicrotask(advance);
  }
  return epoch;
}
