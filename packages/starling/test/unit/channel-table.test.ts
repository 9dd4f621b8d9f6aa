import { describe, expect, it } from 'vitest';
import type { ChannelServer } from '../../src/runtime/channel-server.ts';
import { ChannelTable } from '../../src/runtime/channel-table.ts';

/** A stand-in channel server: the table only reads `topic` and compares identity. */
const server = (topic: string): ChannelServer => ({ topic }) as ChannelServer;

describe('ChannelTable', () => {
  it('finds each channel by its topic, however many are held', () => {
    const table = new ChannelTable();
    const servers = ['a', 'b', 'c'].map(server);
    for (const s of servers) table.addChannel(s);
    expect(table.channelCount).toBe(3);
    for (const s of servers) expect(table.channel(s.topic)).toBe(s);
    expect(table.channel('d')).toBeUndefined();
    expect(table.channels()).toEqual(expect.arrayContaining(servers));
  });

  it('replaces the channel of a topic joined again, in either slot', () => {
    const table = new ChannelTable();
    table.addChannel(server('a'));
    table.addChannel(server('b'));
    const newA = server('a');
    const newB = server('b');
    table.addChannel(newA);
    table.addChannel(newB);
    expect(table.channelCount).toBe(2);
    expect(table.channel('a')).toBe(newA);
    expect(table.channel('b')).toBe(newB);
  });

  it('deletes a channel only if it is the one held for its topic', () => {
    const table = new ChannelTable();
    const old = server('a');
    table.addChannel(old);
    const rejoined = server('a');
    table.addChannel(rejoined);
    table.removeChannel(old);
    expect(table.channel('a')).toBe(rejoined);
    table.removeChannel(rejoined);
    expect(table.channelCount).toBe(0);
    expect(table.channel('a')).toBeUndefined();
  });

  it('never holds a topic twice when the first slot frees up while a later one holds that topic', () => {
    const table = new ChannelTable();
    const a = server('a');
    table.addChannel(a);
    table.addChannel(server('b'));
    table.removeChannel(a);
    const newB = server('b');
    table.addChannel(newB);
    expect(table.channelCount).toBe(1);
    expect(table.channel('b')).toBe(newB);
    expect(table.channels()).toEqual([newB]);
  });

  it('hands out a snapshot, so channels can be ended while iterating, and clears', () => {
    const table = new ChannelTable();
    for (const topic of ['a', 'b', 'c']) table.addChannel(server(topic));
    for (const s of table.channels()) table.removeChannel(s);
    expect(table.channelCount).toBe(0);
    table.addChannel(server('x'));
    table.clearChannels();
    expect(table.channelCount).toBe(0);
    expect(table.channels()).toEqual([]);
  });
});
