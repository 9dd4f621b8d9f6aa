import { describe, expect, it } from 'vitest';
import type { ChannelServer } from '../../src/runtime/channel-server.ts';
import { ChannelTable } from '../../src/runtime/channel-table.ts';

/** A stand-in channel server: the table only reads `topic` and compares identity. */
const server = (topic: string): ChannelServer => ({ topic }) as ChannelServer;

describe('ChannelTable', () => {
  it('finds each channel by its topic, however many are held', () => {
    const table = new ChannelTable();
    const servers = ['a', 'b', 'c'].map(server);
    for (const s of servers) table.add(s);
    expect(table.size).toBe(3);
    for (const s of servers) expect(table.get(s.topic)).toBe(s);
    expect(table.get('d')).toBeUndefined();
    expect(table.values()).toEqual(expect.arrayContaining(servers));
  });

  it('replaces the channel of a topic joined again, in either slot', () => {
    const table = new ChannelTable();
    table.add(server('a'));
    table.add(server('b'));
    const newA = server('a');
    const newB = server('b');
    table.add(newA);
    table.add(newB);
    expect(table.size).toBe(2);
    expect(table.get('a')).toBe(newA);
    expect(table.get('b')).toBe(newB);
  });

  it('deletes a channel only if it is the one held for its topic', () => {
    const table = new ChannelTable();
    const old = server('a');
    table.add(old);
    const rejoined = server('a');
    table.add(rejoined);
    table.delete(old);
    expect(table.get('a')).toBe(rejoined);
    table.delete(rejoined);
    expect(table.size).toBe(0);
    expect(table.get('a')).toBeUndefined();
  });

  it('never holds a topic twice when the first slot frees up while a later one holds that topic', () => {
    const table = new ChannelTable();
    const a = server('a');
    table.add(a);
    table.add(server('b'));
    table.delete(a);
    const newB = server('b');
    table.add(newB);
    expect(table.size).toBe(1);
    expect(table.get('b')).toBe(newB);
    expect(table.values()).toEqual([newB]);
  });

  it('hands out a snapshot, so channels can be ended while iterating, and clears', () => {
    const table = new ChannelTable();
    for (const topic of ['a', 'b', 'c']) table.add(server(topic));
    for (const s of table.values()) table.delete(s);
    expect(table.size).toBe(0);
    table.add(server('x'));
    table.clear();
    expect(table.size).toBe(0);
    expect(table.values()).toEqual([]);
  });
});
