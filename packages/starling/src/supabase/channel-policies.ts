/**
 * @module supabase/channel-policies
 * Internal: who may read and write a private channel, decided by the row-level-security policies
 * on `realtime.messages`, as Supabase Realtime decides it. Supabase's users already wrote those
 * policies (its Realtime Authorization guide), in SQL, with `realtime.topic()`, the `extension`
 * column (`broadcast` or `presence`) and `auth.uid()`/`auth.jwt()`; they work here as they are.
 *
 * One check is one transaction, rolled back: the server's own role (the table's owner, which
 * row-level security does not bind) adds a probe row per extension for the topic, then the
 * transaction becomes the subscriber (`SET LOCAL ROLE <claims.role>`, `request.jwt.claims`,
 * `realtime.topic`, see {@link actAs}) and
 *
 * - **read**: selects the probe rows: those it sees are the extensions it may read;
 * - **write**: inserts a row per extension, each behind a savepoint: permission denied (42501,
 *   what a failed `WITH CHECK` raises) means it may not write that extension.
 *
 * Nothing is committed, so no probe reaches the replication stream. Identical questions asked
 * while one is being answered share its answer (a room that many sockets join at once costs one
 * transaction); answers are not kept beyond that: each channel keeps its own, per token.
 * A policy that raises, a timeout or an unknown role rejects, for that question only.
 */
import type { JwtClaims } from './auth.ts';
import { actAs, type QueryClient, type QueryPool } from './row-security.ts';

/** What a private channel carries: its two kinds of messages, as the `extension` column names them. */
export type Extension = 'broadcast' | 'presence';

/** Answers per extension: true when allowed. */
export type Permissions = Readonly<Partial<Record<Extension, boolean>>>;

/** Permission denied: a `WITH CHECK` that fails, or a role without INSERT. */
const INSUFFICIENT_PRIVILEGE = '42501';

/** Row-level-security checks of private channels on a pool of sessions. */
export class ChannelPolicies {
  readonly #pool: () => QueryPool;
  readonly #timeoutMs: number;
  readonly #pending = new Map<string, Promise<Permissions>>();

  constructor(pool: () => QueryPool, timeoutMs: number) {
    this.#pool = pool;
    this.#timeoutMs = timeoutMs;
  }

  /**
   * May `claims` `access` the private channel `topic` (the name without `realtime:`), per extension?
   * @throws (rejects) the database's error when a policy raises, the check times out, the role does not exist or the database is unreachable
   */
  check(topic: string, claims: JwtClaims, access: 'read' | 'write', extensions: readonly Extension[]): Promise<Permissions> {
    const key = JSON.stringify([topic, access, extensions, claims]);
    let answer = this.#pending.get(key);
    if (answer === undefined) {
      answer = this.#checkOnce(topic, claims, access, extensions).finally(() => this.#pending.delete(key));
      this.#pending.set(key, answer);
    }
    return answer;
  }

  async #checkOnce(topic: string, claims: JwtClaims, access: 'read' | 'write', extensions: readonly Extension[]): Promise<Permissions> {
    const client = await this.#pool().connect();
    let broken: unknown = undefined;
    try {
      await client.query('BEGIN');
      const permissions: Partial<Record<Extension, boolean>> = {};
      if (access === 'read') {
        const { rows: probes } = await client.query<{ id: string; extension: Extension }>(
          'INSERT INTO realtime.messages (topic, extension, private) SELECT $1, unnest($2::text[]), true RETURNING id::text, extension',
          [topic, extensions],
        );
        await actAs(client, claims, this.#timeoutMs, topic);
        const { rows: seen } = await selectOrNothing(
          client,
          probes.map((probe) => probe.id),
        );
        const visible = new Set(seen.map((row) => row.id));
        for (const probe of probes) permissions[probe.extension] = visible.has(probe.id);
      } else {
        await actAs(client, claims, this.#timeoutMs, topic);
        for (const extension of extensions) {
          await client.query('SAVEPOINT probe');
          try {
            await client.query('INSERT INTO realtime.messages (topic, extension, private) VALUES ($1, $2, true)', [topic, extension]);
            permissions[extension] = true;
          } catch (err) {
            if ((err as { code?: unknown }).code !== INSUFFICIENT_PRIVILEGE) throw err;
            permissions[extension] = false;
          }
          await client.query('ROLLBACK TO SAVEPOINT probe');
        }
      }
      return permissions;
    } catch (err) {
      broken = err;
      throw err;
    } finally {
      await client.query('ROLLBACK').catch((err: unknown) => (broken ??= err));
      // A session whose state is in doubt is not handed to the next check.
      client.release(broken !== undefined && (broken as { code?: unknown }).code === undefined ? (broken as Error) : undefined);
    }
  }
}

/** The probe rows the role may select; none when it may not select the table at all. */
async function selectOrNothing(client: QueryClient, ids: readonly string[]): Promise<{ rows: { id: string }[] }> {
  await client.query('SAVEPOINT reading');
  try {
    return await client.query<{ id: string }>('SELECT id::text FROM realtime.messages WHERE id = ANY($1::bigint[])', [ids]);
  } catch (err) {
    if ((err as { code?: unknown }).code !== INSUFFICIENT_PRIVILEGE) throw err;
    await client.query('ROLLBACK TO SAVEPOINT reading');
    return { rows: [] };
  }
}
