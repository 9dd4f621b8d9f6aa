/**
 * The `postgres_changes` filter as realtime-js's RealtimePostgresFilterBuilder writes it: parsing
 * (PostgREST quoting, `in` lists, `not.`), refusals with reasons, and comparison by column type
 * with SQL's NULL rules.
 */
import { postgresChangesFilter } from '@supabase/realtime-js';
import { describe, expect, it } from 'vitest';
import { matchesFilter, parseFilter, type Condition } from '../../../src/supabase/filter.ts';

const TYPES = new Map([
  ['id', 'int8'],
  ['name', 'text'],
  ['price', 'numeric'],
  ['ok', 'bool'],
  ['at', 'timestamptz'],
  ['code', 'uuid'],
]);

function conditions(filter: string): readonly Condition[] {
  const parsed = parseFilter(filter, TYPES);
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.conditions;
}

describe('parseFilter', () => {
  it("reads what realtime-js's builder writes, quoting included", () => {
    const filter = postgresChangesFilter().in('name', ['a,b', 'say "hi"', 'back\\slash']).not('id', 'in', [1, 2]).build();
    expect(filter).toBe('name=in.("a,b","say \\"hi\\"","back\\\\slash"),id=not.in.(1,2)');
    const [names, ids] = conditions(filter) as [Condition, Condition];
    expect(names).toMatchObject({ column: 'name', operator: 'in', negated: false, values: ['a,b', 'say "hi"', 'back\\slash'] });
    expect(ids).toMatchObject({ column: 'id', operator: 'in', negated: true, values: [1, 2] });
    expect(conditions('name=eq." padded "')[0]?.values).toEqual([' padded ']);
  });

  it('refuses an unknown column or operator, a value not of the column type, an empty list, a bad pattern', () => {
    const reason = (filter: string) => {
      const parsed = parseFilter(filter, TYPES);
      return parsed.ok ? null : parsed.reason;
    };
    expect(reason('nope=eq.1')).toMatch(/column "nope" does not exist/);
    expect(reason('id=near.1')).toMatch(/operator "near" is not supported/);
    expect(reason('id=eq.one')).toMatch(/is not a value of id \(int8\)/);
    expect(reason('ok=eq.maybe')).toMatch(/is not a value of ok \(bool\)/);
    expect(reason('id=in.()')).toMatch(/needs a list/);
    expect(reason('name=match.(')).toMatch(/not a regular expression/);
    expect(reason('ok=is.sometimes')).toMatch(/takes null, true, false or unknown/);
    expect(reason('id')).toMatch(/expected column=operator.value/);
    expect(reason('')).toBeNull();
  });
});

describe('matchesFilter', () => {
  const row = { id: 10, name: 'Apple', price: 2.5, ok: null, at: '2026-01-01 12:00:00+02', code: 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11' };

  it.each([
    ['id=gt.9', true], // numbers as numbers: "10" > "9" is false as text
    ['id=lt.9', false],
    ['price=gte.2.50', true],
    ['at=lt.2026-01-01T10:30:00Z', true], // 12:00+02 is 10:00 UTC
    ['code=eq.a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', true],
    ['name=like.A%', true],
    ['name=like.a%', false],
    ['name=ilike.a_ple', true],
    ['name=imatch.^ap', true],
    ['ok=eq.true', false], // NULL = true is unknown
    ['ok=not.eq.true', false], // and so is its negation
    ['ok=is.null', true],
    ['ok=is.unknown', true],
    ['ok=isdistinct.true', true],
    ['ok=not.is.null', false],
    ['id=isdistinct.null', true],
    ['id=in.(1,10)', true],
    ['id=not.in.(1,10)', false],
    ['id=gt.1,name=eq.Apple', true],
    ['id=gt.1,name=eq.Pear', false],
  ])('%s → %s', (filter, expected) => {
    expect(matchesFilter(conditions(filter), row)).toBe(expected);
  });

  it('takes a condition on a column the row lacks as met (a DELETE carries only its key)', () => {
    expect(matchesFilter(conditions('name=eq.Pear'), { id: 10 })).toBe(true);
  });
});
