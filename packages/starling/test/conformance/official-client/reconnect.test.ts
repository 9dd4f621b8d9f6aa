/**
 * The official client comes back on its own (§1.6, §1.7, §5.3–§5.6, checklist §11 item 38):
 * after the server restarts on the same port (the old one drains with 1012), after a
 * `disconnect` broadcast on its socket id (1001) and after the server closed it for a malformed
 * frame (1007). Each time the client must reconnect, run `connect` again and rejoin its channels,
 * which must then work. Reconnect and rejoin delays are shortened by the pool.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Socket } from 'phoenix';
import type WebSocket from 'ws';
import { startFixture, type Fixture } from '../../support/fixture.ts';
import { eventually } from '@starling/test-support/eventually';
import { ClientPool, freePort, inboxOf, joined, officialClients, pushOutcome } from '@starling/test-support/official-client';

function closeCodesOf(socket: Socket): number[] {
  const codes: number[] = [];
  socket.onClose((event) => codes.push(event.code));
  return codes;
}

/** How many connection errors (refused reconnects, among others) `socket` has reported so far. */
function errorsOf(socket: Socket): { count: number } {
  const errors = { count: 0 };
  socket.onError(() => errors.count++);
  return errors;
}

const joinsOf = (fixture: Fixture, topic: string): number => fixture.calls.filter((c) => c.callback === 'join' && c.topic === topic).length;

describe.each(officialClients)('$name reconnects and rejoins', (client) => {
  const fixtures: Fixture[] = [];
  let pool: ClientPool;

  async function start(port = 0): Promise<Fixture> {
    const fixture = await startFixture({ port, socket: { longpoll: { windowMs: 300 } } });
    fixtures.push(fixture);
    return fixture;
  }

  afterEach(async () => {
    await pool?.close();
    for (const fixture of fixtures.splice(0)) await fixture.close();
  });

  it('after the server restarts on the same port (drained with 1012)', async () => {
    const port = await freePort();
    const before = await start(port);
    pool = new ClientPool(client);
    const socket = pool.socket(`ws://127.0.0.1:${port}/socket`);
    const closeCodes = closeCodesOf(socket);
    const errors = errorsOf(socket);
    const channel = socket.channel('test:restart', { round: 'any' });
    await joined(channel);

    await before.close();
    await eventually(() => expect(closeCodes).toContain(1012));
    const errorsAtClose = errors.count;
    await eventually(() => expect(errors.count - errorsAtClose).toBeGreaterThanOrEqual(2)); // a few refused reconnects meanwhile
    const after = await start(port);

    await eventually(() => expect(joinsOf(after, 'test:restart')).toBe(1), 5000);
    await eventually(() => expect(channel.state).toBe('joined'));
    expect(await pushOutcome(channel, 'echo', { after: 'restart' })).toEqual({ status: 'ok', response: { after: 'restart' } });
    const heard = inboxOf(channel, 'news');
    after.endpoint.broadcast('test:restart', 'news', { from: 'new server' });
    expect(await heard.next()).toEqual({ from: 'new server' });
  });

  it('over LongPoll, after the server restarts on the same port', async () => {
    const port = await freePort();
    const before = await start(port);
    pool = new ClientPool(client);
    const socket = pool.socket(`ws://127.0.0.1:${port}/socket`, { longPoll: true });
    const errors = errorsOf(socket);
    const channel = socket.channel('test:restart-lp');
    await joined(channel);

    await before.close();
    await eventually(() => expect(errors.count).toBeGreaterThanOrEqual(2)); // a few refused polls meanwhile
    const after = await start(port);

    await eventually(() => expect(joinsOf(after, 'test:restart-lp')).toBeGreaterThanOrEqual(1), 5000);
    await eventually(() => expect(channel.state).toBe('joined'));
    expect(await pushOutcome(channel, 'echo', { after: 'restart' })).toEqual({ status: 'ok', response: { after: 'restart' } });
  });

  it('after a disconnect broadcast on its socket id (closed with 1001), running connect again', async () => {
    const fixture = await start();
    pool = new ClientPool(client);
    const socket = pool.socket(`ws://127.0.0.1:${fixture.port}/socket`, { params: { user_id: 'u1' } });
    const closeCodes = closeCodesOf(socket);
    const first = socket.channel('test:one');
    const second = socket.channel('test:two');
    await joined(first);
    await joined(second);

    fixture.endpoint.broadcast('users_socket:u1', 'disconnect', {});

    await eventually(() => expect(closeCodes).toContain(1001));
    await eventually(() => expect(fixture.connects).toHaveLength(2), 5000);
    await eventually(() => {
      expect(joinsOf(fixture, 'test:one')).toBe(2);
      expect(joinsOf(fixture, 'test:two')).toBe(2);
    }, 5000);
    expect(fixture.calls).toContainEqual({ callback: 'terminate', topic: 'test:one', reason: { shutdown: 'disconnected' } });
    await eventually(() => expect([first.state, second.state]).toEqual(['joined', 'joined']));
    expect(await pushOutcome(first, 'echo', { n: 1 })).toEqual({ status: 'ok', response: { n: 1 } });
    expect(await pushOutcome(second, 'echo', { n: 2 })).toEqual({ status: 'ok', response: { n: 2 } });
  });

  it('after the server closed it for a malformed frame (1007)', async () => {
    const fixture = await start();
    pool = new ClientPool(client);
    const socket = pool.socket(`ws://127.0.0.1:${fixture.port}/socket`);
    const closeCodes = closeCodesOf(socket);
    const channel = socket.channel('test:malformed');
    await joined(channel);

    (socket.conn as WebSocket).send('this is not json');

    await eventually(() => expect(closeCodes).toContain(1007));
    await eventually(() => expect(joinsOf(fixture, 'test:malformed')).toBe(2), 5000);
    await eventually(() => expect(channel.state).toBe('joined'));
    expect(await pushOutcome(channel, 'echo', { ok: true })).toEqual({ status: 'ok', response: { ok: true } });
  });

  it('stays connected through heartbeats faster than the server idle timeout', async () => {
    const fixture = await startFixture({ socket: { websocket: { idleTimeoutMs: 300 } } });
    fixtures.push(fixture);
    pool = new ClientPool(client);
    const socket = pool.socket(`ws://127.0.0.1:${fixture.port}/socket`, { heartbeatIntervalMs: 100 });
    const closeCodes = closeCodesOf(socket);
    let heartbeats = 0;
    socket.onMessage((message) => {
      if (message.topic === 'phoenix' && message.event === 'phx_reply') heartbeats++;
    });
    const channel = socket.channel('test:heartbeat');
    await joined(channel);

    // Ten heartbeats answered: about a second, more than three idle timeouts.
    await eventually(() => expect(heartbeats).toBeGreaterThanOrEqual(10), 5000);

    expect(closeCodes).toEqual([]);
    expect(fixture.connects).toHaveLength(1);
    expect(await pushOutcome(channel, 'echo', {})).toEqual({ status: 'ok', response: {} });
  });

  it('keeps a channel the server closed gracefully closed across a reconnect', async () => {
    const fixture = await start();
    pool = new ClientPool(client);
    const socket = pool.socket(`ws://127.0.0.1:${fixture.port}/socket`, { params: { user_id: 'u2' } });
    const stopped = socket.channel('test:stopped');
    const kept = socket.channel('test:kept');
    await joined(stopped);
    await joined(kept);
    stopped.push('stop_normal', {});
    await eventually(() => expect(stopped.state).toBe('closed'));

    fixture.endpoint.broadcast('users_socket:u2', 'disconnect', {});

    await eventually(() => expect(joinsOf(fixture, 'test:kept')).toBe(2), 5000);
    expect(joinsOf(fixture, 'test:stopped')).toBe(1);
  });
});
