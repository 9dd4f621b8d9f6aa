/**
 * Row changes on history topics, for the official `phoenix` client: an app maps each change of a
 * `starling-channels/postgres` source onto its table's channel (`tables:<schema>.<table>`), a
 * history topic, so every change carries a stream position; a `recoverableChannel` cut off
 * behind a TCP proxy while rows are inserted gets exactly the changes it missed when it comes
 * back, in commit order, then `phx_stream {recovered: true}` — the guarantee Supabase's own
 * server does not give (supabase/realtime#1010).
 */
import type { Server } from 'node:http';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '@starling/test-support/eventually';
import { startLogicalPostgres, type LogicalPostgres } from '@starling/test-support/logical-postgres';
import { ClientPool, phoenix18Client } from '@starling/test-support/official-client';
import { TcpProxy } from '@starling/test-support/tcp-proxy';
import { recoverableChannel, type StreamNotice } from '../../src/client/index.ts';
import { Endpoint, PubSub, Socket, accept, ok, silentLogger } from '../../src/index.ts';
import { PostgresChangeSource, ROW_CHANGE_EVENT, broadcastChanges, type RowChange } from '../../src/postgres/index.ts';

let database: LogicalPostgres;
let sql: pg.Client;
let endpoint: Endpoint;
let server: Server;
let source: PostgresChangeSource;

beforeAll(async () => {
  database = await startLogicalPostgres();
  sql = new pg.Client(database.url);
  await sql.connect();
  await sql.query('CREATE TABLE items (id int PRIMARY KEY, name text); CREATE PUBLICATION app_changes FOR TABLE items;');
  endpoint = new Endpoint({ logger: silentLogger, pubsub: new PubSub({ history: { topics: ['tables:*'] } }) });
  // The app's own channel: anyone may read tables (a real app authorizes here).
  endpoint.socket('/socket', new Socket({ connect: () => accept({}) }).channel('tables:*', { join: () => ok() }));
  server = await endpoint.listen({ port: 0 });
  source = new PostgresChangeSource({
    connectionString: database.url,
    publication: 'app_changes',
    slot: 'app_changes',
    handle: broadcastChanges(endpoint.pubsub, (change) => `tables:${change.schema}.${change.table}`),
  });
  await source.start();
}, 30_000);

afterAll(async () => {
  try {
    await source?.close();
    await endpoint?.close({ intervalMs: 0 });
    await sql?.end();
  } finally {
    await database?.stop(); // whatever failed above, the private cluster goes
  }
});

describe('row changes on history topics with the official phoenix client', () => {
  it('a recoverableChannel cut off while rows are inserted gets every missed change, once, in commit order', async () => {
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const proxy = await TcpProxy.start(port);
    const pool = new ClientPool(phoenix18Client);
    try {
      const socket = pool.socket(`ws://127.0.0.1:${proxy.port}/socket`);
      const seen: number[] = [];
      const notices: StreamNotice[] = [];
      const table = recoverableChannel(socket, 'tables:public.items', { onStream: (notice) => notices.push(notice) });
      table.channel.on(ROW_CHANGE_EVENT, (change: RowChange) => seen.push(change.record?.id as number));
      table.channel.join();
      await eventually(() => expect(notices).toHaveLength(1), 5000);

      await sql.query(`INSERT INTO items VALUES (1, 'before')`);
      await eventually(() => expect(seen).toEqual([1]), 5000);
      proxy.cut();
      for (let id = 2; id <= 51; id++) await sql.query('INSERT INTO items VALUES ($1, $2)', [id, 'while away']);
      // Every change is on the topic's stream before the line comes back.
      await eventually(async () => expect((await endpoint.pubsub.readStream('tables:public.items', null)).position.offset).toBe(51), 5000);
      proxy.restore();
      await eventually(() => expect(notices.at(-1)?.recovered).toBe(true), 10_000);
      await sql.query(`INSERT INTO items VALUES (52, 'after')`);
      await eventually(() => expect(seen).toHaveLength(52), 5000);
      expect(seen).toEqual(Array.from({ length: 52 }, (_, i) => i + 1));
    } finally {
      await pool.close();
      await proxy.close();
    }
  }, 30_000);
});
