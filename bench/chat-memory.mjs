// Memory of one chat instance, for sizing: the production server (`apps/chat/dist/server.js`,
// SQLite, in-process PubSub) idle, then with N sockets joined to the lobby; prints RSS idle and
// per socket. Run `npm run build` first, then: node bench/chat-memory.mjs [N=2000]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

const count = Number(process.argv[2] ?? 2000);
const port = 4700 + Math.floor(Math.random() * 200);
const dataDir = mkdtempSync(join(tmpdir(), 'chat-memory-'));
const server = fileURLToPath(new URL('../apps/chat/dist/server.js', import.meta.url));
const child = spawn(process.execPath, [server], {
  env: { ...process.env, PORT: String(port), DATA_DIR: dataDir, LOG_LEVEL: 'error', CONNECTIONS_PER_IP: 'off', JOINS_PER_IP: '1000000/60' },
  stdio: 'inherit',
});
const rssMiB = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))[1]) / 1024;

try {
  for (let tries = 0; ; tries++) {
    const ok = await fetch(`http://127.0.0.1:${port}/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (tries > 100) throw new Error('the chat did not become ready');
    await sleep(100);
  }
  await sleep(2000);
  const idle = rssMiB();
  const sockets = [];
  for (let i = 0; i < count; i++) {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/socket/websocket?vsn=2.0.0`);
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    ws.send(JSON.stringify(['1', '1', 'rooms:lobby', 'phx_join', {}]));
    sockets.push(ws);
  }
  await sleep(3000);
  const loaded = rssMiB();
  console.log(
    JSON.stringify({
      sockets: count,
      idleRssMiB: +idle.toFixed(1),
      loadedRssMiB: +loaded.toFixed(1),
      perSocketKiB: +(((loaded - idle) * 1024) / count).toFixed(1),
    }),
  );
  for (const ws of sockets) ws.terminate();
} finally {
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
  rmSync(dataDir, { recursive: true, force: true });
}
