/**
 * @module test/unit/serializer/v2-binary
 * V2 binary frames, as docs/protocol.md §2.4 specifies them. The four fixtures are the worked examples
 * of §2.4 (checked there against the npm client's serializer), written one field per line.
 */
import { describe, expect, it } from 'vitest';
import { MalformedFrameError } from '../../../src/errors.ts';
import type { BinaryPayload, Message } from '../../../src/protocol.ts';
import { V2JsonSerializer } from '../../../src/serializer/v2-json.ts';

const v2 = new V2JsonSerializer();

/** Joins hex fields (whitespace ignored) into one frame. */
const hex = (...fields: string[]): Buffer => Buffer.from(fields.join('').replace(/\s+/g, ''), 'hex');

/** §2.4 client push: join_ref "12", ref "13", topic "room:lobby", event "file", payload 01 02. */
const CLIENT_PUSH = hex(
  '00', // kind 0: push
  '02', // join_ref length: 2
  '02', // ref length: 2
  '0a', // topic length: 10
  '04', // event length: 4
  '3132', // join_ref "12"
  '3133', // ref "13"
  '726f6f6d3a6c6f626279', // topic "room:lobby"
  '66696c65', // event "file"
  '0102', // payload: the rest of the frame
);

/** §2.4 server push: join_ref "12", topic "room:lobby", event "file", payload 01 02 — no ref. */
const SERVER_PUSH = hex(
  '00', // kind 0: push
  '02', // join_ref length: 2
  '0a', // topic length: 10 (no ref length: a server push has no ref)
  '04', // event length: 4
  '3132', // join_ref "12"
  '726f6f6d3a6c6f626279', // topic "room:lobby"
  '66696c65', // event "file"
  '0102', // payload
);

/** §2.4 server reply: join_ref "12", ref "13", topic "room:lobby", status "ok", payload 01 02 03 04. */
const SERVER_REPLY = hex(
  '01', // kind 1: reply
  '02', // join_ref length: 2
  '02', // ref length: 2
  '0a', // topic length: 10
  '02', // status length: 2 (the status takes the event's place)
  '3132', // join_ref "12"
  '3133', // ref "13"
  '726f6f6d3a6c6f626279', // topic "room:lobby"
  '6f6b', // status "ok"
  '01020304', // payload: the reply's response bytes
);

/** §2.4 server broadcast: topic "room:lobby", event "file", payload ff. */
const SERVER_BROADCAST = hex(
  '02', // kind 2: broadcast
  '0a', // topic length: 10 (no refs at all)
  '04', // event length: 4
  '726f6f6d3a6c6f626279', // topic "room:lobby"
  '66696c65', // event "file"
  'ff', // payload
);

const binary = (...octets: number[]): BinaryPayload => ({ binary: Uint8Array.from(octets) });

/** The bytes of a decoded `{binary}` payload, for comparison. */
function payloadBytes(message: Message): Buffer {
  const payload = message.payload as BinaryPayload;
  expect(payload.binary).toBeInstanceOf(Uint8Array);
  return Buffer.from(payload.binary);
}

describe('V2JsonSerializer binary frames', () => {
  describe('decode (client push, kind 0)', () => {
    it('reads the §2.4 client push', () => {
      const message = v2.decode(CLIENT_PUSH, true);
      expect(message).toMatchObject({ joinRef: '12', ref: '13', topic: 'room:lobby', event: 'file' });
      expect(payloadBytes(message)).toEqual(hex('0102'));
    });

    it('reads zero-length refs as null (how a null ref is written)', () => {
      const frame = hex('00', '00', '00', '01', '01', '74', '65', 'aa');
      expect(v2.decode(frame, true)).toMatchObject({ joinRef: null, ref: null, topic: 't', event: 'e' });
    });

    it('accepts an empty payload', () => {
      const frame = hex('00', '01', '01', '01', '01', '31', '32', '74', '65');
      expect(payloadBytes(v2.decode(frame, true))).toEqual(Buffer.alloc(0));
    });

    it('reads multi-byte UTF-8 lengths in bytes, not characters', () => {
      // topic "café" is 5 bytes: 63 61 66 c3 a9.
      const frame = hex('00', '00', '00', '05', '01', '636166c3a9', '65', '00');
      expect(v2.decode(frame, true)).toMatchObject({ topic: 'café', event: 'e' });
    });

    it.each([
      ['an empty frame', hex('')],
      ['kind 1 (reply: server to client only)', hex('01 00 00 01 01 74 65')],
      ['kind 2 (broadcast: server to client only)', hex('02 01 01 74 65')],
      ['an unknown kind', hex('07 00 00 01 01 74 65')],
      ['a text frame sent with the binary opcode', Buffer.from('["1","2","t","e",{}]')],
      ['a header truncated to 4 bytes', hex('00 02 02 0a')],
      ['a header truncated to the kind byte', hex('00')],
      ['lengths overrunning the frame', hex('00 02 02 0a 04 3132 3133 726f6f6d')],
      ['an event length one past the end', hex('00 00 00 01 02 74 65')],
      ['a topic that is not valid UTF-8', hex('00 00 00 01 01 ff 65')],
    ])('rejects %s as malformed', (_case, frame) => {
      expect(() => v2.decode(frame, true)).toThrow(MalformedFrameError);
    });
  });

  describe('encode', () => {
    it('writes the §2.4 server push byte for byte (no ref, even when the message has one)', () => {
      const frame = v2.encodePush({
        joinRef: '12',
        ref: '13',
        topic: 'room:lobby',
        event: 'file',
        payload: binary(0x01, 0x02),
      });
      expect(frame.binary).toBe(true);
      expect(frame.data).toEqual(SERVER_PUSH);
    });

    it('writes the §2.4 server reply byte for byte', () => {
      const frame = v2.encodeReply({
        joinRef: '12',
        ref: '13',
        topic: 'room:lobby',
        status: 'ok',
        response: binary(0x01, 0x02, 0x03, 0x04),
      });
      expect(frame.binary).toBe(true);
      expect(frame.data).toEqual(SERVER_REPLY);
    });

    it('writes the §2.4 server broadcast byte for byte', () => {
      const frame = v2.encodeBroadcast({ topic: 'room:lobby', event: 'file', payload: binary(0xff) });
      expect(frame.binary).toBe(true);
      expect(frame.data).toEqual(SERVER_BROADCAST);
    });

    it('writes null refs as length 0', () => {
      const frame = v2.encodeReply({ joinRef: null, ref: null, topic: 't', status: 'ok', response: binary(9) });
      expect(frame.data).toEqual(hex('01', '00', '00', '01', '02', '74', '6f6b', '09'));
    });

    it('writes numeric refs as their decimal text', () => {
      const frame = v2.encodeReply({ joinRef: 12, ref: 13, topic: 'room:lobby', status: 'ok', response: binary(1, 2, 3, 4) });
      expect(frame.data).toEqual(SERVER_REPLY);
    });

    it('counts header lengths in UTF-8 bytes', () => {
      const frame = v2.encodeBroadcast({ topic: 'café', event: 'é', payload: binary() });
      expect(frame.data).toEqual(hex('02', '05', '02', '636166c3a9', 'c3a9'));
    });

    it('copies only the viewed bytes of a payload that is a slice of a larger buffer', () => {
      const backing = Uint8Array.from([0xaa, 0x01, 0x02, 0xbb]);
      const frame = v2.encodeBroadcast({ topic: 't', event: 'e', payload: { binary: backing.subarray(1, 3) } });
      expect(frame.data).toEqual(hex('02', '01', '01', '74', '65', '0102'));
    });

    it('accepts fields of exactly 255 bytes', () => {
      const topic = 't'.repeat(255);
      const frame = v2.encodeBroadcast({ topic, event: 'e', payload: binary(1) });
      expect(frame.data[1]).toBe(255);
    });

    it.each([
      ['topic', { joinRef: null, ref: null, topic: 't'.repeat(256), event: 'e' }],
      ['event', { joinRef: null, ref: null, topic: 't', event: 'e'.repeat(256) }],
      ['join_ref', { joinRef: '1'.repeat(256), ref: null, topic: 't', event: 'e' }],
      // 128 two-byte characters: 128 characters but 256 bytes.
      ['topic (counted in bytes)', { joinRef: null, ref: null, topic: 'é'.repeat(128), event: 'e' }],
    ])('refuses a %s over 255 UTF-8 bytes in a push', (field, message) => {
      const push = { ...message, payload: binary(1) };
      expect(() => v2.encodePush(push)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_PAYLOAD' }));
      expect(() => v2.encodePush(push)).toThrow(field.split(' ')[0]);
    });

    it('refuses a ref or status over 255 bytes in a reply', () => {
      const reply = { joinRef: null, ref: null, topic: 't', status: 'ok', response: binary(1) };
      expect(() => v2.encodeReply({ ...reply, ref: '9'.repeat(256) })).toThrow(/ref is 256 UTF-8 bytes/);
      expect(() => v2.encodeReply({ ...reply, status: 's'.repeat(256) })).toThrow(/status/);
    });

    it('writes a text reply to a binary push whose handler answers with an object (§2.4)', () => {
      const push = v2.decode(CLIENT_PUSH, true);
      const frame = v2.encodeReply({ ...push, status: 'ok', response: { got: 2 } });
      expect(frame.binary).toBe(false);
      expect(JSON.parse(frame.text)).toEqual(['12', '13', 'room:lobby', 'phx_reply', { status: 'ok', response: { got: 2 } }]);
    });
  });

  it('round-trips a client push into a server push of the same payload', () => {
    const push = v2.decode(CLIENT_PUSH, true);
    expect(v2.encodePush({ ...push, ref: null }).data).toEqual(SERVER_PUSH);
  });
});
