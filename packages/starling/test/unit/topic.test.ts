import { describe, expect, it } from 'vitest';
import { StarlingError } from '../../src/errors.ts';
import { TopicPattern } from '../../src/topic.ts';

describe('TopicPattern', () => {
  it('matches an exact topic only', () => {
    const pattern = TopicPattern.parse('system');
    expect(pattern.matches('system')).toBe(true);
    expect(pattern.matches('system:1')).toBe(false);
    expect(pattern.matches('syste')).toBe(false);
  });

  it('matches every topic with the prefix of a trailing-* pattern, the bare prefix included', () => {
    const pattern = TopicPattern.parse('rooms:*');
    expect(pattern.matches('rooms:lobby')).toBe(true);
    expect(pattern.matches('rooms:')).toBe(true);
    expect(pattern.matches('rooms')).toBe(false);
    expect(pattern.matches('room:lobby')).toBe(false);
  });

  it('treats a lone * as matching every topic', () => {
    expect(TopicPattern.parse('*').matches('anything:at all')).toBe(true);
  });

  it('refuses a * anywhere but last, with a coded error', () => {
    expect(() => TopicPattern.parse('rooms:*:x')).toThrow(StarlingError);
    expect(() => TopicPattern.parse('*rooms')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_TOPIC_PATTERN' }));
  });
});
