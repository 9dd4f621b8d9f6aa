/**
 * @module scroll-pin
 * Keeps a scrolling list on its newest (last) item while the reader is there, the way chat
 * clients do: new items and layout changes keep it at the bottom; only the reader scrolling up
 * unpins it, and scrolling back to the bottom pins it again.
 *
 * @example
 * const pin = new ScrollPin(list);
 * list.append(item);
 * pin.stick(); // still on the newest item, unless the reader scrolled up
 */

/** How close to the bottom counts as at the bottom, in CSS pixels. */
const BOTTOM_SLACK = 8;

/** How long after the reader's own input a scroll counts as theirs, in milliseconds. */
const READER_SCROLL_MS = 1000;

/** Pins `list` to its newest item until the reader scrolls away from it. */
export class ScrollPin {
  readonly #list: HTMLElement;
  /** Whether the list follows the newest item: true unless the reader scrolled up. */
  #pinned = true;
  #readerScrolledAt = -Infinity;

  constructor(list: HTMLElement) {
    this.#list = list;
    // Only the reader unpins the list. A scroll event also comes from layout (the list clamped while
    // it was briefly taller, the online list filling in on a phone); such a move must not leave the
    // newest message hidden, so a scroll shortly after wheel, touch or keys is the only one that unpins.
    for (const type of ['wheel', 'touchmove', 'keydown', 'pointerdown'] as const) {
      list.addEventListener(type, () => (this.#readerScrolledAt = performance.now()), { passive: true });
    }
    list.addEventListener('scroll', () => {
      if (this.#atBottom()) this.#pinned = true;
      else if (performance.now() - this.#readerScrolledAt < READER_SCROLL_MS) this.#pinned = false;
      else this.stick();
    });
    // The list also shrinks after a render (the "older" button appears, the online list grows on a
    // phone): a pinned list stays on the newest message.
    new ResizeObserver(() => this.stick()).observe(list);
  }

  /** Scrolls to the newest item if pinned; call after changing the list. */
  stick(): void {
    if (this.#pinned) this.#list.scrollTop = this.#list.scrollHeight;
  }

  /** Pins the list again (another room was opened). */
  reset(): void {
    this.#pinned = true;
  }

  #atBottom(): boolean {
    return this.#list.scrollTop + this.#list.clientHeight >= this.#list.scrollHeight - BOTTOM_SLACK;
  }
}
