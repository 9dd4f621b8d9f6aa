/**
 * @module bench/scale/bare-ws-cluster
 * The ceiling of the 100k scenario: bare `ws` run the way the chat runs — `WORKERS` node:cluster
 * workers sharing `PORT` on 127.0.0.1, broadcasts relayed between them over Redis (`REDIS_URL`).
 * No framework, the smallest protocol that does the job (text frames):
 *
 * | client sends | server does |
 * | --- | --- |
 * | `J` | adds the socket to the room, answers `J` |
 * | `P<body>` | publishes `<body>` on one Redis channel; every worker (the publisher's included) writes it to each of its sockets |
 *
 * A broadcast builds its WebSocket frame once (`Sender.frame`, unmasked) and writes those same
 * bytes to every socket, corked for the loop so each socket gets one `writev`. The primary prints
 * one JSON line `{"msg":"ceiling listening","workers":N}` once every worker listens (the chat's
 * `chat listening` line has the same shape), and stops the workers on SIGTERM.
 *
 * @example
 * WORKERS=6 PORT=4100 REDIS_URL=redis://127.0.0.1:6379 node --import tsx bench/scale/bare-ws-cluster.ts
 */
import cluster from 'node:cluster';
import { createServer } from 'node:http';
import type { Socket as NetSocket } from 'node:net';
import { Redis } from 'ioredis';
import { WebSocketServer, type WebSocket } from 'ws';
import { textFrame } from '../lib/ws-frame.ts';

const JOIN = 'J'.charCodeAt(0);
const PUBLISH = 'P'.charCodeAt(0);
const workers = Number(process.env.WORKERS ?? 1);
const port = Number(process.env.PORT ?? 4100);
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
/** One channel per run (the primary's pid), so two runs on one Redis never hear each other. */
const channel = `bench:scale:${process.env.CEILING_CHANNEL ?? 'ceiling'}`;

function primary(): void {
  let listening = 0;
  for (let i = 0; i < workers; i++) cluster.fork({ CEILING_CHANNEL: String(process.pid) });
  cluster.on('listening', () => {
    if (++listening === workers) process.stdout.write(`${JSON.stringify({ msg: 'ceiling listening', workers })}\n`);
  });
  let stopping = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL');
      process.exit(0);
    });
  }
  cluster.on('exit', () => {
    if (!stopping && Object.keys(cluster.workers ?? {}).length === 0) process.exit(1);
  });
}

async function worker(): Promise<void> {
  const room = new Set<NetSocket>();
  const pub = new Redis(redisUrl);
  const sub = pub.duplicate();
  await sub.subscribe(channel);
  sub.on('messageBuffer', (_channel: Buffer, body: Buffer) => {
    const frame = textFrame(body);
    for (const socket of room) socket.cork();
    for (const socket of room) socket.write(frame);
    setImmediate(() => {
      for (const socket of room) socket.uncork();
    });
  });
  const server = createServer((_req, res) => void res.writeHead(404).end());
  const wss = new WebSocketServer({ server, perMessageDeflate: false, clientTracking: false });
  wss.on('connection', (ws: WebSocket) => {
    const socket = (ws as unknown as { _socket: NetSocket })._socket;
    ws.on('message', (data: Buffer) => {
      if (data[0] === JOIN) {
        room.add(socket);
        ws.send('J');
      } else if (data[0] === PUBLISH) void pub.publish(channel, data.subarray(1));
    });
    ws.on('close', () => room.delete(socket));
    ws.on('error', () => ws.terminate());
  });
  server.listen(port, '127.0.0.1');
}

if (cluster.isPrimary) primary();
else await worker();
