/**
 * @module bench/scenarios/postgres-changes
 * Postgres Changes (issue 19) on the supabase peer: rows committed in a private PostgreSQL with
 * `wal_level=logical` (bench/lib/postgres), read from the replication slot by the server,
 * authorized per subscriber by row-level security, and pushed as `postgres_changes` to C
 * subscribers (`--subscribers`, 1000) that joined with an INSERT binding on the table. One run
 * (one round) is seven fresh servers, one after the other, on a fresh slot and empty tables:
 *
 * | variant | table | subscribers | claims | phases |
 * | --- | --- | --- | --- | --- |
 * | `open` | `open_rows`, no RLS (grants) | C | one token each | throughput, latency |
 * | `rls` | `rls_rows`, a policy on every row | C | one token each (the worst case: one check per subscriber) | throughput, latency |
 * | `rlsShared` | `rls_rows` | C | one token for all | throughput, latency |
 * | `q10`, `q100` | `rls_rows` | 10, 100 | each, then one | latency |
 *
 * - **Throughput** (changes/s): `--changes` rows (M, 200), one per transaction from one session,
 *   with at most `window × burst` (80) rows in flight — committed but not yet received by every
 *   subscriber — so delivery, not the writer, is the bottleneck and nothing queues without bound.
 *   changes/s = rows ÷ (last arrival − first INSERT sent); deliveries/s = that × C. Server CPU
 *   per delivery and PostgreSQL's CPU per change (every backend: WAL sender, checks, the writer's
 *   INSERTs) over the phase.
 * - **Latency** at a fixed `--change-rate` (10 rows/s) for `--duration` s: INSERT sent → client,
 *   p50 and p99 (through the commit: the stamp is taken right before the INSERT, which commits).
 * - **Authorization queries per change**: the server's `authorizationChecks` over the phase ÷
 *   rows — at the fixed rate (every variant) and at saturation (throughput phase). Distinct
 *   claims cost up to one query per subscriber per change, fewer when checks queue (each claims'
 *   pipeline checks everything that waited in one query); one token costs one.
 *
 * Every delivery is checked for loss and order (per socket, by the body's seq). A missing
 * PostgreSQL (no `initdb`/`pg_ctl`) fails this scenario with the helper's message; the others run.
 */
import { Histogram } from '../lib/histogram.ts';
import type { FanoutStats } from '../lib/messages.ts';
import type { BenchOptions, PeerName } from '../lib/options.ts';
import { BenchDatabase, TABLES, type BenchTable, type ChangeWriter } from '../lib/postgres.ts';
import { Progress } from '../lib/progress.ts';
import type { Metric, Sample } from '../lib/report.ts';
import { CpuWindow, SERVER_CORE, openSession, type Session, type SessionContext } from '../lib/session.ts';
import type { Scenario } from './scenario.ts';

interface Variant {
  readonly key: string;
  readonly label: string;
  readonly table: BenchTable;
  readonly claims: 'distinct' | 'shared';
  /** Null: `--subscribers`. */
  readonly subscribers: number | null;
  readonly throughput: boolean;
}

const FULL: readonly Variant[] = [
  { key: 'open', label: 'RLS off', table: TABLES.open, claims: 'distinct', subscribers: null, throughput: true },
  { key: 'rls', label: 'RLS on', table: TABLES.rls, claims: 'distinct', subscribers: null, throughput: true },
  { key: 'rlsShared', label: 'RLS on, one token', table: TABLES.rls, claims: 'shared', subscribers: null, throughput: true },
];

const SMALL: readonly Variant[] = [10, 100].flatMap((count) => [
  { key: `q${count}`, label: `${count}, one token each`, table: TABLES.rls, claims: 'distinct' as const, subscribers: count, throughput: false },
  { key: `q${count}Shared`, label: `${count}, one token`, table: TABLES.rls, claims: 'shared' as const, subscribers: count, throughput: false },
]);

const METRICS: readonly Metric[] = [
  ...FULL.flatMap((v): Metric[] => [
    { key: `${v.key}ChangesPerSec`, label: `${v.label}: changes/s to C subscribers`, digits: 1, better: 'higher' },
    { key: `${v.key}DeliveriesPerSec`, label: `${v.label}: deliveries/s`, digits: 0, better: 'higher' },
    { key: `${v.key}P50`, label: `${v.label}: INSERT (commit) → client p50, fixed rate (ms)`, scale: 1e-3, digits: 2, better: 'lower' },
    { key: `${v.key}P99`, label: `${v.label}: INSERT (commit) → client p99, fixed rate (ms)`, scale: 1e-3, digits: 2, better: 'lower' },
    { key: `${v.key}QueriesAtRate`, label: `${v.label}: authorization queries per change, fixed rate`, digits: 2, better: 'lower' },
    { key: `${v.key}QueriesAtSaturation`, label: `${v.label}: authorization queries per change, saturated`, digits: 2, better: 'lower' },
    { key: `${v.key}ServerCpuPerDelivery`, label: `${v.label}: server CPU per delivery (µs)`, digits: 2, better: 'lower' },
    { key: `${v.key}PgCpuPerChange`, label: `${v.label}: PostgreSQL CPU per change (µs)`, digits: 0, better: 'lower' },
    { key: `${v.key}ServerCores`, label: `${v.label}: server CPU, saturated (cores busy)`, digits: 2, better: 'none' },
    { key: `${v.key}PgCores`, label: `${v.label}: PostgreSQL CPU, saturated (cores busy)`, digits: 2, better: 'none' },
  ]),
  ...SMALL.map((v): Metric => ({ key: `${v.key}QueriesAtRate`, label: `RLS on, ${v.label}: authorization queries per change`, digits: 2, better: 'lower' })),
  ...SMALL.filter((v) => v.claims === 'distinct').map((v): Metric => ({
    key: `${v.key}P99`,
    label: `RLS on, ${v.label}: INSERT (commit) → client p99 (ms)`,
    scale: 1e-3,
    digits: 2,
    better: 'lower',
  })),
  { key: 'clientCores', label: 'client CPU, most busy phase (cores busy)', digits: 2, better: 'none' },
  { key: 'otherCores', label: 'other load on the box, most of any phase (cores)', digits: 2, better: 'none' },
  { key: 'lost', label: 'lost deliveries', digits: 0, better: 'lower' },
  { key: 'outOfOrder', label: 'reordered or repeated deliveries', digits: 0, better: 'lower' },
  { key: 'serverDropped', label: 'changes the server dropped (unauthorized, check failed, duplicate)', digits: 0, better: 'lower' },
  { key: 'failed', label: 'failed joins', digits: 0, better: 'none' },
];

/**
 * No progress for this long ends a phase (what is missing then counts as lost). Longer than the
 * fan-out's 3 s: with distinct claims on a busy box a row's checks can queue for seconds, and a
 * late row is not a lost one.
 */
const STALL_MS = 15_000;

/** Rows before measuring (JIT, pools, the table caches), checked for loss and order like the rest. */
function warmupOf(o: BenchOptions): number {
  return Math.max(5, Math.round(o.changes / 10));
}

/** What the writer got through, and when it started. */
interface Written {
  readonly to: number;
  readonly startMicros: number;
}

/** Inserts seq `from` … `to`-1, keeping at most `window` rows not yet received by every subscriber. */
async function writeBurst(writer: ChangeWriter, progress: Progress, from: number, to: number, window: number, capMs: number): Promise<Written> {
  const deadline = Date.now() + capMs;
  let startMicros = 0;
  let seq = from;
  // Bounded by `to` and the deadline; each wait ends at the next advance or within 100 ms.
  while (seq < to && Date.now() < deadline) {
    if (seq - progress.done >= window) {
      await progress.advanced(100);
      continue;
    }
    const sentAt = await writer.insert(seq + 1, seq);
    if (seq === from) startMicros = sentAt;
    seq++;
  }
  return { to: seq, startMicros };
}

/** Inserts seq `from` … `to`-1 at `rate` rows/s, evenly spaced (each INSERT awaited). */
async function writeAtRate(writer: ChangeWriter, from: number, to: number, rate: number, capMs: number): Promise<Written> {
  const started = Date.now();
  let startMicros = 0;
  let seq = from;
  while (seq < to && Date.now() - started < capMs) {
    const due = started + ((seq - from) * 1000) / rate;
    if (due > Date.now()) await new Promise((resolve) => setTimeout(resolve, due - Date.now()));
    const sentAt = await writer.insert(seq + 1, seq);
    if (seq === from) startMicros = sentAt;
    seq++;
  }
  return { to: seq, startMicros };
}

async function report(session: Session, published: number): Promise<FanoutStats[]> {
  return Promise.all(
    session.workers.map((worker) => {
      worker.send({ type: 'fanout-report', published });
      return worker.next('fanout-stats', 10_000);
    }),
  );
}

async function checks(session: Session): Promise<number> {
  return (await session.serverStats()).authorizationChecks ?? Number.NaN;
}

let database: Promise<BenchDatabase> | null = null;

/** One variant in a fresh server: its numbers, keyed `<variant><Metric>`. */
async function runVariant(variant: Variant, o: BenchOptions, context: SessionContext, db: BenchDatabase): Promise<Record<string, number>> {
  await db.reset();
  const subscribers = variant.subscribers ?? o.subscribers;
  // --profile: the throughput phase of each variant, as <run>-<variant>.cpuprofile.
  const profile = variant.throughput && context.profile !== null ? { dir: context.profile.dir, name: `${context.profile.name}-${variant.key}` } : null;
  const session = await openSession('supabase', { ...context, profile }, { env: { BENCH_DATABASE_URL: db.url } });
  const writer = await db.writer(variant.table).catch(async (err: unknown) => {
    await session.close();
    throw err;
  });
  const out: Record<string, number> = {};
  try {
    const joined = await session.connect(subscribers, 0, { table: variant.table, claims: variant.claims });
    if (joined.opened < subscribers) throw new Error(`${variant.key}: only ${joined.opened} of ${subscribers} subscribers joined (${joined.firstError})`);
    const warmup = warmupOf(o);
    const measured = variant.throughput ? o.changes : 0;
    const rateFrom = warmup + measured;
    const total = rateFrom + Math.max(1, Math.round(o.changeRate * o.duration));
    for (const worker of session.workers) worker.send({ type: 'fanout-init', total, measureFrom: warmup, solo: session.workers.length === 1 });
    const progress = new Progress(session);
    const window = o.window * o.burst;

    await writeBurst(writer, progress, 0, warmup, window, 30_000);
    await progress.until(warmup, 60_000, STALL_MS);

    let clientCores = 0;
    let otherCores = 0;
    if (variant.throughput) {
      // A slow variant is measured on what it delivered by the cap; the rest is not written (not lost).
      const capMs = Math.max(10_000, o.duration * 7_500);
      const checks0 = await checks(session);
      const pg0 = db.cpuMicros();
      const meter = await session.cpuWindow();
      const written = await writeBurst(writer, progress, warmup, rateFrom, window, capMs);
      await progress.until(written.to, capMs + 30_000, STALL_MS);
      const cpu = await meter.end();
      const pgCpu = db.cpuMicros() - pg0;
      const stats = await report(session, written.to);
      const rows = written.to - warmup;
      const deliveries = stats.reduce((sum, s) => sum + s.measuredReceived, 0);
      const elapsed = Math.max(1, Math.max(...stats.map((s) => s.lastDeliveryMicros)) - written.startMicros);
      out[`${variant.key}ChangesPerSec`] = (deliveries * 1e6) / elapsed / subscribers;
      out[`${variant.key}DeliveriesPerSec`] = (deliveries * 1e6) / elapsed;
      out[`${variant.key}QueriesAtSaturation`] = ((await checks(session)) - checks0) / rows;
      out[`${variant.key}ServerCpuPerDelivery`] = deliveries > 0 ? cpu.server / deliveries : Number.NaN;
      out[`${variant.key}PgCpuPerChange`] = pgCpu / rows;
      out[`${variant.key}ServerCores`] = cpu.server / cpu.wall;
      out[`${variant.key}PgCores`] = pgCpu / cpu.wall;
      clientCores = cpu.client / cpu.wall;
      // The writer (this process) and PostgreSQL are ours, not other load.
      otherCores = Math.max(0, cpu.other - pgCpu) / cpu.wall;
    }

    for (const worker of session.workers) worker.send({ type: 'fanout-measure', from: rateFrom });
    const checks0 = await checks(session);
    const pg0 = db.cpuMicros();
    const meter = new CpuWindow(session, null);
    const written = await writeAtRate(writer, rateFrom, total, o.changeRate, o.duration * 1000 + 5_000);
    await progress.until(written.to, 60_000, STALL_MS);
    const cpu = await meter.end();
    const pgCpu = db.cpuMicros() - pg0;
    const stats = await report(session, written.to);
    const latency = new Histogram();
    for (const s of stats) latency.merge(s.latency);
    out[`${variant.key}P50`] = latency.percentile(50);
    out[`${variant.key}P99`] = latency.percentile(99);
    out[`${variant.key}QueriesAtRate`] = ((await checks(session)) - checks0) / Math.max(1, written.to - rateFrom);
    out.clientCores = Math.max(clientCores, cpu.client / cpu.wall);
    out.otherCores = Math.max(otherCores, Math.max(0, cpu.other - pgCpu) / cpu.wall);
    out.lost = stats.reduce((sum, s) => sum + s.lost, 0);
    out.outOfOrder = stats.reduce((sum, s) => sum + s.outOfOrder, 0);
    out.failed = joined.failed;
    // Not in the table, but said: what the server counted (a row it dropped is also a lost delivery).
    const server = await session.serverStats();
    out.serverDropped = (server.unauthorized ?? 0) + (server.checkFailed ?? 0) + (server.duplicate ?? 0);
    return out;
  } finally {
    await writer.close().catch(() => undefined);
    await session.close();
  }
}

/** postgres_changes: changes/s, commit→client latency and authorization queries per change. */
export const postgresChanges: Scenario = {
  name: 'postgres-changes',
  metrics: METRICS,
  supports: (peer: PeerName) => peer === 'supabase',
  params: (o): Record<string, number | string> => ({
    subscribers: o.subscribers,
    changes: o.changes,
    warmup: warmupOf(o),
    inFlight: o.window * o.burst,
    changeRate: o.changeRate,
    duration: o.duration,
    workers: o.workers,
  }),

  async run(_peer: PeerName, o: BenchOptions, context: SessionContext): Promise<Sample> {
    // One cluster for every round; a failed start fails every round with the same message.
    database ??= BenchDatabase.start(context.pin ? SERVER_CORE : null);
    const db = await database;
    const sample: Record<string, number> = { lost: 0, outOfOrder: 0, serverDropped: 0, failed: 0, clientCores: 0, otherCores: 0 };
    for (const variant of [...FULL, ...SMALL]) {
      const numbers = await runVariant(variant, o, context, db);
      for (const [key, value] of Object.entries(numbers)) {
        if (key === 'lost' || key === 'outOfOrder' || key === 'failed' || key === 'serverDropped') sample[key] = (sample[key] ?? 0) + value;
        else if (key === 'clientCores' || key === 'otherCores') sample[key] = Math.max(sample[key] ?? 0, value);
        else sample[key] = value;
      }
      process.stderr.write(`[postgres-changes]   ${variant.key}: ${summary(variant, numbers)}\n`);
    }
    return sample;
  },

  async close(): Promise<void> {
    const started = database;
    database = null;
    await (await started?.catch(() => null))?.stop();
  },
};

function summary(variant: Variant, numbers: Readonly<Record<string, number>>): string {
  const pick = (name: string, scale = 1): string => {
    const value = numbers[`${variant.key}${name}`];
    return value === undefined ? '' : `${name}=${Number((value * scale).toPrecision(4))} `;
  };
  return `${pick('ChangesPerSec')}${pick('P50', 1e-3)}${pick('P99', 1e-3)}${pick('QueriesAtRate')}${pick('QueriesAtSaturation')}lost=${numbers.lost ?? 0} dropped by the server=${numbers.serverDropped ?? 0}`;
}
