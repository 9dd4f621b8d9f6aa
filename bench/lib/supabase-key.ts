/**
 * @module bench/supabase-key
 * The supabase peer's API keys: HS256 JWTs signed with the bench's own secret, which the server
 * (`servers/supabase.ts`) verifies. The fan-out runs use one anon key; the postgres-changes
 * scenario signs one key per subscriber (`sub` = its own user, the worst case for row-level
 * security) or one for all. Signed here with `node:crypto`: a load-generator process needs no
 * JWT library.
 *
 * @example
 * const key = signBenchKey({ role: 'authenticated', sub: 'user-7' });
 */
import { createHmac } from 'node:crypto';

/** The HS256 secret of the bench's API keys. Not for production use. */
export const SUPABASE_BENCH_SECRET = 'starling-bench-jwt-secret-not-for-production-use-000';

/** Keys expire in 2100: the server refuses a key without `exp`. */
const EXP_2100 = 4_102_444_800;

function base64url(text: string): string {
  return Buffer.from(text).toString('base64url');
}

/** An HS256 JWT of `claims` (plus `iss` and `exp`) signed with {@link SUPABASE_BENCH_SECRET}. */
export function signBenchKey(claims: Readonly<Record<string, string>>): string {
  const input = `${base64url('{"alg":"HS256"}')}.${base64url(JSON.stringify({ ...claims, iss: 'starling-bench', exp: EXP_2100 }))}`;
  return `${input}.${createHmac('sha256', SUPABASE_BENCH_SECRET).update(input).digest('base64url')}`;
}
