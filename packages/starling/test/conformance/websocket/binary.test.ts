/**
 * Raw-frame conformance for V2 binary frames (docs/protocol.md §2.4, §2.3, §0.1; checklist §11 items
 * 33, 34 and the binary half of 26). Expected frames are written out byte by byte, each field
 * annotated, so the layout of §2.4 can be read straight off the test.
 */
import { describe, expect, it } from 'vitest';
import type { Fixture } from '../../support/fixture.ts';
import { replyPayload, useFixtures, V1, V1_NO_VSN, V2, type Dialect, type WireClient } from '../../support/wire-client.ts';

const { start, connect } = useFixtures();

const OK = replyPayload('ok');
const ascii = (text: string): number[] => [...Buffer.from(text, 'utf8')];

/** Client → server push, kind 0: 00, four length bytes, join_ref, ref, topic, event, payload. */
function clientPush(joinRef: string, ref: string, topic: string, event: string, payload: number[]): Buffer {
  const [j, r, t, e] = [joinRef, ref, topic, event].map(ascii) as [number[], number[], number[], number[]];
  return Buffer.from([0x00, j.length, r.length, t.length, e.length, ...j, ...r, ...t, ...e, ...payload]);
}

async function joined(fixture: Fixture, dialect: Dialect, topic: string, joinRef: string): Promise<WireClient> {
  const client = await connect(fixture, dialect);
  expect(await client.join(topic, joinRef)).toEqual(client.wire([joinRef, joinRef, topic, 'phx_reply', OK]));
  return client;
}

describe('binary frames over V2 (§2.4, item 33)', () => {
  it('answers a binary push (kind 0) whose handler replies {ok, {binary}} with a kind 1 reply frame', async () => {
    const fixture = await start();
    const client = await joined(fixture, V2, 'test:bin', '12');
    client.raw.sendRaw(clientPush('12', '13', 'test:bin', 'binary', [0x01, 0x02, 0x03, 0x04]));
    expect(await client.nextFrames(1)).toEqual([
      Buffer.from([
        0x01, //                                          kind 1: reply
        0x02, //                                          join_ref length
        0x02, //                                          ref length
        0x08, //                                          topic length
        0x02, //                                          status length
        ...[0x31, 0x32], //                               join_ref "12"
        ...[0x31, 0x33], //                               ref "13"
        ...[0x74, 0x65, 0x73, 0x74, 0x3a, 0x62, 0x69, 0x6e], // topic "test:bin"
        ...[0x6f, 0x6b], //                               status "ok"
        ...[0x01, 0x02, 0x03, 0x04], //                   payload
      ]),
    ]);
  });

  it('hands handleIn a binary push’s payload as {binary: bytes}', async () => {
    const fixture = await start();
    const client = await joined(fixture, V2, 'test:bin', '12');
    client.raw.sendRaw(clientPush('12', '13', 'test:bin', 'noreply', [0xde, 0xad]));
    expect(await client.framesBeforeHeartbeat('14')).toEqual([]);
    const call = fixture.calls.find((c) => c.callback === 'handleIn');
    expect(call?.event).toBe('noreply');
    expect(Buffer.from((call?.payload as { binary: Uint8Array }).binary)).toEqual(Buffer.from([0xde, 0xad]));
  });

  it('answers a JSON push whose handler replies with bytes with a kind 1 frame (the opcode follows the payload)', async () => {
    const fixture = await start();
    const client = await joined(fixture, V2, 'test:bin', '12');
    client.send(['12', '13', 'test:bin', 'binary', {}]);
    expect(await client.nextFrames(1)).toEqual([
      Buffer.from([0x01, 2, 2, 8, 2, ...ascii('12'), ...ascii('13'), ...ascii('test:bin'), ...ascii('ok'), 1, 2, 3, 4]),
    ]);
  });

  it('answers a binary push whose handler replies with an object with a text frame', async () => {
    const fixture = await start();
    const client = await joined(fixture, V2, 'test:bin', '12');
    client.raw.sendRaw(clientPush('12', '13', 'test:bin', 'reply_ok', [0x01]));
    expect(await client.nextFrames(1)).toEqual([['12', '13', 'test:bin', 'phx_reply', OK]]);
  });

  it('answers a binary push to a topic not joined with a text "unmatched topic" frame', async () => {
    const fixture = await start();
    const client = await joined(fixture, V2, 'test:bin', '12');
    client.raw.sendRaw(clientPush('12', '13', 'test:elsewhere', 'binary', [0x01]));
    expect(await client.nextFrames(1)).toEqual([[null, '13', 'test:elsewhere', 'phx_reply', replyPayload('error', { reason: 'unmatched topic' })]]);
  });

  it('reads an empty join_ref in a binary push as null (accepted by the channel, answered with its join_ref)', async () => {
    const fixture = await start();
    const client = await joined(fixture, V2, 'test:bin', '12');
    client.raw.sendRaw(clientPush('', '13', 'test:bin', 'reply_ok', []));
    expect(await client.nextFrames(1)).toEqual([['12', '13', 'test:bin', 'phx_reply', OK]]);
  });

  it('drops a binary push with a stale join_ref silently', async () => {
    const fixture = await start();
    const client = await joined(fixture, V2, 'test:bin', '12');
    client.raw.sendRaw(clientPush('99', '13', 'test:bin', 'reply_ok', []));
    expect(await client.framesBeforeHeartbeat('14')).toEqual([]);
    expect(fixture.calls.filter((c) => c.callback === 'handleIn')).toEqual([]);
  });

  it('sends a server binary push as kind 0 with no ref', async () => {
    const fixture = await start();
    const client = await joined(fixture, V2, 'test:bin', '12');
    client.send(['12', '13', 'test:bin', 'binary_push', {}]);
    expect(await client.nextFrames(1)).toEqual([
      Buffer.from([
        0x00, //                 kind 0: push
        0x02, //                 join_ref length
        0x08, //                 topic length
        0x03, //                 event length (no ref length: server pushes carry no ref)
        ...ascii('12'), //       join_ref
        ...ascii('test:bin'), // topic
        ...ascii('bin'), //      event
        0x01,
        0x02, //           payload
      ]),
    ]);
  });

  it('sends a binary broadcast as kind 2 to every V2 subscriber, the sender included', async () => {
    const fixture = await start();
    const sender = await joined(fixture, V2, 'test:bin', '12');
    const peer = await joined(fixture, V2, 'test:bin', '22');
    sender.send(['12', '13', 'test:bin', 'binary_broadcast', {}]);
    const kind2 = Buffer.from([
      0x02, //                 kind 2: broadcast
      0x08, //                 topic length
      0x03, //                 event length
      ...ascii('test:bin'), // topic
      ...ascii('bin'), //      event
      0xff, //                 payload
    ]);
    expect(await sender.nextFrames(1)).toEqual([kind2]);
    expect(await peer.nextFrames(1)).toEqual([kind2]);
  });

  it('sends an app binary broadcast (endpoint.broadcast with {binary}) as kind 2', async () => {
    const fixture = await start();
    const client = await joined(fixture, V2, 'test:bin', '12');
    fixture.endpoint.broadcast('test:bin', 'file', { binary: new Uint8Array([0x00, 0x10, 0xff]) });
    expect(await client.nextFrames(1)).toEqual([Buffer.from([0x02, 8, 4, ...ascii('test:bin'), ...ascii('file'), 0x00, 0x10, 0xff])]);
  });
});

describe('binary never reaches a V1 socket (§2.3, §0.1, item 34)', () => {
  for (const dialect of [V1, V1_NO_VSN]) {
    it(`skips a binary broadcast for a ${dialect.name} subscriber without failing the V2 broadcaster`, async () => {
      const fixture = await start();
      const sender = await joined(fixture, V2, 'test:bin', '12');
      const old = await joined(fixture, dialect, 'test:bin', '22');
      sender.send(['12', '13', 'test:bin', 'binary_broadcast', {}]);
      expect(await sender.nextFrames(1)).toEqual([Buffer.from([0x02, 8, 3, ...ascii('test:bin'), ...ascii('bin'), 0xff])]);
      expect(await old.framesBeforeHeartbeat('23')).toEqual([]);
      // Both channels keep working.
      expect(await sender.push(['12', '14', 'test:bin', 'reply_ok', {}])).toEqual(['12', '14', 'test:bin', 'phx_reply', OK]);
      expect(await old.push(['22', '24', 'test:bin', 'reply_ok', {}])).toEqual(old.wire(['22', '24', 'test:bin', 'phx_reply', OK]));
      // A JSON broadcast right after still reaches the V1 socket.
      fixture.endpoint.broadcast('test:bin', 'news', { n: 1 });
      expect(await old.nextFrames(1)).toEqual([old.wire([null, null, 'test:bin', 'news', { n: 1 }])]);
    });

    it(`skips a binary push and a binary reply for a ${dialect.name} socket; the channel carries on`, async () => {
      const fixture = await start();
      const old = await joined(fixture, dialect, 'test:bin', '22');
      old.send(['22', '23', 'test:bin', 'binary_push', {}]);
      old.send(['22', '24', 'test:bin', 'binary', {}]);
      expect(await old.framesBeforeHeartbeat('25')).toEqual([]);
      expect(await old.push(['22', '26', 'test:bin', 'reply_ok', {}])).toEqual(old.wire(['22', '26', 'test:bin', 'phx_reply', OK]));
    });
  }

  it('does not throw from endpoint.broadcast of bytes when V1 sockets subscribe', async () => {
    const fixture = await start();
    const old = await joined(fixture, V1, 'test:bin', '22');
    expect(() => fixture.endpoint.broadcast('test:bin', 'file', { binary: new Uint8Array([1]) })).not.toThrow();
    expect(await old.framesBeforeHeartbeat('23')).toEqual([]);
  });
});

describe('undecodable binary frames close the socket with 1007 (§2.5, item 26)', () => {
  const cases: Array<[name: string, bytes: Buffer]> = [
    ['an empty binary frame', Buffer.alloc(0)],
    ['kind 1 (a reply) from a client', Buffer.from([0x01, 0, 1, 7, 2, ...ascii('1'), ...ascii('phoenix'), ...ascii('ok')])],
    ['kind 2 (a broadcast) from a client', Buffer.from([0x02, 7, 4, ...ascii('phoenix'), ...ascii('ping')])],
    ['unknown kind 0x7f', Buffer.from([0x7f, 0, 0, 0, 0])],
    ['a truncated header', Buffer.from([0x00, 0x02, 0x02])],
    ['field lengths that overrun the frame', Buffer.from([0x00, 0, 1, 200, 4, ...ascii('1'), ...ascii('test:bin')])],
  ];
  for (const [name, bytes] of cases) {
    it(`closes on ${name}; another socket carries on`, async () => {
      const fixture = await start();
      const other = await joined(fixture, V2, 'test:bin', '12');
      const client = await joined(fixture, V2, 'test:bin', '22');
      client.raw.sendRaw(bytes, true);
      expect((await client.closed).code).toBe(1007);
      expect(await other.push(['12', '13', 'test:bin', 'reply_ok', {}])).toEqual(['12', '13', 'test:bin', 'phx_reply', OK]);
    });
  }
});
