/**
 * @module topic
 * Topic patterns route a joined topic to a channel: either an exact topic (`"system"`) or a prefix
 * ending in a single `*` (`"rooms:*"` matches `"rooms:lobby"` and `"rooms:"` itself). Patterns route
 * joins only; PubSub subscriptions are always to the exact topic joined.
 *
 * @example
 * import { TopicPattern } from 'starling-channels';
 *
 * const lobby = TopicPattern.parse('rooms:*');
 * lobby.matches('rooms:lobby'); // true
 */
import { ErrorCodes, StarlingError } from './errors.ts';

/** A compiled topic pattern. */
export class TopicPattern {
  /** The pattern as written, e.g. `"rooms:*"`. */
  readonly source: string;
  private readonly prefix: string;
  private readonly wildcard: boolean;
  private constructor(source: string, prefix: string, wildcard: boolean) {
    this.source = source;
    this.prefix = prefix;
    this.wildcard = wildcard;
  }

  /**
   * Compiles a pattern.
   * @throws StarlingError `ERR_INVALID_TOPIC_PATTERN` when `*` appears anywhere but last
   */
  static parse(pattern: string): TopicPattern {
    const star = pattern.indexOf('*');
    if (star === -1) return new TopicPattern(pattern, pattern, false);
    if (star !== pattern.length - 1) {
      throw new StarlingError(ErrorCodes.invalidPattern, `topic pattern ${JSON.stringify(pattern)}: "*" is only allowed as the last character`);
    }
    return new TopicPattern(pattern, pattern.slice(0, -1), true);
  }

  /** True when `topic` is routed by this pattern. */
  matches(topic: string): boolean {
    return this.wildcard ? topic.startsWith(this.prefix) : topic === this.prefix;
  }
}
