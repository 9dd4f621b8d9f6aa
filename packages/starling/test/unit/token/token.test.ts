/**
 * @module test/unit/token/token
 * Phoenix.Token as specified in docs/protocol.md §8: the §8.4 vectors (made with the real Plug.Crypto)
 * must come out byte for byte, and verification follows §8.1's outcomes.
 */
import { createHmac, pbkdf2Sync } from 'node:crypto';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { atom, encodeTerm, tuple } from '../../../src/token/etf.ts';
import { TokenSigner, signToken, verifyToken } from '../../../src/token/token.ts';

const SECRET = 'a'.repeat(64);
const SIGNED_AT = 1_700_000_000; // seconds
const SIGNED_MS = SIGNED_AT * 1000;
const AT_SIGNING = { signedAt: SIGNED_AT, maxAge: 86_400 };

const VECTORS = [
  {
    data: 42,
    salt: 'user socket',
    token: 'SFMyNTY.g2gDYSpuBgAAaOXPiwFiAAFRgA.vS9_m3KrZklLiGW90qm-ecaOXJmcQDrOJHiay9rGJEo',
  },
  {
    data: 'user-123',
    salt: 'user socket',
    token: 'SFMyNTY.g2gDbQAAAAh1c2VyLTEyM24GAABo5c-LAWIAAVGA.Fp4hp17StczVIrqNpDRpAK0THSOwXvg66knDh7QQI0Q',
  },
  {
    data: { id: 7, role: 'admin' },
    salt: 'user auth',
    token: 'SFMyNTY.g2gDdAAAAAJtAAAAAmlkYQdtAAAABHJvbGVtAAAABWFkbWlubgYAAGjlz4sBYgABUYA.K_h_TGWyMLzViFNmVvTXkny5XC5DN7_H4-alZ6TNifU',
  },
] as const;

const [FIRST] = VECTORS;

/** Signs arbitrary payload bytes the way Plug.Crypto does, to build tokens `signToken` never makes. */
function forge(payload: Buffer, salt = 'user socket', header = 'SFMyNTY', digest = 'sha256'): string {
  const key = pbkdf2Sync(SECRET, salt, 1000, 32, 'sha256');
  const input = `${header}.${payload.toString('base64url')}`;
  return `${input}.${createHmac(digest, key).update(input).digest('base64url')}`;
}

describe('signToken reproduces Plug.Crypto byte for byte (§8.4)', () => {
  for (const { data, salt, token } of VECTORS) {
    it(`signs ${JSON.stringify(data)} with salt "${salt}"`, () => {
      expect(signToken(SECRET, salt, data, AT_SIGNING)).toBe(token);
    });
  }

  it('derives the documented key: PBKDF2-HMAC-SHA256, 1000 iterations, 32 bytes', () => {
    const key = 'a829241796f5908f5027dc39e02f1aee5889fb7f62df4198b00369defd2e9fad';
    expect(pbkdf2Sync(SECRET, 'user socket', 1000, 32, 'sha256').toString('hex')).toBe(key);
    // The token's signature is HMAC-SHA256 under that key over "SFMyNTY." + b64url(payload).
    const [header, payload, signature] = signToken(SECRET, 'user socket', 42, AT_SIGNING).split('.');
    const hmac = createHmac('sha256', Buffer.from(key, 'hex')).update(`${header}.${payload}`);
    expect(signature).toBe(hmac.digest('base64url'));
  });

  it('carries the documented payload: {42, signed_at_ms as SMALL_BIG, 86400}', () => {
    const [, payload = ''] = signToken(SECRET, 'user socket', 42, AT_SIGNING).split('.');
    expect(Buffer.from(payload, 'base64url').toString('hex')).toBe(
      ['83 68 03', '61 2a', '6e 06 00 00 68 e5 cf 8b 01', '62 00 01 51 80'].join('').replace(/ /g, ''),
    );
  });

  it('stores maxAge "infinity" as the atom :infinity', () => {
    const [, payload = ''] = signToken(SECRET, 's', 1, { signedAt: SIGNED_AT, maxAge: 'infinity' }).split('.');
    expect(Buffer.from(payload, 'base64url')).toEqual(encodeTerm(tuple(1, SIGNED_MS, atom('infinity'))));
  });

  it('defaults signedAt to now and maxAge to one day', () => {
    const before = Date.now();
    const token = signToken(SECRET, 's', 1);
    const after = Date.now();
    expect(verifyToken(SECRET, 's', token, { now: after })).toEqual({ ok: true, data: 1 });
    expect(verifyToken(SECRET, 's', token, { now: before + 86_400_000 })).toEqual({ ok: true, data: 1 });
    expect(verifyToken(SECRET, 's', token, { now: after + 86_400_001 })).toEqual({ ok: false, reason: 'expired' });
  });

  it('signs with HS384 / HS512 on request', () => {
    const hs384 = signToken(SECRET, 's', 1, { digest: 'sha384' });
    const hs512 = signToken(SECRET, 's', 1, { digest: 'sha512' });
    expect(hs384.startsWith('SFMzODQ.')).toBe(true);
    expect(hs512.startsWith('SFM1MTI.')).toBe(true);
    expect(verifyToken(SECRET, 's', hs384)).toEqual({ ok: true, data: 1 });
    expect(verifyToken(SECRET, 's', hs512)).toEqual({ ok: true, data: 1 });
  });

  it('refuses invalid options', () => {
    expect(() => signToken(SECRET, 's', 1, { maxAge: Number.NaN })).toThrow(TypeError);
    expect(() => signToken(SECRET, 's', 1, { signedAt: Number.POSITIVE_INFINITY })).toThrow(TypeError);
  });
});

describe('verifyToken', () => {
  describe('with maxAge "infinity" returns the data of each vector', () => {
    for (const { data, salt, token } of VECTORS) {
      it(JSON.stringify(data), () => {
        expect(verifyToken(SECRET, salt, token, { maxAge: 'infinity' })).toEqual({ ok: true, data });
      });
    }
  });

  it('with the default (stored) max age finds the 2023 vectors expired today', () => {
    for (const { salt, token } of VECTORS) {
      expect(verifyToken(SECRET, salt, token)).toEqual({ ok: false, reason: 'expired' });
    }
  });

  it('accepts a token up to and including signed + maxAge, expired one ms later', () => {
    const limit = SIGNED_MS + 86_400_000;
    expect(verifyToken(SECRET, FIRST.salt, FIRST.token, { now: SIGNED_MS })).toEqual({ ok: true, data: 42 });
    expect(verifyToken(SECRET, FIRST.salt, FIRST.token, { now: limit })).toEqual({ ok: true, data: 42 });
    expect(verifyToken(SECRET, FIRST.salt, FIRST.token, { now: limit + 1 })).toEqual({
      ok: false,
      reason: 'expired',
    });
  });

  it("lets verify's maxAge override the stored one", () => {
    const now = SIGNED_MS + 10_000;
    const verify = (maxAge: number) => verifyToken(SECRET, FIRST.salt, FIRST.token, { now, maxAge });
    expect(verify(10)).toEqual({ ok: true, data: 42 });
    expect(verify(9)).toEqual({ ok: false, reason: 'expired' });
    expect(verify(9.9995)).toEqual({ ok: false, reason: 'expired' }); // trunc(maxAge * 1000) ms
    const later = SIGNED_MS + 200_000_000; // past the stored day
    expect(verifyToken(SECRET, FIRST.salt, FIRST.token, { now: later, maxAge: 300_000 })).toEqual({
      ok: true,
      data: 42,
    });
  });

  it('treats maxAge <= 0 as expired, even for a fresh token', () => {
    for (const maxAge of [0, -1]) {
      expect(verifyToken(SECRET, FIRST.salt, FIRST.token, { now: SIGNED_MS, maxAge })).toEqual({
        ok: false,
        reason: 'expired',
      });
    }
  });

  it('honours a stored :infinity', () => {
    const token = signToken(SECRET, 's', 'x', { signedAt: SIGNED_AT, maxAge: 'infinity' });
    expect(verifyToken(SECRET, 's', token, { now: SIGNED_MS + 10 ** 12 })).toEqual({ ok: true, data: 'x' });
    expect(verifyToken(SECRET, 's', token, { now: SIGNED_MS + 2000, maxAge: 1 })).toEqual({
      ok: false,
      reason: 'expired',
    });
  });

  it('calls a token signed in the future invalid (clock skew between nodes)', () => {
    const options = { now: SIGNED_MS - 1, maxAge: 'infinity' } as const;
    expect(verifyToken(SECRET, FIRST.salt, FIRST.token, options)).toEqual({ ok: false, reason: 'invalid' });
  });

  it('calls a token of another salt invalid', () => {
    expect(verifyToken(SECRET, 'user auth', FIRST.token, { maxAge: 'infinity' })).toEqual({
      ok: false,
      reason: 'invalid',
    });
  });

  it('calls a token of another secret invalid', () => {
    expect(verifyToken('b'.repeat(64), FIRST.salt, FIRST.token, { maxAge: 'infinity' })).toEqual({
      ok: false,
      reason: 'invalid',
    });
  });

  it('calls a token with any single character altered invalid', () => {
    const token = FIRST.token;
    for (let i = 0; i < token.length; i++) {
      const replacement = token[i] === 'A' ? 'B' : 'A';
      const altered = token.slice(0, i) + replacement + token.slice(i + 1);
      expect(verifyToken(SECRET, FIRST.salt, altered, { maxAge: 'infinity' }), `position ${i}`).toEqual({
        ok: false,
        reason: 'invalid',
      });
    }
  });

  it('calls a null or undefined token missing', () => {
    expect(verifyToken(SECRET, 's', null)).toEqual({ ok: false, reason: 'missing' });
    expect(verifyToken(SECRET, 's', undefined)).toEqual({ ok: false, reason: 'missing' });
  });

  it('calls malformed input invalid, never throwing', () => {
    const [header, payload, signature] = FIRST.token.split('.');
    const malformed: unknown[] = [
      '',
      '...',
      'not a token',
      42,
      { token: FIRST.token },
      `${header}.${payload}`,
      `${FIRST.token}.extra`,
      `${header}.${payload}=.${signature}`,
      `${header}.${payload}.${signature}=`,
      `${header}.${payload}.${signature}AA`,
      `SFMyNTY.${payload}.${signature?.slice(0, -1)}`,
      `SFMzODQ.${payload}.${signature}`, // HS384 header, HS256 signature
      `HS256.${payload}.${signature}`,
      ` ${FIRST.token}`,
    ];
    for (const token of malformed) {
      expect(verifyToken(SECRET, FIRST.salt, token, { maxAge: 'infinity' }), String(token)).toEqual({
        ok: false,
        reason: 'invalid',
      });
    }
  });

  it('calls an authentic but undecodable or oddly shaped payload invalid', () => {
    const payloads = [
      Buffer.from('not a term'),
      Buffer.from([131, 88, 0]), // a pid
      Buffer.from([131, 80, 0, 0, 0, 1, 0]), // compressed
      encodeTerm(42), // not a tuple
      encodeTerm(tuple(1, 2, 3, 4)),
      encodeTerm(tuple(1, 'yesterday', 60)),
      encodeTerm(tuple(1, 1.5, 60)),
      encodeTerm(tuple(1, SIGNED_MS, 'a day')),
      encodeTerm({ data: 1 }),
    ];
    for (const payload of payloads) {
      expect(verifyToken(SECRET, 'user socket', forge(payload), { now: SIGNED_MS })).toEqual({
        ok: false,
        reason: 'invalid',
      });
    }
  });

  it('accepts tokens signed with HS384 and HS512 by Plug.Crypto', () => {
    const payload = encodeTerm(tuple('x', SIGNED_MS, 60));
    for (const [header, digest] of [
      ['SFMzODQ', 'sha384'],
      ['SFM1MTI', 'sha512'],
    ] as const) {
      expect(verifyToken(SECRET, 'user socket', forge(payload, 'user socket', header, digest), { now: SIGNED_MS })).toEqual({ ok: true, data: 'x' });
    }
  });

  it('needs the same key options that signed the token', () => {
    const opts = { keyIterations: 2000, keyLength: 64, keyDigest: 'sha512' } as const;
    const token = signToken(SECRET, 's', 1, opts);
    expect(verifyToken(SECRET, 's', token, opts)).toEqual({ ok: true, data: 1 });
    expect(verifyToken(SECRET, 's', token)).toEqual({ ok: false, reason: 'invalid' });
  });

  it('refuses invalid options by throwing, since they are not client input', () => {
    expect(() => verifyToken(SECRET, 's', FIRST.token, { maxAge: Number.NaN })).toThrow(TypeError);
  });
});

describe('legacy payloads (§8.2)', () => {
  it('accepts the Plug.Crypto 1.1 form {data, signed_ms}, with a max age of one day', () => {
    const token = forge(encodeTerm(tuple('legacy', SIGNED_MS)));
    expect(verifyToken(SECRET, 'user socket', token, { now: SIGNED_MS + 86_400_000 })).toEqual({
      ok: true,
      data: 'legacy',
    });
    expect(verifyToken(SECRET, 'user socket', token, { now: SIGNED_MS + 86_400_001 })).toEqual({
      ok: false,
      reason: 'expired',
    });
  });

  it('accepts the original Phoenix form %{data: ..., signed: ...} (atom keys)', () => {
    const atomKey = (name: string) => Buffer.concat([Buffer.from([119, name.length]), Buffer.from(name)]);
    const payload = Buffer.concat([
      Buffer.from([131, 116, 0, 0, 0, 2]), // MAP_EXT, arity 2
      atomKey('data'),
      encodeTerm({ id: 7 }).subarray(1), // a term without its version byte
      atomKey('signed'),
      encodeTerm(SIGNED_MS).subarray(1),
    ]);
    const token = forge(payload);
    expect(verifyToken(SECRET, 'user socket', token, { now: SIGNED_MS })).toEqual({ ok: true, data: { id: 7 } });
    expect(verifyToken(SECRET, 'user socket', token, { now: SIGNED_MS + 86_400_001 })).toEqual({
      ok: false,
      reason: 'expired',
    });
  });

  it('applies the future check to legacy forms too', () => {
    const token = forge(encodeTerm(tuple('legacy', SIGNED_MS)));
    expect(verifyToken(SECRET, 'user socket', token, { now: SIGNED_MS - 1 })).toEqual({
      ok: false,
      reason: 'invalid',
    });
  });
});

describe('TokenSigner', () => {
  it('signs and verifies with the secret it was built with', () => {
    const signer = new TokenSigner(SECRET);
    expect(signer.sign(FIRST.salt, 42, AT_SIGNING)).toBe(FIRST.token);
    expect(signer.verify(FIRST.salt, FIRST.token, { maxAge: 'infinity' })).toEqual({ ok: true, data: 42 });
    expect(signer.verify(FIRST.salt, undefined)).toEqual({ ok: false, reason: 'missing' });
  });

  it('round-trips structured data', () => {
    const signer = new TokenSigner(SECRET);
    const data = { user: { id: 7n ** 30n, name: 'Zoë' }, scopes: ['read', 'write'], bytes: [1, 2], at: 1.5 };
    expect(signer.verify('s', signer.sign('s', data))).toEqual({ ok: true, data });
  });

  it('refuses an empty secret', () => {
    expect(() => new TokenSigner('')).toThrow(TypeError);
  });

  it('does not show its secret when inspected or serialized', () => {
    const signer = new TokenSigner(SECRET);
    expect(inspect(signer, { showHidden: true })).not.toContain(SECRET);
    expect(JSON.stringify(signer)).not.toContain(SECRET);
  });
});
