/**
 * Liveness and readiness (issue 24): `/health` answers while the process serves; `/ready` follows
 * what the chat stands on. Stopping the chat's Redis, its NATS or its PostgreSQL (each a private
 * server of this test's own) turns `/ready` to 503 naming it, logs the outage once at warn and counts it;
 * starting it again turns it back to 200 and logs that once.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '@starling/test-support/eventually';
import { startLogicalPostgres } from '@starling/test-support/logical-postgres';
import { startThrowawayNats } from '@starling/test-support/nats';
import { startThrowawayRedis, type ThrowawayRedis } from '@starling/test-support/redis';
import { useChats } from '../support/chat.ts';

const chats = useChats();
let redis: ThrowawayRedis | undefined;

afterEach(async () => {
  await redis?.stop();
  redis = undefined;
});

describe('/ready', () => {
  it('answers 503 naming Redis while it is down, 200 once it is back; the outage is logged once each way and counted', async () => {
    redis = await startThrowawayRedis();
    const lines: Array<{ level: number; msg: string; dependency?: string }> = [];
    const logger = pino(
      { level: 'info' },
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          lines.push(JSON.parse(chunk.toString()) as (typeof lines)[number]);
          done();
        },
      }),
    );
    const chat = await chats.start({ redisUrl: redis.url, logger });
    const base = `http://127.0.0.1:${chat.chat.port}`;
    const ready = async () => {
      const response = await fetch(`${base}/ready`);
      return { status: response.status, body: (await response.json()) as unknown };
    };
    expect(await ready()).toEqual({ status: 200, body: { ready: true } });

    await redis.stop();
    await eventually(async () => expect(await ready()).toEqual({ status: 503, body: { ready: false, down: ['redis'] } }), 10_000);
    expect((await fetch(`${base}/health`)).status).toBe(200); // still alive: liveness is not readiness

    await redis.restart();
    await eventually(async () => expect(await ready()).toEqual({ status: 200, body: { ready: true } }), 15_000);

    const about = lines.filter((line) => line.dependency === 'redis');
    expect(about.map((line) => [line.level, line.msg])).toEqual([
      [40, 'redis unreachable: the chat is not ready'],
      [30, 'redis reachable again'],
    ]);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/^chat_dependency_outages_total\{dependency="redis"\} 1$/m);
    expect(metrics).toMatch(/^chat_dependency_up\{dependency="redis"\} 1$/m);
  });

  it('answers 503 naming NATS while it is down, 200 once it is back', async () => {
    const nats = await startThrowawayNats();
    try {
      const chat = await chats.start({ natsUrl: nats.url });
      const ready = async () => {
        const response = await fetch(`http://127.0.0.1:${chat.chat.port}/ready`);
        return { status: response.status, body: (await response.json()) as unknown };
      };
      expect(await ready()).toEqual({ status: 200, body: { ready: true } });
      await nats.stop();
      await eventually(async () => expect(await ready()).toEqual({ status: 503, body: { ready: false, down: ['nats'] } }), 10_000);
      // The same store: JetStream keeps the rooms' streams, and the adapter reconnects by itself.
      await nats.restart();
      await eventually(async () => expect(await ready()).toEqual({ status: 200, body: { ready: true } }), 15_000);
      const metrics = await (await fetch(`http://127.0.0.1:${chat.chat.port}/metrics`)).text();
      expect(metrics).toMatch(/^chat_dependency_outages_total\{dependency="nats"\} 1$/m);
    } finally {
      await nats.stop();
    }
  });

  it('answers 503 naming PostgreSQL while it is down, 200 once it is back', async () => {
    const database = await startLogicalPostgres();
    try {
      const chat = await chats.start({ databaseUrl: database.url });
      const ready = async () => {
        const response = await fetch(`http://127.0.0.1:${chat.chat.port}/ready`);
        return { status: response.status, body: (await response.json()) as unknown };
      };
      expect(await ready()).toEqual({ status: 200, body: { ready: true } });
      await database.pause();
      await eventually(async () => expect(await ready()).toEqual({ status: 503, body: { ready: false, down: ['postgresql'] } }), 10_000);
      await database.resume();
      await eventually(async () => expect(await ready()).toEqual({ status: 200, body: { ready: true } }), 15_000);
    } finally {
      await database.stop();
    }
  });
});
