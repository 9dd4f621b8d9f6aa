/**
 * The chat's choice of the engine its processes share, from its environment: a standalone Redis
 * (`REDIS_URL`), a Redis Cluster (`REDIS_CLUSTER_NODES=host:port,…`) or NATS (`NATS_URL`), never
 * two at once; `WORKERS > 1` needs one of them. A bad value is a ConfigError naming the variable
 * and what it accepts.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, readConfig } from '../../src/config.ts';
import { engineName } from '../../src/engine.ts';

describe('chat config: the engine', () => {
  it('takes REDIS_CLUSTER_NODES as a list of host:port, and WORKERS > 1 with it', () => {
    const config = readConfig({ REDIS_CLUSTER_NODES: '10.0.0.1:6379, redis-2:7000', WORKERS: '2' });
    expect(config.chat.redisClusterNodes).toEqual(['10.0.0.1:6379', 'redis-2:7000']);
    expect(config.chat.redisUrl).toBeUndefined();
    expect(config.workers).toBe(2);
    expect(engineName(config.chat)).toBe('redis-cluster');
  });

  it('takes NATS_URL, and WORKERS > 1 with it', () => {
    const config = readConfig({ NATS_URL: 'nats://10.0.0.5:4222', WORKERS: '3' });
    expect(config.chat.natsUrl).toBe('nats://10.0.0.5:4222');
    expect(config.workers).toBe(3);
    expect(engineName(config.chat)).toBe('nats');
    expect(engineName(readConfig({ REDIS_URL: 'redis://127.0.0.1:6379' }).chat)).toBe('redis');
    expect(engineName(readConfig({}).chat)).toBeNull();
  });

  it('refuses any two engines at once, naming them', () => {
    const cases = [
      [{ REDIS_URL: 'redis://127.0.0.1:6379', REDIS_CLUSTER_NODES: '127.0.0.1:7000' }, 'REDIS_URL and REDIS_CLUSTER_NODES'],
      [{ REDIS_URL: 'redis://127.0.0.1:6379', NATS_URL: 'nats://127.0.0.1:4222' }, 'REDIS_URL and NATS_URL'],
      [{ REDIS_CLUSTER_NODES: '127.0.0.1:7000', NATS_URL: 'nats://127.0.0.1:4222' }, 'REDIS_CLUSTER_NODES and NATS_URL'],
      [
        { REDIS_URL: 'redis://127.0.0.1:6379', REDIS_CLUSTER_NODES: '127.0.0.1:7000', NATS_URL: 'nats://127.0.0.1:4222' },
        'REDIS_URL and REDIS_CLUSTER_NODES and NATS_URL',
      ],
    ] as const;
    for (const [env, names] of cases) {
      expect(() => readConfig(env), names).toThrow(
        new ConfigError(
          `${names} are exclusive: set one of REDIS_URL (a standalone Redis), REDIS_CLUSTER_NODES (a Redis Cluster) or NATS_URL (NATS with JetStream)`,
        ),
      );
    }
    // Empty counts as unset, as for every variable.
    expect(readConfig({ REDIS_URL: '', NATS_URL: 'nats://127.0.0.1:4222' }).chat.natsUrl).toBe('nats://127.0.0.1:4222');
  });

  it('refuses WORKERS > 1 without an engine, naming the three', () => {
    expect(() => readConfig({ WORKERS: '2' })).toThrow(/^WORKERS > 1 needs REDIS_URL, REDIS_CLUSTER_NODES or NATS_URL: /);
  });

  it('refuses a node that is not host:port', () => {
    for (const value of ['127.0.0.1', 'redis://127.0.0.1:6379', '127.0.0.1:0', 'a:6379,,b:6379']) {
      expect(() => readConfig({ REDIS_CLUSTER_NODES: value }), value).toThrow(/^REDIS_CLUSTER_NODES must be host:port pairs/);
    }
  });

  it('refuses a NATS_URL that is not nats://host:port', () => {
    for (const value of [
      '127.0.0.1:4222',
      'redis://127.0.0.1:6379',
      'nats://',
      'nats://127.0.0.1:4222/path',
      'nats://127.0.0.1:4222?x=1',
      'nats://a:4222,,nats://b:4222',
    ]) {
      expect(() => readConfig({ NATS_URL: value }), value).toThrow(/^NATS_URL must be nats:\/\/host:port/);
    }
  });

  it('refuses a NATS_URL whose servers have different credentials', () => {
    expect(() => readConfig({ NATS_URL: 'nats://a:b@h1:4222,nats://c:d@h2:4222' })).toThrow(/^NATS_URL gives different credentials to its servers/);
  });
});
