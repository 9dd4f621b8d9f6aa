/**
 * @module runtime/channel-context
 * Internal: the `socket` argument of channel callbacks — a view of one channel server
 * (its topic, join ref and assigns) plus the calls a channel makes: push, broadcast, presence.
 */
import type { Assigns, ChannelEndpoint, ChannelSocket, OutPayload, SocketRef } from '../channel.ts';
import type { PresenceList, PresenceMeta } from '../presence/presence-state.ts';
import type { Ref } from '../protocol.ts';
import type { Subscriber } from '../pubsub/pubsub.ts';
import { assertOutPayload } from './callback-results.ts';
import type { ChannelHost } from './channel-host.ts';
import type { InfoSources } from './info-sources.ts';
import type { Services } from './services.ts';

/** What a context shows and calls of its channel server (`ChannelServer` implements it). */
export interface ContextServer extends Subscriber {
  readonly topic: string;
  readonly pubsubTopic: string;
  readonly joinRef: Ref;
  /** True once the join was accepted and until the channel ends. */
  readonly joined: boolean;
  readonly connection: Pick<ChannelHost<never>, 'socketId' | 'transportName'>;
  readonly services: Services;
  push(event: string, payload: OutPayload): void;
  socketRef(): SocketRef;
  info(message: unknown): void;
  infoSources(): InfoSources | null;
  /** Sends `presence_state` first, unless sent already (see `Channel.syncPresence`). */
  beforeTrack(): void;
  onExit(dispose: () => unknown): void;
}

/** The `socket` argument of channel callbacks: a view of one channel server. */
export class ChannelContext implements ChannelSocket {
  readonly #server: ContextServer;
  #assigns: Assigns;
  #ownAssigns = false;

  /** @param assigns the socket's assigns: shared until this channel first uses them, then copied. */
  constructor(server: ContextServer, assigns: Assigns) {
    this.#server = server;
    this.#assigns = assigns;
  }

  /**
   * This channel's own copy of the socket's assigns. The copy is made on first use: a channel
   * that never reads them (most of thousands of idle ones) holds no copy of its own.
   */
  get assigns(): Assigns {
    if (!this.#ownAssigns) {
      this.#assigns = { ...this.#assigns };
      this.#ownAssigns = true;
    }
    return this.#assigns;
  }

  get topic(): string {
    return this.#server.topic;
  }
  get pubsubTopic(): string {
    return this.#server.pubsubTopic;
  }
  get joinRef(): Ref {
    return this.#server.joinRef;
  }
  get id(): string | null {
    return this.#server.connection.socketId;
  }
  get transport(): string {
    return this.#server.connection.transportName;
  }
  get endpoint(): ChannelEndpoint {
    return this.#server.services.endpoint;
  }
  assign(patch: Partial<Assigns>): void {
    Object.assign(this.assigns, patch);
  }
  push(event: string, payload: OutPayload): void {
    this.#server.push(event, payload);
  }
  broadcast(event: string, payload: OutPayload): void {
    // Made during `join`, it does not come back to the joining channel (as in Phoenix, where it
    // is not subscribed yet; here a join window may already hold the topic's publications).
    broadcastOn(this.#server, event, payload, this.#server.joined ? null : this.#server);
  }
  broadcastFrom(event: string, payload: OutPayload): void {
    broadcastOn(this.#server, event, payload, this.#server);
  }
  socketRef(): SocketRef {
    return this.#server.socketRef();
  }
  sendInfo(message: unknown, delayMs?: number): void {
    if (delayMs === undefined || delayMs <= 0) this.#server.info(message);
    else this.#server.infoSources()?.after(delayMs, message);
  }
  subscribe(topic: string): void {
    this.#server.infoSources()?.subscribe(topic);
  }
  unsubscribe(topic: string): void {
    this.#server.infoSources()?.unsubscribe(topic);
  }
  track(key: string, meta: PresenceMeta = {}): void {
    this.#server.beforeTrack();
    this.#server.services.presence.track(this.#server, this.#server.pubsubTopic, key, meta);
  }
  untrack(key: string): void {
    this.#server.services.presence.untrack(this.#server, this.#server.pubsubTopic, key);
  }
  updatePresence(key: string, meta: PresenceMeta): void {
    this.#server.services.presence.update(this.#server, this.#server.pubsubTopic, key, meta);
  }
  listPresence(): PresenceList {
    return this.#server.services.presence.list(this.#server.pubsubTopic);
  }
  onExit(dispose: () => unknown): void {
    this.#server.onExit(dispose);
  }
}

/**
 * Broadcasts on the channel's PubSub topic, to every subscriber but `from`. A function, not a `#`
 * method: a class with `#` methods gives each instance a hidden brand field, and every joined
 * channel holds a context.
 */
function broadcastOn(server: ContextServer, event: string, payload: OutPayload, from: Subscriber | null): void {
  assertOutPayload(payload);
  server.services.pubsub.broadcast(server.pubsubTopic, event, payload, from);
}
