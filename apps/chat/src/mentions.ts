/**
 * @module mentions
 * Mentions in a message: `@name#mark` addresses the person with that mark (the mark is what tells
 * people apart; the name before it is only what the writer saw). The channel resolves the marks to
 * user ids among the people who could be meant — those online in the room and, in a private room,
 * its members — stores the ids with the message, and sends the marks back out, so that a page
 * knows it was mentioned by its own mark and user ids stay private.
 *
 * @example
 * mentionedMarks('hi @Ada#Xk3f9a and @Bob#Q1w2e3'); // ['Xk3f9a', 'Q1w2e3']
 * resolveMentions('hi @Ada#Xk3f9a', ['u1', 'u2']); // the ids whose mark is Xk3f9a
 */
import { markOf } from './identity.ts';

/** The most people one message may mention: a message cannot notify a whole room one by one. */
export const MAX_MENTIONS = 20;

// `@`, a name of up to 32 characters without `@` or a line break (it may hold spaces and `#`),
// `#`, then a mark: 6 base64url characters not followed by another.
const MENTION = /@[^@\n]{1,32}?#([A-Za-z0-9_-]{6})(?![A-Za-z0-9_-])/gu;

/** The distinct marks mentioned in `body`, in order of first appearance. */
export function mentionedMarks(body: string): string[] {
  const marks = new Set<string>();
  for (const match of body.matchAll(MENTION)) marks.add(match[1]!);
  return [...marks];
}

/**
 * The user ids among `candidates` whose mark `body` mentions, in the order the marks appear, at
 * most {@link MAX_MENTIONS}; a mark matching nobody is plain text.
 */
export function resolveMentions(body: string, candidates: Iterable<string>): string[] {
  const marks = mentionedMarks(body);
  if (marks.length === 0) return [];
  const byMark = new Map<string, string>();
  for (const userId of candidates) byMark.set(markOf(userId), userId);
  return marks
    .map((mark) => byMark.get(mark))
    .filter((userId): userId is string => userId !== undefined)
    .slice(0, MAX_MENTIONS);
}
