/**
 * Who a chat user is: `POST /api/identity` issues a signed user token on the first visit and
 * renews it later; the socket takes it as the `token` param — none makes a guest, a bad one is
 * refused with HTTP 403. The signing secret is `secretKeyBase` (SECRET_KEY_BASE), or one generated
 * and saved in the data directory so that tokens survive a restart.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tampered, useChats, type ChatUser, type TestChat } from '../support/chat.ts';
import { joined, joinOutcome } from '@starling/test-support/official-client';
import { tryUpgrade } from '@starling/test-support/raw-client';

const chats = useChats();

const identify = (chat: TestChat, token?: unknown) => chat.call<ChatUser>('POST', '/api/identity', { body: token === undefined ? {} : { token } });

/** The HTTP status of a raw WebSocket upgrade to the chat socket with `token`. */
async function upgradeStatus(chat: TestChat, token: string): Promise<number> {
  const url = `${chat.socketUrl}/websocket?vsn=2.0.0&token=${encodeURIComponent(token)}`;
  return (await tryUpgrade(url)).status;
}

describe('POST /api/identity', () => {
  it('issues a new user id and a signed token on the first visit', async () => {
    const chat = await chats.start();

    const first = await identify(chat);
    const second = await identify(chat);

    expect(first).toEqual({ status: 200, body: { userId: expect.any(String), token: expect.any(String), mark: expect.stringMatching(/^[\w-]{6}$/) } });
    expect(second.body.userId).not.toBe(first.body.userId);
  });

  it('renews a valid token: the same user id with a token that works', async () => {
    const chat = await chats.start();
    const user = await chat.newUser();

    const renewed = await identify(chat, user.token);

    expect(renewed.status).toBe(200);
    expect(renewed.body.userId).toBe(user.userId);
    expect((await identify(chat, renewed.body.token)).body.userId).toBe(user.userId);
  });

  it.each([
    ['tampered', (user: ChatUser) => tampered(user.token)],
    ['not a token at all', () => 'hello'],
    ['not a string', () => 12345],
  ])('issues a new user for a token that is %s', async (_, badToken) => {
    const chat = await chats.start();
    const user = await chat.newUser();

    const answer = await identify(chat, badToken(user));

    expect(answer.status).toBe(200);
    expect(answer.body.userId).not.toBe(user.userId);
    expect((await identify(chat, answer.body.token)).body.userId).toBe(answer.body.userId);
  });

  it('issues a new user for an expired token', async () => {
    let now = Date.now();
    const chat = await chats.start({ userTokenMaxAge: 1, now: () => now });
    const user = await chat.newUser();

    now += 1100;

    expect((await identify(chat, user.token)).body.userId).not.toBe(user.userId);
  });
});

describe('the user socket', () => {
  it('accepts a valid token', async () => {
    const chat = await chats.start();
    const user = await chat.newUser();

    expect(await upgradeStatus(chat, user.token)).toBe(101);
  });

  it('refuses a tampered token with HTTP 403', async () => {
    const chat = await chats.start();
    const user = await chat.newUser();

    expect(await upgradeStatus(chat, tampered(user.token))).toBe(403);
  });

  it('refuses an expired token with HTTP 403', async () => {
    let now = Date.now();
    const chat = await chats.start({ userTokenMaxAge: 1, now: () => now });
    const user = await chat.newUser();

    now += 1100;

    expect(await upgradeStatus(chat, user.token)).toBe(403);
  });

  it('refuses a token signed with another salt (an invite token used as a user token) with HTTP 403', async () => {
    const chat = await chats.start();
    const user = await chat.newUser();
    const { invite: link } = await chat.createRoom(user, 'club');
    const invite = new URL(link).searchParams.get('invite')!;

    expect(await upgradeStatus(chat, invite)).toBe(403);
  });

  it('refuses a bad token over LongPoll too: {"status":403}', async () => {
    const chat = await chats.start();
    const user = await chat.newUser();
    const longPoll = `http://127.0.0.1:${chat.chat.port}/socket/longpoll?vsn=2.0.0&token=`;

    const refused = (await (await fetch(longPoll + encodeURIComponent(tampered(user.token)))).json()) as { status: number };
    const accepted = (await (await fetch(longPoll + encodeURIComponent(user.token))).json()) as { status: number; token?: string };

    expect(refused).toEqual({ status: 403 });
    expect(accepted.status).toBe(410);
    expect(accepted.token).toEqual(expect.any(String));
  });

  it('makes a socket without a token a guest, who may join the lobby', async () => {
    const chat = await chats.start();

    expect(await joinOutcome(chats.socket(chat).channel('rooms:lobby', { user: 'visitor' }))).toMatchObject({ status: 'ok' });
  });
});

describe('the token secret', () => {
  it('is generated on first start and saved in the data directory', async () => {
    const chat = await chats.start();

    expect(readFileSync(join(chat.dataDir, 'secret_key_base'), 'utf8').trim().length).toBeGreaterThanOrEqual(64);
  });

  it('survives a restart on the same data directory: an old token still names the same user and opens a socket', async () => {
    const first = await chats.start();
    const user = await first.newUser();
    await first.close();

    const second = await chats.start({ dataDir: first.dataDir });

    expect((await identify(second, user.token)).body.userId).toBe(user.userId);
    await joined(chats.socket(second, { token: user.token }).channel('rooms:lobby'));
  });

  it('comes from secretKeyBase when set: chats sharing it accept each other’s tokens, others do not', async () => {
    const secretKeyBase = 'a'.repeat(64);
    const issuer = await chats.start({ secretKeyBase });
    const sharing = await chats.start({ secretKeyBase });
    const other = await chats.start({ secretKeyBase: 'b'.repeat(64) });
    const user = await issuer.newUser();

    expect((await identify(sharing, user.token)).body.userId).toBe(user.userId);
    expect((await identify(other, user.token)).body.userId).not.toBe(user.userId);
    expect(await upgradeStatus(other, user.token)).toBe(403);
  });
});
