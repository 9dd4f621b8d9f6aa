/**
 * Tokens and invites that can be taken back (issue 11): invites expire, admit a limited number of
 * users and can be revoked by their creator; a room's owner removes members (their open sockets
 * are closed and they cannot re-join); a user revokes every session of theirs (all their tokens
 * stop working, the caller gets a new one).
 */
import { describe, expect, it } from 'vitest';
import { joined, joinOutcome } from '@starling/test-support/official-client';
import { eventually } from '@starling/test-support/eventually';
import { useChats, type ChatUser, type TestChat } from '../support/chat.ts';

const chats = useChats();
const UNAUTHORIZED = { status: 'error', response: { reason: 'unauthorized' } };

const inviteToken = (link: string): string => new URL(link).searchParams.get('invite')!;
const accept = (chat: TestChat, user: ChatUser, link: string) =>
  chat.call('POST', '/api/invites/accept', { token: user.token, body: { invite: inviteToken(link) } });

describe('an invite', () => {
  it('admits at most maxUses users; a member opening it again spends nothing', async () => {
    const chat = await chats.start();
    const alice = await chat.newUser();
    const { room } = await chat.createRoom(alice, 'club');
    const { status, body } = await chat.call<{ invite: string; maxUses: number }>('POST', `/api/rooms/${room.id}/invites`, {
      token: alice.token,
      body: { maxUses: 2 },
    });
    expect(status).toBe(201);
    expect(body.maxUses).toBe(2);
    const [bob, carol, dave] = [await chat.newUser(), await chat.newUser(), await chat.newUser()];

    expect((await accept(chat, bob, body.invite)).status).toBe(200);
    expect((await accept(chat, bob, body.invite)).status).toBe(200);
    expect((await accept(chat, carol, body.invite)).status).toBe(200);
    expect(await accept(chat, dave, body.invite)).toEqual({ status: 400, body: { error: 'this invite is invalid, revoked, used up or has expired' } });
    expect(await joinOutcome(chats.socket(chat, { token: dave.token }).channel(`rooms:${room.id}`))).toEqual(UNAUTHORIZED);
  });

  it('is refused once its creator revokes it, and only its creator may', async () => {
    const chat = await chats.start();
    const alice = await chat.newUser();
    const { room, invite, inviteId } = await chat.createRoom(alice, 'club');
    const [bob, mallory] = [await chat.newUser(), await chat.newUser()];
    expect((await accept(chat, bob, invite)).status).toBe(200);

    expect((await chat.call('DELETE', `/api/invites/${inviteId}`, { token: mallory.token })).status).toBe(404);
    const revoked = await fetch(`${chat.baseUrl}/api/invites/${inviteId}`, { method: 'DELETE', headers: { authorization: `Bearer ${alice.token}` } });
    expect(revoked.status).toBe(204);

    expect((await accept(chat, mallory, invite)).status).toBe(400);
    expect(await joinOutcome(chats.socket(chat, { token: mallory.token }).channel(`rooms:${room.id}`))).toEqual(UNAUTHORIZED);
  });

  it('can be made by the room’s owner only', async () => {
    const chat = await chats.start();
    const alice = await chat.newUser();
    const bob = await chat.newUser();
    const { room, invite } = await chat.createRoom(alice, 'club');
    await accept(chat, bob, invite);

    expect((await chat.call('POST', `/api/rooms/${room.id}/invites`, { token: bob.token, body: {} })).status).toBe(403);
    expect((await chat.call('POST', `/api/rooms/${room.id}/invites`, { token: alice.token, body: { maxUses: 0 } })).status).toBe(400);
  });
});

describe('removing a member', () => {
  it('ends their membership and closes their open socket; they cannot re-join', async () => {
    const chat = await chats.start();
    const alice = await chat.newUser();
    const bob = await chat.newUser();
    const { room, invite } = await chat.createRoom(alice, 'club');
    await accept(chat, bob, invite);
    const bobSocket = chats.socket(chat, { token: bob.token });
    const closes: number[] = [];
    bobSocket.onClose((event: { code: number }) => closes.push(event.code));
    await joined(bobSocket.channel(`rooms:${room.id}`));

    const removed = await fetch(`${chat.baseUrl}/api/rooms/${room.id}/members/${bob.userId}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${alice.token}` },
    });

    expect(removed.status).toBe(204);
    await eventually(() => expect(closes).toContain(1001));
    expect(await joinOutcome(chats.socket(chat, { token: bob.token }).channel(`rooms:${room.id}`))).toEqual(UNAUTHORIZED);
    expect((await chat.call('GET', '/api/rooms', { token: bob.token })).body).toEqual({ rooms: [], next: null });
  });

  it('starts from the member list, which members may read (as name#mark, owner marked) and others may not', async () => {
    const chat = await chats.start();
    const alice = await chat.newUser();
    const bob = await chat.newUser();
    const mallory = await chat.newUser();
    const { room, invite } = await chat.createRoom(alice, 'club');
    await accept(chat, bob, invite);
    await joined(chats.socket(chat, { token: alice.token }).channel('rooms:lobby', { name: 'alice' }));

    const { status, body } = await chat.call<{ members: unknown[] }>('GET', `/api/rooms/${room.id}/members`, { token: bob.token });

    expect(status).toBe(200);
    expect(body.members).toHaveLength(2);
    expect(body.members).toContainEqual({ userId: alice.userId, name: `alice#${alice.mark}`, owner: true });
    expect(body.members).toContainEqual({ userId: bob.userId, name: `anonymous#${bob.mark}`, owner: false });
    expect((await chat.call('GET', `/api/rooms/${room.id}/members`, { token: mallory.token })).status).toBe(403);
  });

  it('is for the owner only, and the owner cannot be removed', async () => {
    const chat = await chats.start();
    const alice = await chat.newUser();
    const bob = await chat.newUser();
    const { room, invite } = await chat.createRoom(alice, 'club');
    await accept(chat, bob, invite);

    expect((await chat.call('DELETE', `/api/rooms/${room.id}/members/${alice.userId}`, { token: bob.token })).status).toBe(403);
    expect((await chat.call('DELETE', `/api/rooms/${room.id}/members/${alice.userId}`, { token: alice.token })).status).toBe(404);
    expect((await chat.call('GET', '/api/rooms', { token: bob.token })).body).toEqual({ rooms: [room], next: null });
  });
});

describe('revoking sessions', () => {
  it('makes every earlier token of the user useless (API, socket, renewal) and gives the caller a new one', async () => {
    const chat = await chats.start();
    const alice = await chat.newUser();
    // Another device of Alice's, renewed from the same session.
    const stolen = (await chat.call<ChatUser>('POST', '/api/identity', { body: { token: alice.token } })).body;
    const { room } = await chat.createRoom(alice, 'club');

    const { status, body } = await chat.call<ChatUser>('POST', '/api/identity/revoke', { token: alice.token });

    expect(status).toBe(200);
    expect(body.userId).toBe(alice.userId);
    expect((await chat.call('GET', '/api/rooms', { token: stolen.token })).status).toBe(401);
    expect((await chat.call<ChatUser>('POST', '/api/identity', { body: { token: stolen.token } })).body.userId).not.toBe(alice.userId);
    expect(await fetch(`${chat.socketUrl.replace('ws', 'http')}/longpoll?vsn=2.0.0&token=${encodeURIComponent(alice.token)}`).then((r) => r.json())).toEqual({
      status: 403,
    });
    expect((await chat.call<{ rooms: unknown[] }>('GET', '/api/rooms', { token: body.token })).body.rooms).toEqual([room]);
  });
});
