/**
 * @module compose
 * What happens around the message input besides sending: typing notices both ways (sent at most
 * once every {@link TYPING_SEND_MS} while typing; others' shown for {@link TYPING_SHOW_MS} after
 * their last notice, or until their message arrives) and `@` completion, which offers the people
 * of the room (online and members) whose name starts with what follows the `@`.
 *
 * @example
 * const typing = new TypingIndicator();
 * typing.show('ada#Xk3f9a'); // "ada#Xk3f9a is typing…" for a few seconds
 * typing.clear('ada#Xk3f9a'); // her message arrived
 */
import * as view from './view.ts';

/** The least time between two typing notices this page sends. */
export const TYPING_SEND_MS = 3000;
/** How long another's typing notice is shown without a newer one: a bit more than their sending interval. */
export const TYPING_SHOW_MS = 5000;

/** Who else is typing in the open room, each until their notice expires or their message arrives. */
export class TypingIndicator {
  readonly #timers = new Map<string, ReturnType<typeof setTimeout>>();

  /** `user` (`name#mark`) is typing now. */
  show(user: string): void {
    clearTimeout(this.#timers.get(user));
    this.#timers.set(
      user,
      setTimeout(() => this.clear(user), TYPING_SHOW_MS),
    );
    this.#render();
  }

  /** `user` stopped typing (their message arrived). */
  clear(user: string): void {
    if (!this.#timers.has(user)) return;
    clearTimeout(this.#timers.get(user));
    this.#timers.delete(user);
    this.#render();
  }

  /** Nobody is typing (another room was opened). */
  reset(): void {
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    this.#render();
  }

  #render(): void {
    view.renderTyping([...this.#timers.keys()]);
  }
}

/** Whether a typing notice may be sent now: at most one per {@link TYPING_SEND_MS}. */
export class TypingThrottle {
  #lastSent = -Infinity;

  /** True (and counts as sent) when the last notice is older than the interval. */
  take(): boolean {
    const now = performance.now();
    if (now - this.#lastSent < TYPING_SEND_MS) return false;
    this.#lastSent = now;
    return true;
  }

  /** The message was sent: the next keystroke is a new bout of typing. */
  reset(): void {
    this.#lastSent = -Infinity;
  }
}

/** The `@…` being typed just before the caret of `input`, or null. */
function mentionPrefix(input: HTMLInputElement): { start: number; prefix: string } | null {
  const caret = input.selectionStart ?? input.value.length;
  const match = /(?:^|\s)@([^@\s]{0,32})$/u.exec(input.value.slice(0, caret));
  if (match === null) return null;
  return { start: caret - match[1]!.length - 1, prefix: match[1]!.toLowerCase() };
}

/** Most people offered at once. */
const MAX_CHOICES = 6;

/**
 * Offers the people whose name starts with the `@…` before the caret of `input`, among `people`
 * (`name#mark` labels; `me` left out); picking one writes `@name#mark ` in its place.
 */
export function offerMentions(input: HTMLInputElement, people: readonly string[], me: string | null): void {
  const typed = mentionPrefix(input);
  if (typed === null) {
    view.renderMentionChoices([], () => undefined);
    return;
  }
  const choices = people.filter((label) => label !== me && label.toLowerCase().startsWith(typed.prefix)).slice(0, MAX_CHOICES);
  view.renderMentionChoices(choices, (label) => {
    const caret = input.selectionStart ?? input.value.length;
    const inserted = `@${label} `;
    input.value = input.value.slice(0, typed.start) + inserted + input.value.slice(caret);
    const at = typed.start + inserted.length;
    input.focus();
    input.setSelectionRange(at, at);
    view.renderMentionChoices([], () => undefined);
  });
}
