/**
 * A bounded replay with the official client (docs/recovery.md, "How much one replay may carry"): a
 * `recoverableChannel` of `starling-channels/client` behind a TCP proxy that cuts the line misses
 * publications, then reconnects and rejoins with `recover` by itself. What it missed is replayed
 * only when it weighs at most `history.maxReplayBytes` and fits in half the room left in its
 * transport; otherwise the join gets `phx_stream {recovered: false}` and no replay, and live
 * traffic goes on. Over LongPoll a client that missed more than its session buffer (1 MiB) holds
 * resumes the same way: its session is never overflowed, so it never loops on 410.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Channel, Socket } from 'phoenix';
import { eventually } from '@starling/test-support/eventually';
import { ClientPool, officialClients, phoenix18Client, joined, type OfficialClient } from '@starling/test-support/official-client';
import { TcpProxy } from '@starling/test-support/tcp-proxy';
import { startFixture, type Fixture } from '../../support/fixture.ts';
import { recoverableChannel, type RecoverableChannel, type StreamNotice } from '../../../src/client/index.ts';
import type { HistoryOptions } from '../../../src/index.ts';

/** About 1 KB of JSON per publication. */
const TEXT = 'x'.repeat(1000);

/** A recoverable channel that records the ids it hears and its `phx_stream` notices. */
interface Room {
  readonly room: RecoverableChannel<Channel>;
  readonly ids: string[];
  readonly notices: StreamNotice[];
}

function openRoom(socket: Socket, topic: string): Room {
  const ids: string[] = [];
  const notices: StreamNotice[] = [];
  const room = recoverableChannel(socket, topic, { onStream: (notice) => notices.push(notice) });
  room.channel.on('news', (payload: { id: string }) => ids.push(payload.id));
  return { room, ids, notices };
}

/** Publishes `count` publications of ~1 KB on `topic`, ids `<prefix>-<n>`. */
function publish(fixture: Fixture, topic: string, prefix: string, count: number): void {
  for (let n = 0; n < count; n++) fixture.endpoint.broadcast(topic, 'news', { id: `${prefix}-${n}`, text: TEXT });
}

/** A fixture whose `test:history-*` topics keep history, a TCP proxy in front of it, and a client pool. */
class Setup {
  fixture: Fixture | undefined;
  proxy: TcpProxy | undefined;
  pool: ClientPool | undefined;

  async start(client: OfficialClient, history: Omit<HistoryOptions, 'topics'>): Promise<{ fixture: Fixture; proxy: TcpProxy; pool: ClientPool }> {
    const fixture = await startFixture({
      endpoint: { history: { topics: ['test:history-*'], size: 5000, ...history } },
      socket: { longpoll: { windowMs: 300 }, rateLimit: false },
    });
    this.fixture = fixture;
    const proxy = (this.proxy = await TcpProxy.start(fixture.port));
    const pool = (this.pool = new ClientPool(client));
    return { fixture, proxy, pool };
  }

  /** Cuts the line until `socket` has noticed, runs `meanwhile`, restores it. */
  async outage(socket: Socket, meanwhile: () => void): Promise<void> {
    this.proxy?.cut();
    await eventually(() => expect(socket.isConnected()).toBe(false));
    meanwhile();
    this.proxy?.restore();
  }

  async close(): Promise<void> {
    await this.pool?.close();
    await this.proxy?.close();
    await this.fixture?.close();
    this.pool = this.proxy = this.fixture = undefined;
  }
}

describe.each(officialClients)('$name: a replay is bounded by maxReplayBytes', (client: OfficialClient) => {
  const setup = new Setup();
  afterEach(() => setup.close());

  const transports = client === phoenix18Client ? (['WebSocket', 'LongPoll'] as const) : (['WebSocket'] as const);

  it.each(transports)('over %s: within it the missed publications are replayed; past it, recovered false and no replay', async (transport) => {
    const { fixture, proxy, pool } = await setup.start(client, { maxReplayBytes: 20_000 });
    const socket = pool.socket(`ws://127.0.0.1:${proxy.port}/socket`, { longPoll: transport === 'LongPoll' });
    const topic = 'test:history-budget';
    const { room, ids, notices } = openRoom(socket, topic);
    await joined(room.channel);
    await eventually(() => expect(notices).toHaveLength(1));

    // 10 publications of ~1 KB missed: within 20,000 bytes, replayed.
    await setup.outage(socket, () => publish(fixture, topic, 'small', 10));
    await eventually(() => expect(notices).toHaveLength(2), 8000);
    expect(notices[1]?.recovered).toBe(true);
    expect(ids).toEqual(Array.from({ length: 10 }, (_, n) => `small-${n}`));

    // 50 of ~1 KB missed: over the budget, nothing is replayed.
    await setup.outage(socket, () => publish(fixture, topic, 'big', 50));
    await eventually(() => expect(notices).toHaveLength(3), 8000);
    expect(notices[2]).toEqual({ position: room.position, recovered: false });
    expect(ids).toHaveLength(10);
    expect(fixture.endpoint.stats.replaysRefused).toBe(1);

    // Live traffic goes on from the latest position.
    publish(fixture, topic, 'after', 1);
    await eventually(() => expect(ids.at(-1)).toBe('after-0'));
    expect(ids).toHaveLength(11);
  });
});

/*
 * Over LongPoll a replay lands in the session's buffer all at once, before the next poll takes it.
 * Had it overflowed the buffer (1 MiB), the session would end (the next poll: 410), the client
 * would reconnect, rejoin with the same position, overflow the new session, and so on for ever.
 * The old session, cut off during the outage, may end as a slow reader (it buffers what it
 * misses); the new one never does.
 */
describe('phoenix 1.8.16 over LongPoll: a client that missed more than its session holds resumes', () => {
  const setup = new Setup();
  afterEach(() => setup.close());

  /** Connects through the proxy, joins `topics`, and waits for their first notices. */
  async function longPollRooms(topics: readonly string[]): Promise<{ socket: Socket; rooms: Room[] }> {
    const socket = setup.pool!.socket(`ws://127.0.0.1:${setup.proxy!.port}/socket`, { longPoll: true, params: { who: 'subscriber' } });
    const rooms = topics.map((topic) => openRoom(socket, topic));
    for (const { room } of rooms) await joined(room.channel);
    await eventually(() => expect(rooms.map((r) => r.notices.length)).toEqual(topics.map(() => 1)));
    return { socket, rooms };
  }

  /** LongPoll sessions the subscriber opened: one per (re)connect; a 410 loop opens one after another. */
  const sessions = (fixture: Fixture): number => fixture.connects.filter((c) => c.params.who === 'subscriber').length;

  it('with the defaults (256 KiB replay, 1 MiB buffer), ~1.5 MB missed: recovered false, then live, one new session', async () => {
    const { fixture } = await setup.start(phoenix18Client, {});
    const topic = 'test:history-busy';
    const { socket, rooms } = await longPollRooms([topic]);
    const [busy] = rooms as [Room];

    await setup.outage(socket, () => publish(fixture, topic, 'missed', 1500));
    const slowReaders = fixture.endpoint.stats.slowReaderCloses; // the old session's, at most
    await eventually(() => expect(busy.notices).toHaveLength(2), 8000);
    expect(busy.notices[1]).toEqual({ position: busy.room.position, recovered: false });
    publish(fixture, topic, 'after', 1);
    await eventually(() => expect(busy.ids).toEqual(['after-0']));
    expect(sessions(fixture)).toBe(2); // the first, and one after the outage
    expect(fixture.endpoint.stats.slowReaderCloses).toBe(slowReaders);
  });

  it('a maxReplayBytes above the session buffer is still never sent into it', async () => {
    const { fixture } = await setup.start(phoenix18Client, { maxReplayBytes: 8 * 1024 * 1024 });
    const topic = 'test:history-busy';
    const { socket, rooms } = await longPollRooms([topic]);
    const [busy] = rooms as [Room];

    await setup.outage(socket, () => publish(fixture, topic, 'missed', 1500));
    const slowReaders = fixture.endpoint.stats.slowReaderCloses;
    await eventually(() => expect(busy.notices).toHaveLength(2), 8000);
    expect(busy.notices[1]?.recovered).toBe(false);
    publish(fixture, topic, 'after', 1);
    await eventually(() => expect(busy.ids).toEqual(['after-0']));
    expect(sessions(fixture)).toBe(2);
    expect(fixture.endpoint.stats.slowReaderCloses).toBe(slowReaders);
    expect(fixture.endpoint.stats.replaysRefused).toBe(1);
  });

  it('rooms that each missed less than the budget but together more than the buffer: some replay, the rest reload, one new session', async () => {
    const { fixture } = await setup.start(phoenix18Client, {});
    const topics = Array.from({ length: 6 }, (_, i) => `test:history-room-${i}`);
    const { socket, rooms } = await longPollRooms(topics);

    // ~200 KB per room (under 256 KiB), ~1.2 MB in all: more than one session buffer holds.
    await setup.outage(socket, () => {
      for (const topic of topics) publish(fixture, topic, topic, 200);
    });
    const slowReaders = fixture.endpoint.stats.slowReaderCloses;
    await eventually(() => expect(rooms.map((r) => r.notices.length)).toEqual(topics.map(() => 2)), 8000);
    const recovered = rooms.filter((r) => r.notices[1]?.recovered === true);
    const reloaded = rooms.filter((r) => r.notices[1]?.recovered === false);
    expect(recovered.length).toBeGreaterThan(0);
    expect(reloaded.length).toBeGreaterThan(0);
    for (const r of recovered) expect(r.ids).toHaveLength(200);
    for (const r of reloaded) expect(r.ids).toEqual([]);
    expect(fixture.endpoint.stats.replaysRefused).toBe(reloaded.length);

    for (const topic of topics) publish(fixture, topic, 'after', 1);
    await eventually(() => expect(rooms.map((r) => r.ids.at(-1))).toEqual(topics.map(() => 'after-0')));
    expect(sessions(fixture)).toBe(2);
    expect(fixture.endpoint.stats.slowReaderCloses).toBe(slowReaders);
  });
});
