/**
 * @module test/unit/serializer/v1-json
 * V1 JSON, as docs/protocol.md §2.3 specifies it: the client sends an object with `topic`, `event`,
 * `payload`, `ref` and optionally `join_ref`; the server answers with exactly four keys and never
 * `join_ref`; binary payloads cannot be carried at all.
 */
import { describe, expect, it } from 'vitest';
import { MalformedFrameError } from '../../../src/errors.ts';
import type { Frame } from '../../../src/serializer/frame.ts';
import { V1JsonSerializer } from '../../../src/serializer/v1-json.ts';

const v1 = new V1JsonSerializer();
const text = (json: string): Buffer => Buffer.from(json, 'utf8');

/** Frames are checked as parsed JSON: key order is not significant except where a test says so. */
function parsed(frame: Frame | null): unknown {
  expect(frame).not.toBeNull();
  expect(frame?.binary).toBe(false);
  return JSON.parse(frame?.text ?? '');
}

describe('V1JsonSerializer', () => {
  it('speaks vsn 1.0.0', () => {
    expect(v1.vsn).toBe('1.0.0');
  });

  describe('decode', () => {
    it('reads a join with join_ref (§2.3)', () => {
      const frame = '{"topic":"rooms:lobby","event":"phx_join","payload":{},"ref":"1","join_ref":"1"}';
      expect(v1.decode(text(frame), false)).toEqual({
        joinRef: '1',
        ref: '1',
        topic: 'rooms:lobby',
        event: 'phx_join',
        payload: {},
      });
    });

    it('defaults a missing join_ref to null (§2.3 heartbeat)', () => {
      const frame = '{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"5"}';
      expect(v1.decode(text(frame), false)).toEqual({
        joinRef: null,
        ref: '5',
        topic: 'phoenix',
        event: 'heartbeat',
        payload: {},
      });
    });

    it('keeps numeric refs numeric so they are echoed with the same JSON type', () => {
      const frame = '{"topic":"t","event":"e","payload":{},"ref":9,"join_ref":8}';
      const message = v1.decode(text(frame), false);
      expect(message.ref).toBe(9);
      expect(message.joinRef).toBe(8);
    });

    it('accepts null ref and null payload as present', () => {
      const message = v1.decode(text('{"topic":"t","event":"e","payload":null,"ref":null}'), false);
      expect(message).toMatchObject({ ref: null, payload: null });
    });

    it('passes any JSON payload through, e.g. a string', () => {
      const message = v1.decode(text('{"topic":"t","event":"e","payload":"hi","ref":"1"}'), false);
      expect(message.payload).toBe('hi');
    });

    it.each([
      ['invalid JSON', 'this is not json'],
      ['an array', '[null,"1","t","e",{}]'],
      ['a JSON string', '"topic"'],
      ['null', 'null'],
      ['missing topic', '{"event":"e","payload":{},"ref":"1"}'],
      ['missing event', '{"topic":"t","payload":{},"ref":"1"}'],
      ['missing payload', '{"topic":"t","event":"e","ref":"1"}'],
      ['missing ref', '{"topic":"t","event":"e","payload":{}}'],
      ['a non-string topic', '{"topic":1,"event":"e","payload":{},"ref":"1"}'],
      ['a non-string event', '{"topic":"t","event":null,"payload":{},"ref":"1"}'],
      ['a boolean ref', '{"topic":"t","event":"e","payload":{},"ref":true}'],
      ['an object join_ref', '{"topic":"t","event":"e","payload":{},"ref":"1","join_ref":{}}'],
    ])('rejects %s as malformed', (_case, frame) => {
      expect(() => v1.decode(text(frame), false)).toThrow(MalformedFrameError);
    });

    it('rejects text that is not valid UTF-8', () => {
      // 0xff never occurs in UTF-8; it sits inside an otherwise valid topic string.
      const frame = Buffer.concat([text('{"topic":"t'), Buffer.from([0xff]), text('","event":"e","payload":{},"ref":"1"}')]);
      expect(() => v1.decode(frame, false)).toThrow(MalformedFrameError);
    });

    it('rejects every binary frame: V1 has no binary support', () => {
      const frame = text('{"topic":"t","event":"e","payload":{},"ref":"1"}');
      expect(() => v1.decode(frame, true)).toThrow(MalformedFrameError);
    });

    it('gives malformed frames the stable code ERR_MALFORMED_FRAME', () => {
      expect(() => v1.decode(text('{'), false)).toThrow(expect.objectContaining({ code: 'ERR_MALFORMED_FRAME' }));
    });
  });

  describe('encode', () => {
    it('writes a reply as exactly the four keys event, payload, ref, topic (§2.3)', () => {
      const frame = v1.encodeReply({
        joinRef: '1',
        ref: '1',
        topic: 'rooms:lobby',
        status: 'ok',
        response: {},
      });
      // Byte-exact on purpose: this pins the key set (no join_ref) as well as Phoenix's key order.
      expect(frame?.text).toBe('{"event":"phx_reply","payload":{"response":{},"status":"ok"},"ref":"1","topic":"rooms:lobby"}');
    });

    it('writes a broadcast with a null ref (§2.3)', () => {
      const frame = v1.encodeBroadcast({ topic: 'rooms:lobby', event: 'new_msg', payload: { body: 'v1' } });
      expect(parsed(frame)).toEqual({
        event: 'new_msg',
        payload: { body: 'v1' },
        ref: null,
        topic: 'rooms:lobby',
      });
    });

    it('never writes join_ref, even for a push that has one', () => {
      const frame = v1.encodePush({ joinRef: '3', ref: '3', topic: 't', event: 'phx_close', payload: {} });
      expect(Object.keys(parsed(frame) as object).sort()).toEqual(['event', 'payload', 'ref', 'topic']);
    });

    it('echoes a numeric ref as a number', () => {
      const frame = v1.encodeReply({ joinRef: 8, ref: 9, topic: 't', status: 'ok', response: {} });
      expect(parsed(frame)).toMatchObject({ ref: 9 });
    });

    it('keeps all four keys when a payload is undefined', () => {
      const frame = v1.encodePush({ joinRef: null, ref: null, topic: 't', event: 'e', payload: undefined });
      expect(parsed(frame)).toEqual({ event: 'e', payload: null, ref: null, topic: 't' });
    });

    it('answers null for binary payloads, which V1 cannot carry', () => {
      const binary = { binary: new Uint8Array([1, 2]) };
      expect(v1.encodePush({ joinRef: '1', ref: null, topic: 't', event: 'e', payload: binary })).toBeNull();
      expect(v1.encodeReply({ joinRef: '1', ref: '2', topic: 't', status: 'ok', response: binary })).toBeNull();
      expect(v1.encodeBroadcast({ topic: 't', event: 'e', payload: binary })).toBeNull();
    });
  });

  it('round-trips a client frame through decode and encodePush', () => {
    const message = v1.decode(text('{"topic":"t","event":"e","payload":{"a":[1,"ü"]},"ref":"4"}'), false);
    expect(v1.decode(v1.encodePush(message)?.data ?? Buffer.alloc(0), false)).toEqual(message);
  });
});
