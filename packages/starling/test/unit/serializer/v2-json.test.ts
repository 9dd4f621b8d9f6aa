/**
 * @module test/unit/serializer/v2-json
 * V2 text frames, as docs/protocol.md §2.2 and §3.11 specify them: a JSON array
 * `[join_ref, ref, topic, event, payload]`, replies with the payload `{status, response}`.
 * Binary frames are covered in v2-binary.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { MalformedFrameError } from '../../../src/errors.ts';
import type { Frame } from '../../../src/serializer/frame.ts';
import { V2JsonSerializer } from '../../../src/serializer/v2-json.ts';

const v2 = new V2JsonSerializer();
const text = (json: string): Buffer => Buffer.from(json, 'utf8');

/** Frames are checked as parsed JSON: key order is not significant (§2.2). */
function parsed(frame: Frame): unknown {
  expect(frame.binary).toBe(false);
  return JSON.parse(frame.text);
}

describe('V2JsonSerializer text frames', () => {
  it('speaks vsn 2.0.0', () => {
    expect(v2.vsn).toBe('2.0.0');
  });

  describe('decode', () => {
    it('reads a join (§2.2)', () => {
      expect(v2.decode(text('["5","5","room:lobby","phx_join",{"token":"abc"}]'), false)).toEqual({
        joinRef: '5',
        ref: '5',
        topic: 'room:lobby',
        event: 'phx_join',
        payload: { token: 'abc' },
      });
    });

    it('reads a heartbeat with a null join_ref (§3.1)', () => {
      expect(v2.decode(text('[null,"7","phoenix","heartbeat",{}]'), false)).toEqual({
        joinRef: null,
        ref: '7',
        topic: 'phoenix',
        event: 'heartbeat',
        payload: {},
      });
    });

    it('keeps numeric refs numeric', () => {
      const message = v2.decode(text('[8,9,"t","e",{}]'), false);
      expect(message.joinRef).toBe(8);
      expect(message.ref).toBe(9);
    });

    it('passes a string payload through unchanged', () => {
      expect(v2.decode(text('["1","2","t","e","just text"]'), false).payload).toBe('just text');
    });

    it('ignores elements after the fifth', () => {
      const message = v2.decode(text('["1","2","t","e",{"a":1},"extra"]'), false);
      expect(message).toEqual({ joinRef: '1', ref: '2', topic: 't', event: 'e', payload: { a: 1 } });
    });

    it.each([
      ['invalid JSON', 'this is not json'],
      ['an empty frame', ''],
      ['a 4-element array', '["1","2","t","e"]'],
      ['an object instead of an array', '{"topic":"t","event":"e","payload":{},"ref":"1"}'],
      ['a JSON number', '42'],
      ['a non-string topic', '["1","2",3,"e",{}]'],
      ['a null topic', '["1","2",null,"e",{}]'],
      ['a non-string event', '["1","2","t",{},{}]'],
      ['a boolean join_ref', '[true,"2","t","e",{}]'],
      ['an array ref', '["1",["2"],"t","e",{}]'],
    ])('rejects %s as malformed', (_case, frame) => {
      expect(() => v2.decode(text(frame), false)).toThrow(MalformedFrameError);
    });

    it('rejects a text frame whose bytes are not valid UTF-8', () => {
      // c3 28: a two-byte lead followed by a non-continuation byte, inside the event string.
      const frame = Buffer.concat([text('["1","2","t","'), Buffer.from([0xc3, 0x28]), text('",{}]')]);
      expect(() => v2.decode(frame, false)).toThrow(MalformedFrameError);
    });

    it('rejects a text frame holding a lone surrogate encoded in UTF-8 (CESU-style)', () => {
      // ed a0 80 would be U+D800, which UTF-8 forbids.
      const frame = Buffer.concat([text('["1","2","'), Buffer.from([0xed, 0xa0, 0x80]), text('","e",{}]')]);
      expect(() => v2.decode(frame, false)).toThrow(MalformedFrameError);
    });
  });

  describe('encode', () => {
    it('writes a join reply as [J, R, topic, "phx_reply", {status, response}] (§3.2)', () => {
      const frame = v2.encodeReply({ joinRef: '5', ref: '5', topic: 'room:lobby', status: 'ok', response: {} });
      expect(parsed(frame)).toEqual(['5', '5', 'room:lobby', 'phx_reply', { status: 'ok', response: {} }]);
    });

    it('writes a heartbeat reply with a null join_ref (§3.1)', () => {
      const frame = v2.encodeReply({ joinRef: null, ref: '7', topic: 'phoenix', status: 'ok', response: {} });
      expect(parsed(frame)).toEqual([null, '7', 'phoenix', 'phx_reply', { status: 'ok', response: {} }]);
    });

    it('writes an error reply with any JSON response (§3.11 unmatched topic)', () => {
      const frame = v2.encodeReply({
        joinRef: null,
        ref: '9',
        topic: 'other:topic',
        status: 'error',
        response: { reason: 'unmatched topic' },
      });
      expect(parsed(frame)).toEqual([null, '9', 'other:topic', 'phx_reply', { status: 'error', response: { reason: 'unmatched topic' } }]);
    });

    it('allows a string response in a reply', () => {
      const frame = v2.encodeReply({ joinRef: '1', ref: '2', topic: 't', status: 'ok', response: 'pong' });
      expect(parsed(frame)).toEqual(['1', '2', 't', 'phx_reply', { status: 'ok', response: 'pong' }]);
    });

    it('writes a push with the channel join_ref and a null ref (§3.11)', () => {
      const frame = v2.encodePush({ joinRef: '5', ref: null, topic: 'room:lobby', event: 'presence_state', payload: {} });
      expect(parsed(frame)).toEqual(['5', null, 'room:lobby', 'presence_state', {}]);
    });

    it('writes phx_close and phx_error with ref = join_ref (§3.11)', () => {
      const close = v2.encodePush({ joinRef: '5', ref: '5', topic: 't', event: 'phx_close', payload: {} });
      const error = v2.encodePush({
        joinRef: '5',
        ref: '5',
        topic: 't',
        event: 'phx_error',
        payload: { reason: 'channel_crash' },
      });
      expect(parsed(close)).toEqual(['5', '5', 't', 'phx_close', {}]);
      expect(parsed(error)).toEqual(['5', '5', 't', 'phx_error', { reason: 'channel_crash' }]);
    });

    it('writes a broadcast with both refs null (§2.2)', () => {
      const frame = v2.encodeBroadcast({ topic: 'room:lobby', event: 'new_msg', payload: { body: 'hi' } });
      expect(parsed(frame)).toEqual([null, null, 'room:lobby', 'new_msg', { body: 'hi' }]);
    });

    it('echoes numeric refs as numbers (§2.1)', () => {
      const frame = v2.encodeReply({ joinRef: 8, ref: 9, topic: 't', status: 'ok', response: {} });
      expect(parsed(frame)).toEqual([8, 9, 't', 'phx_reply', { status: 'ok', response: {} }]);
    });

    it('keeps the response key when a response is undefined', () => {
      const frame = v2.encodeReply({ joinRef: '1', ref: '2', topic: 't', status: 'ok', response: undefined });
      expect(parsed(frame)).toEqual(['1', '2', 't', 'phx_reply', { status: 'ok', response: null }]);
    });

    it('writes UTF-8 bytes for non-ASCII text', () => {
      const frame = v2.encodeBroadcast({ topic: 'salle:café', event: 'msg', payload: { body: '☕' } });
      expect(frame.data.equals(Buffer.from(frame.text, 'utf8'))).toBe(true);
      expect(parsed(frame)).toEqual([null, null, 'salle:café', 'msg', { body: '☕' }]);
    });
  });

  it('round-trips: what the client sends decodes to what encodePush writes back', () => {
    const input = '["5","6","room:lobby","new_msg",{"body":"hi","n":[1,2.5,null,true]}]';
    const message = v2.decode(text(input), false);
    expect(parsed(v2.encodePush(message))).toEqual(JSON.parse(input));
    expect(v2.decode(v2.encodePush(message).data, false)).toEqual(message);
  });
});
