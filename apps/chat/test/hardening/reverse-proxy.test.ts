/**
 * The chat behind a reverse proxy (issue 17). With `TRUSTED_PROXIES` naming the proxy, every
 * per-address rule — the connection cap (`CONNECTIONS_PER_IP`), the budgets, `/metrics`'s loopback
 * rule — applies to the client address the proxy forwards, each client on its own; an
 * `X-Forwarded-For` from any other peer is ignored. The chat is the real server process
 * (`npm start`) configured through its environment; the proxy is a real HTTP proxy appending
 * `X-Forwarded-For`; clients on other loopback addresses stand for machines on the internet
 * (the proxy writes 127.0.0.2 as 203.0.113.2).
 */
import { spawnSync } from 'node:child_process';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ForwardingProxy } from '@starling/test-support/forwarding-proxy';
import { ClientPool, freePort, joined, phoenix18Client } from '@starling/test-support/official-client';
import { tryUpgrade } from '@starling/test-support/raw-client';
import { ChatProcess } from '../support/chat-process.ts';
import { useChats } from '../support/chat.ts';

const chats = useChats();
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** An HTTP request from `localAddress`, with extra headers; resolves with the status. */
function statusOf(url: string, options: { method?: string; localAddress?: string; headers?: Record<string, string> } = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: options.method ?? 'GET', localAddress: options.localAddress, headers: { 'content-type': 'application/json', ...options.headers } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(options.method === 'POST' ? '{}' : undefined);
  });
}

/** The real chat process with `env`, and a proxy in front of it that forwards 127.0.0.x as 203.0.113.x. */
async function chatBehindProxy(env: Record<string, string>): Promise<{ direct: string; proxied: string; pool: ClientPool }> {
  const port = await freePort();
  const chat = await ChatProcess.start({ PORT: String(port), DATA_DIR: chats.tempDir(), ...env });
  cleanups.push(() => chat.kill('SIGKILL'));
  const proxy = await ForwardingProxy.start(port, { forwardedFor: (peer) => peer.replace(/^127\.0\.0\./, '203.0.113.') });
  cleanups.push(() => proxy.close());
  const pool = new ClientPool(phoenix18Client);
  cleanups.push(() => pool.close());
  return { direct: `127.0.0.1:${port}`, proxied: `127.0.0.1:${proxy.port}`, pool };
}

describe('the chat behind a trusted reverse proxy (TRUSTED_PROXIES)', () => {
  it('caps connections per forwarded client (CONNECTIONS_PER_IP): one client is refused, another is not', async () => {
    const { proxied, pool } = await chatBehindProxy({ TRUSTED_PROXIES: '127.0.0.1', CONNECTIONS_PER_IP: '2' });
    for (let i = 0; i < 2; i++) await joined(pool.socket(`ws://${proxied}/socket`, { localAddress: '127.0.0.2' }).channel('rooms:lobby'));

    expect((await tryUpgrade(`ws://${proxied}/socket/websocket?vsn=2.0.0`, { localAddress: '127.0.0.2' })).status).toBe(429);
    expect((await tryUpgrade(`ws://${proxied}/socket/websocket?vsn=2.0.0`, { localAddress: '127.0.0.3' })).status).toBe(101);
  });

  it('spends each client’s own budget, and serves /metrics to none of them', async () => {
    const { direct, proxied } = await chatBehindProxy({ TRUSTED_PROXIES: '127.0.0.1', IDENTITIES_PER_IP: '2/3600' });
    const identity = (localAddress: string) => statusOf(`http://${proxied}/api/identity`, { method: 'POST', localAddress });

    expect([await identity('127.0.0.2'), await identity('127.0.0.2'), await identity('127.0.0.2')]).toEqual([200, 200, 429]);
    expect(await identity('127.0.0.3')).toBe(200);
    expect(await statusOf(`http://${proxied}/metrics`, { localAddress: '127.0.0.2' })).toBe(404);
    // On the chat's own machine, not through the proxy, /metrics still answers.
    expect(await statusOf(`http://${direct}/metrics`)).toBe(200);
  });

  it('ignores X-Forwarded-For from a peer that is not a trusted proxy: its clients share its address', async () => {
    const { direct } = await chatBehindProxy({ TRUSTED_PROXIES: '127.0.0.1', IDENTITIES_PER_IP: '2/3600' });
    const forged = (client: string) => ({ 'x-forwarded-for': client });
    const identity = (client: string) => statusOf(`http://${direct}/api/identity`, { method: 'POST', localAddress: '127.0.0.4', headers: forged(client) });

    expect([await identity('198.51.100.1'), await identity('198.51.100.2'), await identity('198.51.100.3')]).toEqual([200, 200, 429]);
    expect(await statusOf(`http://${direct}/metrics`, { localAddress: '127.0.0.4', headers: forged('127.0.0.1') })).toBe(404);
  });
});

describe('/metrics without TRUSTED_PROXIES', () => {
  it('is not served to a request a local proxy forwarded (its peer is loopback, its client is not)', async () => {
    const chat = await chats.start();
    const proxy = await ForwardingProxy.start(chat.chat.port);
    cleanups.push(() => proxy.close());

    expect(await statusOf(`http://127.0.0.1:${proxy.port}/metrics`, { localAddress: '127.0.0.2' })).toBe(404);
    expect(await statusOf(`${chat.baseUrl}/metrics`)).toBe(200);
  });
});

describe('the server process', () => {
  it.each([
    ['TRUSTED_PROXIES', '127.0.0.1,10.0.0.0/33', /TRUSTED_PROXIES must be a comma-separated list of IP addresses and CIDR ranges .*"10\.0\.0\.0\/33"/],
    ['CONNECTIONS_PER_IP', 'many', /CONNECTIONS_PER_IP must be a positive integer or "off"/],
  ])('refuses to start with a malformed %s, saying so', (name, value, message) => {
    const server = fileURLToPath(new URL('../../src/server.ts', import.meta.url));
    const result = spawnSync(process.execPath, ['--import', 'tsx', server], {
      env: { ...process.env, [name]: value, PORT: '0', LOG_LEVEL: 'fatal', DATA_DIR: chats.tempDir() },
      encoding: 'utf8',
      timeout: 20_000,
    });

    expect(result.status).toBe(1);
    const logged = JSON.parse(result.stdout.trim().split('\n').at(-1) ?? '{}') as { msg?: string };
    expect(logged.msg).toMatch(message);
  });
});
