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
 *
 * A channel whose PubSub topic differs from the topic its client joined (`JoinOptions`) asks for
 * the frame with its own topic: every subscriber of one PubSub topic normally joined the same
 * client topic, so the cache key is (serializer, topic) and encode-once still holds.
 */
import type { BroadcastMessage } from '../protocol.ts';
import type { Frame } from '../serializer/frame.ts';
import type { Serializer } from '../serializer/serializer.ts';
import type { EndpointStats } from '../endpoint-stats.ts';

let message: BroadcastMessage | null = null;
// One slot for the common case of one serializer; a map only when clients mix serializers.
let firstSerializer: Serializer | null = null;
let firstTopic = '';
let firstFrame: Frame | null = null;
let others: Map<Serializer, Map<string, Frame | null>> | null = null;

/**
 * The frame of `broadcast` for `serializer`, with `topic` as the frame's topic (default the
 * broadcast's own), encoded on the first request during its dispatch; null when the serializer
 * cannot carry it (binary over V1). Encodes are counted in `stats`.
 */
export function broadcastFrame(broadcast: BroadcastMessage, serializer: Serializer, stats: EndpointStats, topic = broadcast.topic): Frame | null {
  if (broadcast !== message) {
    message = broadcast;
    firstSerializer = serializer;
    firstTopic = topic;
    firstFrame = encode(broadcast, serializer, stats, topic);
    others = null;
    return firstFrame;
  }
  if (serializer === firstSerializer && topic === firstTopic) return firstFrame;
  others ??= new Map();
  let byTopic = others.get(serializer);
  if (byTopic === undefined) others.set(serializer, (byTopic = new Map()));
  let frame = byTopic.get(topic);
  if (frame === undefined) {
    frame = encode(broadcast, serializer, stats, topic);
    byTopic.set(topic, frame);
  }
  return frame;
}

function encode(broadcast: BroadcastMessage, serializer: Serializer, stats: EndpointStats, topic: string): Frame | null {
  stats.broadcastEncodes++;
  return serializer.encodeBroadcast(topic === broadcast.topic ? broadcast : { ...broadcast, topic });
}
