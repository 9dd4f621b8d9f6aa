/**
 * @module bench/profile-summary
 * Reads a V8 `.cpuprofile` (from `node --cpu-prof`, which `npm run bench -- --profile` turns on
 * for the Starling server) and lists the hottest functions by self time, with their inclusive
 * time, plus self time per file. Idle time is left out of the percentages.
 *
 * @example
 * npx tsx bench/profile-summary.ts bench/profiles/<run>/fanout-burst-r1.cpuprofile 25
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

const ROOT = pathToFileURL(resolve('.')).href + '/';

function where(frame: CallFrame): string {
  if (frame.url === '') return '';
  const file = frame.url.startsWith(ROOT) ? frame.url.slice(ROOT.length) : frame.url.replace(/^file:\/\//, '');
  return `${file}:${frame.lineNumber + 1}`;
}

function fileOf(frame: CallFrame): string {
  if (frame.url === '') return frame.functionName; // (garbage collector), (program), (idle)
  return frame.url.startsWith(ROOT) ? frame.url.slice(ROOT.length) : frame.url.replace(/^file:\/\//, '');
}

/** A table of the `top` hottest functions in `file`. */
export function summarizeProfile(file: string, top = 20): string {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const keyOf = (node: ProfileNode): string => `${node.callFrame.functionName || '(anonymous)'}  ${where(node.callFrame)}`;

  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const perFile = new Map<string, number>();
  let busy = 0;
  let idle = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i]!);
    if (node === undefined) continue;
    // The delta *after* a sample is the time it stands for.
    const micros = profile.timeDeltas[i + 1] ?? 0;
    if (node.callFrame.functionName === '(idle)') {
      idle += micros;
      continue;
    }
    busy += micros;
    const key = keyOf(node);
    self.set(key, (self.get(key) ?? 0) + micros);
    perFile.set(fileOf(node.callFrame), (perFile.get(fileOf(node.callFrame)) ?? 0) + micros);
    const seen = new Set<string>();
    // Bounded by the stack depth: parent links form a tree rooted at (root).
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const frameKey = keyOf(byId.get(id)!);
      if (seen.has(frameKey)) continue;
      seen.add(frameKey);
      inclusive.set(frameKey, (inclusive.get(frameKey) ?? 0) + micros);
    }
  }
  const pct = (micros: number): string => `${((100 * micros) / Math.max(1, busy)).toFixed(1).padStart(5)} %`;
  const hottest = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
  const files = [...perFile.entries()].sort((a, b) => b[1] - a[1]).slice(0, 12);
  return [
    `profile ${file}: ${(busy / 1e6).toFixed(2)} s busy, ${(idle / 1e6).toFixed(2)} s idle`,
    '  self     incl     function  location',
    ...hottest.map(([key, micros]) => `  ${pct(micros)}  ${pct(inclusive.get(key) ?? 0)}  ${key}`),
    '  self time per file:',
    ...files.map(([name, micros]) => `  ${pct(micros)}  ${name}`),
  ].join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [file, top] = process.argv.slice(2);
  if (file === undefined) {
    process.stderr.write('usage: npx tsx bench/profile-summary.ts FILE.cpuprofile [TOP]\n');
    process.exit(2);
  }
  process.stdout.write(`${summarizeProfile(file, top === undefined ? 20 : Number(top))}\n`);
}
