/**
 * @module runtime/channel-table
 * Internal: the joined channels of one connection, by topic. Almost every socket joins one or a
 * few topics, and an idle server holds thousands of sockets: the first channel sits in a field
 * and a `Map` (about 200 bytes even when nearly empty) is only made for the second. `Connection`
 * extends it, so the table's two fields live in the connection object itself (a separate table
 * object would cost another ~40 bytes per socket).
 */
import type { ChannelServer } from './channel-server.ts';

/** Topic → joined {@link ChannelServer} of one connection. */
export class ChannelTable {
  #first: ChannelServer | null = null;
  #rest: Map<string, ChannelServer> | null = null;

  /** Number of channels held. */
  get channelCount(): number {
    return (this.#first === null ? 0 : 1) + (this.#rest?.size ?? 0);
  }

  /** The channel joined on `topic`, if any. */
  channel(topic: string): ChannelServer | undefined {
    if (this.#first !== null && this.#first.topic === topic) return this.#first;
    return this.#rest?.get(topic);
  }

  /** Holds `server` under its topic, replacing whatever was there. */
  addChannel(server: ChannelServer): void {
    const { topic } = server;
    if (this.#rest?.has(topic)) this.#rest.set(topic, server);
    else if (this.#first === null || this.#first.topic === topic) this.#first = server;
    else (this.#rest ??= new Map()).set(topic, server);
  }

  /** Forgets `server` if it is the one held for its topic (a newer join of the topic stays). */
  removeChannel(server: ChannelServer): void {
    if (this.#first === server) {
      this.#first = null;
      return;
    }
    if (this.#rest?.get(server.topic) === server) {
      this.#rest.delete(server.topic);
      if (this.#rest.size === 0) this.#rest = null;
    }
  }

  /** A snapshot of every channel held: safe to end them while iterating. */
  channels(): ChannelServer[] {
    const all = this.#rest === null ? [] : [...this.#rest.values()];
    if (this.#first !== null) all.unshift(this.#first);
    return all;
  }

  /** Forgets every channel. */
  clearChannels(): void {
    this.#first = null;
    this.#rest = null;
  }
}
