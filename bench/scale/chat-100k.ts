/**
 * @module bench/scale/chat-100k
 * `npm run bench:100k`: 100,000 joined sockets on the chat (`apps/chat/dist/server.js`, `WORKERS`
 * node:cluster workers, Redis between them), and on a bare-`ws` ceiling run the same way
 * (`bare-ws-cluster.ts`) in the same round. Per server it measures:
 *
 * - **connect+join/s**: joined sockets ÷ (last join − first connect), over every load process;
 * - **broadcast reach**: one message sent into the room all sockets joined, from its send (by the
 *   harness's own sender socket) to its arrival at the LAST socket (load processes stamp arrivals
 *   on CLOCK_MONOTONIC; the harness takes the max); the median of `--broadcasts` per run;
 * - **RSS per socket, all-in**: Σ RSS of the server's processes (primary included) once joined,
 *   minus the same sum before connecting, ÷ sockets;
 * - **CPU** (cores busy) of the server's processes, of the load processes and of the whole
 *   machine, during connecting and during each broadcast, so that a saturated box shows.
 *
 * Rounds run bare-ws then chat; medians over rounds, ratios chat ÷ bare-ws per round.
 */
import { mkdtempSync, rmSync, appendFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startChild, type Child } from '../lib/children.ts';
import { nowMicros } from '../lib/body.ts';
import { cpuMicros, machineBusyMicros, machineInfo } from '../lib/proc.ts';
import { RedisMeter } from '../lib/redis.ts';
import { median } from '../lib/report.ts';
import { summarizeProfile } from '../profile-summary.ts';
import type { FromLoad, ToLoad, ScaleDialect } from './messages.ts';
import { parseScaleOptions, SCALE_USAGE, type ScaleOptions, type ScalePeer } from './options.ts';
import { openSender } from './sender.ts';
import { ServerTree } from './server-tree.ts';

type Load = Child<ToLoad, FromLoad>;

/** What one run (one server, one round) measured. */
interface RunResult {
  readonly peer: ScalePeer;
  readonly round: number;
  readonly sockets: number;
  readonly failed: number;
  readonly firstError: string | null;
  readonly connectPerSec: number;
  readonly connectSeconds: number;
  readonly connectServerCores: number;
  readonly connectLoadCores: number;
  readonly connectRedisCores: number;
  readonly connectMachineCores: number;
  /** Each broadcast's send → last arrival, ms. */
  readonly reachMs: readonly number[];
  /** Each broadcast's send → first arrival, ms. */
  readonly firstMs: readonly number[];
  readonly lost: number;
  readonly dropped: number;
  readonly broadcastServerCores: number;
  readonly broadcastLoadCores: number;
  readonly broadcastRedisCores: number;
  readonly broadcastMachineCores: number;
  readonly rssBaselineMiB: number;
  readonly rssJoinedMiB: number;
  readonly rssPerSocketKiB: number;
  /** The same 3 s after the last join (10 s for rssPerSocketKiB). */
  readonly rssPerSocketEarlyKiB: number;
  readonly rssEachMiB: readonly number[];
}

const mib = (bytes: number): number => +(bytes / 1048576).toFixed(1);
const round1 = (value: number): number => +value.toFixed(1);

/** Every 5 s, the joined total on stderr. */
function watchProgress(loads: readonly Load[], total: number): () => void {
  const joined = new Map<Load, number>();
  for (const load of loads) load.on('progress', (message) => joined.set(load, message.joined));
  const timer = setInterval(() => {
    let sum = 0;
    for (const value of joined.values()) sum += value;
    process.stderr.write(`  … ${sum}/${total} joined\n`);
  }, 5_000);
  return () => clearInterval(timer);
}

/** CPU use between two calls, in cores busy. */
interface CpuUse {
  readonly server: number;
  readonly load: number;
  readonly redis: number;
  readonly machine: number;
  readonly seconds: number;
}

/** Starts a CPU window over the server tree, the loads, Redis and the machine; the call closes it. */
async function cpuWindow(tree: ServerTree, loads: readonly Load[], redis: RedisMeter): Promise<() => Promise<CpuUse>> {
  const loadCpu = (): number => loads.reduce((sum, load) => sum + cpuMicros(load.pid), 0);
  const redis0 = await redis.micros();
  const [server0, load0, machine0, at0] = [tree.cpuMicros(), loadCpu(), machineBusyMicros(), nowMicros()];
  return async () => {
    const seconds = (nowMicros() - at0) / 1e6;
    const [server, load, machine] = [tree.cpuMicros() - server0, loadCpu() - load0, machineBusyMicros() - machine0];
    const cores = (micros: number): number => micros / 1e6 / seconds;
    return { server: cores(server), load: cores(load), machine: cores(machine), redis: cores((await redis.micros()) - redis0), seconds };
  };
}

async function startServer(peer: ScalePeer, options: ScaleOptions, port: number, dataDir: string, profileDir: string | null): Promise<ServerTree> {
  const workers = String(options.workersServer);
  if (peer === 'bare-ws') {
    return ServerTree.start({
      name: peer,
      command: process.execPath,
      args: ['--import', import.meta.resolve('tsx'), 'bench/scale/bare-ws-cluster.ts'],
      env: { WORKERS: workers, PORT: String(port), REDIS_URL: options.redisUrl },
      workers: options.workersServer,
    });
  }
  return ServerTree.start({
    name: peer,
    command: process.execPath,
    args: [...(profileDir === null ? [] : ['--cpu-prof', '--cpu-prof-dir', profileDir]), options.chatServer],
    env: {
      WORKERS: workers,
      PORT: String(port),
      HOST: '127.0.0.1',
      REDIS_URL: options.redisUrl,
      DATA_DIR: dataDir,
      LOG_LEVEL: 'info',
      SHUTDOWN_TIMEOUT: '5',
      // The load comes from a handful of addresses: per-address caps and join budgets would refuse it.
      CONNECTIONS_PER_IP: 'off',
      JOINS_PER_IP: '10000000/60',
      JOINS_PER_USER: '10000000/60',
      MESSAGES_PER_USER: '1000/60',
      MESSAGES_PER_IP: '1000/60',
    },
    workers: options.workersServer,
  });
}

/** Sends `index` through `send` once every load is armed; resolves with reach times and lost sockets. */
async function measureBroadcast(
  loads: readonly Load[],
  joined: readonly number[],
  index: number,
  publish: (marker: string) => void,
): Promise<{ reachMs: number; firstMs: number; lost: number }> {
  const marker = `bench-100k-${process.pid}-${Date.now()}-${index}`;
  for (const load of loads) load.send({ type: 'expect', index, marker });
  await Promise.all(loads.map((load) => load.next('armed', 10_000)));
  const sentAt = nowMicros();
  publish(marker);
  const settled = await Promise.allSettled(loads.map((load) => load.next('arrived', 30_000)));
  let last = 0;
  let first = Number.POSITIVE_INFINITY;
  let lost = 0;
  for (const [i, outcome] of settled.entries()) {
    if (outcome.status === 'fulfilled') {
      last = Math.max(last, outcome.value.lastAt);
      first = Math.min(first, outcome.value.firstAt);
      continue;
    }
    const load = loads[i]!;
    load.send({ type: 'count', index });
    const { arrived } = await load.next('count', 10_000);
    lost += Math.max(0, joined[i]! - arrived);
  }
  // Not every socket got it: no time to the last one.
  if (lost > 0) return { reachMs: Number.NaN, firstMs: first === Number.POSITIVE_INFINITY ? Number.NaN : (first - sentAt) / 1000, lost };
  return { reachMs: (last - sentAt) / 1000, firstMs: (first - sentAt) / 1000, lost };
}

async function run(peer: ScalePeer, round: number, options: ScaleOptions, runIndex: number, redis: RedisMeter): Promise<RunResult> {
  const dialect: ScaleDialect = peer === 'chat' ? 'chat' : 'bare';
  const port = 4300 + Math.floor(Math.random() * 600);
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-100k-'));
  const profileDir = options.profile && peer === 'chat' ? mkdtempSync(join(tmpdir(), 'bench-100k-prof-')) : null;
  const tree = await startServer(peer, options, port, join(dataDir, 'data'), profileDir);
  const loads: Load[] = [];
  try {
    await sleep(2000);
    const baseline = tree.rssBytes();
    for (let i = 0; i < options.workers; i++) loads.push(startChild<ToLoad, FromLoad>({ name: `load-${i}`, file: 'bench/scale/load.ts', core: null }));
    await Promise.all(loads.map((load) => load.next('ready', 30_000)));
    const sender = await openSender(dialect, port);
    process.stderr.write(`[${peer} round ${round}] ${options.sockets} sockets, ${options.workersServer} server workers, ${options.workers} load processes\n`);

    // Connect: every load process from 200 source addresses of its own (a fresh 127.R/16 per run: no TIME_WAIT left over).
    const connectCpu = await cpuWindow(tree, loads, redis);
    const share = (i: number): number => Math.floor(options.sockets / options.workers) + (i < options.sockets % options.workers ? 1 : 0);
    for (const [i, load] of loads.entries()) {
      const addressPrefix = `127.${1 + (runIndex % 250)}.${1 + i}.`;
      load.send({ type: 'connect', dialect, port, sockets: share(i), addressPrefix, addresses: 200, concurrency: options.concurrency });
    }
    const stopProgress = watchProgress(loads, options.sockets);
    const connected = await Promise.all(loads.map((load) => load.next('connected', 600_000)));
    stopProgress();
    const connectUse = await connectCpu();
    const joined = connected.reduce((sum, c) => sum + c.joined, 0);
    const failed = connected.reduce((sum, c) => sum + c.failed, 0);
    const connectSeconds = (Math.max(...connected.map((c) => c.finishedAt)) - Math.min(...connected.map((c) => c.startedAt))) / 1e6;
    // RSS 3 s after the last join, and again once idle for 10 s (V8 shrinks a young generation that
    // the connect burst grew only after a while without allocation): both reported, the second is the sizing number.
    await sleep(3000);
    const earlyRss = tree.rssBytes();
    await sleep(7000);
    const rssEach = tree.rssEach();
    const joinedRss = rssEach.reduce((a, b) => a + b, 0);

    const reach: number[] = [];
    const firsts: number[] = [];
    let lost = 0;
    const broadcastUse = { server: 0, load: 0, redis: 0, machine: 0, seconds: 0 };
    for (let index = 0; index < options.broadcasts; index++) {
      await sleep(1000);
      const window = await cpuWindow(tree, loads, redis);
      const outcome = await measureBroadcast(
        loads,
        connected.map((c) => c.joined),
        index,
        (marker) => sender.publish(marker),
      );
      const use = await window();
      for (const key of ['server', 'load', 'redis', 'machine'] as const) broadcastUse[key] += use[key] * use.seconds;
      broadcastUse.seconds += use.seconds;
      reach.push(round1(outcome.reachMs));
      firsts.push(round1(outcome.firstMs));
      lost += outcome.lost;
      process.stderr.write(`  broadcast ${index}: first ${outcome.firstMs.toFixed(1)} ms, last ${outcome.reachMs.toFixed(1)} ms, lost ${outcome.lost}\n`);
    }
    for (const load of loads) load.send({ type: 'count', index: -1 });
    const dropped = (await Promise.all(loads.map((load) => load.next('count', 10_000)))).reduce((sum, c) => sum + c.dropped, 0);
    sender.close();
    return {
      peer,
      round,
      sockets: joined,
      failed,
      firstError: connected.find((c) => c.firstError !== null)?.firstError ?? null,
      connectPerSec: Math.round(joined / connectSeconds),
      connectSeconds: round1(connectSeconds),
      connectServerCores: +connectUse.server.toFixed(2),
      connectLoadCores: +connectUse.load.toFixed(2),
      connectRedisCores: +connectUse.redis.toFixed(2),
      connectMachineCores: +connectUse.machine.toFixed(2),
      reachMs: reach,
      firstMs: firsts,
      lost,
      dropped,
      broadcastServerCores: +(broadcastUse.server / broadcastUse.seconds).toFixed(2),
      broadcastLoadCores: +(broadcastUse.load / broadcastUse.seconds).toFixed(2),
      broadcastRedisCores: +(broadcastUse.redis / broadcastUse.seconds).toFixed(2),
      broadcastMachineCores: +(broadcastUse.machine / broadcastUse.seconds).toFixed(2),
      rssBaselineMiB: mib(baseline),
      rssJoinedMiB: mib(joinedRss),
      rssPerSocketKiB: +((joinedRss - baseline) / 1024 / joined).toFixed(2),
      rssPerSocketEarlyKiB: +((earlyRss - baseline) / 1024 / joined).toFixed(2),
      rssEachMiB: rssEach.map(mib),
    };
  } finally {
    await Promise.all(loads.map((load) => load.stop({ type: 'stop' }, 10_000)));
    await tree.stop();
    if (profileDir !== null) {
      for (const file of readdirSync(profileDir)) process.stderr.write(`\n--- ${file}\n${summarizeProfile(join(profileDir, file), 25)}\n`);
      process.stderr.write(`profiles kept in ${profileDir}\n`);
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function report(results: readonly RunResult[], options: ScaleOptions): string {
  const of = (peer: ScalePeer): RunResult[] => results.filter((r) => r.peer === peer);
  const perRound = (key: (r: RunResult) => number): string => {
    const ratios = [...new Set(results.map((r) => r.round))].flatMap((round) => {
      const chat = results.find((r) => r.round === round && r.peer === 'chat');
      const bare = results.find((r) => r.round === round && r.peer === 'bare-ws');
      return chat && bare && key(bare) !== 0 ? [key(chat) / key(bare)] : [];
    });
    return ratios.length === 0 ? '–' : `${median(ratios).toFixed(2)}×`;
  };
  const rows: Array<[string, (r: RunResult) => number]> = [
    ['joined sockets', (r) => r.sockets],
    ['failed', (r) => r.failed],
    ['connect+join /s', (r) => r.connectPerSec],
    ['connect: server cores', (r) => r.connectServerCores],
    ['connect: load cores', (r) => r.connectLoadCores],
    ['connect: Redis cores', (r) => r.connectRedisCores],
    ['connect: machine cores', (r) => r.connectMachineCores],
    ['broadcast → last socket, ms', (r) => median(r.reachMs)],
    ['broadcast → first socket, ms', (r) => median(r.firstMs)],
    ['lost', (r) => r.lost],
    ['broadcast: server cores', (r) => r.broadcastServerCores],
    ['broadcast: load cores', (r) => r.broadcastLoadCores],
    ['broadcast: Redis cores', (r) => r.broadcastRedisCores],
    ['broadcast: machine cores', (r) => r.broadcastMachineCores],
    ['RSS per socket all-in, KiB (idle 10 s)', (r) => r.rssPerSocketKiB],
    ['RSS per socket all-in, KiB (3 s after)', (r) => r.rssPerSocketEarlyKiB],
    ['RSS joined, MiB', (r) => r.rssJoinedMiB],
  ];
  const lines = [
    `#### chat-100k (sockets=${options.sockets}, workers-server=${options.workersServer}, workers=${options.workers}, concurrency=${options.concurrency}, broadcasts=${options.broadcasts}; median of ${options.rounds} rounds)`,
    '',
    `| number | bare-ws | chat | chat ÷ bare-ws |`,
    `| --- | --- | --- | --- |`,
  ];
  for (const [name, key] of rows) {
    const cell = (peer: ScalePeer): string => (of(peer).length === 0 ? '–' : String(round1(median(of(peer).map(key)))));
    lines.push(`| ${name} | ${cell('bare-ws')} | ${cell('chat')} | ${perRound(key)} |`);
  }
  return [...lines, '', ...targets(results)].join('\n');
}

/** Issue 21's targets, on the chat's medians (the reach ratio: median of per-round ratios). */
function targets(results: readonly RunResult[]): string[] {
  const chat = results.filter((r) => r.peer === 'chat');
  if (chat.length === 0) return [];
  const reach = (r: RunResult): number => median(r.reachMs);
  const ratios = chat.flatMap((r) => {
    const bare = results.find((b) => b.peer === 'bare-ws' && b.round === r.round);
    return bare === undefined ? [] : [reach(r) / reach(bare)];
  });
  const verdict = (ok: boolean): string => (ok ? 'PASS' : 'MISS');
  const connect = median(chat.map((r) => r.connectPerSec));
  const reachMs = median(chat.map(reach));
  const ratio = ratios.length === 0 ? Number.NaN : median(ratios);
  const rss = median(chat.map((r) => r.rssPerSocketKiB));
  const lost = chat.reduce((sum, r) => sum + r.lost + r.failed, 0);
  return [
    '| target (issue 21) | chat | verdict |',
    '| --- | --- | --- |',
    `| connect+join ≥ 1,000/s | ${connect}/s | ${verdict(connect >= 1000)} |`,
    `| broadcast → last socket ≤ 1.2× ceiling | ${Number.isNaN(ratio) ? '–' : `${ratio.toFixed(2)}×`} | ${Number.isNaN(ratio) ? 'MISS (not measured)' : verdict(ratio <= 1.2)} |`,
    `| broadcast → last socket < 1 s | ${reachMs.toFixed(0)} ms | ${Number.isNaN(reachMs) ? 'MISS (not measured)' : verdict(reachMs < 1000)} |`,
    `| RSS per socket all-in ≤ 10 KB | ${rss.toFixed(1)} KiB | ${verdict(rss * 1024 <= 10_000)} |`,
    `| 0 failed, 0 lost | ${lost} | ${verdict(lost === 0)} |`,
  ];
}

async function main(): Promise<void> {
  if (process.argv.includes('--help')) {
    console.log(SCALE_USAGE);
    return;
  }
  const options = parseScaleOptions(process.argv.slice(2), process.env);
  const machine = machineInfo(false);
  process.env.BENCH_REDIS_URL = options.redisUrl;
  const redis = await RedisMeter.open();
  const results: RunResult[] = [];
  let runIndex = Math.floor(Math.random() * 250);
  for (let round = 1; round <= options.rounds; round++) {
    for (const peer of options.peers) {
      const result = await run(peer, round, options, runIndex++, redis);
      results.push(result);
      const line = JSON.stringify({ scenario: 'chat-100k', ...result, machine });
      console.log(line);
      if (options.out !== null) appendFileSync(options.out, `${line}\n`);
      // Let the closed sockets' TIME_WAIT and the servers' exits settle before the next run.
      await sleep(3000);
    }
  }
  redis.close();
  console.log(`\n${report(results, options)}`);
}

await main();
