/**
 * The shared conformance suite of the PubSubAdapter contract: every adapter (in-process, Redis)
 * runs it through a factory that starts an n-node cluster. It pins the guarantees written on the
 * contract: no echo, order per publisher, interest, local delivery without the adapter, binary
 * payloads, encode once per serializer.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { BroadcastMessage } from '../../../src/protocol.ts';
import type { PubSub } from '../../../src/pubsub/pubsub.ts';
import type { HistoryOptions } from '../../../src/pubsub/stream.ts';
import { type Subscriber } from '../../../src/pubsub/pubsub.ts';
import { eventually } from '@starling/test-support/eventually';

/** Starts and stops clusters of PubSub nodes sharing one adapter backend. */
export interface ClusterFactory {
  /** Starts `n` nodes, each a started PubSub (with `history`, when given). */
  start(n: number, history?: HistoryOptions): Promise<PubSub[]>;
  /** Stops every node started by `start`. */
  stop(): Promise<void>;
}

/** A subscriber that records what it receives. */
export class Recorder implements Subscriber {
  readonly received: BroadcastMessage[] = [];
  deliver(message: BroadcastMessage): void {
    this.received.push(message);
  }
  get events(): string[] {
    return this.received.map((m) => m.event);
  }
}

/** Registers the suite for one adapter. */
export function pubSubAdapterSuite(name: string, factory: ClusterFactory): void {
  describe(`PubSubAdapter conformance: ${name}`, () => {
    afterEach(() => factory.stop());

    it('delivers a broadcast to local subscribers synchronously, before the adapter is involved', async () => {
      const [a] = await factory.start(1);
      const local = new Recorder();
      await a!.subscribe('room', local);
      a!.broadcast('room', 'new_msg', { body: 'hi' });
      expect(local.received).toEqual([{ topic: 'room', event: 'new_msg', payload: { body: 'hi' } }]);
    });

    it('delivers a broadcast to subscribers on another node', async () => {
      const [a, b] = await factory.start(2);
      const remote = new Recorder();
      await b!.subscribe('room', remote);
      a!.broadcast('room', 'new_msg', { body: 'across' });
      await eventually(() => expect(remote.received).toEqual([{ topic: 'room', event: 'new_msg', payload: { body: 'across' } }]));
    });

    it('never echoes a broadcast back to the publishing node', async () => {
      const [a, b] = await factory.start(2);
      const local = new Recorder();
      const remote = new Recorder();
      const marker = new Recorder();
      await a!.subscribe('room', local);
      await a!.subscribe('marker', marker);
      await b!.subscribe('room', remote);
      a!.broadcast('room', 'once', {});
      await eventually(() => expect(remote.events).toEqual(['once']));
      // Published after 'once' reached B: an echo of 'once' to A would arrive before it.
      b!.broadcast('marker', 'after', {});
      await eventually(() => expect(marker.events).toEqual(['after']));
      expect(local.events).toEqual(['once']);
    });

    it('excludes only the sending subscriber with broadcast-from; other nodes deliver to all', async () => {
      const [a, b] = await factory.start(2);
      const sender = new Recorder();
      const neighbour = new Recorder();
      const remote = new Recorder();
      await a!.subscribe('room', sender);
      await a!.subscribe('room', neighbour);
      await b!.subscribe('room', remote);
      a!.broadcast('room', 'from', {}, sender);
      await eventually(() => expect(remote.events).toEqual(['from']));
      expect(neighbour.events).toEqual(['from']);
      expect(sender.events).toEqual([]);
    });

    it('keeps the order of one publisher on every other node', async () => {
      const [a, b, c] = await factory.start(3);
      const onB = new Recorder();
      const onC = new Recorder();
      await b!.subscribe('room', onB);
      await c!.subscribe('room', onC);
      for (let i = 0; i < 200; i++) a!.broadcast('room', 'n', { i });
      const expected = Array.from({ length: 200 }, (_, i) => i);
      await eventually(() => expect(onB.received.map((m) => (m.payload as { i: number }).i)).toEqual(expected), 5000);
      await eventually(() => expect(onC.received.map((m) => (m.payload as { i: number }).i)).toEqual(expected), 5000);
    });

    it('does not deliver to a node without subscribers of the topic (interest)', async () => {
      const [a, b] = await factory.start(2);
      const other = new Recorder();
      await b!.subscribe('other-topic', other);
      const before = b!.stats.broadcasts;
      a!.broadcast('room', 'nobody-listens', {});
      a!.broadcast('other-topic', 'marker', {});
      await eventually(() => expect(other.events).toEqual(['marker']));
      expect(b!.stats.broadcasts - before).toBe(1);
    });

    it('stops remote delivery after the last local subscriber unsubscribes', async () => {
      const [a, b] = await factory.start(2);
      const remote = new Recorder();
      const marker = new Recorder();
      await b!.subscribe('room', remote);
      await b!.subscribe('marker', marker);
      a!.broadcast('room', 'first', {});
      await eventually(() => expect(remote.events).toEqual(['first']));
      b!.unsubscribe('room', remote);
      // A later subscription of B confirmed: its adapter has handled the unsubscribe, sent before it.
      await b!.subscribe('barrier', new Recorder());
      a!.broadcast('room', 'second', {});
      a!.broadcast('marker', 'after', {});
      await eventually(() => expect(marker.events).toEqual(['after']));
      expect(remote.events).toEqual(['first']);
    });

    it('carries binary payloads between nodes byte for byte', async () => {
      const [a, b] = await factory.start(2);
      const remote = new Recorder();
      await b!.subscribe('files', remote);
      const bytes = new Uint8Array([0, 1, 2, 250, 255]);
      a!.broadcast('files', 'file', { binary: bytes });
      await eventually(() => expect(remote.received).toHaveLength(1));
      const payload = remote.received[0]!.payload as { binary: Uint8Array };
      expect(payload.binary).toBeInstanceOf(Uint8Array);
      expect([...payload.binary]).toEqual([...bytes]);
    });

    it('keeps local broadcasts on the local node', async () => {
      const [a, b] = await factory.start(2);
      const remote = new Recorder();
      const marker = new Recorder();
      await b!.subscribe('room', remote);
      await b!.subscribe('marker', marker);
      a!.localBroadcast('room', 'local-only', {});
      a!.broadcast('marker', 'after', {});
      await eventually(() => expect(marker.events).toEqual(['after']));
      expect(remote.events).toEqual([]);
    });

    it('hands every local subscriber on the receiving node the same message object (what encode-once fan-out keys on)', async () => {
      const [a, b] = await factory.start(2);
      const received: BroadcastMessage[] = [];
      for (let i = 0; i < 50; i++) await b!.subscribe('room', { deliver: (message) => received.push(message) });
      a!.broadcast('room', 'new_msg', { body: 'x' });
      await eventually(() => expect(received).toHaveLength(50));
      expect(new Set(received).size).toBe(1);
      expect(received[0]).toEqual({ topic: 'room', event: 'new_msg', payload: { body: 'x' } });
    });
  });
}
