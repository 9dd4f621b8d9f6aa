/** `natsOptionsFromUrl`: a NATS URL with credentials, read as the NATS client will not. */
import { describe, expect, it } from 'vitest';
import { natsOptionsFromUrl } from '../../../src/nats/nats-url.ts';

describe('natsOptionsFromUrl', () => {
  it('reads credentials from the URL (the client ignores them there) and keeps them out of the servers', () => {
    expect(natsOptionsFromUrl('nats://app:s%40cret@10.0.0.1:4222, nats://app:s%40cret@10.0.0.2:4222')).toEqual({
      servers: ['nats://10.0.0.1:4222', 'nats://10.0.0.2:4222'],
      connectionOptions: { user: 'app', pass: 's@cret' },
    });
    expect(natsOptionsFromUrl('nats://a-token@nats:4222')).toEqual({ servers: ['nats://nats:4222'], connectionOptions: { token: 'a-token' } });
    expect(natsOptionsFromUrl('nats://127.0.0.1:4222/')).toEqual({ servers: ['nats://127.0.0.1:4222'], connectionOptions: {} });
  });

  it('refuses what is not nats://host:port, and servers with different credentials, naming the setting', () => {
    for (const value of ['127.0.0.1:4222', 'redis://127.0.0.1:6379', 'nats://', 'nats://h:4222/path', 'nats://h:4222?x=1', 'nats://a:4222,,nats://b:4222']) {
      expect(() => natsOptionsFromUrl(value, 'NATS_URL'), value).toThrow(/^NATS_URL must be nats:\/\/host:port/);
    }
    expect(() => natsOptionsFromUrl('nats://a:b@h1:4222,nats://c:d@h2:4222')).toThrow(/^a NATS URL gives different credentials to its servers/);
  });
});
