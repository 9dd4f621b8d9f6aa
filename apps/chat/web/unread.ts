/**
 * @module unread
 * The unread counts of every room of the page: what the server counts from this user's last-read
 * positions (`GET /api/unread`, asked at start, every {@link UNREAD_POLL_MS} and whenever the tab
 * is shown again, so every device of the user converges on the same counts), plus what arrives
 * in the open room while the reader is not looking. No DOM here: the page draws `counts` and
 * `total()` when told of a change.
 *
 * @example
 * const unread = new UnreadCounts(api, () => view.showUnreadTotal(unread.total()));
 * await unread.refresh('lobby', true);
 * unread.arrived('lobby', false); // a message while the tab is hidden
 */
import type { ChatApi } from './api.ts';
import type { Unread } from './view.ts';

/** How often the page asks for the counts of the rooms it does not have open. */
export const UNREAD_POLL_MS = 10_000;

/** Every room's unread count, as the server and the open room tell it. */
export class UnreadCounts {
  readonly #api: ChatApi;
  readonly #changed: () => void;
  readonly #counts = new Map<string, Unread>();

  /** @param changed called after every change of the counts */
  constructor(api: ChatApi, changed: () => void) {
    this.#api = api;
    this.#changed = changed;
  }

  /** The counts by room id (rooms with nothing unread may be absent). */
  get counts(): ReadonlyMap<string, Unread> {
    return this.#counts;
  }

  /** Unread messages of every room together: the tab title's number. */
  total(): number {
    let total = 0;
    for (const { count } of this.#counts.values()) total += count;
    return total;
  }

  /**
   * Asks the server for every room's counts. The open room's count is the server's only while the
   * reader is away (`reading` false); while they read it, it is 0 whatever the server has not yet
   * been told.
   */
  async refresh(openRoom: string, reading: boolean): Promise<void> {
    const rooms = await this.#api.unread();
    this.#counts.clear();
    for (const { id, count, mentions } of rooms) if (!(reading && id === openRoom)) this.#counts.set(id, { count, mentions });
    this.#changed();
  }

  /** A message arrived in the open room while the reader was away. */
  arrived(room: string, mentionsMe: boolean): void {
    const now = this.#counts.get(room) ?? { count: 0, mentions: 0 };
    this.#counts.set(room, { count: now.count + 1, mentions: now.mentions + (mentionsMe ? 1 : 0) });
    this.#changed();
  }

  /** The reader has seen everything in `room`. */
  read(room: string): void {
    if (this.#counts.delete(room)) this.#changed();
  }
}
