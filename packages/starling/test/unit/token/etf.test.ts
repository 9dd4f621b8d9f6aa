/**
 * @module test/unit/token/etf
 * The External Term Format subset of docs/protocol.md §8.3. Byte fixtures are what
 * `:erlang.term_to_binary/1` produces on OTP 26+, annotated field by field.
 */
import { describe, expect, it } from 'vitest';
import { Atom, EtfError, Tuple, atom, decodeTerm, encodeTerm, tuple } from '../../../src/token/etf.ts';
import type { Term } from '../../../src/token/etf.ts';

/** Hex with spaces and `|` separators allowed, for readable fixtures. */
function hex(text: string): Buffer {
  return Buffer.from(text.replace(/[\s|]/g, ''), 'hex');
}

function ascii(text: string): string {
  return Buffer.from(text, 'latin1').toString('hex');
}

describe('encodeTerm writes the bytes term_to_binary writes', () => {
  const fixtures: Array<[string, Term, string]> = [
    ['0..255 as SMALL_INTEGER', 42, '83 | 61 2a'],
    ['256 as INTEGER (int32 BE)', 256, '83 | 62 00 00 01 00'],
    ['-1 as INTEGER', -1, '83 | 62 ff ff ff ff'],
    ['-2^31 as INTEGER', -(2 ** 31), '83 | 62 80 00 00 00'],
    ['2^31 as SMALL_BIG (n=4, sign 0, LE)', 2 ** 31, '83 | 6e 04 00 | 00 00 00 80'],
    ['-2^31-1 as SMALL_BIG (sign 1)', -(2 ** 31) - 1, '83 | 6e 04 01 | 01 00 00 80'],
    ['a ms timestamp as SMALL_BIG', 1_700_000_000_000, '83 | 6e 06 00 | 00 68 e5 cf 8b 01'],
    ['2^64 (bigint) as SMALL_BIG', 2n ** 64n, '83 | 6e 09 00 | 00 00 00 00 00 00 00 00 01'],
    ['a small bigint like the number', 42n, '83 | 61 2a'],
    ['a number beyond 2^53 as the float it is', 2 ** 60, '83 | 46 43 b0 00 00 00 00 00 00'],
    ['1.5 as NEW_FLOAT (IEEE BE)', 1.5, '83 | 46 3f f8 00 00 00 00 00 00'],
    ['-0.25 as NEW_FLOAT', -0.25, '83 | 46 bf d0 00 00 00 00 00 00'],
    ['a string as BINARY', 'hé', '83 | 6d 00 00 00 03 | 68 c3 a9'],
    ['"" as an empty BINARY', '', '83 | 6d 00 00 00 00'],
    ['null as the atom nil', null, `83 | 77 03 ${ascii('nil')}`],
    ['true as an atom', true, `83 | 77 04 ${ascii('true')}`],
    ['false as an atom', false, `83 | 77 05 ${ascii('false')}`],
    ['atom(name) as SMALL_ATOM_UTF8', atom('infinity'), `83 | 77 08 ${ascii('infinity')}`],
    ['[] as NIL', [], '83 | 6a'],
    ['a list of bytes as STRING_EXT', [1, 2, 255], '83 | 6b 00 03 | 01 02 ff'],
    ['a list with a non-byte as LIST + NIL tail', [1, 1000], '83 | 6c 00 00 00 02 | 61 01 | 62 00 00 03 e8 | 6a'],
    ['a list of strings as LIST', ['a'], '83 | 6c 00 00 00 01 | 6d 00 00 00 01 61 | 6a'],
    ['a tuple as SMALL_TUPLE', tuple(1, 'a'), '83 | 68 02 | 61 01 | 6d 00 00 00 01 61'],
    ['{} as an empty MAP', {}, '83 | 74 00 00 00 00'],
    [
      'a map with keys sorted bytewise',
      { role: 'admin', id: 7 },
      `83 | 74 00 00 00 02 | 6d 00 00 00 02 ${ascii('id')} 61 07 | 6d 00 00 00 04 ${ascii('role')} 6d 00 00 00 05 ${ascii('admin')}`,
    ],
  ];

  for (const [name, value, bytes] of fixtures) {
    it(name, () => {
      expect(encodeTerm(value).toString('hex')).toBe(hex(bytes).toString('hex'));
    });
  }

  it('writes the §8.4 payload: {42, 1_700_000_000_000, 86_400}', () => {
    const payload = encodeTerm(tuple(42, 1_700_000_000_000, 86_400));
    expect(payload).toEqual(hex('83 68 03 | 61 2a | 6e 06 00 00 68 e5 cf 8b 01 | 62 00 01 51 80'));
  });

  it('sorts map keys by UTF-8 bytes, not by UTF-16 code units', () => {
    // U+FFFF is EF BF BF, U+1F600 is F0 9F 98 80: bytewise U+FFFF sorts first (JS sort says otherwise).
    const bytes = encodeTerm({ '\u{1F600}': 1, '\uFFFF': 2 });
    expect(bytes).toEqual(hex('83 74 00000002 | 6d 00000003 efbfbf 61 02 | 6d 00000004 f09f9880 61 01'));
  });

  it('switches to LARGE_BIG beyond 255 magnitude bytes', () => {
    const bytes = encodeTerm(2n ** 2048n);
    expect(bytes.subarray(0, 7)).toEqual(hex('83 6f 00 00 01 01 00'));
  });

  it('writes long lists of bytes as LIST, since STRING_EXT holds at most 65535', () => {
    const bytes = encodeTerm(new Array<number>(65_536).fill(1));
    expect(bytes.subarray(0, 6)).toEqual(hex('83 6c 00 01 00 00'));
  });
});

describe('decodeTerm reads the subset back', () => {
  const roundTrips: Array<[string, Term]> = [
    ['small and negative integers', [0, 255, 256, -1, -256, -(2 ** 31), 2 ** 31 - 1]],
    ['integers just beyond int32', [2 ** 31, -(2 ** 31) - 1]],
    ['the largest safe integers', [Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER]],
    ['bigints beyond 2^53', [2n ** 53n, -(2n ** 53n), 2n ** 64n, -(2n ** 64n), 2n ** 4000n]],
    ['floats, and numbers beyond 2^53', [1.5, -0.25, 1e300, -1e-300, Number.MIN_VALUE, 2 ** 60]],
    ['strings, including non-ASCII and a BOM', ['', 'user-123', 'héllo ✓ \u{1F600}', '\uFEFFbom']],
    ['null and booleans', [null, true, false]],
    ['STRING_EXT lists', [[1, 2, 3], [0], [255, 0, 255]]],
    ['nested maps and lists', { user: { id: 7, tags: ['a', 'b'], meta: {} }, list: [[], [1000, 'x', { k: null }]] }],
    ['tuples inside data', [tuple(), tuple(1, tuple('a', [2])), new Tuple(new Array<Term>(300).fill(1))]],
  ];

  for (const [name, value] of roundTrips) {
    it(`round-trips ${name}`, () => {
      expect(decodeTerm(encodeTerm(value))).toEqual(value);
    });
  }

  it('turns bigints within ±(2^53-1) into numbers, and 2^53 stays a bigint', () => {
    expect(decodeTerm(encodeTerm(5n))).toBe(5);
    expect(decodeTerm(hex('83 6e 07 00 | ff ff ff ff ff ff 1f'))).toBe(Number.MAX_SAFE_INTEGER);
    expect(decodeTerm(hex('83 6e 07 00 | 00 00 00 00 00 00 20'))).toBe(2n ** 53n);
    expect(decodeTerm(hex('83 6f 00 00 00 01 01 | 05'))).toBe(-5);
  });

  it('accepts every atom encoding: ATOM_EXT (100), SMALL_ATOM (115), ATOM_UTF8 (118), SMALL_ATOM_UTF8 (119)', () => {
    expect(decodeTerm(hex(`83 64 00 04 ${ascii('true')}`))).toBe(true);
    expect(decodeTerm(hex(`83 73 05 ${ascii('false')}`))).toBe(false);
    expect(decodeTerm(hex(`83 76 00 03 ${ascii('nil')}`))).toBeNull();
    expect(decodeTerm(hex(`83 77 05 ${ascii('admin')}`))).toBe('admin');
    expect(decodeTerm(hex('83 64 00 02 e9 74'))).toBe('ét'); // ATOM_EXT is Latin-1
  });

  it('decodes atom map keys (Elixir %{id: 7}) to string keys', () => {
    const bytes = hex(`83 74 00 00 00 01 | 77 02 ${ascii('id')} | 61 07`);
    expect(decodeTerm(bytes)).toEqual({ id: 7 });
  });

  it('keeps a "__proto__" key as data instead of changing the prototype', () => {
    const decoded = decodeTerm(hex(`83 74 00000001 | 6d 00000009 ${ascii('__proto__')} | 61 01`));
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
    expect(Object.keys(decoded as object)).toEqual(['__proto__']);
  });

  it('decodes a list whose items are all bytes sent as LIST, like Erlang would read it', () => {
    expect(decodeTerm(hex('83 6c 00000002 61 01 61 02 6a'))).toEqual([1, 2]);
  });

  it('never returns Atom instances', () => {
    expect(decodeTerm(encodeTerm(atom('infinity')))).toBe('infinity');
    expect(decodeTerm(encodeTerm([atom('x')]))).not.toContainEqual(expect.any(Atom));
  });
});

describe('decodeTerm refuses input outside the subset', () => {
  const refused: Array<[string, string]> = [
    ['a wrong version byte', '82 61 01'],
    ['empty input', ''],
    ['a compressed term (tag 80)', '83 50 00 00 00 02 78 9c'],
    ['a pid (NEW_PID_EXT 88)', `83 58 77 0d ${ascii('nonode@nohost')} 00000001 00000000 00000000`],
    ['a port (NEW_PORT_EXT 89)', `83 59 77 0d ${ascii('nonode@nohost')} 00000001 00000000`],
    ['a reference (NEWER_REFERENCE_EXT 90)', `83 5a 0001 77 0d ${ascii('nonode@nohost')} 00000000 00000001`],
    ['a fun (NEW_FUN_EXT 112)', '83 70 00000010 00'],
    ['an external fun (EXPORT_EXT 113)', `83 71 77 01 ${ascii('m')} 77 01 ${ascii('f')} 61 00`],
    ['an old-style FLOAT_EXT (99)', `83 63 ${'30'.repeat(31)}`],
    ['a bitstring (BIT_BINARY_EXT 77)', '83 4d 00000001 03 e0'],
    ['trailing bytes after the term', '83 61 01 00'],
    ['a truncated binary', '83 6d 00 00 00 05 61'],
    ['a truncated integer', '83 62 00 00'],
    ['a list claiming more elements than bytes', '83 6c ffffffff 6a'],
    ['an improper list [1 | 2]', '83 6c 00000001 61 01 61 02'],
    ['a binary that is not UTF-8', '83 6d 00000002 ff fe'],
    ['an integer map key', '83 74 00000001 61 01 61 02'],
    ['a key present twice (binary and atom)', `83 74 00000002 6d 00000001 ${ascii('a')} 61 01 77 01 ${ascii('a')} 61 02`],
    ['a NaN float', '83 46 7f f8 00 00 00 00 00 00'],
    ['an infinite float', '83 46 7f f0 00 00 00 00 00 00'],
    ['a bignum with an invalid sign byte', '83 6e 01 02 05'],
  ];

  for (const [name, bytes] of refused) {
    it(name, () => {
      expect(() => decodeTerm(hex(bytes))).toThrow(EtfError);
    });
  }

  it('refuses nesting deeper than 512 instead of overflowing the stack', () => {
    const depth = 10_000;
    const bytes = Buffer.concat([hex('83'), Buffer.alloc(depth * 2, hex('6801')), hex('6a')]);
    expect(() => decodeTerm(bytes)).toThrow(EtfError);
  });

  it('carries a stable error code', () => {
    expect(() => decodeTerm(hex('83 50'))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_PAYLOAD' }));
  });
});

describe('encodeTerm refuses values Erlang cannot represent', () => {
  const cyclic: Record<string, unknown> = {};
  cyclic['self'] = cyclic;
  const refused: Array<[string, unknown]> = [
    ['undefined', undefined],
    ['a map value undefined', { a: undefined }],
    ['a function', () => 1],
    ['a symbol', Symbol('s')],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['a Date', new Date(0)],
    ['a Map', new Map()],
    ['a Buffer', Buffer.from('a')],
    ['a cyclic object', cyclic],
  ];

  for (const [name, value] of refused) {
    it(name, () => {
      expect(() => encodeTerm(value as Term)).toThrow(EtfError);
    });
  }

  it('accepts objects without a prototype', () => {
    const map = Object.assign(Object.create(null) as Record<string, Term>, { a: 1 });
    expect(decodeTerm(encodeTerm(map))).toEqual({ a: 1 });
  });
});
