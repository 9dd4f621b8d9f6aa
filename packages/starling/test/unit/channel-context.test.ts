import { describe, expect, it } from 'vitest';
import { ChannelContext } from '../../src/runtime/channel-context.ts';
import type { ChannelServer } from '../../src/runtime/channel-server.ts';

// Assigns do not touch the server: a stand-in is enough.
const context = (assigns: Record<string, unknown>): ChannelContext => new ChannelContext({} as ChannelServer, assigns);

describe('ChannelContext assigns', () => {
  it("gives each channel its own copy of the socket's assigns: one channel's assign is not seen by another or by the socket", () => {
    const socketAssigns = { user: 'ada' };
    const lobby = context(socketAssigns);
    const room = context(socketAssigns);
    lobby.assign({ user: 'changed', typing: true });
    lobby.assigns.direct = 1;
    expect(lobby.assigns).toEqual({ user: 'changed', typing: true, direct: 1 });
    expect(room.assigns).toEqual({ user: 'ada' });
    expect(socketAssigns).toEqual({ user: 'ada' });
  });

  it('copies when first used, and keeps one copy from then on', () => {
    const socketAssigns = Object.freeze({ user: 'ada' });
    const channel = context(socketAssigns);
    const first = channel.assigns;
    expect(first).not.toBe(socketAssigns);
    expect(channel.assigns).toBe(first);
    // A frozen socket-level object (a socket without `connect` shares one) is never written.
    expect(() => channel.assign({ n: 1 })).not.toThrow();
    expect(channel.assigns).toEqual({ user: 'ada', n: 1 });
  });
});
