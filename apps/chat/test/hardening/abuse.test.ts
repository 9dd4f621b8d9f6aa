/**
 * What one client can cost the chat (issue 11): budgets per user and per IP address for stored
 * messages, rooms and identities (a flood from one address is bounded, another address is
 * unaffected), the room list in pages, history pages and join replies capped in bytes, re-joins
 * and announcements rate limited, links from the configured public URL (never from `Host`),
 * `/metrics` behind a token, data files readable by their owner only. Other loopback addresses
 * (127.0.0.2) stand for other clients.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Channel } from 'phoenix';
import { describe, expect, it } from 'vitest';
import { ClientPool, inboxOf, joined, joinOutcome, phoenix18Client, pushOutcome } from '@starling/test-support/official-client';
import { eventually } from '@starling/test-support/eventually';
import { DEFAULT_LIMITS } from '../../src/limits.ts';
import { sendAll, useChats, type ChatUser, type HistoryPage, type TestChat } from '../support/chat.ts';

const chats = useChats();
const SLOW_DOWN = { status: 'error', response: { reason: 'slow down' } };

/** An HTTP request from `localAddress` with raw headers (fetch cannot set `Host`). */
function http(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: unknown; localAddress?: string } = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: options.method ?? 'GET', headers: { 'content-type': 'application/json', ...options.headers }, localAddress: options.localAddress },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text.startsWith('{') ? (JSON.parse(text) as Record<string, unknown>) : { text } }));
      },
    );
    req.on('error', reject);
    req.end(options.body === undefined ? undefined : JSON.stringify(options.body));
  });
}

/** A new user created from `localAddress`. */
async function userFrom(chat: TestChat, localAddress: string): Promise<ChatUser> {
  const { status, body } = await http(`${chat.baseUrl}/api/identity`, { method: 'POST', body: {}, localAddress });
  if (status !== 200) throw new Error(`POST /api/identity answered ${status}`);
  return body as unknown as ChatUser;
}

/** A lobby channel of `user` over a WebSocket from `localAddress`, joined. */
async function lobbyOf(pool: ClientPool, chat: TestChat, user: ChatUser, localAddress = '127.0.0.1'): Promise<Channel> {
  const channel = pool.socket(chat.socketUrl, { params: { token: user.token }, localAddress }).channel('rooms:lobby', { name: 'flooder' });
  await joined(channel);
  return channel;
}

async function metricsText(chat: TestChat): Promise<string> {
  return (await fetch(`${chat.baseUrl}/metrics`)).text();
}

describe('message budgets', () => {
  it('bound what one IP address stores, its users together, while a user from another address still posts', async () => {
    const chat = await chats.start({ limits: { messagesPerIp: { count: 12, seconds: 3600 } } });
    const pool = new ClientPool(phoenix18Client);
    try {
      const flooders = await Promise.all([0, 1, 2].map(async () => lobbyOf(pool, chat, await userFrom(chat, '127.0.0.1'))));
      const outcomes = [];
      for (let round = 0; round < 6; round++) {
        for (const channel of flooders) outcomes.push(await pushOutcome(channel, 'new_msg', { body: `flood ${round}` }, ['error'], 200));
      }

      expect(outcomes.filter((outcome) => outcome.status === 'error')).toEqual(Array.from({ length: 6 }, () => SLOW_DOWN));
      expect(await chat.chat.store.messages.history('lobby', { limit: 200 })).toHaveLength(12);

      const other = await lobbyOf(pool, chat, await userFrom(chat, '127.0.0.2'), '127.0.0.2');
      const [stored] = await sendAll(other, ['from another address']);
      expect(stored?.body).toBe('from another address');
      expect(await metricsText(chat)).toMatch(/^chat_budget_refused_total\{action="message",scope="ip"\} 6$/m);
    } finally {
      await pool.close();
    }
  });

  it('bound each user: over messagesPerUser a push is answered {reason: "slow down"}, another user of the same address is not', async () => {
    const chat = await chats.start({ limits: { messagesPerUser: { count: 3, seconds: 3600 } } });
    const pool = new ClientPool(phoenix18Client);
    try {
      const flooder = await lobbyOf(pool, chat, await chat.newUser());
      await sendAll(flooder, ['1', '2', '3']);

      expect(await pushOutcome(flooder, 'new_msg', { body: '4' }, ['error'], 2000)).toEqual(SLOW_DOWN);
      const neighbour = await lobbyOf(pool, chat, await chat.newUser());
      expect((await sendAll(neighbour, ['still here']))[0]?.body).toBe('still here');
      expect((await chat.chat.store.messages.history('lobby')).map((message) => message.body)).toEqual(['1', '2', '3', 'still here']);
    } finally {
      await pool.close();
    }
  });

  it('default to 20 a minute per user and 2,000 a day per address', () => {
    expect(DEFAULT_LIMITS.messagesPerUser).toEqual({ count: 20, seconds: 60 });
    expect(DEFAULT_LIMITS.messagesPerIp).toEqual({ count: 2000, seconds: 86_400 });
  });
});

describe('room and identity budgets', () => {
  it('answer a flood of room creation from one address with 429 while another address still creates rooms', async () => {
    const chat = await chats.start({ limits: { roomsPerIp: { count: 5, seconds: 3600 } } });
    const users = await Promise.all([0, 1].map(() => userFrom(chat, '127.0.0.1')));
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) {
      const user = users[i % 2]!;
      statuses.push(
        (await http(`${chat.baseUrl}/api/rooms`, { method: 'POST', headers: { authorization: `Bearer ${user.token}` }, body: { name: `room ${i}` } })).status,
      );
    }

    expect(statuses).toEqual([201, 201, 201, 201, 201, 429, 429, 429, 429, 429]);
    const other = await userFrom(chat, '127.0.0.2');
    const created = await http(`${chat.baseUrl}/api/rooms`, {
      method: 'POST',
      headers: { authorization: `Bearer ${other.token}` },
      body: { name: 'mine' },
      localAddress: '127.0.0.2',
    });
    expect(created.status).toBe(201);
    expect(await metricsText(chat)).toMatch(/^chat_budget_refused_total\{action="room",scope="ip"\} 5$/m);
  });

  it('answers 429 to a user over roomsPerUser', async () => {
    const chat = await chats.start({ limits: { roomsPerUser: { count: 2, seconds: 3600 } } });
    const alice = await chat.newUser();
    await chat.createRoom(alice, 'one');
    await chat.createRoom(alice, 'two');

    const third = await chat.call('POST', '/api/rooms', { token: alice.token, body: { name: 'three' } });

    expect(third.status).toBe(429);
    expect(third.body.error).toMatch(/over its room budget/);
  });

  it('bounds new identities per address; renewing a token is not a new identity', async () => {
    const chat = await chats.start({ limits: { identitiesPerIp: { count: 2, seconds: 3600 } } });
    const first = await chat.newUser();
    await chat.newUser();

    expect((await chat.call('POST', '/api/identity', { body: {} })).status).toBe(429);
    expect(await chat.call('POST', '/api/identity', { body: { token: first.token } })).toMatchObject({ status: 200, body: { userId: first.userId } });
    expect((await http(`${chat.baseUrl}/api/identity`, { method: 'POST', body: {}, localAddress: '127.0.0.2' })).status).toBe(200);
  });
});

describe('GET /api/rooms', () => {
  it('pages the room list: limit (default 50, at most 200) and after, with next until the last page', async () => {
    const chat = await chats.start();
    const alice = await chat.newUser();
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push((await chat.createRoom(alice, `room ${i}`)).room.id);

    const seen: string[] = [];
    let after: string | null = null;
    const sizes: number[] = [];
    do {
      const query: string = `?limit=3${after === null ? '' : `&after=${after}`}`;
      const { status, body } = await chat.call<{ rooms: { id: string }[]; next: string | null }>('GET', `/api/rooms${query}`, { token: alice.token });
      expect(status).toBe(200);
      sizes.push(body.rooms.length);
      seen.push(...body.rooms.map((room) => room.id));
      after = body.next;
    } while (after !== null);

    expect(sizes).toEqual([3, 3, 1]);
    expect(seen).toEqual(ids);
    expect((await chat.call('GET', '/api/rooms?limit=201', { token: alice.token })).status).toBe(400);
    expect((await chat.call('GET', '/api/rooms?limit=0', { token: alice.token })).status).toBe(400);
    expect((await chat.call('GET', '/api/rooms?after=unknown', { token: alice.token })).status).toBe(400);
  });
});

describe('history pages', () => {
  it('cap a join reply at historyPageBytes even with worst-case bodies, and page back to every message', async () => {
    const chat = await chats.start();
    const pool = new ClientPool(phoenix18Client);
    try {
      const writer = await lobbyOf(pool, chat, await chat.newUser());
      // The most bytes a body may take: 2000 four-byte characters (control characters are refused).
      const bodies = Array.from({ length: 50 }, (_, i) => `${String(i).padStart(2, '0')}${'🐦'.repeat(1998)}`);
      await sendAll(writer, bodies);

      const reply = (await joined(pool.socket(chat.socketUrl).channel('rooms:lobby'))) as HistoryPage;

      expect(Buffer.byteLength(JSON.stringify(reply))).toBeLessThanOrEqual(DEFAULT_LIMITS.historyPageBytes + 100);
      expect(reply.messages.length).toBeGreaterThan(0);
      expect(reply.messages.length).toBeLessThan(50);
      expect(reply.more).toBe(true);
      const all = [...reply.messages];
      let more = reply.more;
      while (more) {
        const page = (await pushOutcome(writer, 'history', { before: all[0]!.id })).response as unknown as HistoryPage;
        expect(Buffer.byteLength(JSON.stringify(page))).toBeLessThanOrEqual(DEFAULT_LIMITS.historyPageBytes + 100);
        all.unshift(...page.messages);
        more = page.more;
      }
      expect(all.map((message) => message.body)).toEqual(bodies);
    } finally {
      await pool.close();
    }
  });
});

describe('history requests', () => {
  const HISTORY_DEFAULTS = {
    historyPerUser: DEFAULT_LIMITS.historyPerUser,
    historyPerIp: DEFAULT_LIMITS.historyPerIp,
    historyPerGuestIp: DEFAULT_LIMITS.historyPerGuestIp,
  };

  it('bound the pages one address’s guests read together, however many sockets they open, while a guest elsewhere still reads', async () => {
    const chat = await chats.start({ limits: HISTORY_DEFAULTS });
    const pool = new ClientPool(phoenix18Client);
    try {
      const guests = await Promise.all(
        [0, 1, 2, 3, 4].map(async () => {
          const channel = pool.socket(chat.socketUrl, { localAddress: '127.0.0.1' }).channel('rooms:lobby');
          await joined(channel);
          return channel;
        }),
      );
      // The probe of issue 17: five guest sockets, each asking for page after page.
      const outcomes = await Promise.all(
        guests.map(async (channel) => {
          const answers = [];
          for (let i = 0; i < 20; i++) answers.push(await pushOutcome(channel, 'history', {}));
          return answers;
        }),
      );

      const served = outcomes.flat().filter((outcome) => outcome.status === 'ok');
      // The budget refills by one page every 3 s: a slow run may see one more.
      expect(served.length).toBeGreaterThanOrEqual(DEFAULT_LIMITS.historyPerGuestIp.count);
      expect(served.length).toBeLessThanOrEqual(DEFAULT_LIMITS.historyPerGuestIp.count + 1);
      expect(outcomes.flat().filter((outcome) => outcome.status !== 'ok')).toEqual(Array.from({ length: 100 - served.length }, () => SLOW_DOWN));
      const metrics = await metricsText(chat);
      expect(metrics).toMatch(new RegExp(`^chat_history_pages_total\\{request="history"\\} ${served.length}$`, 'm'));
      expect(metrics).toMatch(new RegExp(`^chat_budget_refused_total\\{action="history",scope="ip"\\} ${100 - served.length}$`, 'm'));

      const elsewhere = pool.socket(chat.socketUrl, { localAddress: '127.0.0.2' }).channel('rooms:lobby');
      await joined(elsewhere);
      expect((await pushOutcome(elsewhere, 'history', {})).status).toBe('ok');
    } finally {
      await pool.close();
    }
  });

  it('default to well under 100 pages a minute for one address’s guests, 30 a minute per user and 120 per address', () => {
    expect(DEFAULT_LIMITS.historyPerGuestIp).toEqual({ count: 20, seconds: 60 });
    expect(DEFAULT_LIMITS.historyPerUser).toEqual({ count: 30, seconds: 60 });
    expect(DEFAULT_LIMITS.historyPerIp).toEqual({ count: 120, seconds: 60 });
  });

  it('bound each user (historyPerUser) and each address, users and guests together (historyPerIp)', async () => {
    const chat = await chats.start({ limits: { historyPerUser: { count: 3, seconds: 3600 }, historyPerIp: { count: 5, seconds: 3600 } } });
    const pool = new ClientPool(phoenix18Client);
    try {
      const reader = await lobbyOf(pool, chat, await chat.newUser());
      const statuses = [];
      for (let i = 0; i < 4; i++) statuses.push((await pushOutcome(reader, 'history', {})).status);
      expect(statuses).toEqual(['ok', 'ok', 'ok', 'error']);
      expect(await pushOutcome(reader, 'history', {})).toEqual(SLOW_DOWN);

      const neighbour = await lobbyOf(pool, chat, await chat.newUser());
      const neighbourStatuses = [];
      for (let i = 0; i < 3; i++) neighbourStatuses.push((await pushOutcome(neighbour, 'history', {})).status);
      // The address had 5: the reader took 3, the neighbour gets 2.
      expect(neighbourStatuses).toEqual(['ok', 'ok', 'error']);
      const metrics = await metricsText(chat);
      expect(metrics).toMatch(/^chat_budget_refused_total\{action="history",scope="user"\} 2$/m);
      expect(metrics).toMatch(/^chat_budget_refused_total\{action="history",scope="ip"\} 1$/m);
    } finally {
      await pool.close();
    }
  });
});

describe('joins and announcements', () => {
  it('answer a user re-joining over joinsPerUser with {reason: "slow down"}', async () => {
    const chat = await chats.start({ limits: { joinsPerUser: { count: 3, seconds: 3600 } } });
    const pool = new ClientPool(phoenix18Client);
    try {
      const user = await chat.newUser();
      const socket = pool.socket(chat.socketUrl, { params: { token: user.token } });
      for (let i = 0; i < 3; i++) {
        const channel = socket.channel('rooms:lobby', { name: 'rejoiner' });
        await joined(channel);
        channel.leave();
      }

      expect(await joinOutcome(socket.channel('rooms:lobby', { name: 'rejoiner' }))).toEqual(SLOW_DOWN);
      expect(await metricsText(chat)).toMatch(/^chat_budget_refused_total\{action="join",scope="user"\} 1$/m);
    } finally {
      await pool.close();
    }
  });

  it('announce a user at most once per window however often they re-join', async () => {
    const chat = await chats.start({ limits: { announcementsPerUser: DEFAULT_LIMITS.announcementsPerUser } });
    const pool = new ClientPool(phoenix18Client);
    try {
      const observer = pool.socket(chat.socketUrl).channel('rooms:lobby');
      await joined(observer);
      const announced = inboxOf(observer, 'user_joined');
      const [alice, bob] = [await chat.newUser(), await chat.newUser()];
      const socket = pool.socket(chat.socketUrl, { params: { token: alice.token } });
      for (let i = 0; i < 5; i++) {
        const channel = socket.channel('rooms:lobby', { name: 'alice' });
        await joined(channel);
        channel.leave();
      }
      await joined(pool.socket(chat.socketUrl, { params: { token: bob.token } }).channel('rooms:lobby', { name: 'bob' }));

      // Bob's announcement comes after every one of Alice's: once it is here, hers are too.
      await eventually(() => expect(announced.items).toContainEqual({ user: `bob#${bob.mark}` }));
      expect(announced.items).toEqual([{ user: `alice#${alice.mark}` }, { user: `bob#${bob.mark}` }]);
    } finally {
      await pool.close();
    }
  });
});

describe('links', () => {
  it('builds the invite link from the chat’s own address, not from the Host header', async () => {
    const chat = await chats.start();
    const alice = await chat.newUser();

    const { status, body } = await http(`${chat.baseUrl}/api/rooms`, {
      method: 'POST',
      headers: { host: 'evil.example', authorization: `Bearer ${alice.token}` },
      body: { name: 'club' },
    });

    expect(status).toBe(201);
    expect(String(body.invite)).toMatch(new RegExp(`^${chat.baseUrl}/\\?invite=`));
  });

  it('builds it from PUBLIC_URL (publicUrl) when set, scheme included', async () => {
    const chat = await chats.start({ publicUrl: 'https://chat.example.com' });
    const alice = await chat.newUser();

    const { body } = await http(`${chat.baseUrl}/api/rooms`, {
      method: 'POST',
      headers: { host: 'evil.example', authorization: `Bearer ${alice.token}` },
      body: { name: 'club' },
    });

    expect(String(body.invite)).toMatch(/^https:\/\/chat\.example\.com\/\?invite=/);
  });

  it('refuses a shared DATA_DIR such as the temp dir, rather than making it private', async () => {
    const before = statSync(tmpdir()).mode;
    await expect(chats.start({ dataDir: tmpdir() })).rejects.toThrow(/DATA_DIR must be a directory of the chat's own/);
    expect(statSync(tmpdir()).mode).toBe(before);
  });

  it('refuses a publicUrl that is not an origin', async () => {
    await expect(chats.start({ publicUrl: 'chat.example.com' })).rejects.toThrow(/PUBLIC_URL must be an absolute URL/);
    await expect(chats.start({ publicUrl: 'https://chat.example.com/app' })).rejects.toThrow(/origin only/);
  });
});

describe('room names', () => {
  it.each([
    ['a lone surrogate', 'club \ud800'],
    ['a control character', 'club\u0007'],
  ])('are refused with 400 when they contain %s', async (_, name) => {
    const chat = await chats.start();
    const alice = await chat.newUser();

    const answer = await chat.call('POST', '/api/rooms', { token: alice.token, body: { name } });

    expect(answer.status).toBe(400);
  });
});

describe('/metrics', () => {
  it('needs the bearer metricsToken (METRICS_TOKEN) when one is set', async () => {
    const chat = await chats.start({ metricsToken: 'm'.repeat(32) });

    expect((await fetch(`${chat.baseUrl}/metrics`)).status).toBe(404);
    expect((await fetch(`${chat.baseUrl}/metrics`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(404);
    expect((await fetch(`${chat.baseUrl}/metrics`, { headers: { authorization: `Bearer ${'m'.repeat(32)}` } })).status).toBe(200);
  });
});

describe('the data directory', () => {
  it('is readable by its owner only after the first start: directory 0700, database, -wal, -shm and secret 0600', async () => {
    const dataDir = join(chats.tempDir(), 'fresh', 'data');
    const chat = await chats.start({ dataDir });
    await chat.newUser();
    const alice = await chat.newUser();
    await chat.createRoom(alice, 'private history');

    const mode = (path: string): string => (statSync(path).mode & 0o777).toString(8);
    expect(mode(dataDir)).toBe('700');
    for (const file of ['chat.sqlite3', 'chat.sqlite3-wal', 'chat.sqlite3-shm', 'secret_key_base']) {
      expect(existsSync(join(dataDir, file)), file).toBe(true);
      expect(mode(join(dataDir, file)), file).toBe('600');
    }
  });
});

describe('the server process', () => {
  it('refuses to start with a SECRET_KEY_BASE shorter than 64 characters, saying so', () => {
    const server = fileURLToPath(new URL('../../src/server.ts', import.meta.url));
    const result = spawnSync(process.execPath, ['--import', 'tsx', server], {
      env: { ...process.env, SECRET_KEY_BASE: 'short', PORT: '0', LOG_LEVEL: 'fatal', DATA_DIR: chats.tempDir() },
      encoding: 'utf8',
      timeout: 20_000,
    });

    expect(result.status).toBe(1);
    expect(result.stdout).toMatch(/SECRET_KEY_BASE must be at least 64 characters/);
  });
});
