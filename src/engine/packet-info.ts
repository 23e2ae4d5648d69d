/**
 * The packets of the `packetCreate` and `packet` session events, in the
 * reference's shape (`{ type, data, options }`). Built only when someone
 * listens: the send and receive paths carry their own compact forms.
 */
import type { EnginePacket } from "../protocol/engine-io.ts";
import type { SharedFrame } from "./facade.ts";
import { OutboundMessage } from "./outbound.ts";
import type { WireItem } from "./transport.ts";
import type { EnginePacketInfo } from "./types.ts";

const TYPES: readonly EnginePacketInfo["type"][] = ["open", "close", "ping", "pong", "message", "upgrade", "noop"];

type Wrap = ((bytes: Uint8Array) => Uint8Array) | null;
/** The shim's framing of a shared message (`RequestTarget.preEncodeFrame`), or null. */
type PreEncode = ((frame: SharedFrame) => Uint8Array[]) | null;

/**
 * An outgoing item: a message keeps its `compress` flag; a control packet is
 * typed by its first digit. `preEncode` is given for a broadcast that is one
 * text message (as the reference pre-frames only those): its WebSocket frame,
 * built once and cached on the shared message for the sends that follow, is
 * shown as `options.wsPreEncodedFrame`.
 */
export function createdPacket(item: WireItem | OutboundMessage, wrap: Wrap, preEncode: PreEncode = null): EnginePacketInfo {
  if (item instanceof OutboundMessage) {
    const data = item.data;
    if (typeof data === "string") {
      const options: NonNullable<EnginePacketInfo["options"]> = { compress: item.compress };
      if (preEncode !== null) options.wsPreEncodedFrame = preEncode(item);
      return { type: "message", data, options };
    }
    return { type: "message", data: wrap ? wrap(data) : data, options: { compress: item.compress } };
  }
  const text = item.text;
  const packet: EnginePacketInfo = { type: TYPES[text.charCodeAt(0) - 48] ?? "message", options: { compress: true } };
  if (text.length > 1) packet.data = text.slice(1);
  return packet;
}

/** A received packet, its binary data in the runtime's binary type. */
export function receivedPacket(p: EnginePacket, wrap: Wrap): EnginePacketInfo {
  const packet: EnginePacketInfo = { type: p.type };
  if (p.data !== undefined) packet.data = wrap && typeof p.data !== "string" ? wrap(p.data) : p.data;
  return packet;
}
