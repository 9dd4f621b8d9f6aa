/**
 * @module bench/heap-diff
 * What one idle joined socket costs on the V8 heap, by object type: for each peer, a server holds
 * `--from` idle joined sockets, then `--to`; a heap snapshot is taken after a full GC at both
 * counts, and the difference per object type (V8's node type and constructor or name) is divided
 * by the sockets added. Peers side by side, so Starling's extra over the bare `ws` ceiling shows
 * as the rows where the columns differ. The clients run in this process (no pinning, no timing):
 * only the server's heap is measured.
 *
 * @example
 * npx tsx bench/heap-diff.ts                          # starling and bare-ws, 50 → 2000 sockets
 * npx tsx bench/heap-diff.ts --peers starling --from 50 --to 2000 --top 40 --keep /tmp/snapshots
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { dialectFor } from './client/dialects.ts';
import { startChild, type Child } from './lib/children.ts';
import type { FromServer, ToServer } from './lib/messages.ts';
import type { PeerName } from './lib/options.ts';
import { serverFile } from './lib/session.ts';

const { values } = parseArgs({
  options: {
    peers: { type: 'string', default: 'starling,bare-ws' },
    from: { type: 'string', default: '50' },
    to: { type: 'string', default: '2000' },
    top: { type: 'string', default: '25' },
    keep: { type: 'string' },
  },
});
const peers = values.peers.split(',') as PeerName[];
const from = Number(values.from);
const to = Number(values.to);
const top = Number(values.top);
if (!(from >= 0 && to > from && to <= 15_000)) throw new Error('expected 0 ≤ --from < --to ≤ 15000');

/** Bytes and count of one object type in a snapshot. */
interface Row {
  count: number;
  bytes: number;
}

/** Self size and count per `type name` of every node of a `.heapsnapshot`. */
function summarise(file: string): Map<string, Row> {
  const snapshot = JSON.parse(readFileSync(file, 'utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = snapshot.snapshot.meta.node_fields;
  const width = fields.length;
  const [typeAt, nameAt, sizeAt] = [fields.indexOf('type'), fields.indexOf('name'), fields.indexOf('self_size')];
  const types = snapshot.snapshot.meta.node_types[0];
  const rows = new Map<string, Row>();
  for (let i = 0; i < snapshot.nodes.length; i += width) {
    const type = types[snapshot.nodes[i + typeAt]!]!;
    // Strings and numbers are named by their value: one row per kind, not per value.
    const name =
      type === 'string' || type === 'concatenated string' || type === 'sliced string' || type === 'number'
        ? ''
        : snapshot.strings[snapshot.nodes[i + nameAt]!]!;
    const key = `${type} ${name.slice(0, 60)}`;
    const row = rows.get(key) ?? { count: 0, bytes: 0 };
    row.count += 1;
    row.bytes += snapshot.nodes[i + sizeAt]!;
    rows.set(key, row);
  }
  return rows;
}

/** Opens `count` sockets to the peer and joins each, in batches of 100 handshakes. */
async function open(peer: PeerName, port: number, count: number, sockets: WebSocket[]): Promise<void> {
  for (let done = 0; done < count;) {
    const batch = Math.min(100, count - done);
    await Promise.all(Array.from({ length: batch }, () => openOne(peer, port, sockets)));
    done += batch;
  }
}

function openOne(peer: PeerName, port: number, sockets: WebSocket[]): Promise<void> {
  const dialect = dialectFor(peer);
  const socket = new WebSocket(`ws://127.0.0.1:${port}${dialect.path}`, { perMessageDeflate: false });
  sockets.push(socket);
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.once('open', () => {
      const first = dialect.opening();
      if (first !== null) socket.send(first);
    });
    socket.on('message', (data: Buffer) => {
      const step = dialect.handshake(data.toString());
      if (step.send !== null) socket.send(step.send);
      if (step.failure !== null) reject(new Error(step.failure));
      if (step.joined) resolve();
    });
  });
}

async function snapshot(server: Child<ToServer, FromServer>, file: string): Promise<Map<string, Row>> {
  server.send({ type: 'heap-snapshot', file });
  const written = await server.next('heap-snapshot', 120_000);
  return summarise(written.file);
}

/** Bytes (and objects) per added socket, by object type, for one peer. */
async function measure(peer: PeerName, dir: string): Promise<Map<string, Row>> {
  const server = startChild<ToServer, FromServer>({ name: peer, file: serverFile(peer), core: null, nodeArgs: ['--expose-gc'] });
  const sockets: WebSocket[] = [];
  try {
    const { port } = await server.next('ready', 20_000);
    await open(peer, port, from, sockets);
    const before = await snapshot(server, join(dir, `${peer}-${from}.heapsnapshot`));
    await open(peer, port, to - from, sockets);
    const after = await snapshot(server, join(dir, `${peer}-${to}.heapsnapshot`));
    const perSocket = new Map<string, Row>();
    for (const [key, row] of after) {
      const was = before.get(key) ?? { count: 0, bytes: 0 };
      perSocket.set(key, { count: (row.count - was.count) / (to - from), bytes: (row.bytes - was.bytes) / (to - from) });
    }
    return perSocket;
  } finally {
    for (const socket of sockets) socket.terminate();
    await server.stop({ type: 'stop' });
  }
}

// --keep DIR: leave the snapshots there (open them in Chrome DevTools' Memory tab for retainers).
if (values.keep !== undefined) mkdirSync(values.keep, { recursive: true });
const dir = values.keep ?? mkdtempSync(join(tmpdir(), 'starling-heap-'));
try {
  const results = new Map<PeerName, Map<string, Row>>();
  for (const peer of peers) results.set(peer, await measure(peer, dir));
  const keys = new Set<string>();
  for (const rows of results.values()) for (const key of rows.keys()) keys.add(key);
  const bytes = (peer: PeerName, key: string): number => results.get(peer)?.get(key)?.bytes ?? 0;
  const count = (peer: PeerName, key: string): number => results.get(peer)?.get(key)?.count ?? 0;
  // The rows that differ most between the peers (or, with one peer, the largest).
  const spread = (key: string): number => Math.max(...peers.map((p) => bytes(p, key))) - (peers.length > 1 ? Math.min(...peers.map((p) => bytes(p, key))) : 0);
  const ranked = [...keys].sort((a, b) => spread(b) - spread(a)).slice(0, top);
  console.log(`# heap per idle joined socket, ${from} → ${to} sockets (bytes / objects per socket)`);
  console.log(`| object type | ${peers.join(' | ')} |`);
  console.log(`| --- | ${peers.map(() => '---:').join(' | ')} |`);
  for (const key of ranked) console.log(`| ${key} | ${peers.map((p) => `${bytes(p, key).toFixed(0)} / ${count(p, key).toFixed(2)}`).join(' | ')} |`);
  const total = (peer: PeerName): number => [...(results.get(peer)?.values() ?? [])].reduce((sum, row) => sum + row.bytes, 0);
  console.log(`| **total** | ${peers.map((p) => total(p).toFixed(0)).join(' | ')} |`);
} finally {
  if (values.keep === undefined) rmSync(dir, { recursive: true, force: true });
}
