/**
 * @module message-state
 * The messages of the open room, kept by id: a message is never held twice, whichever way it
 * arrives (a broadcast, the join's page, a replay after a reconnect, an older page), and they are
 * always shown in id order, which is the order the server stored them in. No DOM here.
 *
 * @example
 * const messages = new MessageState();
 * messages.add(reply.messages);
 * messages.add([broadcast]); // a duplicate id replaces, never repeats
 * view.renderMessages(messages.ordered(), shown);
 */
import type { HistoryPage, WireMessage } from '../src/room-channel.ts';

/** A message as the room channel sends it. */
export type ChatMessage = WireMessage;

/** The open room's messages by id. */
export class MessageState {
  readonly #byId = new Map<number, ChatMessage>();

  /** Adds (or replaces, by id) messages. */
  add(messages: readonly ChatMessage[]): void {
    for (const message of messages) this.#byId.set(message.id, message);
  }

  /** Replaces a message held (an edit, a delete); false when it is not held. */
  replace(message: ChatMessage): boolean {
    if (!this.#byId.has(message.id)) return false;
    this.#byId.set(message.id, message);
    return true;
  }

  /** Forgets every message (another room was opened). */
  clear(): void {
    this.#byId.clear();
  }

  /** The messages held, oldest first. */
  ordered(): ChatMessage[] {
    return [...this.#byId.values()].sort((a, b) => a.id - b.id);
  }

  /** The oldest id held: where "load older messages" pages back from. */
  firstId(): number | undefined {
    let first: number | undefined;
    for (const id of this.#byId.keys()) if (first === undefined || id < first) first = id;
    return first;
  }

  /** The newest id held. */
  lastId(): number | undefined {
    let last: number | undefined;
    for (const id of this.#byId.keys()) if (last === undefined || id > last) last = id;
    return last;
  }

  /**
   * Adds the latest page after a reconnect that could not resume. When it does not reach back to
   * what is held (more than a page was missed), what is held is dropped rather than shown with a
   * hole: returns true then, and older messages are to be paged back from the new page.
   */
  addLatestPage(page: HistoryPage): boolean {
    const oldest = page.messages[0]?.id;
    const shown = this.lastId();
    const dropped = page.more && oldest !== undefined && shown !== undefined && oldest > shown;
    if (dropped) for (const id of [...this.#byId.keys()]) if (id < oldest) this.#byId.delete(id);
    this.add(page.messages);
    return dropped;
  }
}
