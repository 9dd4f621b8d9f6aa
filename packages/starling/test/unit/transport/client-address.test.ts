/**
 * `TrustedProxies` and `clientAddress`: the client's address is the TCP peer's unless the peer is a
 * listed proxy; then the forwarding header is walked from the right, skipping listed hops, and the
 * first address that is not a listed proxy is the client. Requests are real HTTP over loopback,
 * sent from chosen local addresses (127.0.0.x, ::1) so that the peer is what the test says.
 */
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientAddress, TrustedProxies } from '../../../src/client-address.ts';

let server: Server;
let resolve: (req: IncomingMessage) => string = (req) => clientAddress(req);

beforeAll(async () => {
  // Dual-stack, as most servers listen: an IPv4 client's peer is then ::ffff:127.0.0.x.
  server = createServer((req, res) => res.end(resolve(req)));
  await new Promise<void>((done) => server.listen(0, '::', done));
});
afterAll(() => new Promise((done) => server.close(done)));

/** The address `proxies` attribute a request from `from` carrying `headers` to. */
function addressOf(proxies: TrustedProxies | null, headers: Record<string, string> = {}, from = '127.0.0.1'): Promise<string> {
  resolve = (req) => clientAddress(req, proxies);
  const host = from.includes(':') ? '[::1]' : '127.0.0.1';
  const { port } = server.address() as AddressInfo;
  return new Promise((done, fail) => {
    const req = request(`http://${host}:${port}/`, { headers, localAddress: from }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => done(text));
    });
    req.on('error', fail);
    req.end();
  });
}

describe('clientAddress without trusted proxies', () => {
  it('is the TCP peer, as IPv4 when it arrived IPv4-mapped, and ignores every forwarding header', async () => {
    expect(await addressOf(null, { 'x-forwarded-for': '203.0.113.7', forwarded: 'for=203.0.113.8' }, '127.0.0.2')).toBe('127.0.0.2');
    expect(await addressOf(null, {}, '::1')).toBe('::1');
  });
});

describe('TrustedProxies', () => {
  const proxies = new TrustedProxies('127.0.0.1, 10.0.0.0/8,fd00::/8');

  it('takes the client from X-Forwarded-For when the peer is listed', async () => {
    expect(await addressOf(proxies, { 'x-forwarded-for': '203.0.113.7' })).toBe('203.0.113.7');
  });

  it('ignores X-Forwarded-For from a peer that is not listed', async () => {
    expect(await addressOf(proxies, { 'x-forwarded-for': '203.0.113.7' }, '127.0.0.2')).toBe('127.0.0.2');
  });

  it('walks the chain from the right, skipping listed hops: a client cannot choose its address by writing the header first', async () => {
    // The client sent "1.1.1.1"; its proxy (10.1.2.3) and ours appended what they saw.
    expect(await addressOf(proxies, { 'x-forwarded-for': '1.1.1.1, 198.51.100.9, 10.1.2.3' })).toBe('198.51.100.9');
  });

  it('stops at a hop that is not an address and answers the nearest one it could read', async () => {
    expect(await addressOf(proxies, { 'x-forwarded-for': 'evil, 10.1.2.3' })).toBe('10.1.2.3');
    expect(await addressOf(proxies, { 'x-forwarded-for': '' })).toBe('127.0.0.1');
  });

  it('answers the leftmost hop when every hop is a listed proxy', async () => {
    expect(await addressOf(proxies, { 'x-forwarded-for': '10.0.0.5, 10.0.0.6' })).toBe('10.0.0.5');
  });

  it('reads hops with ports, IPv6 and IPv4-mapped IPv6', async () => {
    expect(await addressOf(proxies, { 'x-forwarded-for': '203.0.113.7:4711' })).toBe('203.0.113.7');
    expect(await addressOf(proxies, { 'x-forwarded-for': '[2001:DB8::1]:4711' })).toBe('2001:db8::1');
    expect(await addressOf(proxies, { 'x-forwarded-for': '2001:db8::2, fd12::1' })).toBe('2001:db8::2');
    expect(await addressOf(proxies, { 'x-forwarded-for': '::ffff:203.0.113.9' })).toBe('203.0.113.9');
  });

  it('matches an IPv4 entry against an IPv4-mapped peer and an IPv6 entry against an IPv6 peer', async () => {
    expect(await addressOf(new TrustedProxies(['::1']), { 'x-forwarded-for': '203.0.113.7' }, '::1')).toBe('203.0.113.7');
    expect(await addressOf(new TrustedProxies(['::ffff:127.0.0.0/104']), { 'x-forwarded-for': '203.0.113.7' })).toBe('203.0.113.7');
  });

  it('reads RFC 7239 Forwarded (and only it) when asked to', async () => {
    const forwarded = new TrustedProxies(['loopback'], { header: 'forwarded' });
    const headers = { forwarded: 'for=192.0.2.60;proto=https, For="[2001:db8:cafe::17]:4711";by=127.0.0.1', 'x-forwarded-for': '6.6.6.6' };
    expect(await addressOf(forwarded, headers)).toBe('2001:db8:cafe::17');
    expect(await addressOf(forwarded, { forwarded: 'for=192.0.2.60, for=unknown' })).toBe('127.0.0.1');
    expect(await addressOf(forwarded, { forwarded: 'for=_hidden;proto=http, for=192.0.2.61' })).toBe('192.0.2.61');
    // An X-Forwarded-For proxy passes a client's Forwarded header through: not read by default.
    expect(await addressOf(new TrustedProxies('loopback'), { forwarded: 'for=6.6.6.6' })).toBe('127.0.0.1');
  });

  it('accepts named ranges and refuses malformed entries, naming them', () => {
    expect(new TrustedProxies('loopback,uniquelocal,linklocal').includes('192.168.1.1')).toBe(true);
    expect(new TrustedProxies(' 127.0.0.1 , ,::1').entries).toEqual(['127.0.0.1', '::1']);
    for (const bad of ['10.0.0.0/33', 'fd00::/129', 'example.com', '10.0.0.0/', '10.0.0.0/8/8', '1.2.3']) {
      expect(() => new TrustedProxies(bad), bad).toThrow(
        new RegExp(`trustedProxies: "${bad.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}" is neither an IP address nor a CIDR range`),
      );
    }
    expect(() => new TrustedProxies('127.0.0.1', { header: 'x-real-ip' as 'forwarded' })).toThrow(/header must be/);
  });
});
