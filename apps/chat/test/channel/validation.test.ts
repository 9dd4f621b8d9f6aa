/**
 * What the room channel accepts from clients, tested in-process with `starling-channels/testing` (the
 * chat's real socket definition and room channel over a real SQLite store; no server, no port):
 * a message body is 1 to 2000 characters once trimmed, without control characters but tab and
 * line feed; a display name 1 to 32 without any, nor format characters (Cf); posting needs a
 * user token, and messages are signed `name#mark` with the name kept in the user's profile. A
 * payload that fails the channel's schemas is answered `{reason: "invalid payload", issues}`, a
 * bad name `{reason: "invalid name"}`, and nothing is stored or broadcast.
 */
import type { TestChannel } from 'starling-channels/testing';
import { describe, expect, it } from 'vitest';
import type { HistoryPage } from '../../src/room-channel.ts';
import { joined, sendAll, useChatChannels, type HarnessUser } from '../support/channel-test.ts';

const chatChannels = useChatChannels();

/** A user in the lobby, and a way to read the lobby's history. */
async function lobby(params: Record<string, unknown> = {}): Promise<{ user: HarnessUser; channel: TestChannel; history: () => Promise<HistoryPage> }> {
  const user = await chatChannels().connect();
  const { channel } = await joined(user.client, 'rooms:lobby', params);
  const history = async (): Promise<HistoryPage> => (await channel.push('history', {}).reply()).response as HistoryPage;
  return { user, channel, history };
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
    ['control characters', 'a\u0000\u0001\u001b[2J'],
    ['a lone surrogate', 'broken \ud83d'],
  ])('refuses a body that is %s with {reason: "invalid payload", issues: [body]}, storing and broadcasting nothing', async (_, body) => {
    const { channel, history } = await lobby();

    await channel.assertReply(channel.push('new_msg', body === undefined ? {} : { body }), 'error', invalidBody);
    await channel.refuteBroadcast('new_msg');

    // A valid message sent after the refused one is the first thing heard and stored.
    expect((await sendAll(channel, ['next']))[0]!.body).toBe('next');
    expect((await history()).messages.map((message) => message.body)).toEqual(['next']);
  });

  it('accepts a body of exactly 2000 characters', async () => {
    const { channel } = await lobby();

    expect((await sendAll(channel, ['x'.repeat(2000)]))[0]!.body).toHaveLength(2000);
  });

  it('counts characters, not UTF-16 units: 2000 emoji are accepted, 2001 are not', async () => {
    const { channel } = await lobby();

    expect((await sendAll(channel, ['🐦'.repeat(2000)]))[0]!.body).toBe('🐦'.repeat(2000));
    await channel.assertReply(channel.push('new_msg', { body: '🐦'.repeat(2001) }), 'error', invalidBody);
  });

  it('keeps line breaks and tabs inside a body', async () => {
    const { channel } = await lobby();

    expect((await sendAll(channel, ['line one\n\tline two']))[0]!.body).toBe('line one\n\tline two');
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

  it('refuses a post from a guest (no token) without storing it', async () => {
    const chat = chatChannels();
    const { channel } = await joined((await chat.connect(null)).client, 'rooms:lobby');

    await channel.assertReply(channel.push('new_msg', { body: 'hi' }), 'error', { reason: 'sign in to post' });
    await channel.refuteBroadcast('new_msg');
  });
});

describe('display names', () => {
  it.each([
    ['33 characters', 'n'.repeat(33)],
    ['empty', ''],
    ['whitespace only', '   '],
    ['not a string', 7],
    ['a control character', 'al\u0007ice'],
    ['a line break', 'al\nice'],
    ['a lone surrogate', 'al\ud800ice'],
    // Format characters (Unicode Cf): a right-to-left override turns `alice#<alice's mark>` + U+202E
    // + `#<own mark>` into a fake mark in front of the real one, reversed.
    ['a right-to-left override', 'alice#Xk3f9a\u202e'],
    ['a right-to-left isolate', '\u2067alice'],
    ['a zero-width space', 'al\u200bice'],
  ])('refuses a join whose name is %s with error {reason: "invalid name"}', async (_, name) => {
    const { client } = await chatChannels().connect();

    expect(await client.join('rooms:lobby', { name })).toMatchObject({ status: 'error', response: { reason: 'invalid name' } });
  });

  it('accepts a name of exactly 32 characters and signs messages with it and the user’s mark', async () => {
    const { channel, user } = await lobby({ name: 'n'.repeat(32) });

    expect((await sendAll(channel, ['hi']))[0]!.author).toBe(`${'n'.repeat(32)}#${user.mark}`);
  });

  it('signs the messages of a user who joined without a name as "anonymous" with their mark', async () => {
    const { channel, user } = await lobby();

    expect((await sendAll(channel, ['hi']))[0]!.author).toBe(`anonymous#${user.mark}`);
  });

  it('keeps the name in the user’s server-side profile: a later join without a name, from another socket, shows it', async () => {
    const chat = chatChannels();
    const first = await chat.connect();
    await joined(first.client, 'rooms:lobby', { name: 'alice' });
    const again = await chat.connect(first.userId);
    const { channel } = await joined(again.client, 'rooms:lobby');

    expect((await sendAll(channel, ['hi']))[0]!.author).toBe(`alice#${first.mark}`);
  });

  it('takes the old {user} param as the chosen name', async () => {
    const { channel, user } = await lobby({ user: 'alice' });

    expect((await sendAll(channel, ['hi']))[0]!.author).toBe(`alice#${user.mark}`);
  });

  it('lets a user named "__proto__" join, appear in presence under their user id, post and answer a ping', async () => {
    const { channel, user } = await lobby({ name: '__proto__' });

    const diff = (await channel.assertPush('presence_diff')) as { joins: Record<string, { metas: Array<{ name: string }> }> };
    expect(Object.keys(diff.joins)).toEqual([user.userId]);
    expect(diff.joins[user.userId]!.metas[0]!.name).toBe(`__proto__#${user.mark}`);
    expect((await sendAll(channel, ['hi']))[0]!.author).toBe(`__proto__#${user.mark}`);
    await channel.assertReply(channel.push('ping', {}), 'ok', {});
  });
});
