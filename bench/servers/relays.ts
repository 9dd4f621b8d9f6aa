/**
 * @module bench/servers/relays
 * The bare-ws ceiling's cross-node relays, one per engine, each the plainest use of it: every
 * local broadcast is published, as the raw body behind a four-byte node id (the pid), on one
 * channel, and every node broadcasts what another node published there (its own comes back too
 * and is skipped: it was broadcast locally).
 *
 * | `BENCH_PUBSUB` | the channel |
 * | --- | --- |
 * | `redis` | PUBLISH / SUBSCRIBE on one channel of `BENCH_REDIS_URL` |
 * | `redis-cluster` | SPUBLISH / SSUBSCRIBE on one sharded channel (ioredis `Cluster`) of `BENCH_REDIS_CLUSTER_NODES` |
 * | `nats` | core NATS publish / subscribe on one subject of `BENCH_NATS_URL` |
 *
 * @example
 * const relay = await openRelay('redis', (payload) => broadcastHere(payload));
 * relay?.publish(body);
 */
import { connect } from '@nats-io/transport-node';
import { Cluster, Redis } from 'ioredis';

/** A started relay. */
export interface Relay {
  /** Publishes a local broadcast's body to the other nodes. */
  publish(payload: Buffer): void;
  close(): Promise<void>;
}

/** Every node of a relay tells its own messages by this id. */
function nodeId(): Buffer {
  const node = Buffer.alloc(4);
  node.writeUInt32BE(process.pid);
  return node;
}

/** Calls `broadcastHere` with the body of a message another node published. */
function fromOthers(node: Buffer, broadcastHere: (payload: Buffer) => void): (message: Buffer) => void {
  return (message) => {
    if (!message.subarray(0, 4).equals(node)) broadcastHere(message.subarray(4));
  };
}

/**
 * A relay on two ioredis clients: PUBLISH / SUBSCRIBE on a Redis, or with `sharded` SPUBLISH /
 * SSUBSCRIBE on a Redis Cluster (whose subscriber needs `shardedSubscribers`).
 */
async function ioredisRelay(
  pub: Redis | Cluster,
  sub: Redis | Cluster,
  sharded: boolean,
  channel: string,
  node: Buffer,
  receive: (message: Buffer) => void,
): Promise<Relay> {
  if (sharded) await sub.ssubscribe(channel);
  else await sub.subscribe(channel);
  sub.on(sharded ? 'smessageBuffer' : 'messageBuffer', (_channel: Buffer, message: Buffer) => receive(message));
  return {
    publish: (payload) => {
      const message = Buffer.concat([node, payload]);
      void (sharded ? pub.spublish(channel, message) : pub.publish(channel, message));
    },
    close: async () => {
      pub.disconnect();
      sub.disconnect();
    },
  };
}

async function natsRelay(subject: string, node: Buffer, receive: (message: Buffer) => void): Promise<Relay> {
  const nc = await connect({ servers: process.env.BENCH_NATS_URL ?? 'nats://127.0.0.1:4222' });
  nc.subscribe(subject, {
    callback: (err, msg) => {
      if (err === null) receive(Buffer.from(msg.data.buffer, msg.data.byteOffset, msg.data.byteLength));
    },
  });
  // The subscription must be on the server before the first publication of any node.
  await nc.flush();
  return {
    publish: (payload) => nc.publish(subject, Buffer.concat([node, payload])),
    close: () => nc.close(),
  };
}

/** The relay `BENCH_PUBSUB` asks for (under `BENCH_PUBSUB_PREFIX`), or null for one node. */
export async function openRelay(broadcastHere: (payload: Buffer) => void): Promise<Relay | null> {
  const kind = process.env.BENCH_PUBSUB ?? 'memory';
  const prefix = process.env.BENCH_PUBSUB_PREFIX ?? 'bench';
  const node = nodeId();
  const receive = fromOthers(node, broadcastHere);
  switch (kind) {
    case 'memory':
      return null;
    case 'redis': {
      const pub = new Redis(process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379');
      return ioredisRelay(pub, pub.duplicate(), false, `${prefix}:bare-ws`, node, receive);
    }
    case 'redis-cluster': {
      const nodes = (process.env.BENCH_REDIS_CLUSTER_NODES ?? '').split(',').filter(Boolean);
      return ioredisRelay(new Cluster(nodes), new Cluster(nodes, { shardedSubscribers: true }), true, `${prefix}:bare-ws`, node, receive);
    }
    case 'nats':
      return natsRelay(`${prefix}.bare-ws`, node, receive);
    default:
      throw new Error(`BENCH_PUBSUB=${kind}: expected memory, redis, redis-cluster or nats`);
  }
}
