/**
 * @module postgres/change-cursor
 * {@link ChangeCursor}: exactly-once on the consumer's side of a change source.
 */
import type { RowChange } from './change-source.ts';
import { lsnToBigInt } from './lsn.ts';

/**
 * Drops changes already seen, by `(commitLsn, seq)`: after a crash the slot sends again what was
 * handed on but not yet confirmed, and a consumer that remembers its cursor sees each change once.
 */
export class ChangeCursor {
  #lsn = -1n;
  #seq = -1;

  /** True, and moves the cursor, when `change` comes after every change accepted so far. */
  accept(change: Pick<RowChange, 'commitLsn' | 'seq'>): boolean {
    const lsn = lsnToBigInt(change.commitLsn);
    if (lsn < this.#lsn || (lsn === this.#lsn && change.seq <= this.#seq)) return false;
    this.#lsn = lsn;
    this.#seq = change.seq;
    return true;
  }
}
