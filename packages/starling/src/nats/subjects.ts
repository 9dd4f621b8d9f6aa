/**
 * @module nats/subjects
 * Internal: how topics become NATS subjects, and the names of the JetStream streams. A topic is
 * any string, but a subject token cannot hold `.`, `*`, `>` or whitespace, so every topic is one
 * token: its UTF-8 bytes in base64url (`[A-Za-z0-9_-]`, reversible, never empty). Pure.
 *
 * Under a prefix `P`:
 *
 * | subject | carries |
 * | --- | --- |
 * | `P.t.<token>` | broadcasts of the topic: plain ones published by nodes, and the publications of a history topic as JetStream republishes them once stored |
 * | `P.h.<token>` | the topic's stream (JetStream stream `P-history`): what nodes append |
 * | `P.x.<token>` | the topic's last-append marker (JetStream stream `P-topics`, one per subject): which topic was published least recently |
 *
 * @example
 * const subjects = new Subjects('chat');
 * subjects.topic('rooms:lobby'); // 'chat.t.cm9vbXM6bG9iYnk'
 */

/** What a prefix may be: one subject token, also valid in a stream name. */
const PREFIX = /^[A-Za-z0-9_-]{1,64}$/;

/** The subjects and stream names of one prefix. */
export class Subjects {
  readonly prefix: string;
  /** The history stream's name. */
  readonly historyStream: string;
  /** The stream of last-append markers' name. */
  readonly topicsStream: string;

  /** @throws RangeError for a prefix that is not 1–64 of `[A-Za-z0-9_-]` */
  constructor(prefix: string) {
    if (!PREFIX.test(prefix)) throw new RangeError(`NATS prefix must be 1-64 of [A-Za-z0-9_-], got ${JSON.stringify(prefix)}`);
    this.prefix = prefix;
    this.historyStream = `${prefix}-history`;
    this.topicsStream = `${prefix}-topics`;
  }

  /** The subject of the topic's broadcasts. */
  topic(topic: string): string {
    return `${this.prefix}.t.${token(topic)}`;
  }

  /** The subject of the topic's stream. */
  history(topic: string): string {
    return `${this.prefix}.h.${token(topic)}`;
  }

  /** The subject of the topic's last-append marker. */
  marker(topic: string): string {
    return `${this.prefix}.x.${token(topic)}`;
  }

  /** The topic of a marker subject, or null if it is not one of this prefix. */
  topicOfMarker(subject: string): string | null {
    const head = `${this.prefix}.x.`;
    return subject.startsWith(head) ? Buffer.from(subject.slice(head.length), 'base64url').toString('utf8') : null;
  }
}

/** One subject token for any topic (base64url never contains `.`; the empty topic is `-`). */
function token(topic: string): string {
  return topic === '' ? '-' : Buffer.from(topic, 'utf8').toString('base64url');
}
