/**
 * Reconnects without a gap, in-process on `starling-channels/testing` (the real socket, room channel and
 * SQLite store on an endpoint whose rooms keep history, as the chat's do): room broadcasts carry
 * their stream position as `ref`; a rejoin with `recover` is answered `{}` without reading a page
 * from the store, then gets exactly what it missed, in order, then `phx_stream {recovered: true}`;
 * a position the stream no longer covers gets no replay and `recovered: false`, after which
 * `history {}` answers the latest page.
 */
import type { Registry } from 'prom-client';
import type { ReceivedFrame, TestSocket } from 'starling-channels/testing';
import { describe, expect, it } from 'vitest';
import { eventually } from '@starling/test-support/eventually';
import type { HistoryPage, WireMessage } from '../../src/room-channel.ts';
import { joined, sendAll, useChatChannels } from '../support/channel-test.ts';

const chatChannels = useChatChannels();

const LOBBY = 'rooms:lobby';
const POSITION = /^([^:]+):(\d+)$/;

/** Every frame `client` received on the lobby that is not a reply, in order, as [event, ref, payload]. */
function pushesTo(client: TestSocket): Array<[string, string | null, unknown]> {
  return client.received
    .filter((frame: ReceivedFrame) => frame.topic === LOBBY && frame.event !== 'phx_reply')
    .map((frame) => [frame.event, frame.ref === null ? null : String(frame.ref), frame.payload]);
}

/** Waits until `client` has received a push `event` matching `accept`, and returns everything up to it. */
async function pushesUntil(
  client: TestSocket,
  event: string,
  accept: (payload: unknown) => boolean = () => true,
): Promise<Array<[string, string | null, unknown]>> {
  return eventually(() => {
    const pushes = pushesTo(client);
    const at = pushes.findIndex(([name, , payload]) => name === event && accept(payload));
    expect(at, `a ${event} push; got ${JSON.stringify(pushes)}`).toBeGreaterThanOrEqual(0);
    return pushes.slice(0, at + 1);
  }, 2000);
}

/** How many history pages the room channel read from the store for `request`, from its metric. */
async function pagesRead(registry: Registry, request: 'join' | 'history'): Promise<number> {
  const metric = registry.getSingleMetric('chat_history_pages_total');
  if (metric === undefined) throw new Error('chat_history_pages_total is not registered');
  const { values } = await metric.get();
  return values.find((value) => value.labels.request === request)?.value ?? 0;
}

const bodies = (pushes: Array<[string, string | null, unknown]>): string[] =>
  pushes.filter(([event]) => event === 'new_msg').map(([, , payload]) => (payload as WireMessage).body);

describe('reconnecting to a room', () => {
  it('gives every room broadcast its stream position as ref: one epoch, offsets one apart, after the phx_stream of the join', async () => {
    const chat = chatChannels();
    const reader = await chat.connect(null);
    await joined(reader.client, LOBBY);
    const [, , stream] = (await pushesUntil(reader.client, 'phx_stream')).at(-1)!;
    const { channel: writer } = await joined((await chat.connect()).client, LOBBY, { name: 'alice' });

    await sendAll(writer, ['one', 'two', 'three']);

    const pushes = await pushesUntil(reader.client, 'new_msg', (payload) => (payload as WireMessage).body === 'three');
    const refs = pushes.filter(([event]) => event === 'new_msg').map(([, ref]) => POSITION.exec(ref ?? ''));
    expect(bodies(pushes)).toEqual(['one', 'two', 'three']);
    expect(refs.every((match) => match !== null)).toBe(true);
    const [epoch, offset] = POSITION.exec((stream as { position: string }).position)!.slice(1) as [string, string];
    // The join's phx_stream names the latest position (its own user_joined came before alice's messages).
    expect(refs.map((match) => match![1])).toEqual([epoch, epoch, epoch]);
    const offsets = refs.map((match) => Number(match![2]));
    expect(offsets[1]).toBe(offsets[0]! + 1);
    expect(offsets[2]).toBe(offsets[0]! + 2);
    expect(offsets[0]).toBeGreaterThan(Number(offset));
  });

  it('replays what a rejoin missed, once and in order, announcements included, without reading a page from the store', async () => {
    const chat = chatChannels();
    const bob = await chat.connect();
    const { channel: writer } = await joined((await chat.connect()).client, LOBBY, { name: 'alice' });
    const away = await chat.connect(bob.userId);
    await joined(away.client, LOBBY, { name: 'bob' });
    await sendAll(writer, ['seen']);
    const [, seenRef] = (await pushesUntil(away.client, 'new_msg')).at(-1)!;
    away.client.close();

    await sendAll(writer, ['missed 1', 'missed 2']);
    await joined((await chat.connect()).client, LOBBY, { name: 'carol' });
    await sendAll(writer, ['missed 3']);
    const joinPages = await pagesRead(chat.registry, 'join');

    const back = await chat.connect(bob.userId);
    const { reply, channel } = await joined(back.client, LOBBY, { name: 'bob', recover: seenRef });

    expect(reply).toEqual({});
    const pushes = await pushesUntil(back.client, 'phx_stream');
    const replayed = pushes.filter(([event]) => event === 'new_msg' || event === 'user_joined');
    expect(
      replayed.map(([event, , payload]) =>
        event === 'new_msg' ? (payload as WireMessage).body : `joined ${(payload as { user: string }).user.split('#')[0]}`,
      ),
    ).toEqual(['missed 1', 'missed 2', 'joined carol', 'missed 3']);
    // Every replayed frame has the next position after the one the rejoin sent; phx_stream names the last.
    const [epoch, seen] = POSITION.exec(String(seenRef))!.slice(1) as [string, string];
    expect(replayed.map(([, ref]) => ref)).toEqual([1, 2, 3, 4].map((n) => `${epoch}:${Number(seen) + n}`));
    expect(pushes.at(-1)![2]).toEqual({ position: replayed.at(-1)![1], recovered: true });
    expect(await pagesRead(chat.registry, 'join')).toBe(joinPages);

    // Live again: the next message comes once, after the replay.
    await sendAll(writer, ['live']);
    await pushesUntil(back.client, 'new_msg', (payload) => (payload as WireMessage).body === 'live');
    expect(bodies(pushesTo(back.client))).toEqual(['missed 1', 'missed 2', 'missed 3', 'live']);
    expect(channel.topic).toBe(LOBBY);
  });

  it('replays nothing to a position the stream no longer keeps, says recovered: false, and history {} answers the latest page', async () => {
    const chat = chatChannels({ limits: { replayMessages: 2 } });
    const { channel: writer } = await joined((await chat.connect()).client, LOBBY, { name: 'alice' });
    const reader = await chat.connect(null);
    await joined(reader.client, LOBBY);
    await sendAll(writer, ['seen']);
    const [, seenRef] = (await pushesUntil(reader.client, 'new_msg')).at(-1)!;
    reader.client.close();
    await sendAll(writer, ['missed 1', 'missed 2', 'missed 3', 'missed 4']);

    const back = await chat.connect(null);
    const { reply, channel } = await joined(back.client, LOBBY, { recover: seenRef });

    expect(reply).toEqual({});
    const pushes = await pushesUntil(back.client, 'phx_stream');
    expect(bodies(pushes)).toEqual([]);
    expect(pushes.at(-1)![2]).toEqual({ position: expect.stringMatching(POSITION), recovered: false });
    const historyPages = await pagesRead(chat.registry, 'history');
    const page = (await channel.assertReply(channel.push('history', {}), 'ok')) as HistoryPage;
    expect(page.messages.map((message) => message.body)).toEqual(['seen', 'missed 1', 'missed 2', 'missed 3', 'missed 4']);
    expect(await pagesRead(chat.registry, 'history')).toBe(historyPages + 1);

    // A position of another epoch (another server's, or before a restart) is not honoured either.
    const stranger = await chat.connect(null);
    await joined(stranger.client, LOBBY, { recover: 'elsewhere:3' });
    expect((await pushesUntil(stranger.client, 'phx_stream')).at(-1)![2]).toEqual({ position: expect.stringMatching(POSITION), recovered: false });
  });

  it('replays at most replayBytes (64 KiB by default): a rejoin that missed more of a busy room gets recovered: false and no replay', async () => {
    const chat = chatChannels();
    const { channel: writer } = await joined((await chat.connect()).client, LOBBY, { name: 'alice' });
    const reader = await chat.connect(null);
    await joined(reader.client, LOBBY);
    await sendAll(writer, ['seen']);
    const [, seenRef] = (await pushesUntil(reader.client, 'new_msg')).at(-1)!;
    reader.client.close();
    // 80 messages of 1,000 characters: ~90 KB missed, within the 300 the room keeps but over 64 KiB.
    const long = (n: number): string => `${n} ${'x'.repeat(996)}`;
    await sendAll(
      writer,
      Array.from({ length: 80 }, (_, n) => long(n)),
    );

    const back = await chat.connect(null);
    const { reply, channel } = await joined(back.client, LOBBY, { recover: seenRef });

    expect(reply).toEqual({});
    const pushes = await pushesUntil(back.client, 'phx_stream');
    expect(bodies(pushes)).toEqual([]);
    expect(pushes.at(-1)![2]).toEqual({ position: expect.stringMatching(POSITION), recovered: false });
    // The page falls back to the latest page, itself capped at historyPageBytes.
    const page = (await channel.assertReply(channel.push('history', {}), 'ok')) as HistoryPage;
    expect(page.messages.at(-1)?.body).toBe(long(79));
    expect(Buffer.byteLength(JSON.stringify(page))).toBeLessThan(64 * 1024 + 2048);

    // Live traffic goes on after the notice.
    await sendAll(writer, ['live']);
    await pushesUntil(back.client, 'new_msg', (payload) => (payload as WireMessage).body === 'live');
    expect(bodies(pushesTo(back.client))).toEqual(['live']);
  });

  it('replays a rejoin that missed less than replayBytes, and refuses the same position once more was published', async () => {
    const chat = chatChannels({ limits: { replayBytes: 8 * 1024 } });
    const { channel: writer } = await joined((await chat.connect()).client, LOBBY, { name: 'alice' });
    const reader = await chat.connect(null);
    await joined(reader.client, LOBBY);
    await sendAll(writer, ['seen']);
    const [, seenRef] = (await pushesUntil(reader.client, 'new_msg')).at(-1)!;
    reader.client.close();
    const body = (n: number): string => `${n} ${'y'.repeat(900)}`;
    await sendAll(
      writer,
      Array.from({ length: 5 }, (_, n) => body(n)),
    ); // ~5 KB: fits
    const within = await chat.connect(null);
    await joined(within.client, LOBBY, { recover: seenRef });
    const replayed = await pushesUntil(within.client, 'phx_stream');
    expect(bodies(replayed)).toEqual([0, 1, 2, 3, 4].map(body));
    expect(replayed.at(-1)![2]).toMatchObject({ recovered: true });

    await sendAll(
      writer,
      Array.from({ length: 5 }, (_, n) => body(5 + n)),
    ); // ~10 KB since 'seen': no longer fits
    const over = await chat.connect(null);
    await joined(over.client, LOBBY, { recover: seenRef });
    const refused = await pushesUntil(over.client, 'phx_stream');
    expect(bodies(refused)).toEqual([]);
    expect(refused.at(-1)![2]).toMatchObject({ recovered: false });
  });

  it('counts a rejoin with recover against the join budgets like any join: over them, {reason: "slow down"} and no replay', async () => {
    const chat = chatChannels({ limits: { joinsPerUser: { count: 2, seconds: 3600 }, joinsPerIp: { count: 5, seconds: 3600 } } });
    const { channel: writer } = await joined((await chat.connect()).client, LOBBY, { name: 'alice' }); // the address's join 1
    const bob = await chat.connect();
    await joined(bob.client, LOBBY, { name: 'bob' }); // bob's join 1, the address's 2
    const guest = await chat.connect(null);
    await joined(guest.client, LOBBY); // the address's 3
    await sendAll(writer, ['seen']);
    const [, seenRef] = (await pushesUntil(bob.client, 'new_msg')).at(-1)!;
    bob.client.close();
    guest.client.close();
    await sendAll(writer, ['missed']);

    const rejoin = async (userId: string | null): Promise<{ status: string; response: unknown; client: TestSocket }> => {
      const { client } = await chat.connect(userId);
      const { status, response } = await client.join(LOBBY, userId === null ? { recover: seenRef } : { name: 'bob', recover: seenRef });
      return { status, response, client };
    };
    const bobBack = await rejoin(bob.userId); // bob's join 2, the address's 4: within both
    expect(bobBack.status).toBe('ok');
    expect(bodies(await pushesUntil(bobBack.client, 'phx_stream'))).toEqual(['missed']);
    const bobAgain = await rejoin(bob.userId); // bob's join 3: over joinsPerUser
    expect({ status: bobAgain.status, response: bobAgain.response }).toEqual({ status: 'error', response: { reason: 'slow down' } });

    const guestBack = await rejoin(null); // the address's 5
    expect(guestBack.status).toBe('ok');
    const guestAgain = await rejoin(null); // the address's 6: over joinsPerIp
    expect({ status: guestAgain.status, response: guestAgain.response }).toEqual({ status: 'error', response: { reason: 'slow down' } });
    for (const refused of [bobAgain, guestAgain]) expect(pushesTo(refused.client)).toEqual([]);
  });

  it('answers a first join, which sends no position, with the page and phx_stream {position}', async () => {
    const chat = chatChannels();
    const { channel: writer } = await joined((await chat.connect()).client, LOBBY, { name: 'alice' });
    await sendAll(writer, ['hello']);
    const joinPages = await pagesRead(chat.registry, 'join');

    const reader = await chat.connect(null);
    const { reply } = await joined<HistoryPage>(reader.client, LOBBY);

    expect(reply.messages.map((message) => message.body)).toEqual(['hello']);
    expect((await pushesUntil(reader.client, 'phx_stream')).at(-1)![2]).toEqual({ position: expect.stringMatching(POSITION) });
    expect(await pagesRead(chat.registry, 'join')).toBe(joinPages + 1);
  });

  it('still answers a join with recover with the page where rooms keep no history (nothing could be replayed)', async () => {
    const chat = chatChannels({ history: false });
    const { channel: writer } = await joined((await chat.connect()).client, LOBBY, { name: 'alice' });
    await sendAll(writer, ['hello']);

    const { reply } = await joined<HistoryPage>((await chat.connect(null)).client, LOBBY, { recover: 'anything:1' });

    expect(reply.messages.map((message) => message.body)).toEqual(['hello']);
  });
});
