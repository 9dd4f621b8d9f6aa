/**
 * Whether a check's snapshot sees the transaction of a streamed change (`snapshotSees`): the
 * 32-bit xid pgoutput sends, placed in the epoch of the snapshot's 64-bit ids.
 */
import { describe, expect, it } from 'vitest';
import { parseSnapshot, snapshotSees, type Snapshot } from '../../../src/supabase/row-security.ts';

const EPOCH = 2n ** 32n;

function snapshot(text: string): Snapshot {
  const parsed = parseSnapshot(text);
  if (parsed === null) throw new Error(`not a snapshot: ${text}`);
  return parsed;
}

describe('snapshotSees', () => {
  it('sees a transaction below xmax that is not running, not one running or from xmax on', () => {
    const s = snapshot('100:110:103,105');
    expect([99, 100, 104, 109].map((xid) => snapshotSees(s, xid))).toEqual([true, true, true, true]);
    expect([103, 105, 110, 111].map((xid) => snapshotSees(s, xid))).toEqual([false, false, false, false]);
  });

  it('places the xid in the epoch nearest xmax, across a wraparound', () => {
    // xmax just past an epoch boundary: xid 4294967290 belongs to the epoch before, and is seen.
    const after = snapshot(`${EPOCH + 5n}:${EPOCH + 10n}:`);
    expect(snapshotSees(after, 4_294_967_290)).toBe(true);
    expect(snapshotSees(after, 9)).toBe(true);
    expect(snapshotSees(after, 10)).toBe(false);
    // xmax just before a boundary: a small xid is of the next epoch, not yet seen.
    const before = snapshot(`${2n * EPOCH - 20n}:${2n * EPOCH - 10n}:${2n * EPOCH - 15n}`);
    expect(snapshotSees(before, 3)).toBe(false);
    expect(snapshotSees(before, Number(EPOCH - 15n))).toBe(false); // running
    expect(snapshotSees(before, Number(EPOCH - 11n))).toBe(true);
  });

  it('reads pg_current_snapshot text, and nothing else', () => {
    expect(snapshot('7:9:')).toEqual({ xmin: 7n, xmax: 9n, xip: new Set() });
    expect(parseSnapshot('not a snapshot')).toBeNull();
  });
});
