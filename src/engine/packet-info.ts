/**
 * The packets of the `packetCreate` and `packet` session events, in the
 * reference's shape (`{ type, data, options }`). Built only when someone
 * listens: the send and receive paths carry their own compact forms.
 */
import type { EnginePacket } from "../protocol/engine-io.ts";
import { OutboundMessage } from "./outbound.ts";
import type { WireItem } from "./transport.ts";
import type { EnginePacketInfo } from "./types.ts";

const TYPES: readonly EnginePacketInfo["type"][] = ["open", "close", "ping", "pong", "message", "upgrade", "noop"];

type Wrap = ((bytes: Uint8Array) => Uint8Array) | null;

/** An outgoing item: a message keeps its `compress` flag; a control packet is typed by its first digit. */
export function createdPacket(item: WireItem | OutboundMessage, wrap: Wrap): EnginePacketInfo {
  if (item instanceof OutboundMessage) {
    const data = item.data;
    return { type: "message", data: wrap && typeof data !== "string" ? wrap(data) : data, options: { compress: item.compress } };
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
