/**
 * What the chat accepts as user text (message bodies, display names, room names): a trimmed
 * string of 1..max code points with no control characters (a body may keep line breaks and tabs)
 * and no lone surrogates. Control characters render as nothing yet cost up to 6 bytes each once
 * JSON-escaped, which made them the cheapest way to inflate a join reply.
 *
 * A display name also refuses format characters (Unicode category Cf: bidi overrides and
 * isolates, zero-width joiners and spaces, soft hyphens…): they are invisible or reorder the text
 * around them, so `alice#Xk3f9a` + U+202E, shown before the real mark, read as a fake mark in
 * front of a reversed real one.
 */

// C0 and C1 controls and DEL, except TAB and LF in bodies; a lone surrogate is not Unicode text.
// eslint-disable-next-line no-control-regex -- control characters are what this refuses
const BODY_REFUSED = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F\p{Cs}]/u;
// Display names: no controls, no format characters (see the module doc), no lone surrogates.
const DISPLAY_NAME_REFUSED = /[\p{Cc}\p{Cf}\p{Cs}]/u;
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

/** A room name: trimmed, 1..max code points, no control characters at all; or null. */
export function nameText(value: unknown, max: number): string | null {
  return accepted(value, max, NAME_REFUSED);
}

/**
 * A display name: trimmed, 1..max code points, no control or format characters (no bidi
 * override can make the name's end pass for the mark shown after it); or null.
 */
export function displayNameText(value: unknown, max: number): string | null {
  return accepted(value, max, DISPLAY_NAME_REFUSED);
}
