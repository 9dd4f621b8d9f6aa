/**
 * Position-only reads of a history topic are shared (pubsub/position-reads.ts) without ever
 * handing a caller a read issued before it asked: the callers that arrive while a read is in flight
 * share the next one, which is issued once the first settles; a synchronous store is read directly.
 */
import { describe, expect, it } from 'vitest';
import { PositionReads } from '../../../src/pubsub/position-reads.ts';
import type { StreamRead } from '../../../src/pubsub/stream.ts';

/** A store whose reads the test settles by hand, in order; each answers the offset of its issue. */
function manualStore() {
  const pending: Array<{ topic: string; resolve: (read: StreamRead) => void; reject: (err: Error) => void }> = [];
  let issued = 0;
  const read = (topic: string): Promise<StreamRead> =>
    new Promise((resolve, reject) => {
      issued++;
      pending.push({ topic, resolve, reject });
    });
  const answer = (offset: number): StreamRead => ({ position: { epoch: 'e', offset }, recovered: false, publications: [], bytes: 0 });
  return {
    read,
    pending,
    get issued() {
      return issued;
    },
    settleNext: () => pending.shift()!.resolve(answer(issued)),
    failNext: () => pending.shift()!.reject(new Error('store down')),
  };
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('PositionReads', () => {
  it('gives the callers that arrive during a read one shared read issued after that read settles', async () => {
    const store = manualStore();
    const reads = new PositionReads(store.read);
    const first = reads.read('rooms:lobby');
    const second = reads.read('rooms:lobby');
    const third = reads.read('rooms:lobby');
    expect(store.issued).toBe(1);
    expect(second).toBe(third);
    store.settleNext();
    expect(await first).toMatchObject({ position: { offset: 1 } });
    await flush();
    // The shared read is issued only now, after the callers asked.
    expect(store.issued).toBe(2);
    store.settleNext();
    expect(await second).toMatchObject({ position: { offset: 2 } });
    await flush();
    expect(store.issued).toBe(2);
  });

  it('reads each topic on its own, and again after everything settled', async () => {
    const store = manualStore();
    const reads = new PositionReads(store.read);
    const lobby = reads.read('rooms:lobby');
    const other = reads.read('rooms:other');
    expect(store.pending.map((read) => read.topic)).toEqual(['rooms:lobby', 'rooms:other']);
    store.settleNext();
    store.settleNext();
    await Promise.all([lobby, other]);
    await flush();
    void reads.read('rooms:lobby');
    expect(store.issued).toBe(3);
  });

  it('passes a failed read to its callers only; the next callers get a fresh read', async () => {
    const store = manualStore();
    const reads = new PositionReads(store.read);
    const failing = reads.read('rooms:lobby');
    const after = reads.read('rooms:lobby');
    store.failNext();
    await expect(failing).rejects.toThrow('store down');
    await flush();
    store.settleNext();
    await expect(after).resolves.toMatchObject({ position: { offset: 2 } });
  });

  it('reads a synchronous store directly, every time', () => {
    let issued = 0;
    const reads = new PositionReads(() => ({ position: { epoch: 'e', offset: ++issued }, recovered: false, publications: [], bytes: 0 }));
    expect(reads.read('rooms:lobby')).toMatchObject({ position: { offset: 1 } });
    expect(reads.read('rooms:lobby')).toMatchObject({ position: { offset: 2 } });
  });
});
