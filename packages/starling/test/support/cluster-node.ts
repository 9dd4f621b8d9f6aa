/**
 * One Starling node of the multi-process cluster suite (`test/cluster/`), run as its own process:
 * `node --import tsx test/support/cluster-node.ts`. It serves the conformance fixture's socket
 * (the `test:*` channel that echoes, broadcasts and tracks presence on request) at `/socket`, with
 * a Redis-backed (or NATS-backed) PubSub, so several of these processes sharing one Redis (or NATS)
 * form a cluster.
 *
 * Configured through the environment, like a deployment:
 * - `PORT` (required), `REDIS_URL` or `REDIS_CLUSTER_NODES` (`host:port,…`, a Redis Cluster; exactly
 *   one of them) unless `NATS_URL` is set, `REDIS_PREFIX` (required: one cluster per prefix, also
 *   the NATS prefix);
 * - `NATS_URL` (optional): NATS with JetStream instead of Redis;
 * - `SECRET_KEY_BASE` (required, the same on every node: a LongPoll session token signed by one
 *   node must verify on the others);
 * - `PRESENCE_HEARTBEAT_MS`, `PRESENCE_DOWN_AFTER_MS`, `LONGPOLL_WINDOW_MS` (optional);
 * - `LOG_LEVEL` (default `silent`).
 *
 * Topics starting `test:h` keep history (1,000 publications per topic), the others do not.
 *
 * Besides the socket, a few HTTP routes let a test drive and observe the node from outside:
 * - `GET /health` → 200 once the node is listening (its PubSub and presence have started);
 * - `POST /broadcast?topic=…&event=…` with a JSON body → `endpoint.broadcast(topic, event, body)`, 204;
 * - `GET /presence?topic=…` → `endpoint.presence.list(topic)` as JSON.
 *
 * SIGTERM (or SIGINT) closes the endpoint — sockets drained with 1012, presences untracked, a
 * goodbye to the other nodes — and exits 0.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { pino } from 'pino';
import { NatsPubSubAdapter } from '../../src/nats/index.ts';
import { RedisClusterPubSubAdapter, RedisPubSubAdapter } from '../../src/redis/index.ts';
import { Endpoint, PubSub } from '../../src/index.ts';
import { createFixtureSocket } from './fixture.ts';

function required(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`cluster-node: ${name} is required`);
  return value;
}

function optionalNumber(name: string): number | undefined {
  const value = process.env[name];
  if (value === undefined || value === '') return undefined;
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0) throw new Error(`cluster-node: ${name}=${value} is not a positive number`);
  return number;
}

const logger = pino({ level: process.env.LOG_LEVEL ?? 'silent' });
const port = Number(required('PORT'));
const heartbeatMs = optionalNumber('PRESENCE_HEARTBEAT_MS');
const downAfterMs = optionalNumber('PRESENCE_DOWN_AFTER_MS');
const windowMs = optionalNumber('LONGPOLL_WINDOW_MS');

const natsUrl = process.env.NATS_URL ?? '';
const clusterNodes = process.env.REDIS_CLUSTER_NODES ?? '';
if (clusterNodes !== '' && (process.env.REDIS_URL ?? '') !== '') throw new Error('cluster-node: REDIS_URL and REDIS_CLUSTER_NODES are exclusive');
const pubsub = new PubSub({
  adapter:
    natsUrl !== ''
      ? new NatsPubSubAdapter({ servers: natsUrl, prefix: required('REDIS_PREFIX'), logger })
      : clusterNodes !== ''
        ? new RedisClusterPubSubAdapter({ nodes: clusterNodes.split(','), prefix: required('REDIS_PREFIX'), logger })
        : new RedisPubSubAdapter({ url: required('REDIS_URL'), prefix: required('REDIS_PREFIX'), logger }),
  // `test:h…` topics keep history (docs/recovery.md); the others are plain topics.
  history: { topics: ['test:h*'], size: 1000 },
});
const endpoint = new Endpoint({
  pubsub,
  secretKeyBase: required('SECRET_KEY_BASE'),
  logger,
  presence: { heartbeatMs, downAfterMs },
});
endpoint.socket('/socket', createFixtureSocket([], []), { longpoll: { windowMs } });

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

async function broadcast(url: URL, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const topic = url.searchParams.get('topic');
  const event = url.searchParams.get('event');
  const body = await readBody(req);
  let payload: unknown;
  try {
    payload = body === '' ? {} : JSON.parse(body);
  } catch {
    payload = undefined;
  }
  if (!topic || !event || typeof payload !== 'object' || payload === null) {
    res.writeHead(400).end('topic, event and a JSON object body are required');
    return;
  }
  endpoint.broadcast(topic, event, payload as Record<string, unknown>);
  res.writeHead(204).end();
}

const routes: RequestListener = (req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const route = `${req.method} ${url.pathname}`;
  if (route === 'GET /health') {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
  } else if (route === 'POST /broadcast') {
    broadcast(url, req, res).catch(() => res.writeHead(500).end());
  } else if (route === 'GET /presence') {
    const topic = url.searchParams.get('topic');
    if (!topic) res.writeHead(400).end('topic is required');
    else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(endpoint.presence.list(topic)));
  } else {
    res.writeHead(404).end();
  }
};

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    // No pause between drain batches: a test waits for this exit.
    endpoint.close({ intervalMs: 0 }).then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'close failed');
        process.exit(1);
      },
    );
  });
}

await endpoint.listen({ port, host: '127.0.0.1', fallback: routes });
logger.info({ port, node: pubsub.nodeId }, 'cluster node listening');
