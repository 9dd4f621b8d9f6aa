/**
 * StreamOrder, the per-node ordering of history publications (internal): whatever order the
 * adapter hands them over in, a topic's local subscribers see offsets in order, without gap or
 * duplicate; a gap is read back from the stream (synchronously or not) while later arrivals wait.
 */
import { describe, expect, it } from 'vitest';
import type { BroadcastMessage } from '../../../src/protocol.ts';
import { StreamOrder } from '../../../src/pubsub/stream-order.ts';
import { settle } from '../../../src/testing/manual-clock.ts';
import type { StreamPosition, StreamRead } from '../../../src/pubsub/stream.ts';

const at = (offset: number, epoch = 'e'): BroadcastMessage => ({ topic: 't', event: 'n', payload: { offset }, position: { epoch, offset } });

/** An order over a stream of `kept` (offset → message), reading synchronously or after `await`. */
function harness(kept: number[], async = false) {
  const dispatched: number[] = [];
  const reads: StreamPosition[] = [];
  const gaps: boolean[] = [];
  const read = (_topic: string, since: StreamPosition): StreamRead => {
    reads.push(since);
    const top = Math.max(...kept);
    const recovered = kept.includes(since.offset + 1) || since.offset === top;
    return {
      position: { epoch: 'e', offset: top },
      recovered,
      publications: recovered ? kept.filter((offset) => offset > since.offset).map((offset) => at(offset)) : [],
      bytes: 0,
    };
  };
  const order = new StreamOrder<null>({
    dispatch: (message) => dispatched.push(message.position!.offset),
    read: (topic, since) => (async ? Promise.resolve().then(() => read(topic, since)) : read(topic, since)),
    gap: (_topic, filled) => gaps.push(filled),
  });
  return { order, dispatched, reads, gaps };
}

describe('StreamOrder', () => {
  it('passes an in-order stream straight through and drops duplicates', () => {
    const { order, dispatched, reads } = harness([1, 2, 3]);
    for (const offset of [1, 2, 2, 1, 3]) order.receive(at(offset), null);
    expect(dispatched).toEqual([1, 2, 3]);
    expect(reads).toEqual([]);
  });

  it('fills a gap from the stream before the publication that revealed it', () => {
    const { order, dispatched, reads, gaps } = harness([1, 2, 3, 4, 5]);
    order.receive(at(1), null);
    order.receive(at(4), null);
    order.receive(at(5), null);
    expect(dispatched).toEqual([1, 2, 3, 4, 5]);
    expect(reads).toEqual([{ epoch: 'e', offset: 1 }]);
    expect(gaps).toEqual([true]);
  });

  it('holds what arrives during an asynchronous read and releases it after, in order', async () => {
    const { order, dispatched } = harness([1, 2, 3, 4, 5, 6]);
    const slow = harness([1, 2, 3, 4, 5, 6], true);
    for (const h of [{ order, dispatched }, slow]) {
      h.order.receive(at(1), null);
      h.order.receive(at(3), null); // gap: 2
      h.order.receive(at(4), null);
      h.order.receive(at(6), null); // another gap (5) after the read: covered by the read already
    }
    await settle(); // the slow harness's reads resolve on microtasks
    expect(dispatched).toEqual([1, 2, 3, 4, 5, 6]);
    expect(slow.dispatched).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('goes on from what comes next when the stream no longer has the gap, and reports it', () => {
    const { order, dispatched, gaps } = harness([8, 9, 10]);
    order.receive(at(1), null);
    order.receive(at(9), null);
    order.receive(at(10), null);
    expect(dispatched).toEqual([1, 9, 10]);
    expect(gaps).toEqual([false]);
  });

  it('starts over on a new epoch, and forgets a topic on request', () => {
    const { order, dispatched, reads } = harness([1]);
    order.receive(at(5), null);
    order.receive(at(1, 'f'), null);
    order.forget('t');
    order.receive(at(7), null);
    expect(dispatched).toEqual([5, 1, 7]);
    expect(reads).toEqual([]);
  });

  it("is the node's view: nothing at first, then the latest read observed, then the last publication dispatched", () => {
    const { order } = harness([1, 2, 3]);
    expect(order.position('t')).toBeNull();
    order.observe('t', { epoch: 'e', offset: 1 });
    order.observe('t', { epoch: 'e', offset: 2 });
    expect(order.position('t')).toEqual({ epoch: 'e', offset: 2 });
    order.receive(at(3), null);
    expect(order.position('t')).toEqual({ epoch: 'e', offset: 3 });
    order.observe('t', { epoch: 'e', offset: 9 }); // the order knows better now
    expect(order.position('t')).toEqual({ epoch: 'e', offset: 3 });
    order.forget('t');
    expect(order.position('t')).toBeNull();
  });

  it('starts at the earliest read observed, reading back what falls before the first publication', () => {
    const { order, dispatched, reads } = harness([1, 2, 3, 4, 5]);
    order.observe('t', { epoch: 'e', offset: 3 });
    order.observe('t', { epoch: 'e', offset: 2 });
    order.receive(at(5), null);
    expect(reads).toEqual([{ epoch: 'e', offset: 2 }]);
    expect(dispatched).toEqual([3, 4, 5]);
  });

  it('starts at a first publication older than the reads observed, or of another epoch, as without them', () => {
    const older = harness([1, 2, 3, 4, 5]);
    older.order.observe('t', { epoch: 'e', offset: 4 });
    older.order.receive(at(3), null);
    older.order.receive(at(4), null);
    expect(older.dispatched).toEqual([3, 4]);
    const other = harness([1, 2]);
    other.order.observe('t', { epoch: 'old', offset: 7 });
    other.order.receive(at(2), null);
    expect(other.dispatched).toEqual([2]);
    expect([...older.reads, ...other.reads]).toEqual([]);
  });
});
