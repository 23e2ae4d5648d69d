// Testing and shim-author entry: the injectable clock and the timer scheduler the core runs on.
// Not needed by applications; a test drives heartbeats and timeouts instantly with a FakeClock:
//
//   import { FakeClock } from "unio/testing";
//   const clock = new FakeClock();
//   const io = new Server({ clock, pingInterval: 1000 });
//   clock.advance(1000); // the ping goes out now, no real waiting

export { FakeClock, systemClock, type Clock } from "./engine/clock.ts";
export { Scheduler, TimerEntry, type TimerTarget } from "./engine/scheduler.ts";
export { fromWebRequest, toWebResponse } from "./engine/web.ts";
