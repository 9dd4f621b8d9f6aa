/**
 * @module bench/postgres-changes
 * Postgres Changes under load (issue 19): a private PostgreSQL with wal_level=logical, one
 * in-process `createRealtime` with `postgresChanges`, and S raw WebSocket subscribers (realtime-js's
 * JSON framing, vsn 1.0.0), each with its own user (its own JWT claims: the worst case for
 * row-level security, one pipeline each). Rows are inserted as fast as one session commits them;
 * for each table — with RLS (a policy on the JWT's `sub`) and without (grants only) — it reports
 * deliveries per second, changes per second, the latency from commit to client (p50, p99: the
 * client's receive time minus the change's `commit_timestamp`, one machine's clock), and
 * authorization queries per change. Not part of `npm test`.
 *
 * @example
 * npx tsx bench/postgres-changes.ts                       # 10, 100 and 1000 subscribers, 200 rows each
 * BENCH_SUBSCRIBERS=1000 BENCH_ROWS=500 npx tsx bench/postgres-changes.ts
 */
import type { AddressInfo } from 'node:net';
import { SignJWT } from 'jose';
import pg from 'pg';
import WebSocket from 'ws';
import { Endpoint, silentLogger } from 'starling-channels';
import { createRealtime } from 'starling-channels/supabase';
import { startLogicalPostgres } from '../packages/test-support/src/logical-postgres.ts';

const SECRET = 'a-bench-jwt-secret-of-at-least-thirty-two-characters';
const subscriberCounts = (process.env.BENCH_SUBSCRIBERS ?? '10,100,1000').split(',').map(Number);
const ROWS = Number(process.env.BENCH_ROWS ?? 200);

interface Result {
  readonly table: string;
  readonly subscribers: number;
  readonly changesPerSecond: number;
  readonly deliveriesPerSecond: number;
  readonly p50: number;
  readonly p99: number;
  readonly queriesPerChange: number;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

async function token(sub: string): Promise<string> {
  return new SignJWT({ role: 'authenticated', sub }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));
}

/** S subscribers on `table`; resolves once every one is live, with the latencies it will collect. */
async function subscribe(url: string, table: string, count: number, latencies: number[], received: { count: number }): Promise<WebSocket[]> {
  const sockets: WebSocket[] = [];
  await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const ws = new WebSocket(`${url}?apikey=${await token(`user-${i}`)}&vsn=1.0.0`);
      sockets.push(ws);
      await new Promise<void>((resolve, reject) => {
        ws.once('error', reject);
        ws.on('message', (data: Buffer) => {
          const frame = JSON.parse(data.toString()) as { event: string; payload: { data?: { commit_timestamp: string } } };
          if (frame.event === 'system') resolve();
          if (frame.event === 'postgres_changes' && frame.payload.data !== undefined) {
            latencies.push(Date.now() - Date.parse(frame.payload.data.commit_timestamp));
            received.count++;
          }
        });
        ws.once('open', () =>
          ws.send(
            JSON.stringify({
              topic: `realtime:bench-${i}`,
              event: 'phx_join',
              ref: '1',
              join_ref: '1',
              payload: { config: { postgres_changes: [{ event: 'INSERT', schema: 'public', table }] } },
            }),
          ),
        );
      });
    }),
  );
  return sockets;
}

async function main(): Promise<void> {
  const database = await startLogicalPostgres();
  const sql = new pg.Client(database.url);
  await sql.connect();
  await sql.query(`
    CREATE ROLE authenticated NOLOGIN;
    GRANT USAGE ON SCHEMA public TO authenticated;
    CREATE TABLE open_rows (id int PRIMARY KEY, owner text, body text);
    GRANT SELECT ON open_rows TO authenticated;
    CREATE TABLE rls_rows (id int PRIMARY KEY, owner text, body text);
    ALTER TABLE rls_rows ENABLE ROW LEVEL SECURITY;
    -- Everyone may read every row, but PostgreSQL is asked: the cost of the check itself.
    CREATE POLICY readable ON rls_rows FOR SELECT TO authenticated USING (owner IS NOT NULL OR current_setting('request.jwt.claims', true) IS NOT NULL);
    GRANT SELECT ON rls_rows TO authenticated;
    CREATE PUBLICATION supabase_realtime FOR TABLE open_rows, rls_rows;
  `);
  const endpoint = new Endpoint({ logger: silentLogger });
  const realtime = createRealtime(endpoint, { jwtSecret: SECRET, postgresChanges: { connectionString: database.url } });
  await realtime.start();
  // Every subscriber comes from 127.0.0.1: lift the per-address connection cap.
  endpoint.socket('/realtime/v1', realtime.socket, { checkOrigin: false, maxConnectionsPerIp: Number.POSITIVE_INFINITY });
  const server = await endpoint.listen({ port: 0 });
  const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/realtime/v1/websocket`;
  const results: Result[] = [];
  let nextId = 1;
  try {
    for (const table of ['open_rows', 'rls_rows']) {
      for (const subscribers of subscriberCounts) {
        const latencies: number[] = [];
        const received = { count: 0 };
        const sockets = await subscribe(url, table, subscribers, latencies, received);
        const checksBefore = realtime.changeStats?.authorizationChecks ?? 0;
        const started = performance.now();
        for (let i = 0; i < ROWS; i++) await sql.query(`INSERT INTO ${table} VALUES ($1, 'someone', 'x')`, [nextId++]);
        const expected = ROWS * subscribers;
        const deadline = Date.now() + 120_000;
        while (received.count < expected && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
        const seconds = (performance.now() - started) / 1000;
        if (received.count < expected) throw new Error(`${table} × ${subscribers}: ${received.count} of ${expected} deliveries in 120 s`);
        latencies.sort((a, b) => a - b);
        results.push({
          table,
          subscribers,
          changesPerSecond: Math.round(ROWS / seconds),
          deliveriesPerSecond: Math.round(expected / seconds),
          p50: percentile(latencies, 50),
          p99: percentile(latencies, 99),
          queriesPerChange: ((realtime.changeStats?.authorizationChecks ?? 0) - checksBefore) / ROWS,
        });
        for (const ws of sockets) ws.terminate();
        process.stderr.write(`${table} × ${subscribers} done\n`);
      }
    }
  } finally {
    await endpoint.close({ intervalMs: 0 });
    await realtime.close();
    await sql.end();
    await database.stop();
  }
  console.log(`rows per run: ${ROWS}, one row per transaction, each subscriber its own user`);
  console.log('| table | subscribers | changes/s | deliveries/s | commit→client p50 ms | p99 ms | authorization queries per change |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const r of results) {
    const rls = r.table === 'rls_rows' ? 'RLS on' : 'RLS off (grants)';
    console.log(`| ${rls} | ${r.subscribers} | ${r.changesPerSecond} | ${r.deliveriesPerSecond} | ${r.p50} | ${r.p99} | ${r.queriesPerChange.toFixed(2)} |`);
  }
}

await main();
