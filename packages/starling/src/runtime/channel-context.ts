/**
 * @module runtime/channel-context
 * Internal: the `socket` argument of channel callbacks — a view of one {@link ChannelServer}
 * (its topic, join ref and assigns) plus the calls a channel makes: push, broadcast, presence.
 */
import type { Assigns, ChannelEndpoint, ChannelSocket, OutPayload, SocketRef } from '../channel.ts';
import type { PresenceList, PresenceMeta } from '../presence/presence-state.ts';
import type { Ref } from '../protocol.ts';
import type { ChannelServer } from './channel-server.ts';

/** The `socket` argument of channel callbacks: a view of one ChannelServer. */
export class ChannelContext implements ChannelSocket {
  readonly #server: ChannelServer;
  #assigns: Assigns;
  #ownAssigns = false;

  /** @param assigns the socket's assigns: shared until this channel first uses them, then copied. */
  constructor(server: ChannelServer, assigns: Assigns) {
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
    return this.#server.connection.services.endpoint;
  }
  assign(patch: Partial<Assigns>): void {
    Object.assign(this.assigns, patch);
  }
  push(event: string, payload: OutPayload): void {
    this.#server.push(event, payload);
  }
  broadcast(event: string, payload: OutPayload): void {
    this.#server.broadcast(event, payload, false);
  }
  broadcastFrom(event: string, payload: OutPayload): void {
    this.#server.broadcast(event, payload, true);
  }
  socketRef(): SocketRef {
    return this.#server.socketRef();
  }
  sendInfo(message: unknown, delayMs?: number): void {
    this.#server.info(message, delayMs);
  }
  subscribe(topic: string): void {
    this.#server.subscribeInfo(topic);
  }
  unsubscribe(topic: string): void {
    this.#server.unsubscribeInfo(topic);
  }
  track(key: string, meta: PresenceMeta = {}): void {
    this.#server.beforeTrack();
    this.#server.connection.services.presence.track(this.#server, this.#server.pubsubTopic, key, meta);
  }
  untrack(key: string): void {
    this.#server.connection.services.presence.untrack(this.#server, this.#server.pubsubTopic, key);
  }
  updatePresence(key: string, meta: PresenceMeta): void {
    this.#server.connection.services.presence.update(this.#server, this.#server.pubsubTopic, key, meta);
  }
  listPresence(): PresenceList {
    return this.#server.connection.services.presence.list(this.#server.pubsubTopic);
  }
}
