/**
 * @module runtime/connection
 * Internal: the runtime of one connected socket, whatever its transport — what Phoenix calls the
 * socket process (the process `Phoenix.Socket` runs per connection). It decodes inbound frames,
 * answers heartbeats at once, admits the rest through the rate limit and the input limits
 * (`limits.ts`), routes joins to channels, enforces the join_ref rules and the channel limit, and
 * holds frames for a topic while that topic's join is being decided.
 */
import type { Assigns, TerminateReason } from '../channel.ts';
import { CloseCodes, Events, PHOENIX_TOPIC, Reasons, type BroadcastMessage, type Message, type Ref } from '../protocol.ts';
import type { Subscriber } from '../pubsub/pubsub.ts';
import type { Frame } from '../serializer/frame.ts';
import type { Serializer } from '../serializer/serializer.ts';
import type { Route } from '../socket.ts';
import type { TransportHandle } from '../transport/transport.ts';
import type { ChannelHost } from './channel-host.ts';
import { ChannelServer, type JoinOutcome } from './channel-server.ts';
import { ChannelTable } from './channel-table.ts';
import { checkMessage, checkNesting } from './limits.ts';
import { Admissions, RateLimiter } from './rate-limiter.ts';
import type { Mount, Services } from './services.ts';

// The last topic joined through each route. Every decoded frame brings its own copy of the topic
// string, which a channel keeps for its whole life: the members of one room share one copy instead
// (32 bytes per idle socket). One string per route, however many topics it serves.
const lastTopic = new WeakMap<Route, string>();

function sharedTopic(route: Route, topic: string): string {
  const last = lastTopic.get(route);
  if (last === topic) return last;
  lastTopic.set(route, topic);
  return topic;
}

interface PendingJoin {
  readonly held: Array<{ message: Message; dispatched: () => void }>;
}

/** One connected socket. */
export class Connection extends ChannelTable implements Subscriber, ChannelHost<ChannelServer> {
  /** The mounted socket this connection was accepted by (its limits, the endpoint's services). */
  readonly mount: Mount;
  readonly serializer: Serializer;
  readonly socketId: string | null;
  readonly #transport: TransportHandle;
  readonly #assigns: Assigns;
  /** Topics whose join is being decided; created on the first async join. */
  #joining: Map<string, PendingJoin> | null = null;
  readonly #rate: RateLimiter | null;
  #closed = false;

  constructor(mount: Mount, serializer: Serializer, transport: TransportHandle, assigns: Assigns, id: string | null) {
    super();
    this.mount = mount;
    this.serializer = serializer;
    this.#transport = transport;
    this.#assigns = assigns;
    this.socketId = id;
    this.#rate = mount.limits.rateLimit === null ? null : new RateLimiter(mount.limits.rateLimit, mount.services.clock.now());
    if (id !== null) void mount.services.pubsub.subscribe(id, this);
  }

  /** The endpoint's services. */
  get services(): Services {
    return this.mount.services;
  }

  get transportName(): string {
    return this.#transport.name;
  }

  /** True after {@link close}. */
  get closed(): boolean {
    return this.#closed;
  }

  send(frame: Frame): void {
    if (this.#closed) return;
    const { stats } = this.mount.services;
    stats.messagesOut++;
    stats.bytesOut += frame.data.length;
    this.#transport.send(frame);
  }

  /**
   * True when `bytes` of frames fit in half the room its transport has left before the client is a
   * slow reader. A recovery replay is sent only then (docs/recovery.md): one that overflowed the
   * transport would drop the client, which would rejoin with the same position and be dropped
   * again, for ever. Half, so that the frames around it, the replays of the client's other channels
   * (all rejoined at once after a reconnect) and a size estimated a little short still fit.
   */
  hasRoomFor(bytes: number): boolean {
    return bytes <= (this.#transport.spareBytes?.() ?? Infinity) / 2;
  }

  /**
   * Decodes and handles one inbound frame.
   * @returns a promise only when the frame is held behind a pending join of its topic; it
   *   resolves once the frame has been dispatched (LongPoll answers 408 if that takes too long)
   * @throws MalformedFrameError when the frame cannot be decoded or nests deeper than `maxPayloadDepth`
   */
  handleFrame(data: Buffer, binary: boolean): Promise<void> | void {
    // Before decoding: a deeply nested frame must never reach JSON.parse or anything recursive.
    if (!binary || this.serializer.jsonInBinary === true) checkNesting(data, this.mount.limits.maxPayloadDepth);
    return this.handleMessage(this.serializer.decode(data, binary));
  }

  /** Handles one decoded inbound message (see {@link handleFrame}). */
  handleMessage(message: Message): Promise<void> | void {
    if (this.#closed) return;
    this.mount.services.stats.messagesIn++;
    // Heartbeats are always answered, even over the rate limit: missing replies make clients reconnect.
    if (message.event === Events.heartbeat && message.topic === PHOENIX_TOPIC) {
      this.reply(null, message.ref, message.topic, 'ok', {});
      return;
    }
    if (!this.admit(message)) return;
    return this.route(message);
  }

  /**
   * Applies the rate limit, then the input limits. A refused message is answered with an error
   * reply carrying its ref and a null join_ref — the refusal is the socket's, not a channel's, as
   * for "unmatched topic" — and is not handled; past `closeAfterMs` over budget the socket closes.
   */
  private admit(message: Message): boolean {
    const { limits } = this.mount;
    const { stats, logger } = this.mount.services;
    const transport = this.#transport;
    const admission = this.#rate?.admit(this.mount.services.clock.now()) ?? Admissions.admit;
    if (admission !== Admissions.admit) {
      stats.rateLimited++;
      if (admission === Admissions.close) {
        stats.rateLimitCloses++;
        logger.warn({ code: CloseCodes.rateLimited, socketId: this.socketId, transport: transport.name }, 'rate limited; closing socket');
        this.close({ shutdown: 'closed' });
        transport.close(CloseCodes.rateLimited, Reasons.rateLimited);
      } else {
        this.reply(null, message.ref, message.topic, 'error', { reason: Reasons.rateLimited });
      }
      return false;
    }
    const refusal = checkMessage(message, limits);
    if (refusal === null) return true;
    this.reply(null, message.ref, message.topic, 'error', { reason: refusal });
    return false;
  }

  /** Dispatches an admitted message (frames released from behind a join come back here). */
  private route(message: Message): Promise<void> | void {
    if (this.#closed) return;
    const pending = this.#joining?.get(message.topic);
    if (pending !== undefined) {
      return new Promise((dispatched) => pending.held.push({ message, dispatched }));
    }
    switch (message.event) {
      case Events.join:
        return this.join(message);
      case Events.leave:
        return this.leave(message);
      default:
        return this.event(message);
    }
  }

  /** Subscriber of the socket id topic: `disconnect` closes the socket with 1001. */
  deliver(message: BroadcastMessage): void {
    if (message.event !== Events.disconnect) return;
    this.close({ shutdown: 'disconnected' });
    this.#transport.close(CloseCodes.goingAway, 'disconnected');
  }

  channelEnded(server: ChannelServer): void {
    this.removeChannel(server);
  }

  /** Ends every channel with `reason` and leaves the id topic. Sends nothing; idempotent. */
  close(reason: TerminateReason): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.socketId !== null) this.mount.services.pubsub.unsubscribe(this.socketId, this);
    for (const server of this.channels()) server.shutdown(reason);
    this.clearChannels();
    if (this.#joining !== null) {
      for (const pending of this.#joining.values()) for (const held of pending.held) held.dispatched();
      this.#joining = null;
    }
  }

  private join(message: Message): Promise<void> | void {
    const { topic, ref } = message;
    const route = this.mount.socket.route(topic);
    if (route === null) {
      this.reply(null, ref, topic, 'error', { reason: Reasons.unmatchedTopic });
      return;
    }
    const previous = this.channel(topic);
    if (previous === undefined && this.channelCount + (this.#joining?.size ?? 0) >= this.mount.limits.maxChannels) {
      this.reply(message.joinRef, ref, topic, 'error', { reason: Reasons.tooManyChannels });
      return;
    }
    if (previous !== undefined) {
      // Duplicate join: the old channel goes without terminate; its phx_close follows the new reply.
      this.removeChannel(previous);
      previous.shutdown({ shutdown: 'duplicate_join' }, false);
    }
    const assigns = route.assigns ? { ...this.#assigns, ...route.assigns } : this.#assigns;
    const server = new ChannelServer(this, route.channel, sharedTopic(route, topic), message.joinRef ?? ref, assigns);
    const outcome = server.join(message.payload, ref, message.joinRef, this.mount.limits.joinTimeoutMs);
    if (typeof outcome === 'string') {
      this.joined(server, outcome, previous);
      return;
    }
    const pending: PendingJoin = { held: [] };
    (this.#joining ??= new Map()).set(topic, pending);
    void outcome.then((decided) => {
      if (this.#joining?.get(topic) === pending) {
        this.#joining.delete(topic);
        // Most sockets join once: an empty Map kept for the rest of the connection is memory per socket.
        if (this.#joining.size === 0) this.#joining = null;
      }
      if (this.#closed) {
        server.shutdown({ shutdown: 'closed' });
        return;
      }
      this.joined(server, decided, previous);
      this.release(pending);
    });
  }

  private joined(server: ChannelServer, outcome: JoinOutcome, previous: ChannelServer | undefined): void {
    if (outcome === 'ok') this.addChannel(server);
    previous?.sendClose();
  }

  /** Dispatches frames held behind a join, in order, stopping if one of them starts a new join. */
  private release(pending: PendingJoin): void {
    for (let i = 0; i < pending.held.length; i++) {
      const held = pending.held[i]!;
      const next = this.#joining?.get(held.message.topic);
      if (next !== undefined) {
        next.held.push(...pending.held.slice(i));
        return;
      }
      const result = this.route(held.message);
      if (result === undefined) held.dispatched();
      else void result.then(held.dispatched);
    }
  }

  private leave(message: Message): void {
    const server = this.channel(message.topic);
    if (server === undefined) {
      this.reply(message.joinRef, message.ref, message.topic, 'ok', {});
      return;
    }
    if (message.joinRef !== null && message.joinRef !== server.joinRef) return;
    this.removeChannel(server);
    server.leave(message.ref);
  }

  private event(message: Message): void {
    const server = this.channel(message.topic);
    if (server === undefined) {
      this.reply(null, message.ref, message.topic, 'error', { reason: Reasons.unmatchedTopic });
      return;
    }
    // A non-null join_ref from an earlier join of this topic is stale: dropped silently (§3.3).
    if (message.joinRef !== null && message.joinRef !== server.joinRef) return;
    server.handleIn(message);
  }

  private reply(joinRef: Ref, ref: Ref, topic: string, status: string, response: unknown): void {
    const frame = this.serializer.encodeReply({ joinRef, ref, topic, status, response });
    if (frame !== null) this.send(frame);
  }
}
