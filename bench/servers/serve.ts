/**
 * @module bench/servers/serve
 * The part every peer server shares: listen on 127.0.0.1 (port 0), tell the harness the port,
 * answer `gc` with memory after a forced full collection (run with `--expose-gc`) and `cpu` with
 * the process's CPU time (`process.cpuUsage()`, for phases too short for /proc), `heap-snapshot`
 * with a V8 heap snapshot after a full collection (`bench/heap-diff.ts`), `stats` with the
 * server's own counters (the supabase peer's postgres_changes), profile the
 * measured phase on request with V8's CPU profiler (the one behind `node --cpu-prof`), and exit on
 * `stop` or as soon as the harness goes away (the IPC channel closes), so no server outlives a run.
 *
 * @example
 * await serve(async () => {
 *   const server = createServer();
 *   return { server, close: async () => server.close() };
 * });
 */
import { writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { Session } from 'node:inspector/promises';
import { getHeapSpaceStatistics, writeHeapSnapshot } from 'node:v8';
import type { FromServer, ToServer } from '../lib/messages.ts';

/** A started peer server. */
export interface PeerServer {
  readonly server: Server;
  /** Stops accepting and closes sockets. */
  close(): Promise<void>;
  /** The server's own counters, answered to `stats` (none by default). */
  stats?(): Readonly<Record<string, number>>;
}

function send(message: FromServer): void {
  process.send?.(message);
}

function collect(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  // Twice: the first pass may only schedule finalisers (ws/net handles) that free more on the second.
  gc?.();
  gc?.();
}

let profiler: Session | null = null;

async function startProfile(): Promise<void> {
  profiler = new Session();
  profiler.connect();
  await profiler.post('Profiler.enable');
  await profiler.post('Profiler.start');
}

let allocations: Session | null = null;

async function startAllocations(): Promise<void> {
  allocations = new Session();
  allocations.connect();
  await allocations.post('HeapProfiler.enable');
  // Every 256 bytes on average, objects collected since included: the garbage counts too.
  // (Node's typings lag V8's protocol on the two include flags.)
  const params = { samplingInterval: 256, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true };
  await allocations.post('HeapProfiler.startSampling', params as { samplingInterval: number });
}

async function stopAllocations(file: string): Promise<void> {
  if (allocations === null) throw new Error('alloc-stop before alloc-start');
  const { profile } = await allocations.post('HeapProfiler.stopSampling');
  allocations.disconnect();
  allocations = null;
  writeFileSync(file, JSON.stringify(profile));
}

async function stopProfile(file: string): Promise<string | null> {
  if (profiler === null) return null;
  const { profile } = await profiler.post('Profiler.stop');
  profiler.disconnect();
  profiler = null;
  writeFileSync(file, JSON.stringify(profile));
  return file;
}

/** Runs a peer server under the harness's control. */
export async function serve(start: () => Promise<PeerServer>): Promise<void> {
  if (process.send === undefined) throw new Error('run this file through bench/run.ts (it needs an IPC channel)');
  const peer = await start();
  await new Promise<void>((resolve, reject) => {
    peer.server.once('error', reject);
    peer.server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = peer.server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');

  let stopping = false;
  const exit = (): void => {
    if (stopping) return;
    stopping = true;
    // Bounded: a close that hangs on some socket must not keep the process (and its profile) alive.
    const timer = setTimeout(() => process.exit(0), 1_000);
    void peer.close().finally(() => {
      clearTimeout(timer);
      process.exit(0);
    });
  };
  process.on('message', (message: ToServer) => {
    if (message.type === 'stop') return exit();
    if (message.type === 'profile-start') return void startProfile();
    if (message.type === 'profile-stop') {
      stopProfile(message.file).then(
        (file) => send({ type: 'profiled', file }),
        () => send({ type: 'profiled', file: null }),
      );
      return;
    }
    if (message.type === 'cpu') {
      const { user, system } = process.cpuUsage();
      send({ type: 'cpu', micros: user + system });
      return;
    }
    if (message.type === 'stats') {
      send({ type: 'stats', values: peer.stats?.() ?? {} });
      return;
    }
    if (message.type === 'heap-snapshot') {
      collect();
      send({ type: 'heap-snapshot', file: writeHeapSnapshot(message.file) });
      return;
    }
    if (message.type === 'heap-spaces') {
      collect();
      const { heapUsed, external } = process.memoryUsage();
      const spaces = getHeapSpaceStatistics().map((s) => ({ name: s.space_name, used: s.space_used_size, physical: s.physical_space_size }));
      send({ type: 'heap-spaces', heapUsed, external, spaces });
      return;
    }
    if (message.type === 'alloc-start') return void startAllocations().then(() => send({ type: 'alloc-started' }));
    if (message.type === 'alloc-stop') {
      const { file } = message;
      return void stopAllocations(file).then(() => send({ type: 'alloc-stopped', file }));
    }
    if (message.type === 'gc') {
      collect();
      const memory = process.memoryUsage();
      send({ type: 'mem', rss: memory.rss, heapUsed: memory.heapUsed, heapTotal: memory.heapTotal, external: memory.external });
    }
  });
  process.on('disconnect', exit);
  send({ type: 'ready', port: address.port });
}
