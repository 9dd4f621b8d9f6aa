/**
 * Typed tokens: `sign<T>` takes any interface of token data (no index signature needed) and
 * refuses, at compile time, what a token cannot carry; `verify<T>` with a Standard Schema checks
 * what the token holds, and a token whose data the schema refuses is `invalid`.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { TokenSigner, type VerifyResult } from '../../../src/index.ts';

const SECRET = 'x'.repeat(64);

interface Ticket {
  readonly room: string;
  readonly userId: number;
  readonly roles: readonly string[];
  readonly note?: string;
}

const ticketSchema = z.object({ room: z.string(), userId: z.number().int(), roles: z.array(z.string()) });

describe('typed tokens', () => {
  const tokens = new TokenSigner(SECRET);

  it('signs data typed by an interface, and verify with a schema returns it checked and typed', () => {
    const ticket: Ticket = { room: 'rooms:1', userId: 7, roles: ['owner'] };
    const token = tokens.sign('ticket', ticket);
    const result = tokens.verify('ticket', token, { schema: ticketSchema, maxAge: 60 });
    expectTypeOf(result).toEqualTypeOf<VerifyResult<{ room: string; userId: number; roles: string[] }>>();
    expect(result).toEqual({ ok: true, data: { room: 'rooms:1', userId: 7, roles: ['owner'] } });
  });

  it('answers invalid when the data does not pass the schema (a token of another shape, same salt)', () => {
    const token = tokens.sign('ticket', { room: 'rooms:1', userId: 'seven' });
    expect(tokens.verify('ticket', token, { schema: ticketSchema })).toEqual({ ok: false, reason: 'invalid' });
  });

  it('keeps refusals from the signature or the age before the schema is asked', () => {
    const token = tokens.sign('ticket', { room: 'rooms:1', userId: 7, roles: [] }, { signedAt: Date.now() / 1000 - 120 });
    expect(tokens.verify('ticket', token, { schema: ticketSchema, maxAge: 60 })).toEqual({ ok: false, reason: 'expired' });
    expect(tokens.verify('other', token, { schema: ticketSchema })).toEqual({ ok: false, reason: 'invalid' });
  });

  it('refuses an asynchronous schema with a TypeError (verify is synchronous)', () => {
    const token = tokens.sign('ticket', { room: 'rooms:1', userId: 7, roles: [] });
    const asyncSchema = z.object({ room: z.string() }).refine(async () => true);
    expect(() => tokens.verify('ticket', token, { schema: asyncSchema })).toThrow(/synchronously/);
  });

  it('types data as asked without a schema (an unchecked promise, like JSON.parse)', () => {
    const result = tokens.verify<{ id: string }>('user', tokens.sign('user', { id: 'u1' }));
    expectTypeOf(result).toEqualTypeOf<VerifyResult<{ id: string }>>();
    expect(result.ok && result.data.id).toBe('u1');
  });

  it('refuses at compile time data a token cannot carry', () => {
    // @ts-expect-error a function is not token data
    expect(() => tokens.sign('x', { run: () => 1 })).toThrow();
    // @ts-expect-error undefined is not token data (Elixir has no undefined)
    expect(() => tokens.sign('x', { id: undefined })).toThrow();
  });
});
