/**
 * Raw-frame conformance, connecting over WebSocket (docs/protocol.md §1, §7.1; checklist §11 items 1–7):
 * which handshakes are upgraded (101), which are refused with which HTTP status, and what the
 * app's `connect` receives.
 */
import { request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { socketUrl, useFixtures, V1, V1_NO_VSN, V2 } from '../../support/wire-client.ts';
import { tryUpgrade } from '@starling/test-support/raw-client';

const { start, connect } = useFixtures();

/** Sends a plain HTTP request and returns status and body. */
function http(url: string, method: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('upgrade and serializer negotiation (§1.2, items 1–2)', () => {
  it('upgrades /socket/websocket?vsn=2.0.0 with 101 and speaks V2 arrays', async () => {
    const fixture = await start();
    expect((await tryUpgrade(socketUrl(fixture.wsUrl, '2.0.0'))).status).toBe(101);

    const client = await connect(fixture, V2);
    expect(await client.push([null, '1', 'phoenix', 'heartbeat', {}])).toEqual([null, '1', 'phoenix', 'phx_reply', { status: 'ok', response: {} }]);
  });

  it('treats any 2.0.x vsn as V2 (semver ~> 2.0.0)', async () => {
    const fixture = await start();
    const client = await connect(fixture, { ...V2, vsn: '2.0.7' });
    expect(await client.push([null, '1', 'phoenix', 'heartbeat', {}])).toEqual([null, '1', 'phoenix', 'phx_reply', { status: 'ok', response: {} }]);
  });

  for (const dialect of [V1, V1_NO_VSN]) {
    it(`upgrades ${dialect.name} with 101 and answers with V1 objects that carry no join_ref`, async () => {
      const fixture = await start();
      expect((await tryUpgrade(socketUrl(fixture.wsUrl, dialect.vsn))).status).toBe(101);

      const client = await connect(fixture, dialect);
      client.raw.send({ topic: 'phoenix', event: 'heartbeat', payload: {}, ref: '5' });
      const frame = await client.reply('5');
      expect(frame).toEqual({ event: 'phx_reply', payload: { response: {}, status: 'ok' }, ref: '5', topic: 'phoenix' });
      expect(Object.keys(frame as object).sort()).toEqual(['event', 'payload', 'ref', 'topic']);
    });
  }

  for (const vsn of ['3.0.0', 'abc', '2.1.0', '1.1.0', '2']) {
    it(`refuses vsn=${vsn} with HTTP 403 and runs no connect`, async () => {
      const fixture = await start();
      const outcome = await tryUpgrade(socketUrl(fixture.wsUrl, vsn));
      expect(outcome.status).toBe(403);
      expect(outcome.body).toBe('');
      expect(fixture.connects).toEqual([]);
    });
  }
});

describe('connect refusals (§1.3 step 6, item 3)', () => {
  it('answers a refused connect with HTTP 403 and an empty body', async () => {
    const fixture = await start();
    const outcome = await tryUpgrade(socketUrl(fixture.wsUrl, '2.0.0', { refuse: '1' }));
    expect(outcome).toEqual({ status: 403, protocol: undefined, body: '' });
  });

  it('answers a refusal with a custom status (429) with that status', async () => {
    const fixture = await start();
    const outcome = await tryUpgrade(socketUrl(fixture.wsUrl, '2.0.0', { refuse: '1', status: '429' }));
    expect(outcome.status).toBe(429);
  });
});

describe('origin check (§7.1, item 4)', () => {
  it('default (true): refuses a browser origin whose host differs from the Host header with 403, before connect runs', async () => {
    const fixture = await start();
    const outcome = await tryUpgrade(socketUrl(fixture.wsUrl, '2.0.0'), { headers: { Origin: 'https://evil.example' } });
    expect(outcome.status).toBe(403);
    expect(outcome.body).toBe('');
    expect(fixture.connects).toEqual([]);
  });

  it('default (true): allows the page’s own origin and refuses the same host on another port or scheme (check_origin)', async () => {
    const fixture = await start();
    const url = socketUrl(fixture.wsUrl, '2.0.0');
    expect((await tryUpgrade(url, { headers: { Origin: `http://127.0.0.1:${fixture.port}` } })).status).toBe(101);
    expect((await tryUpgrade(url, { headers: { Origin: 'https://127.0.0.1:1' } })).status).toBe(403);
    expect((await tryUpgrade(url, { headers: { Origin: `https://127.0.0.1:${fixture.port}` } })).status).toBe(403);
    expect((await tryUpgrade(url, { headers: { Origin: 'http://127.0.0.1' } })).status).toBe(403);
  });

  it('true with the endpoint’s url: allows exactly that origin, whatever the Host header says', async () => {
    const fixture = await start({ endpoint: { url: 'https://chat.example.com' } });
    const url = socketUrl(fixture.wsUrl, '2.0.0');
    expect((await tryUpgrade(url, { headers: { Origin: 'https://chat.example.com' } })).status).toBe(101);
    expect((await tryUpgrade(url, { headers: { Origin: `http://127.0.0.1:${fixture.port}` } })).status).toBe(403);
  });

  it('allows a request without an Origin header (native clients)', async () => {
    const fixture = await start({ socket: { checkOrigin: ['https://example.com'] } });
    expect((await tryUpgrade(socketUrl(fixture.wsUrl, '2.0.0'))).status).toBe(101);
  });

  it('refuses an origin without a host ("null" from sandboxed frames)', async () => {
    const fixture = await start();
    expect((await tryUpgrade(socketUrl(fixture.wsUrl, '2.0.0'), { headers: { Origin: 'null' } })).status).toBe(403);
  });

  describe("a list ['https://example.com', '//*.other.com']", () => {
    const cases: Array<[origin: string, status: number]> = [
      ['https://example.com', 101],
      ['https://example.com:443', 101],
      ['http://example.com', 403], // scheme given in the entry
      ['https://example.com:8443', 403], // https implies port 443
      ['https://www.example.com', 403], // no wildcard on this entry
      ['https://other.com', 101],
      ['http://a.b.other.com:4000', 101], // //host: any scheme and port, *. matches subdomains
      ['https://notother.com', 403],
      [`http://127.0.0.1`, 403], // the list replaces the host-match default
    ];
    for (const [origin, status] of cases) {
      it(`${status === 101 ? 'allows' : 'refuses'} Origin: ${origin}`, async () => {
        const fixture = await start({ socket: { checkOrigin: ['https://example.com', '//*.other.com'] } });
        expect((await tryUpgrade(socketUrl(fixture.wsUrl, '2.0.0'), { headers: { Origin: origin } })).status).toBe(status);
      });
    }
  });
});

describe('auth token subprotocol (§1.4, item 5)', () => {
  // btoa('tok>>>>') = 'dG9rPj4+Pg==': standard alphabet ('+'), padding stripped by phoenix.js.
  const TOKEN = 'tok>>>>';

  it('accepts "phoenix, base64url.bearer.phx.<btoa(token) without =>", echoes phoenix and hands connect the token', async () => {
    const fixture = await start();
    const outcome = await tryUpgrade(socketUrl(fixture.wsUrl, '2.0.0'), { protocols: ['phoenix', 'base64url.bearer.phx.dG9rPj4+Pg'] });
    expect(outcome.status).toBe(101);
    expect(outcome.protocol).toBe('phoenix');
    expect(fixture.connects.map((c) => c.info.authToken)).toEqual([TOKEN]);
  });

  it('also accepts the token in the URL-safe alphabet', async () => {
    const fixture = await start();
    const outcome = await tryUpgrade(socketUrl(fixture.wsUrl, '2.0.0'), { protocols: ['phoenix', 'base64url.bearer.phx.dG9rPj4-Pg'] });
    expect(outcome.protocol).toBe('phoenix');
    expect(fixture.connects.map((c) => c.info.authToken)).toEqual([TOKEN]);
  });

  it('echoes phoenix when it is the only subprotocol offered, and connect sees no token', async () => {
    const fixture = await start();
    const outcome = await tryUpgrade(socketUrl(fixture.wsUrl, '2.0.0'), { protocols: ['phoenix'] });
    expect(outcome).toEqual({ status: 101, protocol: 'phoenix', body: '' });
    expect(fixture.connects.map((c) => c.info.authToken)).toEqual([undefined]);
  });

  it('connects a raw client that offered the subprotocols and serves it normally', async () => {
    const fixture = await start();
    const client = await connect(fixture, V2, {}, { protocols: ['phoenix', 'base64url.bearer.phx.dG9rPj4+Pg'] });
    expect(client.raw.ws.protocol).toBe('phoenix');
    expect(await client.join('test:lobby', '1')).toEqual(['1', '1', 'test:lobby', 'phx_reply', { status: 'ok', response: {} }]);
  });
});

describe('requests that are not WebSocket upgrades (§1.1, §1.3, item 6)', () => {
  for (const method of ['POST', 'PUT', 'DELETE']) {
    it(`answers ${method} /socket/websocket with 400 and an empty body`, async () => {
      const fixture = await start();
      const res = await http(`http://127.0.0.1:${fixture.port}/socket/websocket?vsn=2.0.0`, method);
      expect(res).toEqual({ status: 400, body: '' });
    });
  }

  it('answers a POST carrying upgrade headers with 400, without running connect', async () => {
    const fixture = await start();
    const res = await http(`http://127.0.0.1:${fixture.port}/socket/websocket?vsn=2.0.0`, 'POST', {
      Connection: 'Upgrade',
      Upgrade: 'websocket',
      'Sec-WebSocket-Version': '13',
      'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
    });
    expect(res.status).toBe(400);
    expect(fixture.connects).toEqual([]);
  });

  it('answers a GET without upgrade headers with 400', async () => {
    const fixture = await start();
    const res = await http(`http://127.0.0.1:${fixture.port}/socket/websocket?vsn=2.0.0`, 'GET');
    expect(res.status).toBe(400);
  });
});

describe('connect params (§1.2, item 7)', () => {
  it('decodes a=1&user[id]=7 into {a: "1", user: {id: "7"}} and keeps vsn out of the params', async () => {
    const fixture = await start();
    await connect(fixture, V2, { a: '1', 'user[id]': '7' });
    expect(fixture.connects.map((c) => c.params)).toEqual([{ a: '1', user: { id: '7' } }]);
  });

  it('hands a user param named token to connect (phoenix.js `params: {token}`; only LongPoll reserves it)', async () => {
    const fixture = await start();
    await connect(fixture, V2, { token: 'abc', 'user[id]': '1' });
    expect(fixture.connects.map((c) => c.params)).toEqual([{ token: 'abc', user: { id: '1' } }]);
  });

  it('ignores the empty segment of a trailing & (phoenix.js with a null param)', async () => {
    const fixture = await start();
    expect((await tryUpgrade(`${fixture.wsUrl}?a=1&&vsn=2.0.0&`)).status).toBe(101);
    expect(fixture.connects.map((c) => c.params)).toEqual([{ a: '1' }]);
  });
});
