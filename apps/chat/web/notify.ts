/**
 * @module notify
 * Browser notifications of mentions. Permission is asked for once per browser, and only from a
 * user gesture (Chromium ignores or penalises asking at load): the first message this user sends,
 * or the profile's "Notify me of mentions" button. A notification fires only while the tab is
 * hidden — a reader looking at the page sees the highlighted message instead.
 *
 * @example
 * button.addEventListener('click', () => askOnce(true));
 * if (mentionsMe) notifyMention('ada#Xk3f9a', 'lobby', 'hi @bob#Q1w2e3', 42);
 */

const ASKED_KEY = 'starling:notifications-asked';

/** Whether this browser can show notifications at all. */
const supported = (): boolean => typeof Notification === 'function';

/**
 * Asks for permission to notify, from a user gesture; once per browser unless `again` (the
 * explicit button) and never once the answer was "denied" (the browser would not ask anyway).
 */
export function askOnce(again = false): void {
  if (!supported() || Notification.permission !== 'default') return;
  if (!again && localStorage.getItem(ASKED_KEY) !== null) return;
  localStorage.setItem(ASKED_KEY, '1');
  void Notification.requestPermission();
}

/** Shows a notification of a message that mentions this user, if the tab is hidden and notifications are allowed. */
export function notifyMention(author: string, room: string, body: string, id: number): void {
  if (!supported() || document.visibilityState !== 'hidden' || Notification.permission !== 'granted') return;
  // The tag collapses duplicates (a replay after a reconnect delivers the same message again).
  const notification = new Notification(`${author} mentioned you in #${room}`, { body, tag: `starling-message-${id}` });
  notification.addEventListener('click', () => window.focus());
}
