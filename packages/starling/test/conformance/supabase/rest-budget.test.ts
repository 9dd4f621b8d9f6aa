/**
 * The REST broadcast API's budgets (issue 17, finding 5): the anon key is public, so every request
 * is charged to its client address's and its key's rate and byte budgets; over either it is
 * answered 429 with `Retry-After`, broadcast to no one, and counted in
 * `starling_rest_broadcasts_refused_total{scope}`. Real HTTP over loopback; other loopback
 * addresses (127.0.0.2, …) stand for other clients.
 */
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { Endpoint, silentLogger, type EndpointOptions } from '../../../src/index.ts';
import { createMetrics } from '../../../src/metrics/index.ts';
import { createRealtime, DEFAULT_REST_BUDGETS, type RealtimeOptions } from '../../../src/supabase/index.ts';

const SECRET = 'a-test-jwt-secret-of-at-least-thirty-two-characters-long';

function jwt(claims: Record<string, unknown>): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));
}

interface Service {
  readonly endpoint: Endpoint;
  readonly url: string;
  /** Every broadcast the API made on `realtime:room`, as the endpoint's subscribers see them. */
  readonly delivered: unknown[];
}

const endpoints: Endpoint[] = [];
afterEach(async () => {
  for (const endpoint of endpoints.splice(0)) await endpoint.close({ intervalMs: 0 });
});

async function start(options: Partial<RealtimeOptions> = {}, endpointOptions: EndpointOptions = {}): Promise<Service> {
  const endpoint = new Endpoint({ logger: silentLogger, ...endpointOptions });
  endpoints.push(endpoint);
  const realtime = createRealtime(endpoint, { jwtSecret: SECRET, ...options });
  endpoint.socket('/realtime/v1', realtime.socket);
  const server = await endpoint.listen({ port: 0, fallback: (req, res) => void (realtime.handleRequest(req, res) || res.writeHead(404).end()) });
  const delivered: unknown[] = [];
  endpoint.subscribe('realtime:room', (_event, payload) => delivered.push(payload));
  return { endpoint, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/realtime/v1/api/broadcast`, delivered };
}

interface Answer {
  readonly status: number;
  readonly retryAfter: string | undefined;
  readonly error: string | undefined;
}

/** One POST of `body` from `localAddress`; `chunked` sends it without Content-Length. */
function post(url: string, body: string, options: { headers?: Record<string, string>; localAddress?: string; chunked?: boolean } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { 'content-type': 'application/json', ...options.headers };
    if (options.chunked !== true) headers['content-length'] = String(Buffer.byteLength(body));
    const req = request(url, { method: 'POST', headers, localAddress: options.localAddress }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        const header = res.headers['retry-after'];
        resolve({ status: res.statusCode ?? 0, retryAfter: header, error: text === '' ? undefined : (JSON.parse(text) as { error?: string }).error });
      });
    });
    req.on('error', reject);
    if (options.chunked === true) {
      // Two writes before the end: Node sends them as chunks.
      req.write(body.slice(0, body.length >> 1));
      req.end(body.slice(body.length >> 1));
    } else req.end(body);
  });
}

/** A `{"messages": [...]}` body of one broadcast on `room` whose JSON is about `bytes` long. */
function messageOf(bytes = 0): string {
  return JSON.stringify({ messages: [{ topic: 'room', event: 'msg', payload: { text: 'x'.repeat(Math.max(0, bytes - 80)) } }] });
}

describe('REST broadcast budgets', () => {
  it('answer most of 1,000 requests sent at once from one address with 429 and Retry-After, and broadcast none of those', async () => {
    const service = await start();
    const apikey = await jwt({ role: 'anon' });
    const answers: Answer[] = [];
    const startedAt = performance.now();
    for (let batch = 0; batch < 10; batch++) {
      answers.push(...(await Promise.all(Array.from({ length: 100 }, () => post(service.url, messageOf(), { headers: { apikey } })))));
    }
    const seconds = (performance.now() - startedAt) / 1000;

    const accepted = answers.filter((answer) => answer.status === 202).length;
    const refused = answers.filter((answer) => answer.status === 429);
    // The burst (20), plus what 10 a second refill while the test sends.
    expect(accepted).toBeGreaterThanOrEqual(2 * DEFAULT_REST_BUDGETS.perAddress.requestsPerSecond);
    expect(accepted).toBeLessThanOrEqual(2 * DEFAULT_REST_BUDGETS.perAddress.requestsPerSecond + Math.ceil(seconds * 10));
    expect(refused).toHaveLength(1000 - accepted);
    for (const answer of refused) {
      expect(Number(answer.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(answer.error).toMatch(/this address is over its REST broadcast budget/);
    }
    expect(service.delivered).toHaveLength(accepted);
    expect(service.endpoint.stats.restBroadcastsRefused).toEqual({ address: refused.length, key: 0 });
    expect(await createMetrics(service.endpoint).render()).toContain(`starling_rest_broadcasts_refused_total{scope="address"} ${refused.length}`);

    // Another client is not affected.
    expect((await post(service.url, messageOf(), { headers: { apikey }, localAddress: '127.0.0.2' })).status).toBe(202);
  });

  it('bound the bytes one address sends: a second 1 MiB body at once is refused until its bytes have refilled', async () => {
    // Bodies near the 1 MiB bound: payloads past the default 256 000 bytes allowed for this one.
    const service = await start({ maxPayloadBytes: 1024 * 1024 });
    const apikey = await jwt({ role: 'anon' });
    const big = messageOf(1024 * 1024 - 100);

    expect((await post(service.url, big, { headers: { apikey } })).status).toBe(202);
    const second = await post(service.url, big, { headers: { apikey } });

    expect(second.status).toBe(429);
    // 1 MiB at 256 KiB a second (3 s when the first upload was slow).
    expect(Number(second.retryAfter)).toBeGreaterThanOrEqual(3);
    expect(Number(second.retryAfter)).toBeLessThanOrEqual(4);
    // Bodies sent without Content-Length are charged once read.
    const other = { headers: { apikey }, localAddress: '127.0.0.2', chunked: true };
    expect((await post(service.url, big, other)).status).toBe(202);
    expect((await post(service.url, big, other)).status).toBe(429);
    expect(service.delivered).toHaveLength(2);
  });

  it('bound each key across addresses: the anon key’s callers together, while a signed-in user keeps their own budget', async () => {
    const service = await start({ restBudget: { perKey: { requestsPerSecond: 1, requestBurst: 5, bytesPerSecond: 1024 } } });
    const anon = await jwt({ role: 'anon' });
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await post(service.url, messageOf(), { headers: { apikey: anon }, localAddress: `127.0.0.${2 + i}` })).status);

    expect(statuses.slice(0, 5)).toEqual([202, 202, 202, 202, 202]);
    expect(statuses.slice(5)).toEqual([429, 429, 429]);
    const user = await jwt({ role: 'authenticated', sub: 'user-1' });
    expect((await post(service.url, messageOf(), { headers: { apikey: anon, authorization: `Bearer ${user}` }, localAddress: '127.0.0.20' })).status).toBe(202);
    expect(service.endpoint.stats.restBroadcastsRefused).toEqual({ address: 0, key: 3 });
  });

  it('key the address budget by the forwarded client behind a trusted proxy, and by the peer otherwise', async () => {
    // A refill slower than any test run: what is asserted is whose budget is charged, not the rate.
    const slow = { restBudget: { perAddress: { requestsPerSecond: 0.01, requestBurst: 3 } } };
    const behind = await start(slow, { trustedProxies: ['127.0.0.1'] });
    const apikey = await jwt({ role: 'anon' });
    const from = (url: string, client: string) => post(url, messageOf(), { headers: { apikey, 'x-forwarded-for': client } });
    const burst = 3;
    for (let i = 0; i < burst; i++) expect((await from(behind.url, '203.0.113.1')).status).toBe(202);

    expect((await from(behind.url, '203.0.113.1')).status).toBe(429);
    expect((await from(behind.url, '203.0.113.2')).status).toBe(202);

    const direct = await start(slow);
    for (let i = 0; i < burst; i++) await from(direct.url, `203.0.113.${10 + i}`);
    expect((await from(direct.url, '203.0.113.99')).status).toBe(429);
  });

  it('can be turned off, and refuse a byte burst that a maximal body could never fit', async () => {
    const service = await start({ restBudget: { perAddress: false, perKey: false } });
    const apikey = await jwt({ role: 'anon' });
    const answers = await Promise.all(Array.from({ length: 50 }, () => post(service.url, messageOf(), { headers: { apikey } })));
    expect(answers.every((answer) => answer.status === 202)).toBe(true);

    const endpoint = new Endpoint({ logger: silentLogger });
    endpoints.push(endpoint);
    expect(() => createRealtime(endpoint, { jwtSecret: SECRET, restBudget: { perAddress: { byteBurst: 1000 } } })).toThrow(
      /restBudget.perAddress.byteBurst must be at least maxBodyBytes/,
    );
  });
});
