/**
 * The repository's nginx site (`deploy/nginx/starling-chat.conf`) run by Debian's nginx, as an
 * operator deploys it: TLS ends at nginx, two chat instances (sharing Redis, `PUBLIC_URL` and
 * `TRUSTED_PROXIES=127.0.0.1`) serve behind it. Only the ports and the certificate are replaced.
 * Through it: the page and `/health`, chat over `wss://` between clients that land on different
 * instances, LongPoll over `https://`, `/metrics` kept private, and the client's own address —
 * from `X-Forwarded-For` — in the chat's view of who connects.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { pino, type Logger } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '@starling/test-support/eventually';
import { ClientPool, freePort, inboxOf, joined, phoenix18Client } from '@starling/test-support/official-client';
import { tryUpgrade } from '@starling/test-support/raw-client';
import { createTempDatabase, type TempDatabase } from '@starling/test-support/postgres';
import { ensureRedis } from '@starling/test-support/redis';
import { startChat, type Chat } from '../../src/app.ts';
import { ChatApi, sendAll } from '../support/chat.ts';

// The certificate is self-signed for the test: this process trusts any.
process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';

const NGINX = '/usr/sbin/nginx';
const SITE = fileURLToPath(new URL('../../../../deploy/nginx/starling-chat.conf', import.meta.url));

const chats: Chat[] = [];
let database: TempDatabase | undefined;
let dir: string;
let nginx: ChildProcess | undefined;
let base: string;
const logs: Array<Record<string, unknown>> = [];

/** A pino logger whose lines land in {@link logs}. */
function recorded(): Logger {
  return pino(
    {},
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        logs.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    }),
  );
}

beforeAll(async () => {
  if (!existsSync(NGINX)) throw new Error(`The deployment test needs Debian's nginx at ${NGINX}: apt-get install nginx-light (.ci/run does)`);
  dir = mkdtempSync(join(tmpdir(), 'starling-nginx-'));
  chmodSync(dir, 0o755);
  const openssl = spawnSync('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=chat.example.com',
    '-keyout',
    join(dir, 'key.pem'),
    '-out',
    join(dir, 'cert.pem'),
  ]);
  if (openssl.status !== 0) throw new Error(`openssl could not make a certificate: ${openssl.stderr.toString()}`);
}, 30_000);

afterAll(async () => {
  await Promise.all(chats.map((chat) => chat.close()));
  await database?.drop();
  nginx?.kill('SIGQUIT');
  if (nginx && nginx.exitCode === null) await new Promise((resolve) => nginx!.once('exit', resolve));
  if (process.env.KEEP_NGINX_LOG) console.log(readFileSync(join(dir, 'error.log'), 'utf8'));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Starts nginx with the repository's site in front of `upstreams`; resolves once it answers. */
async function startNginx(upstreams: readonly Chat[]): Promise<string> {
  const [https, http] = [await freePort(), await freePort()];
  const site = readFileSync(SITE, 'utf8')
    .replace('server 127.0.0.1:4001;', `server 127.0.0.1:${upstreams[0]!.port};`)
    .replace('server 127.0.0.1:4002;', `server 127.0.0.1:${upstreams[1]!.port};`)
    .replace('listen 443 ssl;', `listen 127.0.0.1:${https} ssl;`)
    .replace('listen 80;', `listen 127.0.0.1:${http};`)
    .replace('/etc/ssl/certs/chat.example.com.pem', join(dir, 'cert.pem'))
    .replace('/etc/ssl/private/chat.example.com.key', join(dir, 'key.pem'));
  expect(site).not.toMatch(/:4001|:4002|listen 443|\/etc\/ssl/); // every replacement applied
  writeFileSync(join(dir, 'site.conf'), site);
  const temp = (name: string) => `${name}_temp_path ${join(dir, name)};`;
  writeFileSync(
    join(dir, 'nginx.conf'),
    [
      'daemon off;',
      // Workers as root too: the temp dir (and /tmp above it) need not be open to `nobody`.
      'user root;',
      'worker_processes 1;',
      `pid ${join(dir, 'nginx.pid')};`,
      `error_log ${join(dir, 'error.log')} warn;`,
      'events { worker_connections 256; }',
      `http { access_log off; ${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(temp).join(' ')} include ${join(dir, 'site.conf')}; }`,
    ].join('\n'),
  );
  nginx = spawn(NGINX, ['-c', join(dir, 'nginx.conf'), '-p', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  nginx.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const url = `https://127.0.0.1:${https}`;
  await eventually(async () => {
    if (nginx!.exitCode !== null) throw new Error(`nginx exited ${nginx!.exitCode}: ${stderr}`);
    expect((await fetch(`${url}/health`)).status).toBe(200);
  }, 10_000);
  return url;
}

describe('the chat behind nginx (deploy/nginx/starling-chat.conf)', () => {
  beforeAll(async () => {
    const redisUrl = await ensureRedis();
    database = await createTempDatabase();
    const databaseUrl = database.url;
    const logger = recorded();
    // Instances share their secret (tokens and LongPoll sessions cross them) and their store.
    const secretKeyBase = randomBytes(48).toString('base64');
    for (const name of ['a', 'b']) {
      const dataDir = join(dir, name);
      chats.push(
        await startChat({ port: 0, dataDir, redisUrl, secretKeyBase, publicUrl: 'https://chat.example.com', trustedProxies: '127.0.0.1', logger, databaseUrl }),
      );
    }
    base = await startNginx(chats);
  }, 60_000);

  it('serves the page, /health and /ready over TLS, and keeps /metrics private', async () => {
    const page = await fetch(`${base}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<script');
    expect((await fetch(`${base}/metrics`)).status).toBe(404);
    expect(await (await fetch(`${base}/ready`)).json()).toEqual({ ready: true });
  });

  it('carries chat over wss:// and LongPoll over https:// between clients of both instances', async () => {
    const pool = new ClientPool(phoenix18Client);
    try {
      const api = new ChatApi(base);
      const users = await Promise.all([0, 1, 2, 3].map(() => api.newUser()));
      // nginx spreads connections round-robin: four sockets reach both instances.
      const lobbies = users.map((user, i) =>
        pool
          .socket(`${base.replace('https', 'wss')}/socket`, { params: { token: user.token }, longPoll: i === 3 })
          .channel('rooms:lobby', { name: `user${i}` }),
      );
      const heard = lobbies.map((lobby) => inboxOf(lobby, 'new_msg'));
      await Promise.all(lobbies.map((lobby) => joined(lobby)));
      await sendAll(lobbies[0]!, ['over wss']);
      await sendAll(lobbies[3]!, ['over longpoll']);
      for (const inbox of heard) {
        await eventually(() => expect(inbox.items.map((m) => (m as { body: string }).body).sort()).toEqual(['over longpoll', 'over wss']), 5000);
      }
    } finally {
      await pool.close();
    }
  });

  it('attributes a connection to the client nginx names in X-Forwarded-For, not to nginx', async () => {
    const before = logs.length;
    // An origin the chat refuses, from a client address of our choosing: the refusal names who it was.
    const refused = await tryUpgrade(`${base.replace('https', 'wss')}/socket/websocket?vsn=2.0.0`, {
      headers: { origin: 'https://evil.example', 'x-forwarded-for': '198.51.100.7' },
      localAddress: '127.0.0.9',
    });
    expect(refused.status).toBe(403);
    await eventually(() => expect(logs.slice(before).filter((line) => line.reason === 'origin')).toHaveLength(1));
    const line = logs.slice(before).find((entry) => entry.reason === 'origin')!;
    // nginx appended the peer it saw; a forged left-hand entry is not believed.
    expect(line).toMatchObject({
      client: '127.0.0.9',
      peer: expect.stringMatching(/^127\.0\.0\.1:/),
      origin: 'https://evil.example',
      expected: 'https://chat.example.com',
    });
  });
});
