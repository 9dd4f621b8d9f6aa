/**
 * `socket.onExit`: what a channel holds outside the runtime is released on every way out — leave,
 * socket close, stop, crash (where `terminate` does not run), duplicate join, a refused or timed-out
 * join — once, after `terminate`, last registered first, and one disposer that throws does not
 * keep the others from running.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Socket, error, ok, reply, stop, type Channel } from '../../../src/index.ts';
import { ChannelTest } from '../../../src/testing/index.ts';

/** What happened, in order: `exit <topic> <n>` for disposers, `terminate <topic>` for terminate. */
const log: string[] = [];
let joinGate: Promise<void> | null = null;

const OwningChannel = {
  async join(topic, params, socket) {
    const { refuse, throwing, after } = params as { refuse?: boolean; throwing?: boolean; after?: boolean };
    socket.onExit(() => void log.push(`exit ${topic} 1`));
    if (throwing === true)
      socket.onExit(() => {
        throw new Error('a disposer that fails');
      });
    socket.onExit(async () => void log.push(`exit ${topic} 2`));
    if (joinGate !== null) await joinGate;
    if (after === true) socket.onExit(() => void log.push(`exit ${topic} after the join`));
    return refuse === true ? error({ reason: 'unauthorized' }) : ok();
  },
  handleIn(event) {
    if (event === 'crash') throw new Error('boom');
    if (event === 'stop') return stop('normal');
    if (event === 'fail') return stop(new Error('failed'));
    return reply('ok', {});
  },
  terminate(_reason, socket) {
    log.push(`terminate ${socket.topic}`);
  },
} satisfies Channel;

const userSocket = new Socket().channel('owned:*', OwningChannel);

let test: ChannelTest;
function harness(joinTimeoutMs?: number): ChannelTest {
  test = new ChannelTest(userSocket, { mount: joinTimeoutMs === undefined ? {} : { joinTimeoutMs }, assertTimeoutMs: 500, refuteTimeoutMs: 20 });
  return test;
}

afterEach(async () => {
  await test.close();
  log.length = 0;
  joinGate = null;
});

describe('socket.onExit', () => {
  it('runs after a crash, where terminate does not: the crashed channel releases what it holds', async () => {
    const client = await harness().connect();
    const { channel } = await client.join('owned:a');
    channel.push('crash');
    await channel.assertPush('phx_error', { reason: 'channel_crash' });
    await test.settle();
    expect(log).toEqual(['exit owned:a 2', 'exit owned:a 1']);
  });

  it('runs once after terminate on a leave, a stop, a failing stop and the socket closing', async () => {
    const client = await harness().connect();
    const left = (await client.join('owned:left')).channel;
    const stopped = (await client.join('owned:stopped')).channel;
    const failed = (await client.join('owned:failed')).channel;
    await client.join('owned:closed');
    await left.leave();
    stopped.push('stop');
    await stopped.assertPush('phx_close');
    failed.push('fail');
    await failed.assertPush('phx_error');
    client.close();
    await test.settle();
    const of = (topic: string): string[] => log.filter((line) => line.includes(` ${topic}`));
    for (const topic of ['owned:left', 'owned:stopped', 'owned:failed', 'owned:closed']) {
      expect(of(topic)).toEqual([`terminate ${topic}`, `exit ${topic} 2`, `exit ${topic} 1`]);
    }
  });

  it('runs for a channel replaced by a duplicate join (without terminate), and for a join that is refused', async () => {
    const client = await harness().connect();
    await client.join('owned:dup');
    await client.join('owned:dup');
    expect(await client.join('owned:refused', { refuse: true })).toMatchObject({ status: 'error' });
    await test.settle();
    // The first join's disposers ran; the second join's are still registered.
    expect(log).toEqual(['exit owned:dup 2', 'exit owned:dup 1', 'exit owned:refused 2', 'exit owned:refused 1']);
  });

  it('runs at once when registered by a join that decided after its timeout', async () => {
    const client = await harness(1_000).connect();
    let open!: () => void;
    joinGate = new Promise<void>((resolve) => (open = resolve));
    const joining = client.join('owned:late', { after: true });
    await test.settle();
    await test.advance(1_000);
    expect(await joining).toMatchObject({ status: 'error', response: { reason: 'join timeout' } });
    // Registered while the join was pending, released with the channel the timeout ended.
    expect(log).toEqual(['exit owned:late 2', 'exit owned:late 1']);
    log.length = 0;
    open();
    await test.settle();
    // The join goes on after its timeout and registers one more: the channel is gone, it runs now.
    expect(log).toEqual(['exit owned:late after the join']);
  });

  it('keeps running the other disposers when one throws, and the socket goes on', async () => {
    const client = await harness().connect();
    const { channel } = await client.join('owned:t', { throwing: true });
    channel.push('crash');
    await channel.assertPush('phx_error');
    await test.settle();
    expect(log).toEqual(['exit owned:t 2', 'exit owned:t 1']);
    expect(client.closed).toBe(false);
  });
});
