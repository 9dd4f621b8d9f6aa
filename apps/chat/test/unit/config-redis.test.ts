/**
 * The chat's choice of cross-process PubSub from its environment: a standalone Redis
 * (`REDIS_URL`), a Redis Cluster (`REDIS_CLUSTER_NODES=host:port,…`), never both; `WORKERS > 1`
 * needs one of them. A bad value is a ConfigError naming the variable and what it accepts.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, readConfig } from '../../src/config.ts';

describe('chat config: Redis or Redis Cluster', () => {
  it('takes REDIS_CLUSTER_NODES as a list of host:port, and WORKERS > 1 with it', () => {
    const config = readConfig({ REDIS_CLUSTER_NODES: '10.0.0.1:6379, redis-2:7000', WORKERS: '2' });
    expect(config.chat.redisClusterNodes).toEqual(['10.0.0.1:6379', 'redis-2:7000']);
    expect(config.chat.redisUrl).toBeUndefined();
    expect(config.workers).toBe(2);
  });

  it('refuses REDIS_URL and REDIS_CLUSTER_NODES together', () => {
    expect(() => readConfig({ REDIS_URL: 'redis://127.0.0.1:6379', REDIS_CLUSTER_NODES: '127.0.0.1:7000' })).toThrow(
      new ConfigError('REDIS_URL and REDIS_CLUSTER_NODES are exclusive: set one (a standalone Redis) or the other (a Redis Cluster)'),
    );
  });

  it('refuses a node that is not host:port', () => {
    for (const value of ['127.0.0.1', 'redis://127.0.0.1:6379', '127.0.0.1:0', 'a:6379,,b:6379']) {
      expect(() => readConfig({ REDIS_CLUSTER_NODES: value }), value).toThrow(/^REDIS_CLUSTER_NODES must be host:port pairs/);
    }
  });
});
