/**
 * @module token/etf
 * A minimal codec for Erlang's External Term Format (what `:erlang.term_to_binary/1` writes), limited
 * to the JSON-like subset that Phoenix tokens carry (docs/protocol.md §8.3). It exists so a token signed
 * here can be verified by an Elixir app and the other way round; it is not a general ETF library.
 *
 * ```ts
 * encodeTerm(tuple(42, 1_700_000_000_000, 86_400)); // <83 68 03 61 2a 6e 06 ...>
 * decodeTerm(bytes); // Tuple { elements: [42, 1700000000000, 86400] }
 * ```
 *
 * Mapping: string ↔ binary, integer ↔ safe-integer number (bigint beyond ±(2^53-1)), any other
 * number ↔ float (so JS `1.0` is the integer 1: JS cannot tell them apart), null ↔ `nil`, booleans ↔
 * `true`/`false`, array ↔ list, plain object ↔ map with binary keys, {@link Tuple} ↔ tuple. Other
 * atoms decode to their name as a string (so Elixir's `%{id: 1}` reads as `{ id: 1 }`). The encoder
 * writes the bytes `term_to_binary` writes for these values, except for maps of more than 32 keys,
 * whose key order Erlang derives from a hash (any order decodes the same).
 *
 * Decoded input is untrusted: the decoder refuses pids, references, functions, compressed terms and
 * anything else outside the subset, instead of guessing.
 */
import { ErrorCodes, StarlingError } from '../errors.ts';

/** A value the codec can encode; {@link decodeTerm} returns the same shapes, minus {@link Atom}. */
export type Term = null | boolean | number | bigint | string | Atom | Tuple | readonly Term[] | TermObject;

/** A map with string keys (an Elixir map with binary or atom keys). */
export interface TermObject {
  readonly [key: string]: Term;
}

/** An Erlang tuple. JS has no tuple type, so arrays always mean lists and tuples need this wrapper. */
export class Tuple {
  /** @param elements the tuple's elements, in order */
  readonly elements: readonly Term[];
  constructor(elements: readonly Term[]) {
    this.elements = elements;
  }
}

/** Builds a {@link Tuple}: `tuple(data, signedMs, maxAge)`. */
export function tuple(...elements: Term[]): Tuple {
  return new Tuple(elements);
}

/**
 * An Erlang atom other than `true`/`false`/`nil` (which are booleans and null), for the few places
 * a token needs one, such as a max age of `:infinity`. The decoder turns atoms into strings.
 */
export class Atom {
  /** @param name the atom's name, e.g. `"infinity"` */
  readonly name: string;
  constructor(name: string) {
    this.name = name;
  }
}

/** Builds an {@link Atom}: `atom('infinity')`. */
export function atom(name: string): Atom {
  return new Atom(name);
}

/** A value outside the supported subset, or bytes that are not a valid term of it. */
export class EtfError extends StarlingError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCodes.invalidPayload, message, options);
  }
}

const VERSION = 131;

const Tag = {
  newFloat: 70,
  compressed: 80,
  smallInteger: 97,
  integer: 98,
  atom: 100,
  smallTuple: 104,
  largeTuple: 105,
  nil: 106,
  string: 107,
  list: 108,
  binary: 109,
  smallBig: 110,
  largeBig: 111,
  smallAtom: 115,
  map: 116,
  atomUtf8: 118,
  smallAtomUtf8: 119,
} as const;

/** Nesting bound: recursion on crafted or cyclic input must end in an EtfError, not a stack overflow. */
const MAX_DEPTH = 512;

const INT32_MIN = -(2n ** 31n);
const INT32_MAX = 2n ** 31n - 1n;
const SAFE_MIN = BigInt(Number.MIN_SAFE_INTEGER);
const SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER);

// ---------------------------------------------------------------------------------------------
// Encoding

/**
 * Encodes a value as `:erlang.term_to_binary/1` would (version byte included).
 * @throws EtfError for values outside {@link Term}: undefined, functions, symbols, non-finite
 *   numbers, class instances, nesting deeper than 512.
 */
export function encodeTerm(value: Term): Buffer {
  const out = new Writer();
  out.u8(VERSION);
  writeTerm(out, value, 0);
  return out.finish();
}

function writeTerm(out: Writer, value: Term, depth: number): void {
  if (depth > MAX_DEPTH) throw new EtfError('term nested too deeply (or cyclic)');
  if (value === null) return writeAtom(out, 'nil');
  switch (typeof value) {
    case 'boolean':
      return writeAtom(out, value ? 'true' : 'false');
    case 'bigint':
      return writeInteger(out, value);
    case 'number':
      // Beyond ±(2^53-1) a number has lost integer precision, so it is written as the float it is
      // (and decodes back to the same number); exact big integers are bigints.
      if (Number.isSafeInteger(value)) return writeInteger(out, BigInt(value));
      if (!Number.isFinite(value)) throw new EtfError(`cannot encode ${value}: Erlang has no such float`);
      out.u8(Tag.newFloat);
      return out.f64(value);
    case 'string': {
      const bytes = Buffer.from(value, 'utf8');
      out.u8(Tag.binary);
      out.u32(bytes.length);
      return out.bytes(bytes);
    }
    case 'object':
      break;
    default:
      throw new EtfError(`cannot encode a value of type ${typeof value}`);
  }
  if (value instanceof Atom) return writeAtom(out, value.name);
  if (value instanceof Tuple) return writeTuple(out, value.elements, depth);
  if (Array.isArray(value)) return writeList(out, value as readonly Term[], depth);
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) {
    throw new EtfError('cannot encode a class instance; only plain objects become maps');
  }
  writeMap(out, value as TermObject, depth);
}

function writeAtom(out: Writer, name: string): void {
  const bytes = Buffer.from(name, 'utf8');
  // Like OTP ≥ 26: the one-byte-length form when it fits.
  if (bytes.length <= 255) {
    out.u8(Tag.smallAtomUtf8);
    out.u8(bytes.length);
  } else if (bytes.length <= 0xffff) {
    out.u8(Tag.atomUtf8);
    out.u16(bytes.length);
  } else {
    throw new EtfError('atom name too long');
  }
  out.bytes(bytes);
}

/** Picks the smallest integer form, as term_to_binary does, whatever the JS type (42 and 42n alike). */
function writeInteger(out: Writer, value: bigint): void {
  if (value >= 0n && value <= 255n) {
    out.u8(Tag.smallInteger);
    return out.u8(Number(value));
  }
  if (value >= INT32_MIN && value <= INT32_MAX) {
    out.u8(Tag.integer);
    return out.i32(Number(value));
  }
  const digits: number[] = [];
  for (let rest = value < 0n ? -value : value; rest > 0n; rest >>= 8n) digits.push(Number(rest & 0xffn));
  if (digits.length <= 255) {
    out.u8(Tag.smallBig);
    out.u8(digits.length);
  } else {
    out.u8(Tag.largeBig);
    out.u32(digits.length);
  }
  out.u8(value < 0n ? 1 : 0);
  out.bytes(Uint8Array.from(digits));
}

function writeTuple(out: Writer, elements: readonly Term[], depth: number): void {
  if (elements.length <= 255) {
    out.u8(Tag.smallTuple);
    out.u8(elements.length);
  } else {
    out.u8(Tag.largeTuple);
    out.u32(elements.length);
  }
  for (const element of elements) writeTerm(out, element, depth + 1);
}

function writeList(out: Writer, list: readonly Term[], depth: number): void {
  if (list.length === 0) return out.u8(Tag.nil);
  // Erlang writes a list of bytes (a charlist such as [1, 2]) as STRING_EXT; matching it keeps the
  // bytes, hence signatures, identical to what an Elixir node produces for the same data.
  if (list.length <= 0xffff && list.every(isByte)) {
    out.u8(Tag.string);
    out.u16(list.length);
    return out.bytes(Uint8Array.from(list, Number));
  }
  out.u8(Tag.list);
  out.u32(list.length);
  for (const element of list) writeTerm(out, element, depth + 1);
  out.u8(Tag.nil);
}

function isByte(value: Term): boolean {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 && value <= 255;
  return typeof value === 'bigint' && value >= 0n && value <= 255n;
}

function writeMap(out: Writer, map: TermObject, depth: number): void {
  // Small Erlang maps are ordered by key; binary keys compare bytewise, which differs from JS string
  // order (UTF-16 code units) once characters beyond U+FFFF are involved, so sort the UTF-8 bytes.
  const entries = Object.keys(map)
    .map((key) => [Buffer.from(key, 'utf8'), map[key]] as const)
    .sort(([a], [b]) => Buffer.compare(a, b));
  out.u8(Tag.map);
  out.u32(entries.length);
  for (const [key, value] of entries) {
    if (value === undefined) throw new EtfError(`cannot encode undefined (map key "${key.toString()}")`);
    out.u8(Tag.binary);
    out.u32(key.length);
    out.bytes(key);
    writeTerm(out, value, depth + 1);
  }
}

/** An append-only byte buffer that doubles as it fills. */
class Writer {
  #buf = Buffer.allocUnsafe(128);
  #pos = 0;

  u8(value: number): void {
    this.#reserve(1);
    this.#pos = this.#buf.writeUInt8(value, this.#pos);
  }
  u16(value: number): void {
    this.#reserve(2);
    this.#pos = this.#buf.writeUInt16BE(value, this.#pos);
  }
  u32(value: number): void {
    this.#reserve(4);
    this.#pos = this.#buf.writeUInt32BE(value, this.#pos);
  }
  i32(value: number): void {
    this.#reserve(4);
    this.#pos = this.#buf.writeInt32BE(value, this.#pos);
  }
  f64(value: number): void {
    this.#reserve(8);
    this.#pos = this.#buf.writeDoubleBE(value, this.#pos);
  }
  bytes(bytes: Uint8Array): void {
    this.#reserve(bytes.length);
    this.#buf.set(bytes, this.#pos);
    this.#pos += bytes.length;
  }
  finish(): Buffer {
    return Buffer.from(this.#buf.subarray(0, this.#pos));
  }
  #reserve(n: number): void {
    if (this.#pos + n <= this.#buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#pos + n));
    this.#buf.copy(next, 0, 0, this.#pos);
    this.#buf = next;
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding

/**
 * Decodes one term written by `:erlang.term_to_binary/1`. Atoms other than true/false/nil become
 * strings; map keys must be binaries or atoms and become object keys.
 * @throws EtfError on a wrong version byte, truncated input, trailing bytes, invalid UTF-8 in a
 *   binary, non-finite floats, duplicate keys after conversion, or any tag outside the subset
 *   (pids, references, functions, compressed terms…).
 */
export function decodeTerm(bytes: Uint8Array): Term {
  const input = new Reader(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  const version = input.u8();
  if (version !== VERSION) throw new EtfError(`unsupported term format version ${version}`);
  const value = readTerm(input, 0);
  if (input.remaining > 0) throw new EtfError(`${input.remaining} trailing bytes after the term`);
  return value;
}

/** Fatal so that a non-UTF-8 binary is refused rather than silently altered; BOM kept as data. */
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function readTerm(input: Reader, depth: number): Term {
  if (depth > MAX_DEPTH) throw new EtfError('term nested too deeply');
  const tag = input.u8();
  switch (tag) {
    case Tag.smallInteger:
      return input.u8();
    case Tag.integer:
      return input.i32();
    case Tag.smallBig:
      return readBig(input, input.u8());
    case Tag.largeBig:
      return readBig(input, input.u32());
    case Tag.newFloat: {
      const value = input.f64();
      if (!Number.isFinite(value)) throw new EtfError('non-finite float');
      return value;
    }
    case Tag.binary:
      return readUtf8(input, input.u32());
    case Tag.smallTuple:
      return new Tuple(readElements(input, input.u8(), depth));
    case Tag.largeTuple:
      return new Tuple(readElements(input, input.u32(), depth));
    case Tag.nil:
      return [];
    case Tag.string:
      return Array.from(input.bytes(input.u16()));
    case Tag.list: {
      const elements = readElements(input, input.u32(), depth);
      if (input.u8() !== Tag.nil) throw new EtfError('improper lists are not supported');
      return elements;
    }
    case Tag.map:
      return readMap(input, input.u32(), depth);
    case Tag.atom:
    case Tag.smallAtom:
    case Tag.atomUtf8:
    case Tag.smallAtomUtf8:
      return atomValue(readAtomName(input, tag));
    case Tag.compressed:
      throw new EtfError('compressed terms are not supported');
    default:
      throw new EtfError(`unsupported term tag ${tag}`);
  }
}

function readBig(input: Reader, length: number): number | bigint {
  const sign = input.u8();
  if (sign > 1) throw new EtfError(`invalid bignum sign ${sign}`);
  const digits = input.bytes(length);
  let value = 0n;
  for (let i = digits.length - 1; i >= 0; i--) value = (value << 8n) | BigInt(digits[i] ?? 0);
  if (sign === 1) value = -value;
  return value >= SAFE_MIN && value <= SAFE_MAX ? Number(value) : value;
}

function readUtf8(input: Reader, length: number): string {
  return decodeUtf8(input.bytes(length));
}

function decodeUtf8(bytes: Buffer): string {
  try {
    return utf8.decode(bytes);
  } catch (cause) {
    throw new EtfError('binary or atom is not valid UTF-8', { cause });
  }
}

function readElements(input: Reader, count: number, depth: number): Term[] {
  // Every element takes at least one byte: reject absurd counts before looping on them.
  if (count > input.remaining) throw new EtfError('truncated term');
  const elements: Term[] = [];
  for (let i = 0; i < count; i++) elements.push(readTerm(input, depth + 1));
  return elements;
}

function readMap(input: Reader, count: number, depth: number): TermObject {
  if (count * 2 > input.remaining) throw new EtfError('truncated term');
  const map: Record<string, Term> = {};
  for (let i = 0; i < count; i++) {
    const key = readKey(input);
    if (Object.hasOwn(map, key)) throw new EtfError(`duplicate map key "${key}"`);
    // defineProperty, not assignment: a "__proto__" key must stay data, not replace the prototype.
    Object.defineProperty(map, key, {
      value: readTerm(input, depth + 1),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return map;
}

function readKey(input: Reader): string {
  const tag = input.u8();
  switch (tag) {
    case Tag.binary:
      return readUtf8(input, input.u32());
    case Tag.atom:
    case Tag.smallAtom:
    case Tag.atomUtf8:
    case Tag.smallAtomUtf8:
      return readAtomName(input, tag);
    default:
      throw new EtfError(`unsupported map key tag ${tag}; keys must be binaries or atoms`);
  }
}

function readAtomName(input: Reader, tag: number): string {
  const wide = tag === Tag.atom || tag === Tag.atomUtf8;
  const bytes = input.bytes(wide ? input.u16() : input.u8());
  // ATOM_EXT and SMALL_ATOM_EXT (pre-OTP 26 writers) are Latin-1.
  return tag === Tag.atom || tag === Tag.smallAtom ? bytes.toString('latin1') : decodeUtf8(bytes);
}

function atomValue(name: string): Term {
  if (name === 'nil') return null;
  if (name === 'true') return true;
  if (name === 'false') return false;
  return name;
}

/** A bounds-checked cursor over the input. */
class Reader {
  #pos = 0;
  readonly buf: Buffer;
  constructor(buf: Buffer) {
    this.buf = buf;
  }

  get remaining(): number {
    return this.buf.length - this.#pos;
  }
  u8(): number {
    return this.buf.readUInt8(this.#advance(1));
  }
  u16(): number {
    return this.buf.readUInt16BE(this.#advance(2));
  }
  u32(): number {
    return this.buf.readUInt32BE(this.#advance(4));
  }
  i32(): number {
    return this.buf.readInt32BE(this.#advance(4));
  }
  f64(): number {
    return this.buf.readDoubleBE(this.#advance(8));
  }
  bytes(n: number): Buffer {
    const start = this.#advance(n);
    return this.buf.subarray(start, start + n);
  }
  #advance(n: number): number {
    if (n > this.remaining) throw new EtfError('truncated term');
    const start = this.#pos;
    this.#pos += n;
    return start;
  }
}
