/**
 * @module client-address
 * The address of the client behind a request, for every per-address rule (`maxConnectionsPerIp`,
 * an app's own budgets). Without trusted proxies it is the TCP peer's. Behind a reverse proxy or
 * load balancer every client's TCP peer is the proxy, so the proxy's addresses are listed as
 * {@link TrustedProxies}; when the peer is one of them, the client's address is read from the
 * forwarding header the proxy writes, walking it from the right and skipping every listed hop,
 * as Express's `trust proxy` and Plug's `RemoteIp` do. The header is never read from any other
 * peer: any client can write it.
 *
 * Only the header the proxy writes may be read: a proxy that appends to `X-Forwarded-For` passes
 * a client's own `Forwarded` header through untouched, so reading that one would let the client
 * choose its address. `X-Forwarded-For` (nginx, HAProxy, Caddy, Traefik, AWS and Google load
 * balancers) is the default; `header: "forwarded"` reads RFC 7239's `Forwarded: for=…` instead.
 *
 * @example
 * import { Endpoint, TrustedProxies, clientAddress } from 'starling-channels';
 *
 * const endpoint = new Endpoint({ trustedProxies: ['127.0.0.1', '10.0.0.0/8'] });
 * // in an HTTP route of your own:
 * const ip = endpoint.clientAddress(req);
 * // or without an endpoint:
 * const proxies = new TrustedProxies('127.0.0.1,10.0.0.0/8');
 * clientAddress(req, proxies); // "203.0.113.7" for a request the proxy forwarded
 */
import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';

/** The forwarding header a trusted proxy writes: `X-Forwarded-For` or RFC 7239's `Forwarded`. */
export type ForwardedHeader = 'x-forwarded-for' | 'forwarded';

/** Options of {@link TrustedProxies}. */
export interface TrustedProxiesOptions {
  /** The header the proxies write (see the module doc). Default `"x-forwarded-for"`. */
  header?: ForwardedHeader | undefined;
}

/** Named ranges, as Express's `trust proxy` spells them. */
const NAMED_RANGES: Readonly<Record<string, readonly string[]>> = {
  loopback: ['127.0.0.0/8', '::1/128'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
  uniquelocal: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
};

const MAPPED_IPV4 = /^::ffff:(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/i;
const IPV4_WITH_PORT = /^(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}):\d{1,5}$/;
const BRACKETED_IPV6 = /^\[([^\]]+)\](?::\d{1,5})?$/;

/**
 * `address` in the form budgets are keyed by: an IPv4-mapped IPv6 address (what a dual-stack
 * server sees for an IPv4 client) as plain IPv4, IPv6 in lower case.
 */
function normalize(address: string): string {
  const mapped = MAPPED_IPV4.exec(address);
  return mapped === null ? address.toLowerCase() : mapped[1]!;
}

function family(address: string): 'ipv4' | 'ipv6' | null {
  const version = isIP(address);
  return version === 4 ? 'ipv4' : version === 6 ? 'ipv6' : null;
}

/**
 * The addresses and CIDR ranges of the reverse proxies in front of a server (IPv4 and IPv6; an
 * IPv4 entry also matches its IPv4-mapped IPv6 form), on `node:net`'s `BlockList`. Also accepts
 * `loopback`, `linklocal` and `uniquelocal` for those ranges.
 */
export class TrustedProxies {
  /** The header read from a trusted peer. */
  readonly header: ForwardedHeader;
  /** The entries as given, trimmed (for logs and error messages). */
  readonly entries: readonly string[];
  readonly #list = new BlockList();

  /**
   * @param entries a list, or one comma-separated string such as `"127.0.0.1,10.0.0.0/8"`
   * @throws TypeError naming the first entry that is neither an address nor a CIDR range
   */
  constructor(entries: string | readonly string[], options: TrustedProxiesOptions = {}) {
    const header = options.header ?? 'x-forwarded-for';
    if (header !== 'x-forwarded-for' && header !== 'forwarded') throw new TypeError('trustedProxies header must be "x-forwarded-for" or "forwarded"');
    this.header = header;
    const list = typeof entries === 'string' ? entries.split(',') : [...entries];
    this.entries = list.map((entry) => entry.trim()).filter((entry) => entry !== '');
    for (const entry of this.entries) {
      for (const range of NAMED_RANGES[entry] ?? [entry]) this.#add(range, entry);
    }
  }

  /** Whether `address` (a TCP peer or a hop of the forwarding header) is a listed proxy. */
  includes(address: string): boolean {
    const kind = family(address);
    return kind !== null && this.#list.check(address, kind);
  }

  /** The client's address for `req`: see {@link clientAddress}. */
  clientOf(req: IncomingMessage): string {
    const peer = normalize(req.socket.remoteAddress ?? '');
    if (!this.includes(peer)) return peer;
    const hops = forwardedHops(req, this.header);
    let client = peer;
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = hopAddress(hops[i]!);
      // `unknown`, an obfuscated name or garbage: nothing further left can be believed either.
      if (hop === null) return client;
      client = hop;
      if (!this.includes(hop)) return hop;
    }
    // Every hop is a listed proxy: the leftmost is the best known (Express answers the same).
    return client;
  }

  #add(range: string, entry: string): void {
    const slash = range.indexOf('/');
    const address = slash < 0 ? range : range.slice(0, slash);
    const kind = family(address);
    const prefix = slash < 0 ? null : Number(range.slice(slash + 1));
    const maxPrefix = kind === 'ipv4' ? 32 : 128;
    if (kind === null || (prefix !== null && (!/^\d{1,3}$/.test(range.slice(slash + 1)) || prefix > maxPrefix))) {
      throw new TypeError(`trustedProxies: ${JSON.stringify(entry)} is neither an IP address nor a CIDR range such as "10.0.0.0/8" or "fd00::/8"`);
    }
    if (prefix === null) this.#list.addAddress(address, kind);
    else this.#list.addSubnet(address, prefix, kind);
  }
}

/** The raw hops of the forwarding header, left (the original client) to right (the nearest proxy). */
function forwardedHops(req: IncomingMessage, header: ForwardedHeader): string[] {
  // Node joins repeated headers with ", " (in order), which is how both are to be read.
  const value = req.headers[header];
  if (typeof value !== 'string' || value === '') return [];
  if (header === 'x-forwarded-for') return value.split(',');
  return value.split(',').map((element) => {
    for (const pair of element.split(';')) {
      const eq = pair.indexOf('=');
      if (eq > 0 && pair.slice(0, eq).trim().toLowerCase() === 'for') return pair.slice(eq + 1);
    }
    return '';
  });
}

/** One hop as an address (`for="[2001:db8::1]:4711"`, `192.0.2.1:80` and bare forms), or null. */
function hopAddress(raw: string): string | null {
  let value = raw.trim();
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
  const address = BRACKETED_IPV6.exec(value)?.[1] ?? IPV4_WITH_PORT.exec(value)?.[1] ?? value;
  // A zone id (`fe80::1%eth0`) names an interface of the proxy's host, not a client.
  if (address.includes('%') || family(address) === null) return null;
  return normalize(address);
}

/**
 * The address of the client behind `req`: the TCP peer's, unless the peer is one of `proxies`, in
 * which case the nearest address of the forwarding header that is not itself a listed proxy
 * (see the module doc). IPv4-mapped IPv6 addresses are returned as IPv4.
 */
export function clientAddress(req: IncomingMessage, proxies: TrustedProxies | null = null): string {
  return proxies === null ? normalize(req.socket.remoteAddress ?? '') : proxies.clientOf(req);
}
