/**
 * Raw-frame conformance for gap-free recovery (docs/recovery.md): positions as the `ref` of every
 * frame of a history topic's publications (fastlane and intercepted pushes), the `phx_stream` push
 * after each join, replay in order after `recover`, and `recovered: false` when the position
 * cannot be honoured. Topics without history must not change by a byte.
 */
import { describe, expect, it } from 'vitest';
import type { Fixture } from '../../support/fixture.ts';
import { JSON_DIALECTS, replyPayload, useFixtures, V2, type Dialect, type Tuple, type WireClient } from '../../support/wire-client.ts';
import { parsePosition, type StreamPosition } from '../../../src/index.ts';

const { start, connect } = useFixtures();

const OK = replyPayload('ok');
/** `test:h…` topics keep their last 5 publications; other `test:` topics keep none. */
const HISTORY = { topics: ['test:h*'], size: 5 };

async function historyFixture(): Promise<Fixture> {
  return start({ endpoint: { history: HISTORY } });
}

/** Joins with `params` and returns the client and the position of its phx_stream push. */
async function joinStream(
  fixture: Fixture,
  dialect: Dialect,
  topic: string,
  joinRef: string,
  params: object = {},
): Promise<{ client: WireClient; stream: { position: string; recovered?: boolean } }> {
  const client = await connect(fixture, dialect);
  expect(await client.join(topic, joinRef, params)).toEqual(client.wire([joinRef, joinRef, topic, 'phx_reply', OK]));
  const frame = await client.receive((f) => f[3] === 'phx_stream');
  const tuple = dialect.read(frame) as Tuple;
  expect(frame).toEqual(client.wire([joinRef, null, topic, 'phx_stream', tuple[4]]));
  return { client, stream: tuple[4] as { position: string; recovered?: boolean } };
}

function position(text: string): StreamPosition {
  const parsed = parsePosition(text);
  if (parsed === null) throw new Error(`not a position: ${text}`);
  return parsed;
}

/** The wire ref of offset `offset` in the epoch of `at`. */
const ref = (at: string, offset: number): string => `${position(at).epoch}:${offset}`;

for (const dialect of JSON_DIALECTS) {
  describe(`recovery over ${dialect.name}`, () => {
    it('a join without recover gets phx_stream {position} (no recovered key) after its reply', async () => {
      const fixture = await historyFixture();
      const { stream } = await joinStream(fixture, dialect, 'test:h1', '1');
      expect(Object.keys(stream)).toEqual(['position']);
      expect(position(stream.position).offset).toBe(0);
    });

    it('every broadcast carries its position "<epoch>:<offset>" as ref, offsets +1 per publication', async () => {
      const fixture = await historyFixture();
      const { client, stream } = await joinStream(fixture, dialect, 'test:h1', '1');
      await client.push(['1', '2', 'test:h1', 'broadcast', { event: 'news', payload: { n: 1 } }]);
      fixture.endpoint.broadcast('test:h1', 'news', { n: 2 });
      const frames = [await client.receive((f) => f[3] === 'news'), await client.receive((f) => f[3] === 'news')];
      expect(frames).toEqual([
        client.wire([null, ref(stream.position, 1), 'test:h1', 'news', { n: 1 }]),
        client.wire([null, ref(stream.position, 2), 'test:h1', 'news', { n: 2 }]),
      ]);
    });

    it('a handleOut push of an intercepted event carries the publication’s position as ref', async () => {
      const fixture = await historyFixture();
      const { client, stream } = await joinStream(fixture, dialect, 'test:h1', '1');
      fixture.endpoint.broadcast('test:h1', 'news', { n: 1 });
      fixture.endpoint.broadcast('test:h1', 'intercepted', { n: 2 });
      expect(await client.receive((f) => f[3] === 'intercepted')).toEqual(
        client.wire(['1', ref(stream.position, 2), 'test:h1', 'intercepted', { n: 2, by: '1' }]),
      );
      // A push of the channel's own (not from a publication) keeps ref null.
      client.send(['1', '3', 'test:h1', 'push', { event: 'own', payload: {} }]);
      expect(await client.receive((f) => f[3] === 'own')).toEqual(client.wire(['1', null, 'test:h1', 'own', {}]));
    });

    it('recover replays every later publication once, in order, then phx_stream {recovered: true}, then live', async () => {
      const fixture = await historyFixture();
      const first = await joinStream(fixture, dialect, 'test:h1', '1');
      const at = first.stream.position;
      for (let n = 1; n <= 4; n++) fixture.endpoint.broadcast('test:h1', n % 2 === 0 ? 'intercepted' : 'news', { n });
      await first.client.receive((f) => f[3] === 'intercepted' && (f[4] as { n: number }).n === 4);

      const client = await connect(fixture, dialect);
      expect(await client.join('test:h1', '7', { recover: ref(at, 1) })).toEqual(client.wire(['7', '7', 'test:h1', 'phx_reply', OK]));
      fixture.endpoint.broadcast('test:h1', 'news', { n: 5 }); // live, after the replay
      expect(await client.nextFrames(5)).toEqual([
        client.wire(['7', ref(at, 2), 'test:h1', 'intercepted', { n: 2, by: '7' }]),
        client.wire([null, ref(at, 3), 'test:h1', 'news', { n: 3 }]),
        client.wire(['7', ref(at, 4), 'test:h1', 'intercepted', { n: 4, by: '7' }]),
        client.wire(['7', null, 'test:h1', 'phx_stream', { position: ref(at, 4), recovered: true }]),
        client.wire([null, ref(at, 5), 'test:h1', 'news', { n: 5 }]),
      ]);
    });

    it('a position of another epoch replays nothing: phx_stream {recovered: false} with the latest position', async () => {
      const fixture = await historyFixture();
      const { client: publisher } = await joinStream(fixture, dialect, 'test:h1', '1');
      fixture.endpoint.broadcast('test:h1', 'news', { n: 1 });
      await publisher.receive((f) => f[3] === 'news');
      const { client, stream } = await joinStream(fixture, dialect, 'test:h1', '2', { recover: 'elsewhere:0' });
      expect(stream).toEqual({ position: ref(stream.position, 1), recovered: false });
      expect(await client.none((f) => f[3] === 'news', 100)).toBe(true);
    });

    it('a position older than the stream keeps (trimmed) replays nothing: recovered false', async () => {
      const fixture = await historyFixture();
      const { stream: start0 } = await joinStream(fixture, dialect, 'test:h1', '1');
      for (let n = 1; n <= 8; n++) fixture.endpoint.broadcast('test:h1', 'news', { n }); // keeps 4…8
      const { client, stream } = await joinStream(fixture, dialect, 'test:h1', '2', { recover: ref(start0.position, 2) });
      expect(stream).toEqual({ position: ref(start0.position, 8), recovered: false });
      expect(await client.none((f) => f[3] === 'news', 100)).toBe(true);
      // The oldest position still kept (3: everything after it is there) is honoured.
      const { stream: kept } = await joinStream(fixture, dialect, 'test:h1', '3', { recover: ref(start0.position, 3) });
      expect(kept).toEqual({ position: ref(start0.position, 8), recovered: true });
    });

    it('a recover that is not a position is not honoured (recovered false), and the join still succeeds', async () => {
      const fixture = await historyFixture();
      for (const recover of ['nonsense', 7, 'e:-1', 'a:b:1']) {
        const { stream } = await joinStream(fixture, dialect, 'test:h1', '1', { recover });
        expect(stream.recovered).toBe(false);
      }
    });

    it('a topic without history is unchanged: no phx_stream, ref null, recover ignored', async () => {
      const fixture = await historyFixture();
      const client = await connect(fixture, dialect);
      expect(await client.join('test:plain', '1', { recover: 'x:1' })).toEqual(client.wire(['1', '1', 'test:plain', 'phx_reply', OK]));
      fixture.endpoint.broadcast('test:plain', 'news', { n: 1 });
      expect(await client.framesBeforeHeartbeat('9')).toEqual([client.wire([null, null, 'test:plain', 'news', { n: 1 }])]);
    });
  });
}

describe('recovery: ordering and payload kinds', () => {
  it('publications made while the stream is being read are neither lost nor doubled', async () => {
    const fixture = await historyFixture();
    const { stream } = await joinStream(fixture, V2, 'test:h2', '1');
    fixture.endpoint.broadcast('test:h2', 'news', { n: 1 });
    const client = await connect(fixture, V2);
    client.send(['5', '5', 'test:h2', 'phx_join', { recover: ref(stream.position, 0) }]);
    // Published after the join was sent: some before the stream is read, some after.
    for (let n = 2; n <= 5; n++) setImmediate(() => fixture.endpoint.broadcast('test:h2', 'news', { n }));
    const frames = (await client.nextFrames(7)) as Tuple[];
    const news = frames.filter((f) => f[3] === 'news').map((f) => (f[4] as { n: number }).n);
    expect(news).toEqual([1, 2, 3, 4, 5]);
    expect(frames[0]?.[3]).toBe('phx_reply');
    expect(frames.filter((f) => f[3] === 'phx_stream')).toHaveLength(1);
  });

  it('binary broadcasts on a history topic are refused (binary frames have no ref); other topics still carry them', async () => {
    const fixture = await historyFixture();
    expect(() => fixture.endpoint.broadcast('test:h1', 'bin', { binary: new Uint8Array([1]) })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_PAYLOAD' }) as Error,
    );
    const { client } = await joinStream(fixture, V2, 'test:h1', '1');
    // A channel doing it crashes (phx_error) and the socket carries on.
    client.send(['1', '2', 'test:h1', 'binary_broadcast', {}]);
    expect(await client.receive((f) => f[3] === 'phx_error')).toEqual(['1', '1', 'test:h1', 'phx_error', { reason: 'channel_crash' }]);
    const plain = await connect(fixture, V2);
    expect(await plain.join('test:plain', '1')).toEqual(['1', '1', 'test:plain', 'phx_reply', OK]);
    plain.send(['1', '2', 'test:plain', 'binary_broadcast', {}]);
    const frame = await plain.raw.next((f) => f.binary);
    expect(frame.binary && [...frame.bytes]).toEqual([2, 10, 3, ...Buffer.from('test:plainbin'), 0xff]);
  });
});
