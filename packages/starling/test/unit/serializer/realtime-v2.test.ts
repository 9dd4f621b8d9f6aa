/**
 * realtime-js's V2 binary frames (docs/supabase.md): the client's user broadcast push (kind 3)
 * decodes to the `broadcast` message its JSON form would be, a broadcast of bytes encodes as a
 * user broadcast (kind 4), and Phoenix's kinds 0–2, which the client's decoder rejects, are never
 * produced. Fixtures are written one field per line.
 */
import { describe, expect, it } from 'vitest';
import { MalformedFrameError } from '../../../src/errors.ts';
import { RealtimeV2Serializer } from '../../../src/serializer/realtime-v2.ts';

const realtime = new RealtimeV2Serializer();
const hex = (...fields: string[]): Buffer => Buffer.from(fields.join('').replace(/\s+/g, ''), 'hex');
const utf8 = (text: string): string => Buffer.from(text, 'utf8').toString('hex');

/** What realtime-js sends for `channel.send({type: 'broadcast', event: 'move', payload: {x: 1}})`. */
const JSON_PUSH = hex(
  '03', // kind 3: user broadcast push
  '01', // join_ref length
  '01', // ref length
  '0e', // topic length: "realtime:room1" is 14
  '04', // user event length
  '00', // metadata length
  '01', // encoding: JSON
  utf8('1'), // join_ref
  utf8('2'), // ref
  utf8('realtime:room1'), // topic
  utf8('move'), // user event
  utf8('{"x":1}'), // payload: the rest of the frame
);

/** The same with bytes for a payload and `{"persist":true}` metadata. */
const BINARY_PUSH = hex(
  '03',
  '01',
  '01',
  '0e',
  '04',
  '10',
  '00',
  utf8('1'),
  utf8('3'),
  utf8('realtime:room1'),
  utf8('file'),
  utf8('{"persist":true}'),
  '010203',
);

describe('decoding what realtime-js sends', () => {
  it('reads a kind 3 JSON push as the broadcast message of its JSON form', () => {
    expect(realtime.decode(JSON_PUSH, true)).toEqual({
      joinRef: '1',
      ref: '2',
      topic: 'realtime:room1',
      event: 'broadcast',
      payload: { type: 'broadcast', event: 'move', payload: { x: 1 } },
    });
  });

  it('reads a kind 3 binary push with metadata: bytes as {binary}, metadata as meta', () => {
    const message = realtime.decode(BINARY_PUSH, true);
    expect(message).toMatchObject({ joinRef: '1', ref: '3', topic: 'realtime:room1', event: 'broadcast' });
    const payload = message.payload as { type: string; event: string; payload: { binary: Buffer }; meta: unknown };
    expect(payload.event).toBe('file');
    expect([...payload.payload.binary]).toEqual([1, 2, 3]);
    expect(payload.meta).toEqual({ persist: true });
  });

  it('reads text frames as V2 does', () => {
    expect(realtime.decode(Buffer.from('["1","1","realtime:a","phx_join",{}]'), false)).toEqual({
      joinRef: '1',
      ref: '1',
      topic: 'realtime:a',
      event: 'phx_join',
      payload: {},
    });
  });

  it.each([
    ['a Phoenix kind 0 push', hex('00', '00', '00', '01', '01', utf8('t'), utf8('e'))],
    ['an empty frame', hex('')],
    ['a truncated header', hex('03', '01', '01')],
    ['lengths past the end', hex('03', '01', '01', '20', '01', '00', '01', utf8('1'), utf8('2'))],
    ['an unknown encoding', hex('03', '00', '00', '01', '01', '00', '07', utf8('t'), utf8('e'), '00')],
    ['a JSON payload that is not JSON', hex('03', '00', '00', '01', '01', '00', '01', utf8('t'), utf8('e'), utf8('{x'))],
    ['metadata that is not JSON', hex('03', '00', '00', '01', '01', '01', '01', utf8('t'), utf8('e'), utf8('{'), utf8('{}'))],
    ['a topic that is not UTF-8', hex('03', '00', '00', '01', '01', '00', '01', 'ff', utf8('e'), utf8('{}'))],
  ])('rejects %s as malformed', (_name, frame) => {
    expect(() => realtime.decode(frame, true)).toThrow(MalformedFrameError);
  });
});

describe('encoding for realtime-js', () => {
  it('sends a JSON broadcast as the V2 text frame both clients read', () => {
    const frame = realtime.encodeBroadcast({ topic: 'realtime:room1', event: 'broadcast', payload: { type: 'broadcast', event: 'move', payload: { x: 1 } } });
    expect(frame?.binary).toBe(false);
    expect(frame?.text).toBe('[null,null,"realtime:room1","broadcast",{"type":"broadcast","event":"move","payload":{"x":1}}]');
  });

  it('sends a broadcast of bytes as kind 4: topic, user event, metadata, encoding 0, bytes', () => {
    const frame = realtime.encodeBroadcast({
      topic: 'realtime:room1',
      event: 'broadcast',
      payload: { type: 'broadcast', event: 'file', payload: { binary: Buffer.from([1, 2, 3]) } },
    });
    expect(frame?.binary).toBe(true);
    expect(frame?.data).toEqual(
      hex(
        '04', // kind 4: user broadcast
        '0e', // topic length
        '04', // user event length
        '00', // metadata length
        '00', // encoding: binary
        utf8('realtime:room1'),
        utf8('file'),
        '010203',
      ),
    );
  });

  it('never produces Phoenix binary kinds: other binary pushes, replies and broadcasts are skipped', () => {
    const bytes = { binary: Buffer.from([1]) };
    expect(realtime.encodePush({ joinRef: '1', ref: null, topic: 't', event: 'e', payload: bytes })).toBeNull();
    expect(realtime.encodeReply({ joinRef: '1', ref: '2', topic: 't', status: 'ok', response: bytes })).toBeNull();
    expect(realtime.encodeBroadcast({ topic: 't', event: 'file', payload: bytes })).toBeNull();
  });
});
