/**
 * @module bench/run
 * `npm run bench`: runs the scenarios against every peer, interleaved A B C A B C over the
 * rounds, each run in fresh processes (server pinned to core 0, load generators to core 1), and
 * prints per scenario one JSON line and a Markdown table of medians and paired ratios, then the
 * targets of issue #5 and of gap-free recovery with pass/fail. Options: bench/README.md or
 * `npm run bench -- --help`.
 *
 * @example
 * npm run bench                                   # everything, 3 rounds (a few minutes)
 * BENCH_QUICK=1 npm run bench                     # smoke run, < 30 s
 * npm run bench -- --scenario fanout --peers starling,bare-ws --rounds 5
 * npm run bench -- --scenario history --peers starling,starling-history --rounds 5   # the cost of history
 * npm run bench -- --scenario postgres-changes --peers supabase                         # postgres_changes (not in all)
 */
import { appendFileSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { killAllChildren } from './lib/children.ts';
import { USAGE, parseOptions, type BenchOptions, type ScenarioName } from './lib/options.ts';
import { canPin, loadAverage, machineInfo, waitForQuiet, type MachineInfo } from './lib/proc.ts';
import { checkTargets, targetsTable, toJson, toTable, type PeerRound, type ScenarioResult } from './lib/report.ts';
import { summarizeProfile } from './profile-summary.ts';
import { connections } from './scenarios/connections.ts';
import { fanoutBurst, fanoutCluster, fanoutRate } from './scenarios/fanout.ts';
import { postgresChanges } from './scenarios/postgres-changes.ts';
import { recovery, recoveryCluster } from './scenarios/recovery.ts';
import { requestReply } from './scenarios/request-reply.ts';
import type { Scenario } from './scenarios/scenario.ts';

const SCENARIOS: Readonly<Record<ScenarioName, Scenario>> = {
  'fanout-burst': fanoutBurst,
  'fanout-rate': fanoutRate,
  'fanout-cluster': fanoutCluster,
  connections,
  'request-reply': requestReply,
  recovery,
  'recovery-cluster': recoveryCluster,
  'postgres-changes': postgresChanges,
};

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

function emit(line: string, options: BenchOptions): void {
  process.stdout.write(`${line}\n`);
  if (options.out !== null) appendFileSync(options.out, `${line}\n`);
}

function machineLine(machine: MachineInfo): string {
  return [
    `commit ${machine.commit}${machine.srcChanges.length > 0 ? ` (+ uncommitted: ${machine.srcChanges.join(', ')})` : ''}`,
    `${machine.nproc} × ${machine.cpuModel}`,
    `node ${machine.node}`,
    machine.date.slice(0, 10),
    `open files ${machine.openFileLimit}`,
    machine.pinned ? 'server on core 0, clients on core 1 (taskset)' : 'not pinned',
  ].join(' · ');
}

/** Every round of `scenario` against every peer it supports, interleaved; null when it supports none. */
async function measure(scenario: Scenario, options: BenchOptions, pinned: boolean, profileDir: string): Promise<ScenarioResult | null> {
  const name = scenario.name;
  const tag = scenario.label ?? name;
  const variantTag = tag
    .slice(name.length)
    .trim()
    .replace(/[^\w-]+/g, '-');
  const runs: PeerRound[] = [];
  if (!options.peers.some((peer) => scenario.supports?.(peer) !== false)) {
    log(`[${tag}] skipped: none of the peers ${options.peers.join(', ')} is one it measures (postgres-changes: supabase)`);
    return null;
  }
  for (let round = 1; round <= options.rounds; round++) {
    for (const peer of options.peers) {
      if (scenario.supports?.(peer) === false) continue;
      const context = {
        pin: pinned,
        workers: options.workers,
        concurrency: options.concurrency,
        // A variant's profiles: `fanout-cluster-starling-r1-nats-4`, found by the summary's prefix.
        profile: options.profile ? { dir: profileDir, name: `${name}-${peer}-r${round}${tag === name ? '' : `-${variantTag}`}` } : null,
      };
      if (options.quietWait > 0) {
        const busy = await waitForQuiet(options.quietWait);
        if (busy >= 0.25) log(`# box still busy (${busy.toFixed(2)} cores) after ${options.quietWait} s: running anyway`);
      }
      const t0 = Date.now();
      try {
        const sample = await scenario.run(peer, options, context);
        runs.push({ peer, round, sample });
        log(`[${tag}] round ${round}/${options.rounds} ${peer.padEnd(8)} ${((Date.now() - t0) / 1000).toFixed(1)} s  ${summary(sample)}`);
      } catch (err) {
        log(`[${tag}] round ${round}/${options.rounds} ${peer} FAILED: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }
  await scenario.close?.().catch((err: unknown) => log(`[${tag}] cleanup failed: ${err instanceof Error ? err.message : String(err)}`));
  return { scenario: name, params: scenario.params(options), metrics: scenario.metrics, runs };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const options = parseOptions(argv, process.env);
  const pinned = options.pin && canPin();
  if (options.pin && !pinned) log('taskset or a second core is missing: running unpinned');
  const machine = machineInfo(pinned);
  const runId = machine.date.replace(/[:.]/g, '-');
  const profileDir = join(fileURLToPath(new URL('.', import.meta.url)), 'profiles', runId);
  log(`# ${machineLine(machine)}`);
  log(`# scenarios ${options.scenarios.join(', ')} · peers ${options.peers.join(', ')} · ${options.rounds} round(s)${options.quick ? ' · QUICK' : ''}`);
  const load = loadAverage();
  if (load > 0.5) log(`# warning: load average ${load} before starting — other work on this box skews results (see "other load" rows)`);
  if (options.profile) log(`# --profile: every server is CPU-profiled during its measured phase (numbers inflated); profiles in ${profileDir}`);

  const started = Date.now();
  const results: ScenarioResult[] = [];
  for (const name of options.scenarios) {
    const parent = SCENARIOS[name];
    for (const scenario of parent.variants?.(options) ?? [parent]) {
      const result = await measure(scenario, options, pinned, profileDir);
      if (result === null) continue;
      results.push(result);
      emit(JSON.stringify(toJson(result, { machine, quick: options.quick, profiled: options.profile })), options);
      process.stdout.write(`\n${toTable(result)}\n\n`);
    }
    await parent.close?.().catch((err: unknown) => log(`[${name}] cleanup failed: ${err instanceof Error ? err.message : String(err)}`));
  }

  const targets = checkTargets(results);
  emit(JSON.stringify({ targets, machine, quick: options.quick, profiled: options.profile }), options);
  process.stdout.write(`\n${targetsTable(targets)}\n\n${machineLine(machine)}\n`);
  log(`# done in ${((Date.now() - started) / 1000).toFixed(0)} s`);

  if (options.profile) {
    // Round 1 of each scenario and peer is enough to name the hot spots; every file stays on disk.
    for (const name of options.scenarios) {
      for (const peer of options.peers) {
        // One file per run, or one per part of it (postgres-changes: per variant).
        const prefix = `${name}-${peer}-r1`;
        const files = existsSync(profileDir) ? readdirSync(profileDir).filter((f) => f === `${prefix}.cpuprofile` || f.startsWith(`${prefix}-`)) : [];
        for (const file of files) process.stdout.write(`\n${summarizeProfile(join(profileDir, file), 20)}\n`);
      }
    }
  }
}

function summary(sample: Readonly<Record<string, number>>): string {
  const pick = [
    'deliveriesPerSec',
    'roundTripsPerSec',
    'connectsPerSec',
    'p99',
    'serverCpuPerDelivery',
    'serverCpuPerRoundTrip',
    'rssPerConnection',
    'recoveryMicros',
    'serverCpuPerRecovery',
    'engineCores',
    'engineCpuPerRecovery',
    'recoveryErrors',
    'rlsChangesPerSec',
    'rlsP99',
    'rlsQueriesAtRate',
    'serverCores',
    'clientCores',
    'lost',
    'outOfOrder',
  ];
  return pick
    .filter((k) => sample[k] !== undefined)
    .map((k) => `${k}=${Number(sample[k]!.toPrecision(4))}`)
    .join(' ');
}

main().then(
  () => {
    killAllChildren();
    process.exit(0);
  },
  (err: unknown) => {
    log(err instanceof Error ? (err.stack ?? err.message) : String(err));
    killAllChildren();
    process.exit(1);
  },
);
