/**
 * Raw-frame conformance for Presence on the wire (docs/protocol.md §9.1–9.3; checklist §11 items
 * 51–53). The fixture channel, joined with `{track: key}`, pushes `presence_state` right after
 * its join reply and then tracks itself under `key` with meta `{online_at: "1"}`.
 */
import { describe, expect, it } from 'vitest';
import type { Fixture } from '../../support/fixture.ts';
import { JSON_DIALECTS, replyPayload, useFixtures, type Dialect, type Tuple, type WireClient } from '../../support/wire-client.ts';

const { start, connect } = useFixtures();

const OK = replyPayload('ok');
const TOPIC = 'test:presence';

type Meta = { online_at?: string; status?: string; phx_ref: string; phx_ref_prev?: string };
const isDiff = (f: Tuple): boolean => f[3] === 'presence_diff';

/** Reads the payload of a frame in either dialect. */
function payloadOf(client: WireClient, json: unknown): unknown {
  return client.dialect.read(json)?.[4];
}

/** Joins TOPIC tracking `key`; returns the client, its presence_state payload and its own tracked meta. */
async function joinTracked(fixture: Fixture, dialect: Dialect, key: string, joinRef: string) {
  const client = await connect(fixture, dialect);
  client.send([joinRef, joinRef, TOPIC, 'phx_join', { track: key }]);
  const [reply, state, diff] = await client.nextFrames(3);
  expect(reply).toEqual(client.wire([joinRef, joinRef, TOPIC, 'phx_reply', OK]));
  const own = (payloadOf(client, diff) as { joins: Record<string, { metas: Meta[] }> }).joins[key]!.metas[0]!;
  expect(diff).toEqual(client.wire([null, null, TOPIC, 'presence_diff', { joins: { [key]: { metas: [own] } }, leaves: {} }]));
  return { client, state, own };
}

for (const dialect of JSON_DIALECTS) {
  describe(`presence over ${dialect.name}`, () => {
    it('pushes presence_state to the joiner and broadcasts the join as presence_diff to every subscriber (item 51)', async () => {
      const fixture = await start();
      const bob = await joinTracked(fixture, dialect, 'bob', '1');
      expect(bob.state).toEqual(bob.client.wire(['1', null, TOPIC, 'presence_state', {}]));
      expect(bob.own).toEqual({ online_at: '1', phx_ref: expect.any(String) });

      const alice = await joinTracked(fixture, dialect, 'alice', '5');
      expect(alice.state).toEqual(alice.client.wire(['5', null, TOPIC, 'presence_state', { bob: { metas: [bob.own] } }]));
      expect(alice.own).toEqual({ online_at: '1', phx_ref: expect.any(String) });
      expect(alice.own.phx_ref).not.toBe(bob.own.phx_ref);
      // Bob sees the very same meta, phx_ref included.
      expect(await bob.client.receive(isDiff)).toEqual(
        bob.client.wire([null, null, TOPIC, 'presence_diff', { joins: { alice: { metas: [alice.own] } }, leaves: {} }]),
      );
    });

    for (const [how, end] of [
      ['leaving', (c: WireClient) => c.send(['5', '6', TOPIC, 'phx_leave', {}])],
      ['closing the socket', (c: WireClient) => c.close()],
      ['crashing', (c: WireClient) => c.send(['5', '6', TOPIC, 'crash', {}])],
      ['stopping', (c: WireClient) => c.send(['5', '6', TOPIC, 'stop_normal', {}])],
    ] as const) {
      it(`broadcasts the same meta in leaves after ${how} (item 52)`, async () => {
        const fixture = await start();
        const bob = await joinTracked(fixture, dialect, 'bob', '1');
        const alice = await joinTracked(fixture, dialect, 'alice', '5');
        await bob.client.receive(isDiff);

        end(alice.client);
        expect(await bob.client.receive(isDiff)).toEqual(
          bob.client.wire([null, null, TOPIC, 'presence_diff', { joins: {}, leaves: { alice: { metas: [alice.own] } } }]),
        );
      });
    }

    it('broadcasts an update as joins (new phx_ref, phx_ref_prev = old) plus leaves (old) for the same key (item 52)', async () => {
      const fixture = await start();
      const bob = await joinTracked(fixture, dialect, 'bob', '1');
      const alice = await joinTracked(fixture, dialect, 'alice', '5');
      await bob.client.receive(isDiff);

      expect(await alice.client.push(['5', '6', TOPIC, 'update_presence', { key: 'alice' }])).toEqual(alice.client.wire(['5', '6', TOPIC, 'phx_reply', OK]));
      const diff = await bob.client.receive(isDiff);
      const updated = (payloadOf(bob.client, diff) as { joins: Record<string, { metas: Meta[] }> }).joins.alice!.metas[0]!;
      expect(updated).toEqual({ status: 'away', phx_ref: expect.any(String), phx_ref_prev: alice.own.phx_ref });
      expect(updated.phx_ref).not.toBe(alice.own.phx_ref);
      expect(diff).toEqual(
        bob.client.wire([null, null, TOPIC, 'presence_diff', { joins: { alice: { metas: [updated] } }, leaves: { alice: { metas: [alice.own] } } }]),
      );
      // The updater's own socket gets the same broadcast.
      expect(await alice.client.receive(isDiff)).toEqual(diff);
    });

    it('pushes a fresh presence_state with the new join_ref after a rejoin, without the crashed join’s meta (item 53)', async () => {
      const fixture = await start();
      const bob = await joinTracked(fixture, dialect, 'bob', '1');
      const alice = await joinTracked(fixture, dialect, 'alice', '5');
      alice.client.send(['5', '6', TOPIC, 'crash', {}]);
      expect(await alice.client.receive((f) => f[3] === 'phx_error')).toEqual(alice.client.wire(['5', '5', TOPIC, 'phx_error', { reason: 'channel_crash' }]));
      expect(await bob.client.receive(isDiff)).toEqual(
        bob.client.wire([null, null, TOPIC, 'presence_diff', { joins: { alice: { metas: [alice.own] } }, leaves: {} }]),
      );
      expect(await bob.client.receive(isDiff)).toEqual(
        bob.client.wire([null, null, TOPIC, 'presence_diff', { joins: {}, leaves: { alice: { metas: [alice.own] } } }]),
      );

      alice.client.send(['7', '7', TOPIC, 'phx_join', { track: 'alice' }]);
      expect(await alice.client.reply('7')).toEqual(alice.client.wire(['7', '7', TOPIC, 'phx_reply', OK]));
      expect(await alice.client.receive((f) => f[3] === 'presence_state')).toEqual(
        alice.client.wire(['7', null, TOPIC, 'presence_state', { bob: { metas: [bob.own] } }]),
      );
    });

    it('pushes a fresh presence_state after a reconnect, without the old socket’s meta (item 53)', async () => {
      const fixture = await start();
      const bob = await joinTracked(fixture, dialect, 'bob', '1');
      const alice = await joinTracked(fixture, dialect, 'alice', '5');
      await bob.client.receive(isDiff);
      alice.client.close();
      await bob.client.receive(isDiff);

      const again = await joinTracked(fixture, dialect, 'alice', '9');
      expect(again.state).toEqual(again.client.wire(['9', null, TOPIC, 'presence_state', { bob: { metas: [bob.own] } }]));
      expect(again.own.phx_ref).not.toBe(alice.own.phx_ref);
    });
  });
}
