/**
 * @module bench/servers/socketio
 * The benchmark app on Socket.IO 4.8, WebSocket transport only (no polling, no compression):
 * `join` (with ack) puts the socket in room `bench:fanout`, `publish` re-emits the data as `msg`
 * to the room (`io.to(room).emit`, the publisher included), `ping` acks with the same data.
 * With `BENCH_PUBSUB=redis` it uses Socket.IO's own Redis adapter (`@socket.io/redis-adapter`)
 * at `BENCH_REDIS_URL`, with `BENCH_PUBSUB=redis-cluster` the same package's sharded adapter
 * (`createShardedAdapter`, SPUBLISH/SSUBSCRIBE through ioredis `Cluster`s) on
 * `BENCH_REDIS_CLUSTER_NODES`, so that several of these servers form a cluster. Socket.IO has no
 * NATS adapter of its own: the NATS runs leave it out.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import { createAdapter, createShardedAdapter } from '@socket.io/redis-adapter';
import { Cluster, Redis } from 'ioredis';
import { Server } from 'socket.io';
import { serve } from './serve.ts';

const ROOM = 'bench:fanout';

await serve(async () => {
  const server = createServer();
  const io = new Server(server, { transports: ['websocket'], serveClient: false, perMessageDeflate: false });
  const redis: Array<Redis | Cluster> = [];
  const kind = process.env.BENCH_PUBSUB ?? 'memory';
  const prefix = process.env.BENCH_PUBSUB_PREFIX ?? 'socket.io';
  if (kind === 'redis') {
    const pub = new Redis(process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379');
    const sub = pub.duplicate();
    redis.push(pub, sub);
    await Promise.all(redis.map((client) => once(client, 'ready')));
    io.adapter(createAdapter(pub, sub, { key: prefix }));
  } else if (kind === 'redis-cluster') {
    const nodes = (process.env.BENCH_REDIS_CLUSTER_NODES ?? '').split(',').filter(Boolean);
    const pub = new Cluster(nodes);
    const sub = new Cluster(nodes, { shardedSubscribers: true });
    redis.push(pub, sub);
    await Promise.all(redis.map((client) => once(client, 'ready')));
    io.adapter(createShardedAdapter(pub, sub, { channelPrefix: prefix }));
  } else if (kind !== 'memory') {
    throw new Error(`BENCH_PUBSUB=${kind}: Socket.IO runs on memory, redis or redis-cluster`);
  }
  io.on('connection', (socket) => {
    socket.on('join', (room: unknown, ack?: () => void) => {
      if (room === ROOM) void socket.join(ROOM);
      if (typeof ack === 'function') ack();
    });
    socket.on('publish', (data: unknown) => {
      io.to(ROOM).emit('msg', data);
    });
    socket.on('ping', (data: unknown, ack?: (reply: unknown) => void) => {
      if (typeof ack === 'function') ack(data);
    });
  });
  return {
    server,
    close: () =>
      new Promise<void>((resolve) => {
        void io.close(() => resolve());
        for (const client of redis) client.disconnect();
      }),
  };
});
