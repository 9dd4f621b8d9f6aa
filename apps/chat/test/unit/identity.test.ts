/**
 * User tokens with an absolute session lifetime: renewal gives a fresh token of the same session,
 * never one that outlives the session's start plus `sessionMaxAge`. A clock is injected: no test
 * waits for real time. A display name is the chosen name and the user's mark; a name cannot
 * contain a format character (a bidi override would make a fake mark out of its end).
 */
import { describe, expect, it } from 'vitest';
import { Endpoint } from 'starling-channels';
import { Identity, displayName, markOf } from '../../src/identity.ts';
import { displayNameText } from '../../src/text.ts';

const DAY = 24 * 3600;
const ages = { userTokenMaxAge: 30 * DAY, inviteMaxAge: 7 * DAY, sessionMaxAge: 90 * DAY };
const noRevocations = { sessionsRevokedBefore: () => Promise.resolve(0) };

function identityAt(clock: { now: number }): Identity {
  return new Identity(new Endpoint().tokens, ages, noRevocations, () => clock.now);
}

describe('a session', () => {
  it('is renewed within its lifetime, each renewal keeping its start', () => {
    const clock = { now: Date.UTC(2026, 0, 1) };
    const identity = identityAt(clock);
    const { userId, token } = identity.newUser();

    clock.now += 29 * DAY * 1000;
    const session = identity.sessionOf(token);
    expect(session).toEqual({ userId, since: Date.UTC(2026, 0, 1) });
    const renewed = identity.renew(session!);
    expect(identity.sessionOf(renewed)).toEqual(session);
  });

  it('cannot be renewed past its absolute lifetime, however often it was renewed before', () => {
    const clock = { now: Date.UTC(2026, 0, 1) };
    const identity = identityAt(clock);
    let token = identity.newUser().token;
    // Renewed every 20 days: each token is young, the session is not.
    for (let day = 20; day < 90; day += 20) {
      clock.now = Date.UTC(2026, 0, 1) + day * DAY * 1000;
      token = identity.renew(identity.sessionOf(token)!)!;
      expect(token).toEqual(expect.any(String));
    }

    clock.now = Date.UTC(2026, 0, 1) + 90 * DAY * 1000;
    expect(identity.sessionOf(token)).toBeNull();
    expect(identity.renew({ userId: 'u', since: Date.UTC(2026, 0, 1) })).toBeNull();
  });

  it('signs a renewed token for no longer than the session has left', () => {
    const clock = { now: Date.UTC(2026, 0, 1) };
    const identity = identityAt(clock);
    let token = identity.newUser().token;
    for (const day of [20, 40, 60, 80, 89]) {
      clock.now = Date.UTC(2026, 0, 1) + day * DAY * 1000;
      token = identity.renew(identity.sessionOf(token)!)!;
    }
    const last = token;
    // A fresh token would live 30 days; this one lives the one day the session has left.
    expect(identity.sessionOf(last)).not.toBeNull();

    clock.now += DAY * 1000 + 1000;
    expect(identity.sessionOf(last)).toBeNull();
  });

  it('is refused by verify once the user revoked sessions started before it', async () => {
    const clock = { now: Date.UTC(2026, 0, 1) };
    const revokedAt = Date.UTC(2026, 0, 2);
    const identity = new Identity(new Endpoint().tokens, ages, { sessionsRevokedBefore: () => Promise.resolve(revokedAt) }, () => clock.now);
    const old = identity.newUser();
    clock.now = revokedAt;
    const fresh = identity.newSession(old.userId);

    expect(await identity.verify(old.token)).toBeNull();
    expect(await identity.verify(fresh.token)).toEqual({ userId: old.userId, since: revokedAt });
  });
});

describe('a display name', () => {
  it('is the chosen name and a stable six-character mark of the user id', () => {
    expect(markOf('user-1')).toMatch(/^[\w-]{6}$/);
    expect(markOf('user-1')).toBe(markOf('user-1'));
    expect(markOf('user-1')).not.toBe(markOf('user-2'));
    expect(displayName('alice', 'user-1')).toBe(`alice#${markOf('user-1')}`);
  });

  it('shows a name saved before format characters were refused as "anonymous", never shifting the mark', () => {
    expect(displayName('alice#Xk3f9a\u202e', 'user-1')).toBe(`anonymous#${markOf('user-1')}`);
  });
});

describe('the display name rule', () => {
  it.each([
    ['a right-to-left override (a fake mark before the real one)', 'alice#Xk3f9a\u202e'],
    ['a right-to-left isolate', 'alice\u2067#Xk3f9a'],
    ['a left-to-right mark', 'alice\u200e'],
    ['a zero-width space', 'al\u200bice'],
    ['a zero-width joiner', 'al\u200dice'],
    ['a zero-width no-break space (BOM)', 'al\ufeffice'],
    ['a soft hyphen', 'al\u00adice'],
    ['a format character beyond U+FFFF (a tag)', 'alice\u{e0041}'],
    ['a control character', 'al\u0007ice'],
  ])('refuses a name with %s', (_, name) => {
    expect(displayNameText(name, 32)).toBeNull();
  });

  it('accepts "#" and any other visible text, trimmed: the page shows the mark in an element of its own', () => {
    expect(displayNameText('  alice#Xk3f9a ', 32)).toBe('alice#Xk3f9a');
    expect(displayNameText('Zoë 🐦 مريم', 32)).toBe('Zoë 🐦 مريم');
  });
});
