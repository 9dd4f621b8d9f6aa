/**
 * @module bench/proc
 * What the harness reads about processes and the machine from `/proc` (Linux), so that every
 * peer is measured from the outside in the same way: CPU time from `/proc/<pid>/stat`
 * (utime + stime, every thread of the process, GC and libuv threads included), resident memory
 * from `/proc/<pid>/status` (VmRSS).
 *
 * @example
 * const before = cpuMicros(server.pid);
 * // … load …
 * const perDelivery = (cpuMicros(server.pid) - before) / deliveries;
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { cpus } from 'node:os';

let clockTicks: number | null = null;

/** Clock ticks per second of `/proc/<pid>/stat` times (USER_HZ, almost always 100). */
function ticksPerSecond(): number {
  if (clockTicks === null) {
    const probe = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    const value = Number(probe.stdout?.trim());
    clockTicks = probe.status === 0 && value > 0 ? value : 100;
  }
  return clockTicks;
}

/**
 * CPU time (user + system) the process has used, in µs. Resolution is one clock tick (10 ms at
 * USER_HZ=100), so measure over seconds, not milliseconds.
 */
export function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may contain spaces and parentheses: split after its last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); utime is field 14, stime field 15.
  return ticksToMicros(Number(fields[11]) + Number(fields[12]));
}

/** `/proc` clock ticks in µs. */
export function ticksToMicros(ticks: number): number {
  return (ticks * 1e6) / ticksPerSecond();
}

/**
 * CPU time every core of the machine has spent busy (user, nice, system, irq, softirq, steal), in
 * µs, from `/proc/stat`. Minus our own processes' time, it shows how much else ran during a
 * measurement (other people's test runs on a shared box, interrupt work charged to no process).
 */
export function machineBusyMicros(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  const ticks = (user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0);
  return (ticks * 1e6) / ticksPerSecond();
}

/**
 * Waits until the machine is quiet — under `threshold` cores busy over a 1 s sample — or until
 * `maxSeconds` have passed. Returns the last sample (cores busy).
 */
export async function waitForQuiet(maxSeconds: number, threshold = 0.25): Promise<number> {
  const deadline = Date.now() + maxSeconds * 1000;
  let busy = Number.NaN;
  // Bounded by maxSeconds: one 1 s sample per pass.
  while (Date.now() < deadline) {
    const before = machineBusyMicros();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    busy = (machineBusyMicros() - before) / 1e6;
    if (busy < threshold) break;
  }
  return busy;
}

/** The 1-minute load average. */
export function loadAverage(): number {
  return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
}

/** Resident set size of the process in bytes (VmRSS). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (match === null) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) * 1024;
}

/** The machine and code a result belongs to. */
export interface MachineInfo {
  readonly commit: string;
  /** Files under src/ with uncommitted changes at run time (others edit it concurrently). */
  readonly srcChanges: readonly string[];
  readonly nproc: number;
  readonly cpuModel: string;
  readonly node: string;
  readonly date: string;
  /** Per-process open-file limit (soft) of the harness; children inherit it. */
  readonly openFileLimit: string;
  readonly pinned: boolean;
}

function git(args: readonly string[]): string | null {
  try {
    // GIT_OPTIONAL_LOCKS=0: read-only, never refresh the index while others work in the tree.
    return execFileSync('git', args, { encoding: 'utf8', env: { ...process.env, GIT_OPTIONAL_LOCKS: '0' }, stdio: ['ignore', 'pipe', 'ignore'] }).trimEnd();
  } catch {
    return null;
  }
}

function cpuModel(): string {
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (match?.[1]) return match[1].trim();
  } catch {
    // not Linux: fall through to os.cpus()
  }
  return cpus()[0]?.model ?? 'unknown';
}

function openFileLimit(): string {
  try {
    const match = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (match) return `${match[1]} (hard ${match[2]})`;
  } catch {
    // not Linux
  }
  return 'unknown';
}

/** Collects {@link MachineInfo}. */
export function machineInfo(pinned: boolean): MachineInfo {
  return {
    commit: git(['rev-parse', '--short', 'HEAD'])?.trim() ?? 'unknown',
    srcChanges: (git(['status', '--porcelain', '--untracked-files=no', '--', 'packages/starling/src']) ?? '')
      .split('\n')
      .map((line) => line.slice(3).trim())
      .filter((file) => file !== ''),
    nproc: cpus().length,
    cpuModel: cpuModel(),
    node: process.version,
    date: new Date().toISOString(),
    openFileLimit: openFileLimit(),
    pinned,
  };
}

/** True when `taskset` exists and there are at least two cores to split server and clients. */
export function canPin(): boolean {
  if (cpus().length < 2) return false;
  return spawnSync('taskset', ['-c', '0', 'true']).status === 0;
}

/**
 * CPU time the process's live threads have run, in µs, from `/proc/<pid>/task/<tid>/schedstat`
 * (the scheduler's nanosecond count, user and system together): fine enough for a phase of a few
 * ms, where {@link cpuMicros}'s 10 ms ticks read 0. Threads that already exited are not counted
 * (fine for a server whose threads live as long as it does, such as nats-server's).
 */
export function runMicros(pid: number): number {
  let nanos = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      nanos += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ', 1)[0]);
    } catch {
      // The thread exited meanwhile.
    }
  }
  return nanos / 1000;
}
