import { beforeEach, describe, expect, it } from 'vitest';
import { Presence } from '../../../src/presence/presence.ts';
import type { BroadcastMessage } from '../../../src/protocol.ts';
import { PubSub } from '../../../src/pubsub/pubsub.ts';

describe('Presence (single node)', () => {
  let pubsub: PubSub;
  let presence: Presence;
  let diffs: BroadcastMessage[];
  const alice = {};
  const aliceOtherTab = {};

  beforeEach(async () => {
    pubsub = new PubSub();
    await pubsub.start();
    presence = new Presence(pubsub);
    diffs = [];
    await pubsub.subscribe('room', { deliver: (message) => diffs.push(message) });
  });

  const plain = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

  it('track lists the meta with a phx_ref and broadcasts a join diff', () => {
    const meta = presence.track(alice, 'room', 'alice', { online_at: '1' });
    expect(plain(presence.list('room'))).toEqual({ alice: { metas: [{ online_at: '1', phx_ref: meta.phx_ref }] } });
    expect(diffs).toHaveLength(1);
    expect(diffs[0]!.event).toBe('presence_diff');
    expect(plain(diffs[0]!.payload)).toEqual({ joins: { alice: { metas: [{ online_at: '1', phx_ref: meta.phx_ref }] } }, leaves: {} });
  });

  it('lists two tabs of one user as two metas under one key', () => {
    presence.track(alice, 'room', 'alice');
    presence.track(aliceOtherTab, 'room', 'alice');
    expect(presence.list('room').alice!.metas).toHaveLength(2);
  });

  it('refuses to track the same (owner, topic, key) twice', () => {
    presence.track(alice, 'room', 'alice');
    expect(() => presence.track(alice, 'room', 'alice')).toThrow(/already tracked/);
  });

  it('update broadcasts one diff: the new meta (phx_ref_prev = old ref) in joins, the old in leaves', () => {
    const old = presence.track(alice, 'room', 'alice', { status: 'here' });
    const updated = presence.update(alice, 'room', 'alice', { status: 'away' });
    expect(updated.phx_ref_prev).toBe(old.phx_ref);
    expect(updated.phx_ref).not.toBe(old.phx_ref);
    expect(plain(diffs[1]!.payload)).toEqual({
      joins: { alice: { metas: [{ status: 'away', phx_ref: updated.phx_ref, phx_ref_prev: old.phx_ref }] } },
      leaves: { alice: { metas: [{ status: 'here', phx_ref: old.phx_ref }] } },
    });
  });

  it('untrack broadcasts the leave and removes the key', () => {
    const meta = presence.track(alice, 'room', 'alice');
    presence.untrack(alice, 'room', 'alice');
    expect(plain(presence.list('room'))).toEqual({});
    expect(plain(diffs[1]!.payload)).toEqual({ joins: {}, leaves: { alice: { metas: [{ phx_ref: meta.phx_ref }] } } });
  });

  it('untrackAll removes every entry of an owner, one diff per topic, and leaves other owners', () => {
    presence.track(alice, 'room', 'alice');
    presence.track(alice, 'room', 'alice-bot');
    presence.track(aliceOtherTab, 'room', 'alice');
    presence.untrackAll(alice);
    expect(Object.keys(presence.list('room'))).toEqual(['alice']);
    expect(presence.list('room').alice!.metas).toHaveLength(1);
    expect(diffs).toHaveLength(4);
    expect(Object.keys((diffs[3]!.payload as { leaves: object }).leaves).sort()).toEqual(['alice', 'alice-bot']);
  });

  it('refuses unsafe keys', () => {
    expect(() => presence.track(alice, 'room', '__proto__')).toThrow(/not allowed/);
  });
});
