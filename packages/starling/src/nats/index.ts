/**
 * @module starling-channels/nats
 * Starling's NATS adapter: {@link NatsPubSubAdapter} spreads broadcasts over several nodes
 * through core NATS and keeps the streams of history topics in JetStream (docs/recovery.md).
 * Needs `@nats-io/transport-node` and `@nats-io/jetstream` (optional peer dependencies: install
 * them to use this subpath) and a NATS server with JetStream enabled (`nats-server -js`).
 *
 * @example
 * import { Endpoint, PubSub } from 'starling-channels';
 * import { NatsPubSubAdapter } from 'starling-channels/nats';
 *
 * const pubsub = new PubSub({
 *   adapter: new NatsPubSubAdapter({ servers: 'nats://nats:4222', prefix: 'chat' }),
 *   history: { topics: ['rooms:*'] },
 * });
 * const endpoint = new Endpoint({ pubsub });
 */
export { NatsPubSubAdapter, type NatsConnectionOptions, type NatsPubSubAdapterOptions, type NatsPubSubStats } from './nats-pubsub-adapter.ts';
export { natsOptionsFromUrl, type NatsUrlOptions } from './nats-url.ts';
