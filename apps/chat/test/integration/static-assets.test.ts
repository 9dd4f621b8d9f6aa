/**
 * The page's assets over real HTTP (the chat in-process, `node:http` as the client, which — unlike
 * `fetch` — shows the bytes on the wire): the HTML, script and style sheet come compressed with
 * brotli or gzip as `Accept-Encoding` allows (and decompress to the plain bytes), with an `ETag`
 * and `Cache-Control: no-cache`; `If-None-Match` with that ETag is answered 304 without a body.
 */
import { request } from 'node:http';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { useChats, type TestChat } from '../support/chat.ts';

const chats = useChats();

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** A GET (or HEAD) with `headers`, its response's bytes as sent. */
function get(chat: TestChat, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(`${chat.baseUrl}${path}`, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

const PATHS = ['/', '/assets/app.js', '/assets/app.css'];

describe('static assets', () => {
  it.each(PATHS)('serves %s plain to a client that accepts no compression, with an ETag, no-cache and Vary', async (path) => {
    const chat = await chats.start();
    const plain = await get(chat, path);
    expect(plain.status).toBe(200);
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.headers.etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
    expect(plain.headers['cache-control']).toBe('no-cache');
    expect(plain.headers.vary).toBe('Accept-Encoding');
    expect(Number(plain.headers['content-length'])).toBe(plain.body.length);
  });

  it.each(PATHS)(
    'serves %s with brotli when accepted (preferred over gzip), and gzip otherwise: both decompress to the plain bytes and are smaller',
    async (path) => {
      const chat = await chats.start();
      const plain = await get(chat, path);
      const br = await get(chat, path, { 'accept-encoding': 'gzip, deflate, br' });
      const gzip = await get(chat, path, { 'accept-encoding': 'gzip, br;q=0' });

      expect(br.headers['content-encoding']).toBe('br');
      expect(brotliDecompressSync(br.body)).toEqual(plain.body);
      expect(br.body.length).toBeLessThan(plain.body.length);
      expect(gzip.headers['content-encoding']).toBe('gzip');
      expect(gunzipSync(gzip.body)).toEqual(plain.body);
      expect(gzip.body.length).toBeLessThan(plain.body.length);
      // Each representation has its own validator, so no cache serves one for the other.
      expect(new Set([plain.headers.etag, br.headers.etag, gzip.headers.etag]).size).toBe(3);
    },
  );

  it('answers If-None-Match with the current ETag 304 without a body, keeping the validators; another ETag gets the asset', async () => {
    const chat = await chats.start();
    const first = await get(chat, '/assets/app.js', { 'accept-encoding': 'br' });
    const etag = String(first.headers.etag);

    const again = await get(chat, '/assets/app.js', { 'accept-encoding': 'br', 'if-none-match': `"other", ${etag}` });
    expect(again.status).toBe(304);
    expect(again.body.length).toBe(0);
    expect(again.headers.etag).toBe(etag);
    expect(again.headers['cache-control']).toBe('no-cache');

    const changed = await get(chat, '/assets/app.js', { 'accept-encoding': 'br', 'if-none-match': '"stale"' });
    expect(changed.status).toBe(200);
    expect(changed.body).toEqual(first.body);
  });

  it('keeps the Content-Security-Policy on compressed and 304 answers, and sends no body to HEAD', async () => {
    const chat = await chats.start();
    const page = await get(chat, '/', { 'accept-encoding': 'gzip' });
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    const notModified = await get(chat, '/', { 'accept-encoding': 'gzip', 'if-none-match': String(page.headers.etag) });
    expect(notModified.status).toBe(304);
    expect(notModified.headers['content-security-policy']).toContain("script-src 'self'");
    const head = await get(chat, '/assets/app.css', { 'accept-encoding': 'gzip' }, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.headers['content-encoding']).toBe('gzip');
    expect(head.body.length).toBe(0);
  });
});

describe('GET /api/unread', () => {
  it('counts the unread messages of the lobby and of each room of the user from their server-side position, the same for every device', async () => {
    const chat = await chats.start();
    const [ada, bob] = [await chat.newUser(), await chat.newUser()];
    const { room } = await chat.createRoom(ada, 'club');
    await chat.chat.store.rooms.addMember(room.id, bob.userId);
    for (const body of ['one', 'two']) await chat.chat.store.messages.append('lobby', 'ada', body, { authorId: ada.userId });
    const [first] = [await chat.chat.store.messages.append(room.id, 'ada', 'three', { authorId: ada.userId })];
    await chat.chat.store.messages.append(room.id, 'ada', 'four, @bob', { authorId: ada.userId, mentions: [bob.userId] });
    await chat.chat.store.reads.markRead(bob.userId, room.id, first.id);

    const { status, body } = await chat.call('GET', '/api/unread', { token: bob.token });

    expect(status).toBe(200);
    expect(body).toEqual({
      rooms: [
        { id: 'lobby', lastRead: 0, count: 2, mentions: 0 },
        { id: room.id, lastRead: first.id, count: 1, mentions: 1 },
      ],
    });
    expect((await chat.call('GET', '/api/unread')).status).toBe(401);
  });
});
