/**
 * The official client's `Presence` against the fixture's presence-tracking channel (§9): two users
 * listed on both sockets, leaves, and a correct list after a forced reconnect (checklist §11
 * item 53). The fixture's join `{track: key}` pushes `presence_state`, then tracks `key`.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Presence, PresenceEntry } from 'phoenix';
import { startFixture, type Fixture } from '../../support/fixture.ts';
import { eventually } from '@starling/test-support/eventually';
import { ClientPool, joined, leaveOutcome, officialClients } from '@starling/test-support/official-client';

/** The presence list as `{key: phx_refs}`, which says who is there and through which joins. */
function refsByKey(presence: Presence): Record<string, string[]> {
  const entries = presence.list((key: string, entry: PresenceEntry) => [key, entry.metas.map((meta) => meta.phx_ref)] as const);
  return Object.fromEntries(entries);
}

describe.each(officialClients)('$name Presence', (client) => {
  let fixture: Fixture;
  let pool: ClientPool;

  async function start(): Promise<string> {
    fixture = await startFixture();
    pool = new ClientPool(client);
    return `ws://127.0.0.1:${fixture.port}/socket`;
  }

  /** A socket of `user` joined to `topic` and tracked there under `user`. */
  async function presenceOf(endpoint: string, topic: string, user: string): Promise<Presence> {
    const channel = pool.socket(endpoint, { params: { user_id: user } }).channel(topic, { track: user });
    const presence = new client.Presence(channel);
    await joined(channel);
    return presence;
  }

  afterEach(async () => {
    await pool?.close();
    await fixture?.close();
  });

  it('lists both users, one meta each, on both sockets', async () => {
    const endpoint = await start();
    const alice = await presenceOf(endpoint, 'test:presence', 'alice');
    const bob = await presenceOf(endpoint, 'test:presence', 'bob');

    await eventually(() => {
      expect(Object.keys(refsByKey(alice)).sort()).toEqual(['alice', 'bob']);
      expect(Object.keys(refsByKey(bob)).sort()).toEqual(['alice', 'bob']);
    });
    expect(refsByKey(alice)).toEqual(refsByKey(bob));
    expect(refsByKey(alice).alice).toHaveLength(1);
    expect(refsByKey(alice).bob).toHaveLength(1);
  });

  it('reports the join of another user through onJoin and the list through onSync', async () => {
    const endpoint = await start();
    const alice = await presenceOf(endpoint, 'test:presence', 'alice');
    const joinedKeys: string[] = [];
    alice.onJoin((key) => joinedKeys.push(key));
    let synced: string[] = [];
    alice.onSync(() => (synced = alice.list((key: string) => key).sort()));

    await presenceOf(endpoint, 'test:presence', 'bob');

    await eventually(() => expect(synced).toEqual(['alice', 'bob']));
    expect(joinedKeys).toContain('bob');
  });

  it('syncs with one call: a channel whose only presence code is track sends presence_state once, by itself', async () => {
    const endpoint = await start();
    const states: unknown[] = [];
    const channel = pool.socket(endpoint, { params: { user_id: 'ada' } }).channel('test:presence', { trackOnly: 'ada' });
    const presence = new client.Presence(channel);
    channel.on('presence_state', (state: unknown) => states.push(state));
    let synced: string[] = [];
    presence.onSync(() => (synced = presence.list((key: string) => key)));
    await joined(channel);
    await eventually(() => expect(synced).toEqual(['ada']));

    // The guide's order (the app pushes presence_state, then tracks) still sends one state.
    const bob = pool.socket(endpoint, { params: { user_id: 'bob' } }).channel('test:presence', { track: 'bob' });
    const bobStates: unknown[] = [];
    bob.on('presence_state', (state: unknown) => bobStates.push(state));
    await joined(bob);
    await eventually(() => expect(synced.sort()).toEqual(['ada', 'bob']));
    expect(states).toEqual([{}]);
    expect(bobStates).toHaveLength(1);
  });

  it('drops a user who leaves from the other socket’s list', async () => {
    const endpoint = await start();
    const aliceSocket = pool.socket(endpoint, { params: { user_id: 'alice' } });
    const aliceChannel = aliceSocket.channel('test:presence', { track: 'alice' });
    await joined(aliceChannel);
    const bob = await presenceOf(endpoint, 'test:presence', 'bob');
    await eventually(() => expect(Object.keys(refsByKey(bob)).sort()).toEqual(['alice', 'bob']));

    await leaveOutcome(aliceChannel);

    await eventually(() => expect(Object.keys(refsByKey(bob))).toEqual(['bob']));
  });

  it('is correct after a forced reconnect: fresh state, the old meta gone, one meta per user (item 53)', async () => {
    const endpoint = await start();
    const alice = await presenceOf(endpoint, 'test:presence', 'alice');
    const bob = await presenceOf(endpoint, 'test:presence', 'bob');
    await eventually(() => expect(Object.keys(refsByKey(alice)).sort()).toEqual(['alice', 'bob']));
    const before = refsByKey(alice);

    // Forced from the server: alice's socket is closed with 1001, reconnects and rejoins.
    fixture.endpoint.broadcast('users_socket:alice', 'disconnect', {});

    await eventually(
      () => expect(fixture.calls.filter((c) => c.callback === 'join' && (c.payload as { track?: string }).track === 'alice')).toHaveLength(2),
      5000,
    );
    await eventually(() => {
      const after = refsByKey(alice);
      expect(Object.keys(after).sort()).toEqual(['alice', 'bob']);
      expect(after.alice).toHaveLength(1);
      expect(after.alice).not.toEqual(before.alice);
      expect(after.bob).toEqual(before.bob);
      expect(refsByKey(bob)).toEqual(after);
    }, 5000);
  });
});
