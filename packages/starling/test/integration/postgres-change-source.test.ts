/**
 * starling/postgres against a private PostgreSQL with wal_level=logical: row changes in commit
 * order, the slot confirmed only after `handle`, duplicates dropped by commit LSN, one consumer
 * among several nodes, and the clear error when logical replication is off.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { startLogicalPostgres, type LogicalPostgres } from '@starling/test-support/logical-postgres';
import { ensurePostgres, TEST_DATABASE_URL } from '@starling/test-support/postgres';
import { eventually } from '@starling/test-support/eventually';
import { ChangeCursor, PostgresChangeSource, type RowChange } from '../../src/postgres/index.ts';

let server: LogicalPostgres;
let admin: pg.Client;
let slots = 0;

beforeAll(async () => {
  server = await startLogicalPostgres();
  admin = new pg.Client(server.url);
  await admin.connect();
  await admin.query(`
    CREATE TABLE items (id int PRIMARY KEY, name text, price numeric, tags int4[], data jsonb, at timestamptz, ok bool);
    CREATE TABLE wide (id int PRIMARY KEY, a text, b text);
    ALTER TABLE wide REPLICA IDENTITY FULL;
    CREATE TABLE unpublished (id int PRIMARY KEY);
    CREATE PUBLICATION test_pub FOR TABLE items, wide;
  `);
});

afterAll(async () => {
  try {
    await admin?.end();
  } finally {
    await server?.stop(); // whatever failed above, the private cluster goes
  }
});

function sourceWith(handle: (changes: readonly RowChange[]) => void | Promise<void>, slot = `slot_${++slots}`): PostgresChangeSource {
  return new PostgresChangeSource({ connectionString: server.url, publication: 'test_pub', slot, handle, retryMs: 200 });
}

describe('PostgresChangeSource', () => {
  it('hands each committed transaction on, in commit order, with typed values and old rows', async () => {
    const seen: RowChange[] = [];
    const source = sourceWith((changes) => void seen.push(...changes));
    await source.start();
    try {
      await admin.query(`INSERT INTO items VALUES (1, 'a', 1.5, '{1,2}', '{"k": [1]}', '2026-01-02 03:04:05.123456+00', true)`);
      await admin.query('BEGIN');
      await admin.query(`UPDATE items SET name = 'b' WHERE id = 1`);
      await admin.query(`INSERT INTO unpublished VALUES (1)`);
      await admin.query(`INSERT INTO wide VALUES (7, 'x', 'y')`);
      await admin.query('COMMIT');
      await admin.query(`UPDATE wide SET a = 'z' WHERE id = 7`);
      await admin.query(`DELETE FROM items WHERE id = 1`);
      await eventually(() => expect(seen).toHaveLength(5));
      expect(seen.map((change) => `${change.type} ${change.table}`)).toEqual(['INSERT items', 'UPDATE items', 'INSERT wide', 'UPDATE wide', 'DELETE items']);
      const [insert, update, inTransaction, full, remove] = seen as [RowChange, RowChange, RowChange, RowChange, RowChange];
      expect(insert.record).toEqual({ id: 1, name: 'a', price: 1.5, tags: '{1,2}', data: { k: [1] }, at: '2026-01-02 03:04:05.123456+00', ok: true });
      expect(insert.columns).toContainEqual({ name: 'tags', type: '_int4' });
      expect(insert.columns).toContainEqual({ name: 'at', type: 'timestamptz' });
      expect(insert.oldRecord).toBeNull();
      // The same transaction: one commit LSN and transaction id, places 0 and 1.
      expect([update.commitLsn, update.seq, inTransaction.seq]).toEqual([inTransaction.commitLsn, 0, 1]);
      expect(update.xid).toBe(inTransaction.xid);
      expect(new Set(seen.map((change) => change.xid)).size).toBe(4);
      expect(Number.isSafeInteger(insert.xid)).toBe(true);
      expect(full.oldRecord).toEqual({ id: 7, a: 'x', b: 'y' });
      expect(remove.record).toBeNull();
      expect(remove.oldRecord).toEqual({ id: 1 }); // default replica identity: the key only
      expect(Date.parse(insert.commitTimestamp)).toBeGreaterThan(Date.now() - 60_000);
    } finally {
      await source.close();
    }
  });

  it('confirms the slot only after handle: a transaction not handed on is read again by the next consumer', async () => {
    const slot = 'slot_confirm';
    const first: RowChange[] = [];
    let stall = false;
    const source = sourceWith(async (changes) => {
      first.push(...changes);
      // The process "dies" while handing on the second transaction: it never returns.
      if (stall) await new Promise(() => undefined);
    }, slot);
    await source.start();
    await admin.query(`INSERT INTO wide VALUES (100, 'first', null)`);
    await eventually(() => expect(first).toHaveLength(1));
    stall = true;
    await admin.query(`INSERT INTO wide VALUES (101, 'second', null)`);
    await eventually(() => expect(first).toHaveLength(2));
    await source.close();

    const cursor = new ChangeCursor();
    for (const change of first) cursor.accept(change);
    const second: RowChange[] = [];
    const fresh: RowChange[] = [];
    const next = sourceWith((changes) => {
      second.push(...changes);
      fresh.push(...changes.filter((change) => cursor.accept(change)));
    }, slot);
    await next.start();
    try {
      await admin.query(`INSERT INTO wide VALUES (102, 'third', null)`);
      await eventually(() => expect(second.map((change) => change.record?.a)).toEqual(['second', 'third']));
      // The re-read one is a duplicate for whoever saw it; the cursor drops it by commit LSN.
      expect(fresh.map((change) => change.record?.a)).toEqual(['third']);
    } finally {
      await next.close();
    }
  });

  it('lets exactly one of several sources consume a slot, and another take over when its session ends', async () => {
    const slot = 'slot_shared';
    const got = { a: [] as number[], b: [] as number[] };
    const a = sourceWith((changes) => void got.a.push(...changes.map((change) => change.record?.id as number)), slot);
    const b = sourceWith((changes) => void got.b.push(...changes.map((change) => change.record?.id as number)), slot);
    await a.start();
    await eventually(() => expect(a.consuming).toBe(true));
    await b.start();
    try {
      await admin.query(`INSERT INTO wide VALUES (200, 'one', null)`);
      await eventually(() => expect(got.a).toEqual([200]));
      expect(b.consuming).toBe(false);
      await a.close(); // its session ends, as a crash would end it
      await admin.query(`INSERT INTO wide VALUES (201, 'two', null)`);
      await eventually(() => expect(got.b).toEqual([201]), 10_000);
      expect(got.a).toEqual([200]);
    } finally {
      await b.close();
    }
  });

  it('goes on after its database sessions are terminated: nothing committed meanwhile is lost', async () => {
    const got: number[] = [];
    const source = sourceWith((changes) => void got.push(...changes.map((change) => change.record?.id as number)), 'slot_terminated');
    await source.start();
    try {
      await eventually(() => expect(source.consuming).toBe(true));
      await admin.query(`INSERT INTO wide VALUES (300, 'before', null)`);
      await eventually(() => expect(got).toEqual([300]));
      await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'starling change source'");
      await admin.query(`INSERT INTO wide VALUES (301, 'meanwhile', null)`);
      await eventually(() => expect(got).toEqual([300, 301]), 10_000);
      expect(source.stats.takeovers).toBeGreaterThanOrEqual(2);
    } finally {
      await source.close();
    }
  });

  it('refuses to start, saying why, when wal_level is not logical', async () => {
    await ensurePostgres();
    const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 1 });
    const { rows } = await pool.query<{ wal_level: string }>('SHOW wal_level');
    await pool.end();
    // The machine's shared cluster keeps the default: that is the case under test.
    expect(rows[0]?.wal_level).not.toBe('logical');
    const source = new PostgresChangeSource({ connectionString: TEST_DATABASE_URL, publication: 'test_pub', slot: 'never', handle: () => undefined });
    await expect(source.start()).rejects.toMatchObject({ code: 'ERR_CHANGE_SOURCE', message: expect.stringContaining('wal_level=logical') });
  });

  it('refuses to start, saying why, when the slot exists for another plugin', async () => {
    await admin.query(`SELECT pg_create_logical_replication_slot('slot_other', 'test_decoding')`);
    const source = sourceWith(() => undefined, 'slot_other');
    await expect(source.start()).rejects.toMatchObject({ code: 'ERR_CHANGE_SOURCE', message: expect.stringContaining('not pgoutput') });
  });
});
