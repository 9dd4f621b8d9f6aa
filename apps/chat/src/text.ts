/**
 * What the chat accepts as user text (message bodies, display names, room names): a trimmed
 * string of 1..max code points with no control characters (a body may keep line breaks and tabs)
 * and no lone surrogates. Control characters render as nothing yet cost up to 6 bytes each once
 * JSON-escaped, which made them the cheapest way to inflate a join reply.
 */

// C0 and C1 controls and DEL, except TAB and LF in bodies; a lone surrogate is not Unicode text.
// eslint-disable-next-line no-control-regex -- control characters are what this refuses
const BODY_REFUSED = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F\p{Cs}]/u;
// eslint-disable-next-line no-control-regex -- control characters are what this refuses
const NAME_REFUSED = /[\u0000-\u001F\u007F-\u009F\p{Cs}]/u;

function accepted(value: unknown, max: number, refused: RegExp): string | null {
  if (typeof value !== 'string') return null;
  const trimmed = value.trim();
  if (refused.test(trimmed)) return null;
  const length = [...trimmed].length;
  return length >= 1 && length <= max ? trimmed : null;
}

/** A message body: trimmed, 1..max code points, no control characters but TAB and LF; or null. */
export function messageBody(value: unknown, max: number): string | null {
  return accepted(value, max, BODY_REFUSED);
}

/** A display or room name: trimmed, 1..max code points, no control characters at all; or null. */
export function nameText(value: unknown, max: number): string | null {
  return accepted(value, max, NAME_REFUSED);
}
