import { describe, expect, it } from 'vitest';
import { Frame } from '../../src/serializer/frame.ts';

describe('Frame', () => {
  it('keeps the text of a text frame and refuses one for a binary frame', () => {
    expect(Frame.text('["1",null,"t","e",{}]').text).toBe('["1",null,"t","e",{}]');
    expect(new Frame(Buffer.from([1, 2]), false).text).toBe('\u0001\u0002');
    expect(() => new Frame(Buffer.from([1]), true).text).toThrow(TypeError);
  });

  describe('websocketBytes: one unmasked RFC 6455 frame, built once and shared', () => {
    it.each([
      // [payload length, header bytes]
      [0, [0x81, 0]],
      [125, [0x81, 125]],
      [126, [0x81, 126, 0x00, 126]],
      [65_535, [0x81, 126, 0xff, 0xff]],
      [65_536, [0x81, 127, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00]],
    ])('a %i-byte text payload gets the header %j', (length, header) => {
      const frame = Frame.text('x'.repeat(length));
      const bytes = frame.websocketBytes;
      expect([...bytes.subarray(0, header.length)]).toEqual(header);
      expect(bytes.length).toBe(header.length + length);
      expect(bytes.subarray(header.length).equals(frame.data)).toBe(true);
    });

    it('uses opcode 2 with FIN for binary frames', () => {
      const bytes = new Frame(Buffer.from([0xde, 0xad]), true).websocketBytes;
      expect([...bytes]).toEqual([0x82, 2, 0xde, 0xad]);
    });

    it('returns the very same buffer every time (fan-out writes the same bytes to every socket)', () => {
      const frame = Frame.text('{"body":"hi"}');
      expect(frame.websocketBytes).toBe(frame.websocketBytes);
    });
  });
});
