import { describe, expect, it } from 'vitest';
import { compileOriginCheck } from '../../../src/transport/origin.ts';

const context = { requestHost: 'chat.example.com:4000', requestScheme: 'http' };

describe('checkOrigin (§7.1)', () => {
  it('allows a request without Origin whatever the setting (native clients)', () => {
    for (const setting of [true, false, 'conn', ['https://a.com']] as const) {
      expect(compileOriginCheck(setting)(undefined, context)).toBe(true);
    }
  });

  it('true: scheme, host and port must equal the request’s own (another port or scheme is another origin)', () => {
    const check = compileOriginCheck(true);
    expect(check('http://chat.example.com:4000', context)).toBe(true);
    expect(check('http://CHAT.example.com:4000', context)).toBe(true);
    expect(check('https://chat.example.com', context)).toBe(false);
    expect(check('http://chat.example.com:9999', context)).toBe(false);
    expect(check('https://chat.example.com:4000', context)).toBe(false);
    expect(check('http://evil.example.net:4000', context)).toBe(false);
  });

  it('true: default ports are implied on both sides', () => {
    const check = compileOriginCheck(true);
    expect(check('http://chat.example.com', { requestHost: 'chat.example.com', requestScheme: 'http' })).toBe(true);
    expect(check('http://chat.example.com:80', { requestHost: 'chat.example.com', requestScheme: 'http' })).toBe(true);
    expect(check('https://chat.example.com', { requestHost: 'chat.example.com', requestScheme: 'https' })).toBe(true);
  });

  it('true with a configured url compares with its scheme, host and port (a proxy terminating TLS in front)', () => {
    const check = compileOriginCheck(true);
    const behindProxy = { requestHost: 'chat.example.com', requestScheme: 'http', configuredUrl: new URL('https://chat.example.com') };
    expect(check('https://chat.example.com', behindProxy)).toBe(true);
    expect(check('http://chat.example.com', behindProxy)).toBe(false);
    expect(check('https://chat.example.com:8443', behindProxy)).toBe(false);
    expect(check('https://evil.example.net', behindProxy)).toBe(false);
  });

  it('true with a configured host compares with it instead of the Host header’s host; scheme and port stay the request’s', () => {
    const check = compileOriginCheck(true);
    expect(check('http://public.example.org:4000', { ...context, configuredHost: 'public.example.org' })).toBe(true);
    expect(check('https://public.example.org', { ...context, configuredHost: 'public.example.org' })).toBe(false);
    expect(check('http://chat.example.com:4000', { ...context, configuredHost: 'public.example.org' })).toBe(false);
  });

  it('false allows every origin', () => {
    expect(compileOriginCheck(false)('https://evil.example.net', context)).toBe(true);
  });

  it('a list: scheme implies its default port, //host matches any scheme and port, *.host matches subdomains', () => {
    const check = compileOriginCheck(['https://example.com', '//another.com:888', '//*.other.com']);
    expect(check('https://example.com', context)).toBe(true);
    expect(check('https://example.com:443', context)).toBe(true);
    expect(check('http://example.com', context)).toBe(false);
    expect(check('https://example.com:8443', context)).toBe(false);
    expect(check('http://another.com:888', context)).toBe(true);
    expect(check('https://another.com:889', context)).toBe(false);
    expect(check('https://other.com', context)).toBe(true);
    expect(check('https://a.b.other.com', context)).toBe(true);
    expect(check('https://notother.com', context)).toBe(false);
  });

  it('conn: scheme, host and port must equal the request', () => {
    const check = compileOriginCheck('conn');
    expect(check('http://chat.example.com:4000', context)).toBe(true);
    expect(check('https://chat.example.com:4000', context)).toBe(false);
    expect(check('http://chat.example.com', context)).toBe(false);
  });

  it('a predicate receives the parsed origin', () => {
    const check = compileOriginCheck((origin) => origin.hostname.endsWith('.test'));
    expect(check('https://app.test', context)).toBe(true);
    expect(check('https://app.example', context)).toBe(false);
  });

  it('refuses an origin without a host (null, file:) unless the check is off', () => {
    expect(compileOriginCheck(true)('null', context)).toBe(false);
    expect(compileOriginCheck(true)('file:///etc/passwd', context)).toBe(false);
    expect(compileOriginCheck(false)('null', context)).toBe(true);
  });

  it('rejects an ill-formed list entry when compiled', () => {
    expect(() => compileOriginCheck(['not a url'])).toThrow(/checkOrigin entry/);
  });
});
