/**
 * The shared conformance suite of the stream stores (the adapters' `append` and `readStream`, as
 * PubSub uses them; docs/recovery.md): positions that grow by exactly 1 per publication, the same
 * on every node and in the same order; reads after a position that are complete or say they are
 * not; bounds by size, age and number of topics. Every store (in-process, Redis) runs it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '@starling/test-support/eventually';
import type { BroadcastMessage } from '../../../src/protocol.ts';
import type { StreamPosition } from '../../../src/pubsub/stream.ts';
import { Recorder, type ClusterFactory } from './pubsub-adapter.suite.ts';

const offsets = (messages: readonly BroadcastMessage[]): number[] => messages.map((m) => m.position?.offset ?? -1);
const values = (messages: readonly BroadcastMessage[]): unknown[] => messages.map((m) => m.payload);

/** Registers the suite for one store. */
export function streamStoreSuite(name: string, factory: ClusterFactory): void {
  describe(`stream store conformance: ${name}`, () => {
    afterEach(() => factory.stop());

    it('gives every publication the next offset, the same on every node, in the same order, whoever publishes', async () => {
      const [a, b, c] = await factory.start(3, { topics: ['room'], size: 1000 });
      const onA = new Recorder();
      const onB = new Recorder();
      const onC = new Recorder();
      await Promise.all([a!.subscribe('room', onA), b!.subscribe('room', onB), c!.subscribe('room', onC)]);
      // Interleaved publishers on two nodes, all in one tick: the adapters see them concurrently.
      for (let i = 0; i < 100; i++) (i % 2 === 0 ? a! : b!).broadcast('room', 'n', { i });
      const expected = Array.from({ length: 100 }, (_, i) => i + 1);
      await eventually(() => expect(offsets(onC.received)).toEqual(expected), 5000);
      await eventually(() => expect(offsets(onA.received)).toEqual(expected), 5000);
      await eventually(() => expect(offsets(onB.received)).toEqual(expected), 5000);
      expect(values(onA.received)).toEqual(values(onC.received));
      expect(values(onB.received)).toEqual(values(onC.received));
      const epochs = new Set([...onA.received, ...onB.received, ...onC.received].map((m) => m.position?.epoch));
      expect(epochs.size).toBe(1);
    });

    it('delivers a publication to its own node with its position, and broadcastFrom still skips the sender', async () => {
      const [a] = await factory.start(1, { topics: ['room'] });
      const sender = new Recorder();
      const neighbour = new Recorder();
      await a!.subscribe('room', sender);
      await a!.subscribe('room', neighbour);
      a!.broadcast('room', 'from', { n: 1 }, sender);
      await eventually(() => expect(neighbour.received).toHaveLength(1));
      expect(neighbour.received[0]).toMatchObject({ topic: 'room', event: 'from', payload: { n: 1 }, position: { offset: 1 } });
      // A second publication from the sender, in offset order after the first: once the neighbour
      // has it, the first would have reached the sender too.
      a!.broadcast('room', 'marker', {}, sender);
      await eventually(() => expect(neighbour.received).toHaveLength(2));
      expect(sender.received).toEqual([]);
    });

    it('leaves topics without history as they were: no position, no stream', async () => {
      const [a, b] = await factory.start(2, { topics: ['room'] });
      const remote = new Recorder();
      await b!.subscribe('plain', remote);
      a!.broadcast('plain', 'n', { n: 1 });
      await eventually(() => expect(remote.received).toEqual([{ topic: 'plain', event: 'n', payload: { n: 1 } }]));
      expect(a!.hasHistory('plain')).toBe(false);
      await expect(a!.readStream('plain', null)).rejects.toMatchObject({ code: 'ERR_PUBSUB_ADAPTER' });
    });

    it('reads exactly the publications after a position, in order, with the latest position', async () => {
      const [a, b] = await factory.start(2, { topics: ['room'], size: 100 });
      const seen = new Recorder();
      await b!.subscribe('room', seen);
      for (let i = 1; i <= 10; i++) a!.broadcast('room', 'n', { i });
      await eventually(() => expect(seen.received).toHaveLength(10));
      const at = seen.received[3]!.position as StreamPosition; // offset 4
      const read = await b!.readStream('room', at);
      expect(read.recovered).toBe(true);
      expect(read.position).toEqual({ epoch: at.epoch, offset: 10 });
      expect(offsets(read.publications)).toEqual([5, 6, 7, 8, 9, 10]);
      expect(values(read.publications)).toEqual([5, 6, 7, 8, 9, 10].map((i) => ({ i })));
      // At the latest position: complete, nothing to replay.
      expect(await a!.readStream('room', read.position)).toEqual({ position: read.position, recovered: true, publications: [], bytes: 0 });
      // Without a position: the latest position only.
      expect(await a!.readStream('room', null)).toEqual({ position: read.position, recovered: false, publications: [], bytes: 0 });
    });

    it('reads long runs too (more than a store may fetch one by one), between another topic’s publications', async () => {
      const [a, b] = await factory.start(2, { topics: ['room', 'other'], size: 40 });
      const seen = new Recorder();
      await b!.subscribe('room', seen);
      for (let i = 1; i <= 60; i++) {
        a!.broadcast('room', 'n', { i });
        b!.broadcast('other', 'n', { i });
      }
      await eventually(() => expect(seen.received).toHaveLength(60), 5000);
      const { epoch } = seen.received[0]!.position as StreamPosition;
      const read = await a!.readStream('room', { epoch, offset: 25 });
      expect(read.recovered).toBe(true);
      expect(read.position).toEqual({ epoch, offset: 60 });
      expect(values(read.publications)).toEqual(Array.from({ length: 35 }, (_, i) => ({ i: 26 + i })));
      // The oldest kept publication is offset 21: a position before it is refused, whole.
      expect(await b!.readStream('room', { epoch, offset: 19 })).toEqual({ position: read.position, recovered: false, publications: [], bytes: 0 });
      expect(offsets((await b!.readStream('room', { epoch, offset: 20 })).publications)).toEqual(Array.from({ length: 40 }, (_, i) => 21 + i));
    });

    it('refuses positions it cannot honour: another epoch, ahead of the stream', async () => {
      const [a] = await factory.start(1, { topics: ['room'] });
      a!.broadcast('room', 'n', {});
      const { position } = await eventuallyAt(a!, 'room', 1);
      for (const since of [
        { epoch: `${position.epoch}x`, offset: 0 },
        { epoch: position.epoch, offset: 2 },
      ]) {
        expect(await a!.readStream('room', since)).toEqual({ position, recovered: false, publications: [], bytes: 0 });
      }
    });

    it('keeps at most `size` publications: an older position is refused, the oldest kept one honoured', async () => {
      const [a] = await factory.start(1, { topics: ['room'], size: 5 });
      for (let i = 1; i <= 8; i++) a!.broadcast('room', 'n', { i });
      const { position } = await eventuallyAt(a!, 'room', 8);
      expect((await a!.readStream('room', { epoch: position.epoch, offset: 2 })).recovered).toBe(false);
      const kept = await a!.readStream('room', { epoch: position.epoch, offset: 3 });
      expect(kept.recovered).toBe(true);
      expect(offsets(kept.publications)).toEqual([4, 5, 6, 7, 8]);
    });

    it('keeps publications for `ttlMs`: after it, a position before them is refused; offsets go on', async () => {
      const [a] = await factory.start(1, { topics: ['room'], ttlMs: 150 });
      a!.broadcast('room', 'n', { i: 1 });
      const { position } = await eventuallyAt(a!, 'room', 1);
      // The store's own clock (Redis's, for Redis) ages the publication: wait until it has.
      await eventually(async () =>
        expect(await a!.readStream('room', { epoch: position.epoch, offset: 0 })).toEqual({ position, recovered: false, publications: [], bytes: 0 }),
      );
      expect((await a!.readStream('room', position)).recovered).toBe(true); // nothing missed
      a!.broadcast('room', 'n', { i: 2 });
      await eventuallyAt(a!, 'room', 2);
    });

    it('keeps streams for at most `maxTopics` topics: the least recently published loses its past and its epoch', async () => {
      const [a] = await factory.start(1, { topics: ['t:*'], maxTopics: 2 });
      a!.broadcast('t:1', 'n', {});
      const first = (await eventuallyAt(a!, 't:1', 1)).position;
      a!.broadcast('t:2', 'n', {});
      a!.broadcast('t:3', 'n', {}); // evicts t:1
      await eventuallyAt(a!, 't:3', 1);
      expect((await a!.readStream('t:1', { epoch: first.epoch, offset: 0 })).recovered).toBe(false);
      a!.broadcast('t:1', 'n', {});
      const again = (await eventuallyAt(a!, 't:1', 1)).position;
      expect(again.epoch).not.toBe(first.epoch);
    });

    it('keeps at most `maxBytes` in all streams: the least recently published topics go first', async () => {
      const [a] = await factory.start(1, { topics: ['t:*'], maxBytes: 25_000 });
      const big = { text: 'x'.repeat(10_000) };
      a!.broadcast('t:1', 'n', big);
      const first = (await eventuallyAt(a!, 't:1', 1)).position;
      a!.broadcast('t:2', 'n', big);
      const second = (await eventuallyAt(a!, 't:2', 1)).position;
      a!.broadcast('t:3', 'n', big); // over 25 000 bytes: t:1 goes
      await eventuallyAt(a!, 't:3', 1);
      expect((await a!.readStream('t:1', { epoch: first.epoch, offset: 0 })).recovered).toBe(false);
      expect(values((await a!.readStream('t:2', { epoch: second.epoch, offset: 0 })).publications)).toEqual([big]);
    });

    it('keeps a topic that alone exceeds `maxBytes` to its newest publications', async () => {
      const [a] = await factory.start(1, { topics: ['room'], maxBytes: 25_000 });
      for (let i = 1; i <= 3; i++) a!.broadcast('room', 'n', { i, text: 'x'.repeat(10_000) });
      const { position } = await eventuallyAt(a!, 'room', 3);
      expect((await a!.readStream('room', { epoch: position.epoch, offset: 0 })).recovered).toBe(false);
      const kept = await a!.readStream('room', { epoch: position.epoch, offset: 1 });
      expect(offsets(kept.publications)).toEqual([2, 3]);
    });

    it('replays at most `maxReplayBytes`: past it nothing is read and the position is not honoured', async () => {
      const [a, b] = await factory.start(2, { topics: ['room'], size: 100, maxReplayBytes: 10_000 });
      const text = 'x'.repeat(1000);
      for (let i = 1; i <= 20; i++) a!.broadcast('room', 'n', { i, text });
      const { position } = await eventuallyAt(a!, 'room', 20);
      // 20 publications of ~1 KB: 20 KB missed, over the budget; on every node alike.
      for (const node of [a!, b!]) {
        const refused = await node.readStream('room', { epoch: position.epoch, offset: 0 });
        expect(refused.recovered).toBe(false);
        expect(refused.publications).toEqual([]);
        expect(refused.position).toEqual(position);
        expect(refused.bytes).toBeGreaterThan(10_000);
      }
      // The last 5 (~5 KB, each counted with its topic, event and frame) fit.
      const within = await b!.readStream('room', { epoch: position.epoch, offset: 15 });
      expect(within.recovered).toBe(true);
      expect(offsets(within.publications)).toEqual([16, 17, 18, 19, 20]);
      expect(within.bytes).toBeGreaterThan(5 * 1000);
      expect(within.bytes).toBeLessThan(5 * 1200);
    });

    it('counts a replay in UTF-8 bytes, not characters', async () => {
      const [a] = await factory.start(1, { topics: ['room'], maxReplayBytes: 4000 });
      a!.broadcast('room', 'n', { text: '€'.repeat(1000) }); // 1,000 characters, 3,000 bytes
      a!.broadcast('room', 'n', { text: '€'.repeat(1000) });
      const { position } = await eventuallyAt(a!, 'room', 2);
      expect((await a!.readStream('room', { epoch: position.epoch, offset: 1 })).recovered).toBe(true);
      expect((await a!.readStream('room', { epoch: position.epoch, offset: 0 })).recovered).toBe(false);
    });

    it('reads a topic that never published as offset 0, creating nothing; that position recovers its first publications', async () => {
      const [a] = await factory.start(1, { topics: ['t:*'], maxTopics: 1 });
      a!.broadcast('t:busy', 'n', {});
      await eventuallyAt(a!, 't:busy', 1);
      const empty = await a!.readStream('t:quiet', null);
      expect(empty.position.offset).toBe(0);
      // Reading created no stream: t:busy (maxTopics 1) still has its past.
      expect((await a!.readStream('t:busy', { epoch: (await a!.readStream('t:busy', null)).position.epoch, offset: 0 })).recovered).toBe(true);
      a!.broadcast('t:quiet', 'n', { first: true });
      await eventuallyAt(a!, 't:quiet', 1);
      const read = await a!.readStream('t:quiet', empty.position);
      expect(read.recovered).toBe(true);
      expect(values(read.publications)).toEqual([{ first: true }]);
    });

    it('delivers a publication whose payload is not JSON nowhere, and counts it', async () => {
      const [a] = await factory.start(1, { topics: ['room'] });
      const local = new Recorder();
      await a!.subscribe('room', local);
      a!.broadcast('room', 'bad', { n: 1n }); // never throws
      a!.broadcast('room', 'good', {});
      await eventually(() => expect(local.events).toEqual(['good']));
      expect(local.received[0]?.position?.offset).toBe(1);
      expect(a!.stats.appendFailures).toBe(1);
    });

    it('refuses binary payloads on history topics (binary frames have no ref for the position)', async () => {
      const [a] = await factory.start(1, { topics: ['room'] });
      expect(() => a!.broadcast('room', 'bin', { binary: new Uint8Array([1]) })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_PAYLOAD' }) as Error);
      a!.broadcast('files', 'bin', { binary: new Uint8Array([1]) }); // other topics carry them
    });
  });
}

/** Waits until the stream of `topic` is at `offset`. */
async function eventuallyAt(node: { readStream(topic: string, since: null): Promise<{ position: StreamPosition }> }, topic: string, offset: number) {
  let position: StreamPosition | undefined;
  await eventually(async () => {
    position = (await node.readStream(topic, null)).position;
    expect(position.offset).toBe(offset);
  });
  return { position: position as StreamPosition };
}
