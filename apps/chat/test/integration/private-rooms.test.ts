/**
 * Private rooms: a signed-in user creates one (`POST /api/rooms`) and gets a signed, expiring
 * invite link; whoever opens it (`POST /api/invites/accept`) becomes a member. Members join
 * `rooms:<id>`; anyone else — another user or a guest — is answered `{reason: "unauthorized"}`.
 */
import { describe, expect, it } from 'vitest';
import { sendAll, tampered, useChats, type ChatUser, type TestChat } from '../support/chat.ts';
import { inboxOf, joined, joinOutcome } from '@starling/test-support/official-client';

const chats = useChats();

const UNAUTHORIZED = { status: 'error', response: { reason: 'unauthorized' } };

/** The invite token inside an invite link. */
const inviteToken = (link: string): string => new URL(link).searchParams.get('invite') ?? '';

const accept = (chat: TestChat, user: ChatUser, invite: unknown) => chat.call('POST', '/api/invites/accept', { token: user.token, body: { invite } });

const roomsOf = async (chat: TestChat, user: ChatUser): Promise<unknown> => (await chat.call('GET', '/api/rooms', { token: user.token })).body;

describe('creating a private room', () => {
  it('answers 201 with the room and an invite link to the page', async () => {
    const chat = await chats.start();
    const alice = await chat.newUser();

    const answer = await chat.call('POST', '/api/rooms', { token: alice.token, body: { name: '  Book club ' } });

    expect(answer).toEqual({
      status: 201,
      body: { room: { id: expect.any(String), name: 'Book club' }, invite: expect.any(String), inviteId: expect.any(String) },
    });
    const link = new URL(answer.body.invite as string);
    expect(`${link.origin}${link.pathname}`).toBe(`${chat.baseUrl}/`);
    expect(link.searchParams.get('invite')).toMatch(/^SFMyNTY\./);
  });

  it('lists the room for its creator only', async () => {
    const chat = await chats.start();
    const alice = await chat.newUser();
    const bob = await chat.newUser();

    const { room } = await chat.createRoom(alice, 'Book club');
    const { room: second } = await chat.createRoom(alice, 'Chess');

    expect(await roomsOf(chat, alice)).toEqual({ rooms: [room, second], next: null });
    expect(await roomsOf(chat, bob)).toEqual({ rooms: [], next: null });
  });

  it('lets the creator join the room', async () => {
    const chat = await chats.start();
    const alice = await chat.newUser();
    const { room } = await chat.createRoom(alice, 'Book club');

    expect(await joinOutcome(chats.socket(chat, { token: alice.token }).channel(`rooms:${room.id}`))).toEqual({
      status: 'ok',
      // A user's join reply says where they stopped reading (never, here).
      response: { messages: [], more: false, last_read: 0 },
    });
  });

  it.each([
    ['empty', ''],
    ['whitespace only', '   '],
    ['65 characters', 'r'.repeat(65)],
    ['not a string', 5],
  ])('refuses a name that is %s with 400', async (_, name) => {
    const chat = await chats.start();
    const alice = await chat.newUser();

    expect((await chat.call('POST', '/api/rooms', { token: alice.token, body: { name } })).status).toBe(400);
    expect(await roomsOf(chat, alice)).toEqual({ rooms: [], next: null });
  });

  it.each([
    ['no token', undefined],
    ['a tampered token', 'tampered'],
  ])('needs a valid user token: %s is answered 401', async (_, token) => {
    const chat = await chats.start();
    const alice = await chat.newUser();

    const answer = await chat.call('POST', '/api/rooms', { token: token && tampered(alice.token), body: { name: 'Book club' } });

    expect(answer.status).toBe(401);
    expect((await chat.call('GET', '/api/rooms', { token: token && tampered(alice.token) })).status).toBe(401);
  });
});

describe('an invite link', () => {
  it('makes whoever opens it a member: the room is listed for them and they can chat there', async () => {
    const chat = await chats.start();
    const alice = await chat.newUser();
    const bob = await chat.newUser();
    const { room, invite } = await chat.createRoom(alice, 'Book club');
    const aliceInRoom = chats.socket(chat, { token: alice.token }).channel(`rooms:${room.id}`, { user: 'alice' });
    await joined(aliceInRoom);
    const aliceHears = inboxOf(aliceInRoom, 'new_msg');

    expect(await accept(chat, bob, inviteToken(invite))).toEqual({ status: 200, body: { room } });

    expect(await roomsOf(chat, bob)).toEqual({ rooms: [room], next: null });
    const bobInRoom = chats.socket(chat, { token: bob.token }).channel(`rooms:${room.id}`, { user: 'bob' });
    await joined(bobInRoom);
    await sendAll(bobInRoom, ['hi alice']);
    expect(await aliceHears.next()).toMatchObject({ body: 'hi alice', author: `bob#${bob.mark}` });
  });

  it('can be opened again by a member without harm', async () => {
    const chat = await chats.start();
    const alice = await chat.newUser();
    const bob = await chat.newUser();
    const { room, invite } = await chat.createRoom(alice, 'Book club');

    await accept(chat, bob, inviteToken(invite));
    expect((await accept(chat, bob, inviteToken(invite))).status).toBe(200);

    expect(await roomsOf(chat, bob)).toEqual({ rooms: [room], next: null });
  });

  it.each([
    ['tampered', (invite: string) => tampered(invite)],
    ['a user token, not an invite', (_: string, user: ChatUser) => user.token],
    ['missing', () => undefined],
  ])('is refused with 400 when its token is %s, and makes nobody a member', async (_, forge) => {
    const chat = await chats.start();
    const alice = await chat.newUser();
    const bob = await chat.newUser();
    const { room, invite } = await chat.createRoom(alice, 'Book club');

    const answer = await accept(chat, bob, forge(inviteToken(invite), bob));

    expect(answer).toEqual({ status: 400, body: { error: 'this invite is invalid, revoked, used up or has expired' } });
    expect(await roomsOf(chat, bob)).toEqual({ rooms: [], next: null });
    expect(await joinOutcome(chats.socket(chat, { token: bob.token }).channel(`rooms:${room.id}`))).toEqual(UNAUTHORIZED);
  });

  it('is refused with 400 once it has expired (inviteMaxAge)', async () => {
    let now = Date.now();
    const chat = await chats.start({ inviteMaxAge: 1, now: () => now });
    const alice = await chat.newUser();
    const bob = await chat.newUser();
    const { invite } = await chat.createRoom(alice, 'Book club');

    now += 1100;

    expect((await accept(chat, bob, inviteToken(invite))).status).toBe(400);
    expect(await roomsOf(chat, bob)).toEqual({ rooms: [], next: null });
  });

  it('needs a valid user token to be accepted (401), so that someone becomes the member', async () => {
    const chat = await chats.start();
    const alice = await chat.newUser();
    const { invite } = await chat.createRoom(alice, 'Book club');

    expect((await chat.call('POST', '/api/invites/accept', { body: { invite: inviteToken(invite) } })).status).toBe(401);
  });
});

describe('joining a private room', () => {
  it('answers a signed-in user who is not a member with {reason: "unauthorized"}', async () => {
    const chat = await chats.start();
    const alice = await chat.newUser();
    const mallory = await chat.newUser();
    const { room } = await chat.createRoom(alice, 'Book club');

    expect(await joinOutcome(chats.socket(chat, { token: mallory.token }).channel(`rooms:${room.id}`))).toEqual(UNAUTHORIZED);
  });

  it('answers a guest (no token) with {reason: "unauthorized"}, even knowing the room id', async () => {
    const chat = await chats.start();
    const alice = await chat.newUser();
    const { room } = await chat.createRoom(alice, 'Book club');

    expect(await joinOutcome(chats.socket(chat).channel(`rooms:${room.id}`))).toEqual(UNAUTHORIZED);
  });

  it('answers a room that does not exist with {reason: "unauthorized"}, like one that does', async () => {
    const chat = await chats.start();
    const alice = await chat.newUser();

    expect(await joinOutcome(chats.socket(chat, { token: alice.token }).channel('rooms:no-such-room'))).toEqual(UNAUTHORIZED);
  });
});
