/**
 * Encode-once fan-out: during one broadcast's dispatch, every subscriber with the same serializer
 * gets the same frame, encoded once; a new broadcast is encoded afresh.
 */
import { describe, expect, it } from 'vitest';
import type { BroadcastMessage } from '../../../src/protocol.ts';
import { broadcastFrame } from '../../../src/runtime/broadcast-frames.ts';
import { createEndpointStats } from '../../../src/endpoint-stats.ts';
import { v1JsonSerializer, v2JsonSerializer } from '../../../src/serializer/index.ts';

const message = (n: number): BroadcastMessage => ({ topic: 'rooms:lobby', event: 'new_msg', payload: { n } });

describe('broadcastFrame', () => {
  it('encodes a broadcast once per serializer, however many subscribers ask', () => {
    const stats = createEndpointStats();
    const broadcast = message(1);
    const v2 = Array.from({ length: 50 }, () => broadcastFrame(broadcast, v2JsonSerializer, stats));
    const v1 = Array.from({ length: 50 }, () => broadcastFrame(broadcast, v1JsonSerializer, stats));
    expect(stats.broadcastEncodes).toBe(2);
    expect(new Set(v2).size).toBe(1);
    expect(new Set(v1).size).toBe(1);
    expect(v2[0]!.text).toBe('[null,null,"rooms:lobby","new_msg",{"n":1}]');
    expect(JSON.parse(v1[0]!.text)).toEqual({ ref: null, topic: 'rooms:lobby', event: 'new_msg', payload: { n: 1 } });
  });

  it('encodes the next broadcast afresh, even one equal in content', () => {
    const stats = createEndpointStats();
    const first = broadcastFrame(message(1), v2JsonSerializer, stats);
    const second = broadcastFrame(message(1), v2JsonSerializer, stats);
    expect(stats.broadcastEncodes).toBe(2);
    expect(second).not.toBe(first);
  });

  it('stays correct when a broadcast starts during another one’s dispatch (one extra encode)', () => {
    const stats = createEndpointStats();
    const outer = message(1);
    const a = broadcastFrame(outer, v2JsonSerializer, stats);
    const nested = broadcastFrame(message(2), v2JsonSerializer, stats);
    const b = broadcastFrame(outer, v2JsonSerializer, stats);
    expect(a!.text).toBe(b!.text);
    expect(nested!.text).toContain('{"n":2}');
    expect(stats.broadcastEncodes).toBe(3);
  });

  it('writes the topic the client joined when its channel listens on another PubSub topic, still once per (serializer, topic)', () => {
    const stats = createEndpointStats();
    const broadcast: BroadcastMessage = { topic: 'private:lobby', event: 'new_msg', payload: { n: 1 } };
    const frames = Array.from({ length: 20 }, () => broadcastFrame(broadcast, v2JsonSerializer, stats, 'rooms:lobby'));
    const own = broadcastFrame(broadcast, v2JsonSerializer, stats);
    expect(stats.broadcastEncodes).toBe(2);
    expect(new Set(frames).size).toBe(1);
    expect(frames[0]!.text).toBe('[null,null,"rooms:lobby","new_msg",{"n":1}]');
    expect(own!.text).toBe('[null,null,"private:lobby","new_msg",{"n":1}]');
  });
});
