/**
 * Gap-free recovery with the official client (docs/recovery.md): a `recoverableChannel` of
 * `starling-channels/client` behind a TCP proxy that cuts the line. While it is down, 1,000 publications
 * are made on the topic by the endpoint and by two other official clients (some of them an
 * intercepted event, pushed by each subscriber's `handleOut`). When the line comes back the client
 * reconnects and rejoins by itself (FAST_RECOVERY) with `recover`, and must get every missed
 * publication exactly once and in the server's order, then `phx_stream {recovered: true}`, then
 * live traffic. A position older than what the server keeps gets `recovered: false` and no replay.
 * Over LongPoll (1.8.16 only: 1.7's LongPoll needs an XHR shim) the same outage is survived too.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Channel, Socket } from 'phoenix';
import { startFixture, type Fixture } from '../../support/fixture.ts';
import { eventually } from '@starling/test-support/eventually';
import { ClientPool, joined, officialClients, phoenix18Client, pushOutcome, type OfficialClient } from '@starling/test-support/official-client';
import { TcpProxy } from '@starling/test-support/tcp-proxy';
import { recoverableChannel, type RecoverableChannel, type StreamNotice } from '../../../src/client/index.ts';
import { parsePosition } from '../../../src/index.ts';

/** Publications made while the subscriber is cut off. */
const MISSED = 1000;
/** Publications per round of the outage (the rounds interleave the three publishers). */
const ROUND = 20;
const TOPIC = 'test:history-room';
const POSITION = /^[^:]{1,64}:(0|[1-9]\d*)$/;

/** A publication as a channel's `on` callbacks saw it. */
interface Heard {
  readonly event: string;
  readonly id: unknown;
  readonly ref: string | null;
  /** The `by` field the fixture's `handleOut` adds to intercepted events (the subscriber's join ref). */
  readonly by?: unknown;
}

/** What a subscriber saw, in order: publications and `phx_stream` notices. */
type Seen = { readonly kind: 'message'; readonly heard: Heard } | { readonly kind: 'stream'; readonly notice: StreamNotice };

const messagesOf = (seen: readonly Seen[]): Heard[] => seen.flatMap((s) => (s.kind === 'message' ? [s.heard] : []));
const noticesOf = (seen: readonly Seen[]): StreamNotice[] => seen.flatMap((s) => (s.kind === 'stream' ? [s.notice] : []));
/** What every subscriber sees alike (the `by` of intercepted events differs per subscriber). */
const common = (heard: Heard): Omit<Heard, 'by'> => ({ event: heard.event, id: heard.id, ref: heard.ref });

function offsetOf(ref: string | null): number {
  const position = parsePosition(ref);
  if (position === null) throw new Error(`not a position: ${String(ref)}`);
  return position.offset;
}

function epochOf(ref: string | null): string {
  const position = parsePosition(ref);
  if (position === null) throw new Error(`not a position: ${String(ref)}`);
  return position.epoch;
}

/**
 * Records `news` and `intercepted` on `channel` with their refs. The phoenix client passes the
 * frame's ref as the second argument of `on` callbacks, which the local typings leave out.
 */
function record(channel: Channel, into: { push(item: Seen): unknown }): void {
  const on = channel.on.bind(channel) as (event: string, callback: (payload: Record<string, unknown>, ref: string | null) => void) => number;
  for (const event of ['news', 'intercepted']) {
    on(event, (payload, ref) => {
      const heard: Heard = 'by' in payload ? { event, id: payload.id, ref, by: payload.by } : { event, id: payload.id, ref };
      into.push({ kind: 'message', heard });
    });
  }
}

/** A directly connected official client on the topic that records what it hears. */
async function observer(pool: ClientPool, fixture: Fixture): Promise<{ channel: Channel; seen: Seen[] }> {
  const channel = pool.socket(`ws://127.0.0.1:${fixture.port}/socket`).channel(TOPIC);
  const seen: Seen[] = [];
  record(channel, seen);
  await joined(channel);
  return { channel, seen };
}

/** Pushes `broadcast` through a publisher's channel and expects it to be acknowledged. */
async function pushBroadcast(channel: Channel, event: string, payload: object): Promise<void> {
  expect(await pushOutcome(channel, 'broadcast', { event, payload }, [], 5000)).toEqual({ status: 'ok', response: {} });
}

/** The params of every join on the topic that asked to recover. */
const recoverJoins = (fixture: Fixture): unknown[] =>
  fixture.calls
    .filter((c) => c.callback === 'join' && c.topic === TOPIC && typeof c.payload === 'object' && c.payload !== null && 'recover' in c.payload)
    .map((c) => c.payload);

interface Subscriber {
  readonly socket: Socket;
  readonly room: RecoverableChannel<Channel>;
  readonly seen: Seen[];
}

/** A recoverable subscriber connected through `proxy`, joined, with its first phx_stream in. */
async function subscribe(pool: ClientPool, proxy: TcpProxy, longPoll = false): Promise<Subscriber> {
  const socket = pool.socket(`ws://127.0.0.1:${proxy.port}/socket`, { longPoll, params: { who: 'subscriber' } });
  const seen: Seen[] = [];
  const room = recoverableChannel(socket, TOPIC, { params: { role: 'subscriber' }, onStream: (notice) => seen.push({ kind: 'stream', notice }) });
  record(room.channel, seen);
  await joined(room.channel);
  await eventually(() => expect(noticesOf(seen)).toHaveLength(1));
  return { socket, room, seen };
}

describe.each(officialClients)('$name recovers a history topic after an outage', (client: OfficialClient) => {
  const fixtures: Fixture[] = [];
  const proxies: TcpProxy[] = [];
  let pool: ClientPool | undefined;

  async function start(size: number): Promise<{ fixture: Fixture; proxy: TcpProxy }> {
    // The publishers push hundreds of broadcasts within a second: no per-socket rate limit.
    const fixture = await startFixture({
      endpoint: { history: { topics: ['test:history-*'], size } },
      socket: { longpoll: { windowMs: 300 }, rateLimit: false },
    });
    fixtures.push(fixture);
    const proxy = await TcpProxy.start(fixture.port);
    proxies.push(proxy);
    pool = new ClientPool(client);
    return { fixture, proxy };
  }

  afterEach(async () => {
    await pool?.close();
    pool = undefined;
    for (const proxy of proxies.splice(0)) await proxy.close();
    for (const fixture of fixtures.splice(0)) await fixture.close();
  });

  const transports = client === phoenix18Client ? (['WebSocket', 'LongPoll'] as const) : (['WebSocket'] as const);

  it.each(transports)('over %s: 1,000 publications from three publishers missed while cut off are replayed once and in order, then live', async (transport) => {
    const { fixture, proxy } = await start(2000);
    const clients = pool as ClientPool;
    const one = await observer(clients, fixture); // publishers
    const two = await observer(clients, fixture);
    // The reference for the server's order: a client that only listens (a publishing one hears
    // intercepted events late, see the KNOWN BUG tests).
    const watcher = await observer(clients, fixture);
    const subscriber = await subscribe(clients, proxy, transport === 'LongPoll');
    const [first] = noticesOf(subscriber.seen);
    expect(Object.keys(first ?? {})).toEqual(['position']);
    const epoch = epochOf(first?.position ?? null);
    expect(offsetOf(first?.position ?? null)).toBe(0);

    // Live, before the outage: three publications, one of each kind of publisher.
    fixture.endpoint.broadcast(TOPIC, 'news', { id: 'live-1' });
    await pushBroadcast(one.channel, 'news', { id: 'live-2' });
    fixture.endpoint.broadcast(TOPIC, 'intercepted', { id: 'live-3' });
    await eventually(() => expect(messagesOf(subscriber.seen)).toHaveLength(3));
    const live = messagesOf(subscriber.seen);
    for (const heard of live) expect(heard.ref).toMatch(POSITION);
    expect(live.map(common)).toEqual([
      { event: 'news', id: 'live-1', ref: `${epoch}:1` },
      { event: 'news', id: 'live-2', ref: `${epoch}:2` },
      { event: 'intercepted', id: 'live-3', ref: `${epoch}:3` },
    ]);
    expect(live[2]?.by).toBe(subscriber.room.channel.joinRef());
    expect(subscriber.room.position).toBe(`${epoch}:3`);
    const firstJoinRef = subscriber.room.channel.joinRef();

    // The outage: the line is cut and new connections are dropped until restored.
    proxy.cut();
    await eventually(() => {
      expect(subscriber.socket.isConnected()).toBe(false);
      expect(subscriber.room.channel.state).not.toBe('joined');
    });

    const published: string[] = [];
    for (let round = 0; round < MISSED / ROUND; round++) {
      const pushes: Array<Promise<void>> = [];
      for (let k = 0; k < ROUND; k++) {
        const n = round * ROUND + k;
        const id = `missed-${n}`;
        const event = n % 7 === 3 ? 'intercepted' : 'news';
        published.push(id);
        if (n % 3 === 0) fixture.endpoint.broadcast(TOPIC, event, { id });
        else pushes.push(pushBroadcast(n % 3 === 1 ? one.channel : two.channel, event, { id }));
      }
      await Promise.all(pushes);
    }
    await eventually(() => expect(messagesOf(watcher.seen)).toHaveLength(3 + MISSED), 5000);
    // The server's order: every publication once, offsets 1…1003 without a gap.
    const order = messagesOf(watcher.seen).map(common);
    expect(order.map((h) => h.ref)).toEqual(order.map((_, i) => `${epoch}:${i + 1}`));
    expect(
      order
        .slice(3)
        .map((h) => h.id)
        .sort(),
    ).toEqual([...published].sort());
    expect(messagesOf(subscriber.seen)).toHaveLength(3); // nothing reached the subscriber meanwhile
    expect(recoverJoins(fixture)).toEqual([]);

    // The line comes back: the client reconnects and rejoins by itself, with its last position.
    proxy.restore();
    await eventually(() => expect(noticesOf(subscriber.seen)).toHaveLength(2), 8000);
    expect(recoverJoins(fixture)).toEqual([{ role: 'subscriber', recover: `${epoch}:3` }]);
    const subscriberConnects = fixture.connects.filter((c) => c.params.who === 'subscriber').map((c) => c.info.transport);
    expect(subscriberConnects).toEqual(transport === 'LongPoll' ? ['longpoll', 'longpoll'] : ['websocket', 'websocket']);
    expect(subscriber.room.channel.joinRef()).not.toBe(firstJoinRef);
    expect(noticesOf(subscriber.seen)[1]).toEqual({ position: `${epoch}:${3 + MISSED}`, recovered: true });
    // The notice came after the whole replay, which is exactly the server's order.
    const replayed = messagesOf(subscriber.seen).slice(3);
    expect(subscriber.seen.at(-1)?.kind).toBe('stream');
    expect(replayed.map(common)).toEqual(order.slice(3));
    const rejoinRef = subscriber.room.channel.joinRef();
    const intercepted = replayed.filter((h) => h.event === 'intercepted');
    expect(intercepted.length).toBeGreaterThan(100);
    expect(intercepted.map((h) => h.by)).toEqual(intercepted.map(() => rejoinRef)); // handleOut ran for this join
    expect(subscriber.room.position).toBe(`${epoch}:${3 + MISSED}`);

    // Live traffic after the replay, from the endpoint and from a client.
    fixture.endpoint.broadcast(TOPIC, 'news', { id: 'after-1' });
    await pushBroadcast(two.channel, 'intercepted', { id: 'after-2' });
    await eventually(() => expect(messagesOf(subscriber.seen)).toHaveLength(3 + MISSED + 2));
    const all = messagesOf(subscriber.seen);
    expect(all.slice(-2).map(common)).toEqual([
      { event: 'news', id: 'after-1', ref: `${epoch}:${3 + MISSED + 1}` },
      { event: 'intercepted', id: 'after-2', ref: `${epoch}:${3 + MISSED + 2}` },
    ]);
    // Exactly once overall: offsets 1…1005 in order, each id once, one notice between replay and live.
    expect(all.map((h) => offsetOf(h.ref))).toEqual(all.map((_, i) => i + 1));
    expect(new Set(all.map((h) => h.id)).size).toBe(all.length);
    expect(subscriber.seen.findIndex((s) => s.kind === 'stream' && s.notice.recovered === true)).toBe(3 + MISSED + 1);
    expect(noticesOf(subscriber.seen)).toHaveLength(2);
    expect(subscriber.room.position).toBe(`${epoch}:${3 + MISSED + 2}`);
  });

  it('a position older than the server keeps: recovered false, no replay, and the position becomes the latest', async () => {
    const { fixture, proxy } = await start(10);
    const clients = pool as ClientPool;
    const reference = await observer(clients, fixture);
    const subscriber = await subscribe(clients, proxy);
    const epoch = epochOf(noticesOf(subscriber.seen)[0]?.position ?? null);

    fixture.endpoint.broadcast(TOPIC, 'news', { id: 'live-1' });
    fixture.endpoint.broadcast(TOPIC, 'intercepted', { id: 'live-2' });
    await eventually(() => expect(messagesOf(subscriber.seen)).toHaveLength(2));
    expect(subscriber.room.position).toBe(`${epoch}:2`);

    proxy.cut();
    await eventually(() => expect(subscriber.socket.isConnected()).toBe(false));
    for (let n = 0; n < 50; n++) {
      if (n % 2 === 0) fixture.endpoint.broadcast(TOPIC, n % 4 === 0 ? 'intercepted' : 'news', { id: `missed-${n}` });
      else await pushBroadcast(reference.channel, 'news', { id: `missed-${n}` });
    }
    await eventually(() => expect(messagesOf(reference.seen)).toHaveLength(52));
    const latest = messagesOf(reference.seen).at(-1)?.ref;
    expect(latest).toBe(`${epoch}:52`);

    proxy.restore();
    await eventually(() => expect(noticesOf(subscriber.seen)).toHaveLength(2), 8000);
    expect(recoverJoins(fixture)).toEqual([{ role: 'subscriber', recover: `${epoch}:2` }]);
    expect(noticesOf(subscriber.seen)[1]).toEqual({ position: latest, recovered: false });
    expect(subscriber.room.position).toBe(latest);
    expect(messagesOf(subscriber.seen)).toHaveLength(2);

    // Live traffic goes on from the latest position; nothing of the outage ever arrives.
    fixture.endpoint.broadcast(TOPIC, 'news', { id: 'after-1' });
    await eventually(() => expect(messagesOf(subscriber.seen)).toHaveLength(3));
    expect(subscriber.seen.map((s) => (s.kind === 'stream' ? s.notice : s.heard.id))).toEqual([
      { position: `${epoch}:0` },
      'live-1',
      'live-2',
      { position: latest, recovered: false },
      'after-1',
    ]);
    expect(messagesOf(subscriber.seen).at(-1)?.ref).toBe(`${epoch}:53`);
    expect(subscriber.room.position).toBe(`${epoch}:53`);
  });

  /*
   * Order on a busy channel: an intercepted publication waits in the channel's mailbox (behind an
   * async handleIn or handleOut in flight, e.g. a client that publishes on the room it listens to).
   * Later publications of the topic must wait behind it rather than overtake it on the fastlane, or
   * the position the client remembers would not mean "everything up to here was delivered": a
   * reconnect would lose the held one, or replay one twice. The fixture's `slow` push keeps the
   * mailbox busy, deterministically.
   */
  it('an intercepted publication held behind a busy mailbox is not overtaken: a line that drops before it is written loses nothing', async () => {
    const { fixture, proxy } = await start(100);
    const subscriber = await subscribe(pool as ClientPool, proxy);
    const epoch = epochOf(noticesOf(subscriber.seen)[0]?.position ?? null);
    subscriber.room.channel.push('slow', { ms: 1000 });
    await eventually(() => expect(fixture.calls).toContainEqual(expect.objectContaining({ callback: 'handleIn', event: 'slow' })));
    fixture.endpoint.broadcast(TOPIC, 'intercepted', { id: 'a' }); // offset 1: waits for the mailbox
    fixture.endpoint.broadcast(TOPIC, 'news', { id: 'b' }); // offset 2: written at once
    await eventually(() => expect(messagesOf(subscriber.seen).map((h) => h.id)).toContain('b'));
    proxy.cut();
    await eventually(() => expect(subscriber.socket.isConnected()).toBe(false));
    proxy.restore();
    await eventually(() => expect(noticesOf(subscriber.seen)).toHaveLength(2), 5000);
    fixture.endpoint.broadcast(TOPIC, 'news', { id: 'c' });
    await eventually(() => expect(messagesOf(subscriber.seen).map((h) => h.id)).toContain('c'));
    // Were 'b' (offset 2) written before 'a' (offset 1), the client would resume from 2 and never get 'a'.
    expect(messagesOf(subscriber.seen).map(common)).toEqual([
      { event: 'intercepted', id: 'a', ref: `${epoch}:1` },
      { event: 'news', id: 'b', ref: `${epoch}:2` },
      { event: 'news', id: 'c', ref: `${epoch}:3` },
    ]);
  });

  it('an intercepted publication written late never moves the position back: a reconnect replays nothing twice', async () => {
    const { fixture, proxy } = await start(100);
    const subscriber = await subscribe(pool as ClientPool, proxy);
    const epoch = epochOf(noticesOf(subscriber.seen)[0]?.position ?? null);
    subscriber.room.channel.push('slow', { ms: 200 });
    await eventually(() => expect(fixture.calls).toContainEqual(expect.objectContaining({ callback: 'handleIn', event: 'slow' })));
    fixture.endpoint.broadcast(TOPIC, 'intercepted', { id: 'a' });
    fixture.endpoint.broadcast(TOPIC, 'news', { id: 'b' });
    await eventually(() => expect(messagesOf(subscriber.seen)).toHaveLength(2));
    proxy.cut();
    await eventually(() => expect(subscriber.socket.isConnected()).toBe(false));
    proxy.restore();
    await eventually(() => expect(noticesOf(subscriber.seen)).toHaveLength(2), 5000);
    fixture.endpoint.broadcast(TOPIC, 'news', { id: 'c' });
    await eventually(() => expect(messagesOf(subscriber.seen).map((h) => h.id)).toContain('c'));
    // Were 'a' written after 'b', the position would move back to 1 and the rejoin would replay 'b' again.
    expect(messagesOf(subscriber.seen).map((h) => h.ref)).toEqual([`${epoch}:1`, `${epoch}:2`, `${epoch}:3`]);
  });
});
