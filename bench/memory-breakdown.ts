/**
 * @module bench/memory-breakdown
 * Where the RSS of an idle joined socket goes, peer beside peer: the connections scenario's
 * "RSS per connection" ((RSS after C sockets − RSS with the warm-up sockets) ÷ C, each read after a
 * forced full GC) split into V8's heap spaces and the memory outside V8 — glibc's main arena, its
 * per-thread arenas (V8's GC helpers allocate there), the rest of the anonymous memory (V8 pages
 * kept for reuse, large mallocs) and files. The same servers, worker and pinning as
 * `npm run bench`. With `--alloc N` it shows instead what one connect+join *allocates*, garbage
 * included, by function (V8's sampling heap profiler during N connects).
 *
 * `--settle S` waits S seconds before each reading: after a connect burst V8 keeps its young
 * generation at full size until it sees the allocation rate drop (≈ 10 s), which makes ±3 MB of
 * run-to-run noise at C = 10,000. `--trim` then asks glibc (through gdb) to give back the free
 * memory it holds, and prints how much that was: fragmentation, not live data.
 *
 * @example
 * npx tsx bench/memory-breakdown.ts                          # starling, bare-ws; 10,000 sockets; 3 rounds
 * npx tsx bench/memory-breakdown.ts --settle 12 --trim       # once V8 has shrunk its young generation
 * npx tsx bench/memory-breakdown.ts --alloc 4000             # allocations per connect+join, by function
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { PeerName } from './lib/options.ts';
import { rssBytes } from './lib/proc.ts';
import { openSession, sleep, type Session } from './lib/session.ts';

const { values } = parseArgs({
  options: {
    peers: { type: 'string', default: 'starling,bare-ws' },
    connections: { type: 'string', default: '10000' },
    rounds: { type: 'string', default: '3' },
    settle: { type: 'string', default: '1' },
    trim: { type: 'boolean', default: false },
    alloc: { type: 'string' },
    top: { type: 'string', default: '30' },
  },
});
const peers = values.peers.split(',') as PeerName[];
const connections = Number(values.connections);
const rounds = Number(values.rounds);
const settleMs = Number(values.settle) * 1000;
const WARM = 100;
if (!(connections > WARM && connections <= 15_000)) throw new Error(`expected ${WARM} < --connections ≤ 15000`);

const context = { pin: true, workers: 1, concurrency: 100, profile: null };

/** Resident bytes of the process by kind of mapping (`/proc/<pid>/smaps`). */
function residentByMapping(pid: number): { brk: number; anon: number; arenas: number; file: number; other: number } {
  const out = { brk: 0, anon: 0, arenas: 0, file: 0, other: 0 };
  let kind: keyof typeof out = 'other';
  let arena = false;
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const mapping = /^([0-9a-f]+)-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (mapping !== null) {
      const name = mapping[2] ?? '';
      kind = name === '' ? 'anon' : name === '[heap]' ? 'brk' : name.startsWith('/') ? 'file' : 'other';
      // glibc's per-thread arenas are heaps aligned to 64 MiB (HEAP_MAX_SIZE on 64-bit).
      arena = kind === 'anon' && parseInt(mapping[1]!, 16) % (64 * 1024 * 1024) === 0;
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss === null) continue;
    out[kind] += Number(rss[1]) * 1024;
    if (arena) out.arenas += Number(rss[1]) * 1024;
  }
  return out;
}

type Reading = Record<string, number>;

/** One reading of the server after a forced full GC, in bytes. */
async function read(session: Session): Promise<Reading> {
  await sleep(settleMs);
  session.server.send({ type: 'heap-spaces' });
  const heap = await session.server.next('heap-spaces', 30_000);
  const pid = session.server.pid;
  const mapped = residentByMapping(pid);
  const v8 = heap.spaces.reduce((sum, space) => sum + space.physical, 0);
  const space = (name: string): number => heap.spaces.find((s) => s.name === name)?.physical ?? 0;
  return {
    RSS: rssBytes(pid),
    'V8 heap used (live objects)': heap.heapUsed,
    'V8 pages: old space': space('old_space'),
    'V8 pages: young generation': space('new_space'),
    'V8 pages: large objects': space('large_object_space'),
    'V8 pages: code, maps, other': v8 - space('old_space') - space('new_space') - space('large_object_space'),
    'malloc main arena ([heap])': mapped.brk,
    'malloc thread arenas': mapped.arenas,
    'other anonymous (V8 pages kept for reuse, large mallocs)': mapped.anon - mapped.arenas - v8,
    'files, stacks, other': mapped.file + mapped.other,
  };
}

/** Asks glibc to return its free memory (gdb calls malloc_trim(0) in the server); bytes returned. */
function trim(pid: number): number {
  const before = rssBytes(pid);
  execFileSync('gdb', ['-p', String(pid), '-batch', '-ex', 'call (int)malloc_trim(0)'], { stdio: 'ignore', timeout: 60_000 });
  return before - rssBytes(pid);
}

async function breakdown(peer: PeerName): Promise<Reading> {
  const session = await openSession(peer, context);
  try {
    await session.connect(WARM);
    const warm = await read(session);
    const joined = await session.connect(connections - WARM);
    if (joined.failed > 0) throw new Error(`${peer}: ${joined.failed} joins failed (${joined.firstError})`);
    const full = await read(session);
    const perSocket: Reading = {};
    for (const [key, value] of Object.entries(full)) perSocket[key] = (value - warm[key]!) / (connections - WARM);
    if (values.trim) perSocket['returned by malloc_trim (free memory glibc held)'] = trim(session.server.pid) / (connections - WARM);
    return perSocket;
  } finally {
    await session.close();
  }
}

interface ProfileNode {
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly selfSize: number;
  readonly children: readonly ProfileNode[];
}

/** Bytes allocated per connect+join, by function (`name file:line`), over `count` connects. */
async function allocations(peer: PeerName, count: number, dir: string): Promise<Map<string, number>> {
  const session = await openSession(peer, context);
  try {
    await session.connect(WARM);
    session.server.send({ type: 'alloc-start' });
    await session.server.next('alloc-started', 10_000);
    await session.connect(count);
    session.server.send({ type: 'alloc-stop', file: join(dir, `${peer}.heapprofile`) });
    const { file } = await session.server.next('alloc-stopped', 60_000);
    const { head } = JSON.parse(readFileSync(file, 'utf8')) as { head: ProfileNode };
    const byFunction = new Map<string, number>();
    const walk = (node: ProfileNode): void => {
      const { functionName, url, lineNumber } = node.callFrame;
      const where = url.replace(/^.*\/(node_modules|packages)\//, '');
      const key = `${functionName || '(anonymous)'} ${where}:${lineNumber + 1}`;
      byFunction.set(key, (byFunction.get(key) ?? 0) + node.selfSize / count);
      for (const child of node.children) walk(child);
    };
    walk(head);
    return byFunction;
  } finally {
    await session.close();
  }
}

const kb = (bytes: number): string => (bytes / 1024).toFixed(2);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

if (values.alloc !== undefined) {
  const count = Number(values.alloc);
  const dir = mkdtempSync(join(tmpdir(), 'starling-alloc-'));
  try {
    const results = new Map<PeerName, Map<string, number>>();
    for (const peer of peers) results.set(peer, await allocations(peer, count, dir));
    const total = (peer: PeerName): number => [...results.get(peer)!.values()].reduce((a, b) => a + b, 0);
    console.log(`# bytes allocated per connect+join (sampled, garbage included), ${count} connects`);
    console.log(`| | ${peers.join(' | ')} |\n| --- | ${peers.map(() => '---:').join(' | ')} |`);
    console.log(`| **total** | ${peers.map((p) => total(p).toFixed(0)).join(' | ')} |`);
    const keys = new Set(peers.flatMap((p) => [...results.get(p)!.keys()]));
    const at = (peer: PeerName, key: string): number => results.get(peer)!.get(key) ?? 0;
    // The functions where the peers differ most (with one peer: the largest).
    const spread = (key: string): number => Math.max(...peers.map((p) => at(p, key))) - (peers.length > 1 ? Math.min(...peers.map((p) => at(p, key))) : 0);
    for (const key of [...keys].sort((a, b) => spread(b) - spread(a)).slice(0, Number(values.top))) {
      console.log(`| ${key} | ${peers.map((p) => at(p, key).toFixed(0)).join(' | ')} |`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
} else {
  const runs = new Map<PeerName, Reading[]>(peers.map((p) => [p, []]));
  for (let round = 1; round <= rounds; round++) {
    for (const peer of peers) {
      const result = await breakdown(peer);
      runs.get(peer)!.push(result);
      console.error(`round ${round}/${rounds} ${peer}: RSS ${kb(result['RSS']!)} KB per socket`);
    }
  }
  console.log(`# per idle joined socket, KB: (after ${connections} − after ${WARM}) ÷ ${connections - WARM}, median of ${rounds}; settle ${values.settle} s`);
  console.log(`| | ${peers.join(' | ')} |\n| --- | ${peers.map(() => '---:').join(' | ')} |`);
  for (const key of Object.keys(runs.get(peers[0]!)![0]!)) {
    console.log(`| ${key} | ${peers.map((p) => kb(median(runs.get(p)!.map((r) => r[key]!)))).join(' | ')} |`);
  }
  console.log(
    `| RSS, each round | ${peers
      .map((p) =>
        runs
          .get(p)!
          .map((r) => kb(r['RSS']!))
          .join(', '),
      )
      .join(' | ')} |`,
  );
}
