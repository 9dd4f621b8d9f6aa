/**
 * Runs the ChatStore conformance suite on PostgresChatStore against the machine's real
 * PostgreSQL (`TEST_DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/test`) in a fresh,
 * uniquely named schema per run, emptied after each test and dropped at the end; plus what only PostgreSQL has: nodes creating
 * the schema at once, quoting of the schema name, and recovery from lost connections and outages.
 *
 * PostgreSQL is required: if it is down the file tries to start the local cluster, and otherwise
 * fails with a message saying so. It never skips.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PostgresChatStore, StoreError, StoreErrorCodes, type ChatStore, type PostgresChatStoreOptions, type StoredMessage } from '../../src/store/index.ts';
import { eventually } from '@starling/test-support/eventually';
import { ensurePostgres, TEST_DATABASE_URL } from '@starling/test-support/postgres';
import { TcpProxy } from '@starling/test-support/tcp-proxy';
import { POSTGRES_MIGRATIONS } from '../../src/store/postgres/postgres-chat-store.ts';
import { chatStoreSuite } from './chat-store.suite.ts';

const DATABASE_URL = TEST_DATABASE_URL;

/** A superuser-ish connection for what the tests do behind the store's back. */
let admin: pg.Client;

beforeAll(async () => {
  await ensurePostgres();
  admin = new pg.Client({ connectionString: DATABASE_URL });
  admin.on('error', () => undefined);
  await admin.connect();
});

let schemaCount = 0;

/** A schema name no other test or concurrent run uses. */
function uniqueSchema(prefix = 'starling_test'): string {
  return `${prefix}_${process.pid}_${++schemaCount}_${randomBytes(3).toString('hex')}`;
}

/** Stores and schemas made by the current test, closed and dropped after it. */
let stores: ChatStore[] = [];
let schemas = new Set<string>();

/** Connects a store to `schema` (the current test's by default) with a test-unique application name. */
async function connect(schema: string, options: Partial<PostgresChatStoreOptions> = {}): Promise<PostgresChatStore> {
  schemas.add(schema);
  const store = await PostgresChatStore.connect({
    connectionString: DATABASE_URL,
    schema,
    applicationName: `starling-test-${schema}`.slice(0, 63),
    ...options,
  });
  stores.push(store);
  return store;
}

async function cleanup(): Promise<void> {
  await Promise.all(stores.map((store) => store.close()));
  for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`);
  stores = [];
  schemas = new Set();
}

// The suite shares one schema per run, emptied after each test: creating a schema costs a burst
// of DDL and fsyncs that would dominate the run, while an emptied one is as good as new.
const suiteSchema = uniqueSchema();

chatStoreSuite('PostgreSQL', {
  open: () => connect(suiteSchema),
  async cleanup() {
    schemas.delete(suiteSchema);
    await cleanup();
    const s = pg.escapeIdentifier(suiteSchema);
    const exists = await admin.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [suiteSchema]);
    if (exists.rowCount !== 0)
      await admin.query(
        `DELETE FROM ${s}.read_positions; DELETE FROM ${s}.invites; DELETE FROM ${s}.session_revocations; DELETE FROM ${s}.profiles; DELETE FROM ${s}.room_members; DELETE FROM ${s}.rooms; DELETE FROM ${s}.messages`,
      );
  },
});

afterAll(async () => {
  await admin?.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(suiteSchema)} CASCADE`);
  await admin?.end();
});

async function expectUnavailable(promise: Promise<unknown>): Promise<void> {
  const error = await promise.then(
    () => new Error('expected ERR_STORE_UNAVAILABLE, but it resolved'),
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(StoreError);
  expect(error).toMatchObject({ code: StoreErrorCodes.unavailable });
}

async function tablesIn(schema: string): Promise<string[]> {
  const { rows } = await admin.query<{ tablename: string }>('SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY tablename', [schema]);
  return rows.map((row) => row.tablename);
}

/** `target` with host and port replaced by the proxy's. */
function through(proxy: TcpProxy, target: URL): string {
  const url = new URL(target);
  url.hostname = '127.0.0.1';
  url.port = String(proxy.port);
  return url.toString();
}

describe('PostgresChatStore migrations', () => {
  afterEach(cleanup);

  it('upgrades a schema made before migrations existed, keeping its data, and records each version once', async () => {
    const schema = uniqueSchema();
    schemas.add(schema);
    const quoted = `"${schema}"`;
    // What the chat of the previous release left: its tables (migration 1's SQL) and no migrations table.
    await admin.query(`CREATE SCHEMA ${quoted}`);
    await admin.query(POSTGRES_MIGRATIONS[0]!.sql(quoted));
    await admin.query(`INSERT INTO ${quoted}.messages (room, author, body) VALUES ('lobby', 'alice', 'from before')`);

    const store = await connect(schema);
    expect((await store.messages.history('lobby')).map((message) => message.body)).toEqual(['from before']);
    await connect(schema); // again: nothing more to apply
    const { rows } = await admin.query(`SELECT version, name FROM ${quoted}.schema_migrations`);
    expect(rows).toEqual(POSTGRES_MIGRATIONS.map(({ version, name }) => ({ version, name })));
  });

  it('refuses a schema newer than this chat knows', async () => {
    const schema = uniqueSchema();
    await connect(schema);
    await admin.query(`INSERT INTO "${schema}".schema_migrations (version, name) VALUES (99, 'from the future')`);
    await expect(connect(schema)).rejects.toThrow(`schema is at version 99, newer than this chat's (${POSTGRES_MIGRATIONS.at(-1)!.version})`);
  });
});

describe('PostgresChatStore', () => {
  afterEach(cleanup);

  it('creates the schema and tables once when several nodes connect at the same moment', async () => {
    const schema = uniqueSchema();
    const nodes = await Promise.all(Array.from({ length: 5 }, () => connect(schema)));
    expect(await tablesIn(schema)).toEqual([
      'invites',
      'messages',
      'profiles',
      'read_positions',
      'room_members',
      'rooms',
      'schema_migrations',
      'session_revocations',
    ]);
    const stored = await nodes[0]!.messages.append('lobby', 'alice', 'from node 0');
    expect(await nodes[4]!.messages.history('lobby')).toEqual([stored]);
  });

  it('connects to an existing schema again without touching its data', async () => {
    const schema = uniqueSchema();
    const stored = await (await connect(schema)).messages.append('lobby', 'alice', 'kept');
    const again = await connect(schema);
    expect(await again.messages.history('lobby')).toEqual([stored]);
  });

  it('migrates a schema at version 1 to version 2: the columns of edits, deletes and mentions, and read positions, keeping its messages', async () => {
    const schema = uniqueSchema();
    const s = pg.escapeIdentifier(schema);
    const first = await connect(schema);
    await first.close();
    // Back to version 1: the messages table as it made it, no read positions.
    await admin.query(`DROP TABLE ${s}.messages; DROP TABLE ${s}.read_positions; DELETE FROM ${s}.schema_migrations WHERE version >= 2`);
    await admin.query(
      `CREATE TABLE ${s}.messages (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, room TEXT NOT NULL, author TEXT NOT NULL, body TEXT NOT NULL, inserted_at TIMESTAMPTZ NOT NULL DEFAULT now())`,
    );
    await admin.query(`INSERT INTO ${s}.messages (room, author, body) VALUES ('lobby', 'alice#abcdef', 'from before')`);

    const store = await connect(schema);
    const [kept] = await store.messages.history('lobby');
    expect(kept).toMatchObject({ author: 'alice#abcdef', body: 'from before', authorId: null, editedAt: null, deleted: false, mentions: [] });
    const mine = await store.messages.append('lobby', 'bob#abcdef', 'new', { authorId: 'bob' });
    expect(await store.messages.edit('lobby', mine.id, 'bob', 'edited')).toMatchObject({ body: 'edited' });
    expect(await store.reads.unread('carol', ['lobby'])).toEqual([{ room: 'lobby', lastRead: 0, count: 2, mentions: 0 }]);
  });

  it('quotes the schema name, whatever characters it holds', async () => {
    const schema = uniqueSchema('Odd "schema"; DROP SCHEMA public --');
    const store = await connect(schema);
    const stored = await store.messages.append('lobby', 'alice', 'hi');
    expect(await store.messages.history('lobby')).toEqual([stored]);
    expect(await tablesIn(schema)).toEqual([
      'invites',
      'messages',
      'profiles',
      'read_positions',
      'room_members',
      'rooms',
      'schema_migrations',
      'session_revocations',
    ]);
  });

  it('recovers by itself when its connections are terminated, without crashing the process', async () => {
    const schema = uniqueSchema();
    const reported: StoreError[] = [];
    const store = await connect(schema, { onError: (error) => reported.push(error) });
    await Promise.all(Array.from({ length: 3 }, () => store.messages.history('lobby'))); // several idle connections
    const before = await store.messages.append('lobby', 'alice', 'before');

    const { rowCount: terminated } = await admin.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
       WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = $1`,
      [`starling-test-${schema}`],
    );
    expect(terminated).toBeGreaterThan(0);

    // The next call may pick a connection whose termination has not been read yet: it either
    // succeeds on a fresh connection or rejects as unavailable — it never hangs or throws raw.
    const next: unknown = await store.messages.append('lobby', 'alice', 'right after').then(
      (message) => message,
      (err: unknown) => err,
    );
    if (next instanceof Error) expect(next).toMatchObject({ name: 'StoreError', code: StoreErrorCodes.unavailable });
    else expect(next).toMatchObject({ body: 'right after' });

    // Every other terminated connection was idle: the pool reports it instead of letting an
    // 'error' event escape as an uncaught exception.
    const failedCalls = next instanceof Error ? 1 : 0;
    await eventually(() => expect(reported.length + failedCalls).toBe(terminated));
    for (const error of reported) expect(error).toMatchObject({ code: StoreErrorCodes.unavailable });

    const after = await store.messages.append('lobby', 'alice', 'after');
    expect(after.id).toBeGreaterThan(before.id);
    const bodies = (await store.messages.history('lobby')).map((m: StoredMessage) => m.body);
    expect(bodies).toEqual(next instanceof Error ? ['before', 'after'] : ['before', 'right after', 'after']);
  });

  it('rejects with ERR_STORE_UNAVAILABLE during an outage and serves again once PostgreSQL is back', async () => {
    const target = new URL(DATABASE_URL);
    const proxy = await TcpProxy.start(Number(target.port || 5432));
    try {
      const reported: StoreError[] = [];
      const store = await connect(uniqueSchema(), {
        connectionString: through(proxy, target),
        connectionTimeoutMillis: 1000,
        onError: (error) => reported.push(error),
      });
      const room = await store.rooms.createRoom('alice', 'Book club');
      const before = await store.messages.append(room.id, 'alice', 'before the outage');

      proxy.cut();
      await expectUnavailable(store.messages.append(room.id, 'alice', 'during the outage'));
      await expectUnavailable(store.messages.history(room.id));
      await expectUnavailable(store.rooms.isMember(room.id, 'alice'));

      proxy.restore();
      const after = await store.messages.append(room.id, 'alice', 'after the outage');
      const history = await store.messages.history(room.id);
      expect(history[0]).toEqual(before);
      expect(history.at(-1)).toEqual(after);
      expect(await store.rooms.isMember(room.id, 'alice')).toBe(true);
      for (const error of reported) expect(error).toMatchObject({ code: StoreErrorCodes.unavailable });
    } finally {
      await proxy.close();
    }
  });

  it('fails to connect with ERR_STORE_UNAVAILABLE when PostgreSQL cannot be reached', async () => {
    const target = new URL(DATABASE_URL);
    const proxy = await TcpProxy.start(Number(target.port || 5432));
    try {
      proxy.cut();
      await expectUnavailable(connect(uniqueSchema(), { connectionString: through(proxy, target), connectionTimeoutMillis: 1000 }));
    } finally {
      await proxy.close();
    }
  });
});
