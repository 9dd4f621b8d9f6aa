/**
 * @module test/unit/serializer/serializer-for-vsn
 * Serializer negotiation from the `vsn` query parameter (docs/protocol.md §1.2): Phoenix's requirements
 * `~> 1.0.0` → V1 and `~> 2.0.0` → V2; a missing `vsn` means 1.0.0; anything else is refused.
 */
import { describe, expect, it } from 'vitest';
import { serializerForVsn, v1JsonSerializer, v2JsonSerializer } from '../../../src/serializer/index.ts';

describe('serializerForVsn', () => {
  it.each([undefined, null, ''])('gives V1 for a missing vsn (%j)', (vsn) => {
    expect(serializerForVsn(vsn)).toBe(v1JsonSerializer);
  });

  it.each(['1.0.0', '1.0.7', '1.0.1-dev', '1.0.0+build.5'])('gives V1 for %s', (vsn) => {
    expect(serializerForVsn(vsn)).toBe(v1JsonSerializer);
  });

  it.each(['2.0.0', '2.0.7', '2.0.1-rc.1', '2.0.0+sha.abc'])('gives V2 for %s', (vsn) => {
    expect(serializerForVsn(vsn)).toBe(v2JsonSerializer);
  });

  it.each([
    ['a later minor', '2.1.0'],
    ['a later major', '3.0.0'],
    ['1.1.0', '1.1.0'],
    ['0.9.0', '0.9.0'],
    ['a pre-release below the lower bound', '2.0.0-rc.1'],
    ['two components', '2.0'],
    ['one component', '2'],
    ['leading zeros', '02.0.0'],
    ['surrounding spaces', ' 2.0.0'],
    ['a requirement instead of a version', '~> 2.0.0'],
    ['letters', 'abc'],
  ])('refuses %s', (_case, vsn) => {
    expect(serializerForVsn(vsn)).toBeNull();
  });

  it('exports singletons that speak their version', () => {
    expect(v1JsonSerializer.vsn).toBe('1.0.0');
    expect(v2JsonSerializer.vsn).toBe('2.0.0');
  });
});
