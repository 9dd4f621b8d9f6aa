/**
 * @module runtime/broadcast-frames
 * Internal: encode-once for the fan-out path. PubSub hands the same {@link BroadcastMessage}
 * object to every local subscriber of a topic, one after another in one synchronous loop; the
 * first channel that asks for that message's frame in its serializer encodes it, and every other
 * subscriber with the same serializer gets the same {@link Frame} — the same bytes.
 *
 * The cache remembers only the message being dispatched (by identity): checking it costs one
 * comparison per subscriber, and it holds nothing once the next broadcast starts. A broadcast
 * started *during* a dispatch (a `handleOut` that broadcasts) takes the cache over; the outer
 * dispatch then encodes again — correct, one encode more, and rare.
 */
import type { BroadcastMessage } from '../protocol.ts';
import type { Frame } from '../serializer/frame.ts';
import type { Serializer } from '../serializer/serializer.ts';
import type { EndpointStats } from './endpoint-stats.ts';

let message: BroadcastMessage | null = null;
// One slot for the common case of one serializer; a map only when clients mix serializers.
let firstSerializer: Serializer | null = null;
let firstFrame: Frame | null = null;
let others: Map<Serializer, Frame | null> | null = null;

/**
 * The frame of `broadcast` for `serializer`, encoded on the first request during its dispatch;
 * null when the serializer cannot carry it (binary over V1). Encodes are counted in `stats`.
 */
export function broadcastFrame(broadcast: BroadcastMessage, serializer: Serializer, stats: EndpointStats): Frame | null {
  if (broadcast !== message) {
    message = broadcast;
    firstSerializer = serializer;
    firstFrame = encode(broadcast, serializer, stats);
    others = null;
    return firstFrame;
  }
  if (serializer === firstSerializer) return firstFrame;
  others ??= new Map();
  let frame = others.get(serializer);
  if (frame === undefined) {
    frame = encode(broadcast, serializer, stats);
    others.set(serializer, frame);
  }
  return frame;
}

function encode(broadcast: BroadcastMessage, serializer: Serializer, stats: EndpointStats): Frame | null {
  stats.broadcastEncodes++;
  return serializer.encodeBroadcast(broadcast);
}
