import { describe, expect, it } from 'vitest';
import { groupByKey, isSafePresenceKey, newPhxRef, presenceDiff } from '../../../src/presence/presence-state.ts';

describe('presence state values', () => {
  it('groups entries by key, keeping meta order', () => {
    const list = groupByKey([
      { key: 'alice', meta: { phx_ref: 'a1' } },
      { key: 'bob', meta: { phx_ref: 'b1' } },
      { key: 'alice', meta: { phx_ref: 'a2' } },
    ]);
    expect(JSON.parse(JSON.stringify(list))).toEqual({ alice: { metas: [{ phx_ref: 'a1' }, { phx_ref: 'a2' }] }, bob: { metas: [{ phx_ref: 'b1' }] } });
  });

  it('builds lists without a prototype, so a key like "toString" is plain data', () => {
    const list = groupByKey([{ key: 'toString', meta: { phx_ref: 'x' } }]);
    expect(Object.getPrototypeOf(list)).toBeNull();
    expect(list.toString).toEqual({ metas: [{ phx_ref: 'x' }] });
  });

  it('a diff always carries both joins and leaves', () => {
    expect(JSON.parse(JSON.stringify(presenceDiff([], [])))).toEqual({ joins: {}, leaves: {} });
  });

  it('phx_refs are 16 URL-safe characters and unique', () => {
    const refs = new Set(Array.from({ length: 1000 }, newPhxRef));
    expect(refs.size).toBe(1000);
    for (const ref of refs) expect(ref).toMatch(/^[A-Za-z0-9_-]{16}$/);
  });

  it('refuses keys that break older phoenix.js clients', () => {
    expect(isSafePresenceKey('__proto__')).toBe(false);
    expect(isSafePresenceKey('constructor')).toBe(false);
    expect(isSafePresenceKey('')).toBe(false);
    expect(isSafePresenceKey('alice')).toBe(true);
  });
});
