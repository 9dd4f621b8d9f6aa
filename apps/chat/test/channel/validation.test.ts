/**
 * What the room channel accepts from clients, tested in-process with `starling/testing` (the
 * chat's real socket definition and room channel over a real SQLite store; no server, no port):
 * a message body is 1 to 2000 characters once trimmed, a display name 1 to 32, posting needs a
 * user token (messages are signed `name#mark`); a payload that
 * fails the channel's schemas is answered `{reason: "invalid payload", issues}`, a bad name
 * `{reason: "invalid name"}`, and nothing is stored or broadcast.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { TokenSigner } from 'starling';
import { ChannelTest, type TestChannel } from 'starling/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { Identity, markOf } from '../../src/identity.ts';
import { Budgets, DEFAULT_LIMITS } from '../../src/limits.ts';
import type { HistoryPage } from '../../src/room-channel.ts';
import { SqliteMessageStore } from '../../src/store/index.ts';
import { createUserSocket } from '../../src/user-socket.ts';
import { UNLIMITED } from '../support/chat.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const USER_ID = 'user-1';

/** A harness over the chat's socket definition with a fresh SQLite store, and a user token for it. */
function chatTest(): { test: ChannelTest; token: string } {
  const dir = mkdtempSync(join(tmpdir(), 'starling-chat-'));
  const store = SqliteMessageStore.open(join(dir, 'chat.sqlite3'));
  const identity = new Identity(new TokenSigner('s'.repeat(64)), { userTokenMaxAge: 3600, inviteMaxAge: 3600, sessionMaxAge: 7200 }, store);
  // Budgets no test here meets: what is tested is what a payload may be.
  const budgets = new Budgets({ ...DEFAULT_LIMITS, ...UNLIMITED }, new Registry());
  const test = new ChannelTest(createUserSocket(identity, store, budgets));
  cleanups.push(
    () => rmSync(dir, { recursive: true, force: true }),
    () => store.close(),
    () => test.close(),
  );
  return { test, token: identity.newSession(USER_ID).token };
}

async function lobby(params: Record<string, unknown> = {}): Promise<{ test: ChannelTest; channel: TestChannel; history: () => Promise<HistoryPage> }> {
  const { test, token } = chatTest();
  const { status, channel } = await (await test.connect({ token })).join('rooms:lobby', params);
  expect(status).toBe('ok');
  const history = async (): Promise<HistoryPage> => (await channel.push('history', {}).reply()).response as HistoryPage;
  return { test, channel, history };
}

/** Sends `body` and waits for its broadcast. */
async function send(channel: TestChannel, body: string): Promise<{ body: string; author: string }> {
  channel.push('new_msg', { body });
  return (await channel.assertBroadcast('new_msg')) as { body: string; author: string };
}

const invalidBody = (response: unknown): boolean => {
  const { reason, issues } = response as { reason?: string; issues?: Array<{ path: unknown[] }> };
  return reason === 'invalid payload' && issues?.length === 1 && issues[0]!.path.join('.') === 'body';
};

describe('message bodies', () => {
  it.each([
    ['missing', undefined],
    ['empty', ''],
    ['whitespace only', ' \t\n  '],
    ['2001 characters', 'x'.repeat(2001)],
    ['2001 characters once trimmed', ` ${'x'.repeat(2001)} `],
    ['not a string', 42],
  ])('refuses a body that is %s with {reason: "invalid payload", issues: [body]}, storing and broadcasting nothing', async (_, body) => {
    const { channel, history } = await lobby();

    await channel.assertReply(channel.push('new_msg', body === undefined ? {} : { body }), 'error', invalidBody);
    await channel.refuteBroadcast('new_msg');

    // A valid message sent after the refused one is the first thing heard and stored.
    expect((await send(channel, 'next')).body).toBe('next');
    expect((await history()).messages.map((message) => message.body)).toEqual(['next']);
  });

  it('accepts a body of exactly 2000 characters', async () => {
    const { channel } = await lobby();

    expect((await send(channel, 'x'.repeat(2000))).body).toHaveLength(2000);
  });

  it('counts characters, not UTF-16 units: 2000 emoji are accepted, 2001 are not', async () => {
    const { channel } = await lobby();

    expect((await send(channel, '🐦'.repeat(2000))).body).toBe('🐦'.repeat(2000));
    await channel.assertReply(channel.push('new_msg', { body: '🐦'.repeat(2001) }), 'error', invalidBody);
  });

  it('stores and broadcasts the body trimmed', async () => {
    const { channel, history } = await lobby();

    channel.push('new_msg', { body: '  hello  \n' });

    expect(await channel.assertBroadcast('new_msg')).toMatchObject({ body: 'hello' });
    expect((await history()).messages.map((message) => message.body)).toEqual(['hello']);
  });

  it('refuses a history request whose before is not an integer, and an unknown event', async () => {
    const { channel } = await lobby();

    const response = await channel.assertReply(channel.push('history', { before: '10' }), 'error');
    expect(response).toMatchObject({ reason: 'invalid payload', issues: [{ path: ['before'] }] });
    await channel.assertReply(channel.push('shout', {}), 'error', { reason: 'unknown event' });
  });
});

describe('display names', () => {
  it.each([
    ['33 characters', 'n'.repeat(33)],
    ['empty', ''],
    ['whitespace only', '   '],
    ['not a string', 7],
  ])('refuses a join whose name is %s with error {reason: "invalid name"}', async (_, user) => {
    const { test, token } = chatTest();

    expect(await (await test.connect({ token })).join('rooms:lobby', { user })).toMatchObject({ status: 'error', response: { reason: 'invalid name' } });
  });

  it('accepts a name of exactly 32 characters and signs messages with it and the user’s mark', async () => {
    const { channel } = await lobby({ name: 'n'.repeat(32) });

    expect((await send(channel, 'hi')).author).toBe(`${'n'.repeat(32)}#${markOf(USER_ID)}`);
  });

  it('signs the messages of a user who joined without a name as "anonymous" with their mark', async () => {
    const { channel } = await lobby();

    expect((await send(channel, 'hi')).author).toBe(`anonymous#${markOf(USER_ID)}`);
  });

  it('refuses a post from a guest (no token) without storing it', async () => {
    const { test } = chatTest();
    const { channel } = await (await test.connect()).join('rooms:lobby', {});

    await channel.assertReply(channel.push('new_msg', { body: 'hi' }), 'error', { reason: 'sign in to post' });
    await channel.refuteBroadcast('new_msg');
  });
});
