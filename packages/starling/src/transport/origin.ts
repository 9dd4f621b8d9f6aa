/**
 * @module transport/origin
 * `checkOrigin`: the defence against cross-site WebSocket hijacking (a page on another site opening
 * a socket with the victim's cookies). Rules as Phoenix (§7.1): no `Origin` header → allowed;
 * `false` → allowed; `true` → the origin's host must equal the configured host (or the request's
 * `Host` when none is configured); a list of `scheme://host:port` entries where a missing part is a
 * wildcard and `*.example.com` matches subdomains; `"conn"` → scheme, host and port must equal the
 * request's own; or a predicate.
 */

/** How origins are checked. */
export type CheckOrigin = boolean | 'conn' | readonly string[] | ((origin: URL) => boolean);

/** The request facts an origin is compared with. */
export interface OriginContext {
  /** The `Host` header of the request. */
  readonly requestHost: string | undefined;
  /** `"http"` or `"https"`. */
  readonly requestScheme: string;
  /** The endpoint's configured public host name, if any (compared instead of the request's host name for `true`). */
  readonly configuredHost?: string | undefined;
  /** The endpoint's configured public URL, if any: for `true`, the origin must be exactly its origin. */
  readonly configuredUrl?: URL | undefined;
}

interface AllowedOrigin {
  readonly scheme: string | null;
  readonly host: string;
  readonly port: string | null;
}

const DEFAULT_PORTS: Readonly<Record<string, string>> = { http: '80', https: '443', ws: '80', wss: '443' };

function parseAllowed(entry: string): AllowedOrigin {
  const match = /^(?:([a-z][a-z0-9+.-]*):)?\/\/([^:/]+)(?::(\d+))?\/?$/i.exec(entry);
  if (match === null) throw new Error(`checkOrigin entry ${JSON.stringify(entry)} must look like "https://host:port" or "//host"`);
  const scheme = match[1]?.toLowerCase() ?? null;
  const port = match[3] ?? (scheme !== null ? (DEFAULT_PORTS[scheme] ?? null) : null);
  return { scheme, host: match[2]!.toLowerCase(), port };
}

function portOf(url: URL): string {
  return url.port || (DEFAULT_PORTS[url.protocol.slice(0, -1)] ?? '');
}

function hostMatches(pattern: string, host: string): boolean {
  if (pattern.startsWith('*.')) {
    const base = pattern.slice(2);
    return host === base || host.endsWith(`.${base}`);
  }
  return pattern === host;
}

/** The request's own origin (its scheme and `Host`), or null without a usable `Host`. */
function ownOrigin(context: OriginContext): URL | null {
  if (context.requestHost === undefined) return null;
  try {
    return new URL(`${context.requestScheme}://${context.requestHost}`);
  } catch {
    return null;
  }
}

/**
 * What a `checkOrigin` setting accepts, in words, for the log line of a refusal: an operator who
 * forgot `url`/`PUBLIC_URL` behind a proxy must see which origin came and which was expected.
 */
export function describeOriginCheck(check: CheckOrigin): (context: OriginContext) => string {
  if (check === false) return () => 'any origin';
  if (typeof check === 'function') return () => 'origins accepted by the checkOrigin function';
  if (Array.isArray(check)) {
    const list = (check as readonly string[]).join(', ');
    return () => list;
  }
  return (context) => {
    const own = check === true && context.configuredUrl !== undefined ? context.configuredUrl : ownOrigin(context);
    return own === null ? 'the request’s own origin (no Host header)' : own.origin;
  };
}

/** Compiles a `checkOrigin` setting into a predicate over the `Origin` header. */
export function compileOriginCheck(check: CheckOrigin): (origin: string | undefined, context: OriginContext) => boolean {
  if (check === false) return () => true;
  const allowed = Array.isArray(check) ? (check as readonly string[]).map(parseAllowed) : null;
  return (origin, context) => {
    if (origin === undefined) return true;
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      return false;
    }
    if (url.hostname === '') return false;
    if (typeof check === 'function') return check(url);
    const host = url.hostname.toLowerCase();
    if (check === true || check === 'conn') {
      const own = check === true && context.configuredUrl !== undefined ? context.configuredUrl : ownOrigin(context);
      if (own === null) return false;
      const ownHost =
        check === true && context.configuredUrl === undefined && context.configuredHost !== undefined
          ? context.configuredHost.toLowerCase()
          : own.hostname.toLowerCase();
      return url.protocol === own.protocol && host === ownHost && portOf(url) === portOf(own);
    }
    const scheme = url.protocol.slice(0, -1);
    return allowed!.some(
      (entry) => (entry.scheme === null || entry.scheme === scheme) && hostMatches(entry.host, host) && (entry.port === null || entry.port === portOf(url)),
    );
  };
}
