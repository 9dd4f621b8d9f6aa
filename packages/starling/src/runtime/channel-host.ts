/**
 * @module runtime/channel-host
 * Internal: what a channel server needs from the socket connection it runs on, and nothing more —
 * the seam between Phoenix's channel process and its socket process. `Connection` implements it;
 * the channel server never sees the transport, the routing or the other channels of its socket.
 */
import type { Frame } from '../serializer/frame.ts';
import type { Serializer } from '../serializer/serializer.ts';
import type { Services } from './services.ts';

/** The socket side of a channel server; `C` is the channel server type it hosts. */
export interface ChannelHost<C> {
  /** The endpoint's services (PubSub, Presence, clock, stats, logger). */
  readonly services: Services;
  /** Encodes the channel's frames for this socket's client. */
  readonly serializer: Serializer;
  /** The socket's id (from the socket definition's `id`), or null. */
  readonly socketId: string | null;
  /** `"websocket"` or `"longpoll"`, as channels see it. */
  readonly transportName: string;
  /** Writes one frame to the client. Never throws; a closed socket drops it. */
  send(frame: Frame): void;
  /** True when `bytes` of frames fit in half the room the client's transport has left (docs/recovery.md §4.1). */
  hasRoomFor(bytes: number): boolean;
  /** The channel ended by itself (stop, crash): the socket forgets it. */
  channelEnded(channel: C): void;
}
