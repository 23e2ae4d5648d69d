// Core entry: runtime-agnostic. (The Socket.IO layer's exports are added with src/socket.)
export { Engine, type EngineEvents } from "./engine/engine.ts";
export type { EngineOptions, CookieOptions, AllowRequest } from "./engine/options.ts";
export type { CorsOptions } from "./engine/cors.ts";
export type * from "./engine/facade.ts";
export type { EngineSocket, EngineCloseReason, TransportName, SessionState } from "./engine/types.ts";
export { OutboundMessage } from "./engine/outbound.ts";
export { FakeClock, systemClock, type Clock } from "./engine/clock.ts";
export { fromWebRequest, toWebResponse } from "./engine/web.ts";
