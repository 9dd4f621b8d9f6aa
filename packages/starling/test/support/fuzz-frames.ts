/**
 * A seeded generator of hostile WebSocket frames for Starling's fuzz run, and a driver that sends
 * them from many short-lived raw sockets. Shared by `test/hardening/fuzz.test.ts` (a bounded run
 * in CI) and `test/hardening/fuzz-long.ts` (millions of frames, by hand), so a failing seed
 * reproduces in either.
 *
 * Frames are random or mutated versions of valid V2 frames (§2.2, §2.4): invalid JSON and UTF-8,
 * wrong arity and types, huge numbers, long strings (below the 1 MiB frame limit), deep nesting,
 * binary garbage, binary pushes whose length bytes lie, and valid-looking frames with random
 * topics and events. Each frame says whether it may cost the socket its life (`mayClose`): the
 * driver ends a socket's life with such a frame, so frames are never wasted on a socket the server
 * is already closing.
 *
 * @example
 * const fuzzer = new FrameFuzzer(42);
 * const report = await sendFuzz('ws://127.0.0.1:4000/socket/websocket?vsn=2.0.0', fuzzer, { frames: 10_000 });
 */
import WebSocket from 'ws';

/** One generated frame. */
export interface FuzzFrame {
  /** What the generator meant to produce (for the report). */
  readonly kind: string;
  /** The bytes or text to send as they are. */
  readonly data: string | Buffer;
  /** Sent with the binary opcode (else text, even when `data` is a Buffer of invalid UTF-8). */
  readonly binary: boolean;
  /** The server may close the socket for it (malformed, undecodable, crashing). */
  readonly mayClose: boolean;
}

/** mulberry32: a small, fast, seedable PRNG; the same seed gives the same frames. */
export class Prng {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** An element of `items`. */
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)] as T;
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  bytes(length: number): Buffer {
    const out = Buffer.allocUnsafe(length);
    for (let i = 0; i < length; i++) out[i] = Math.floor(this.next() * 256);
    return out;
  }
}

/** The fixture's `test:*` events, control events, and names no handler knows. */
const EVENTS = [
  'echo',
  'reply_ok',
  'reply_error',
  'reply_not_found',
  'noreply',
  'push',
  'broadcast',
  'broadcast_from',
  'async_reply',
  'binary',
  'binary_push',
  'binary_broadcast',
  'stop_normal',
  'stop_with_reply',
  'stop_abnormal',
  'crash',
  'update_presence',
  'intercepted',
  'phx_join',
  'phx_join',
  'phx_leave',
  'heartbeat',
  'phx_reply',
  'phx_close',
  'phx_error',
  'presence_diff',
  '',
  'é🐦',
  'x'.repeat(255),
] as const;

/**
 * Topics the fuzz may use. Never the honest clients' topic (`test:honest`): fuzz broadcasts would
 * otherwise land in their inboxes (which is correct behaviour, but not what they check).
 */
const TOPICS = [
  'test:fuzz',
  'test:a',
  'test:b',
  'exact',
  'phoenix',
  'rooms:lobby',
  '',
  'test:',
  'test:é🐦',
  't'.repeat(255),
  `test:${'t'.repeat(251)}`,
] as const;

/** Keys the fixture reacts to in join params, plus noise. Never `delayMs` or `ms`: those would park timers. */
const KEYS = ['crash', 'refuse', 'track', 'reply', 'event', 'payload', 'binary', 'key', 'body', '__proto__', 'constructor', ''] as const;

const FRAME_LIMIT = 1024 * 1024;

/** The seeded frame generator. */
export class FrameFuzzer {
  readonly rng: Prng;
  #ref = 0;

  readonly seed: number;
  constructor(seed: number) {
    this.seed = seed;
    this.rng = new Prng(seed);
  }

  /** A frame the server should answer without closing the socket. */
  nextBenign(): FuzzFrame {
    return this.rng.chance(0.85)
      ? this.#text('valid-looking', JSON.stringify(this.validLooking()), false)
      : this.#text('extra-elements', JSON.stringify([...this.validLooking(), this.value(2)]), false);
  }

  /** The next frame of any kind: about 40 % benign, the rest hostile. */
  next(): FuzzFrame {
    const r = this.rng;
    const roll = r.next();
    if (roll < 0.55) return this.#text('valid-looking', JSON.stringify(this.validLooking()), false);
    if (roll < 0.62) return this.#text('extra-elements', JSON.stringify([...this.validLooking(), this.value(2)]), false);
    if (roll < 0.7) return this.#text('wrong-types', JSON.stringify(this.wrongTypes()), true);
    if (roll < 0.75) return this.#text('wrong-arity', JSON.stringify(this.validLooking().slice(0, r.int(0, 4))), true);
    if (roll < 0.79) return this.#text('not-an-array', JSON.stringify(this.value(3)), true);
    if (roll < 0.84) return this.#text('invalid-json', this.invalidJson(), true);
    if (roll < 0.87) return { kind: 'invalid-utf8', data: this.invalidUtf8(), binary: false, mayClose: true };
    if (roll < 0.9) return this.#text('deep-nesting', this.deepNesting(), true);
    if (roll < 0.92) return this.#text('huge-numbers', JSON.stringify(this.hugeNumbers()), true);
    if (roll < 0.925) return this.#text('long-string', this.longString(), true);
    if (roll < 0.95) return { kind: 'binary-valid', data: this.binaryPush(false), binary: true, mayClose: true };
    if (roll < 0.97) return { kind: 'binary-lying-lengths', data: this.binaryPush(true), binary: true, mayClose: true };
    if (roll < 0.98) return { kind: 'binary-garbage', data: r.bytes(r.int(0, 64)), binary: true, mayClose: true };
    return this.#text('mutated', this.mutate(JSON.stringify(this.validLooking())), true);
  }

  #text(kind: string, data: string | Buffer, mayClose: boolean): FuzzFrame {
    return { kind, data, binary: false, mayClose };
  }

  /** A well-formed V2 frame with a random topic, event and payload; join refs are often right. */
  validLooking(): unknown[] {
    const r = this.rng;
    const ref = String(++this.#ref);
    const topic = r.chance(0.7) ? r.pick(TOPICS) : this.string(r.int(0, 20));
    const event = r.chance(0.85) ? r.pick(EVENTS) : this.string(r.int(0, 20));
    const joinRef = r.chance(0.3) ? null : r.chance(0.5) ? ref : String(r.int(1, this.#ref));
    const payload =
      event === 'push' || event === 'broadcast' || event === 'broadcast_from'
        ? { event: r.pick(EVENTS), payload: r.chance(0.8) ? this.object(2) : this.value(2) }
        : r.chance(0.8)
          ? this.object(3)
          : this.value(3);
    return [joinRef, r.chance(0.05) ? r.int(0, 1e6) : ref, topic, event, payload];
  }

  /** A V2 frame with one field of the wrong JSON type. */
  wrongTypes(): unknown[] {
    const frame = this.validLooking();
    const index = this.rng.int(0, 4);
    frame[index] = this.rng.pick<unknown>([0, -1, 1.5, true, false, null, [], {}, [1, 2], { a: 1 }, 1e308, '']);
    return frame;
  }

  /** A random JSON value at most `depth` containers deep. */
  value(depth: number): unknown {
    const r = this.rng;
    switch (depth <= 0 ? r.int(0, 3) : r.int(0, 5)) {
      case 0:
        return r.pick([null, true, false]);
      case 1:
        return r.pick([0, -0, 1, -1, r.next() * 1e6, Number.MAX_SAFE_INTEGER, 2 ** 63, 1e308, -1e-308]);
      case 2:
      case 3:
        return this.string(r.int(0, 24));
      case 4:
        return Array.from({ length: r.int(0, 4) }, () => this.value(depth - 1));
      default:
        return this.object(depth - 1);
    }
  }

  /** A random object whose keys are often ones the fixture reads. */
  object(depth: number): Record<string, unknown> {
    const r = this.rng;
    const out: Record<string, unknown> = {};
    for (let i = r.int(0, 4); i > 0; i--) {
      const key = r.chance(0.7) ? r.pick(KEYS) : this.string(r.int(0, 8));
      // defineProperty: a plain assignment of "__proto__" would set the prototype, not send the key.
      Object.defineProperty(out, key, { value: this.value(depth - 1), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }

  /** A string of `length` characters mixing ASCII, controls, escapes, astral and lone surrogates. */
  string(length: number): string {
    const r = this.rng;
    let out = '';
    for (let i = 0; i < length; i++) {
      const roll = r.next();
      out +=
        roll < 0.7
          ? String.fromCharCode(r.int(0x20, 0x7e))
          : roll < 0.8
            ? String.fromCharCode(r.int(0, 0x1f))
            : roll < 0.9
              ? r.pick(['"', '\\', 'é', '🐦', '\u2028', '\ufeff'])
              : String.fromCharCode(r.int(0xd800, 0xdfff));
    }
    return out;
  }

  invalidJson(): string {
    const r = this.rng;
    const valid = JSON.stringify(this.validLooking());
    return r.pick([
      () => valid.slice(0, r.int(0, valid.length - 1)),
      () => `${valid}${r.pick([',', ']', '}', 'x', ' 1'])}`,
      () => valid.replace(/"/g, "'"),
      () => `[null,"1","phoenix","heartbeat",{}`,
      () => `[NaN, Infinity, undefined, 1, {}]`,
      () => `["1","1","test:a","echo",{"a":1,}]`,
      () => '',
      () => ' ',
      () => '\u0000',
      () => this.string(r.int(1, 40)),
    ])();
  }

  /** Text-opcode bytes that are not UTF-8: overlong forms, lone continuations, surrogates, truncation. */
  invalidUtf8(): Buffer {
    const r = this.rng;
    const valid = Buffer.from(JSON.stringify(this.validLooking()));
    const bad = r.pick([[0xc0, 0xaf], [0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xff], [0xe2, 0x82], [0xf0, 0x9f, 0x90]]);
    const at = r.int(0, valid.length);
    return Buffer.concat([valid.subarray(0, at), Buffer.from(bad), valid.subarray(at)]);
  }

  /** A payload nested 1–2000 levels, sometimes within the 32-level limit and sometimes far beyond it. */
  deepNesting(): string {
    const r = this.rng;
    const depth = r.chance(0.5) ? r.int(1, 40) : r.int(40, 2000);
    const open = Array.from({ length: depth }, () => (r.chance(0.5) ? '[' : '{"a":')).join('');
    let close = '';
    for (let i = open.length - 1; i >= 0; i--) {
      if (open[i] === '[') close += ']';
      else if (open[i] === '{') close += '}';
    }
    return `["1","${++this.#ref}","test:fuzz","echo",${open}1${close}]`;
  }

  hugeNumbers(): unknown[] {
    const r = this.rng;
    // The last literal loses precision on purpose: the server must cope with what JSON.parse makes of it.
    // eslint-disable-next-line no-loss-of-precision
    const huge = (): unknown => r.pick<unknown>([1e308, -1e308, 2 ** 64, Number.MAX_SAFE_INTEGER + 2, 5e-324, 123456789012345678901234567890]);
    return r.pick([
      () => [huge(), huge(), 'test:fuzz', 'echo', { n: huge() }],
      () => [null, String(++this.#ref), 'test:fuzz', 'echo', { n: huge(), list: [huge(), huge()] }],
      () => [String(huge()), String(++this.#ref), 'test:fuzz', 'phx_join', { reply: { n: huge() } }],
    ])();
  }

  /** A frame carrying one long string (in a random field), up to just under the 1 MiB frame limit. */
  longString(): string {
    const r = this.rng;
    const bytes = Math.min(FRAME_LIMIT - 200, Math.floor(2 ** (r.next() * 20)));
    // 'é' is two UTF-8 bytes, '"' two JSON bytes (escaped): the count is of bytes on the wire.
    const filler = r.pick(['a', 'é', '"']);
    const body = filler.repeat(Math.floor(bytes / (filler === 'a' ? 1 : 2)));
    const frame: unknown[] = [null, String(++this.#ref), 'test:fuzz', 'echo', {}];
    const field = r.int(0, 4);
    frame[field] = field === 4 ? { body } : body;
    return JSON.stringify(frame);
  }

  /**
   * A binary push (§2.4, kind 0): `00 jlen rlen tlen elen join_ref ref topic event payload`. With
   * `lie`, the kind byte or a length byte is wrong, or the frame is cut short.
   */
  binaryPush(lie: boolean): Buffer {
    const r = this.rng;
    const ref = String(++this.#ref);
    const fields = [r.chance(0.5) ? ref : '', ref, r.pick(TOPICS), r.pick(EVENTS)].map((s) => Buffer.from(s));
    const header = Buffer.from([0, ...fields.map((f) => Math.min(f.length, 255))]);
    let frame = Buffer.concat([header, ...fields, r.bytes(r.int(0, 32))]);
    if (lie) {
      frame = Buffer.from(frame);
      switch (r.int(0, 3)) {
        case 0:
          frame[r.int(1, 4)] = r.int(0, 255);
          break;
        case 1:
          frame[0] = r.int(1, 255);
          break;
        case 2:
          frame = frame.subarray(0, r.int(0, 5));
          break;
        default:
          frame.fill(255, 1, 5);
      }
    }
    return frame;
  }

  /** A valid frame with a few bytes flipped, inserted or removed. */
  mutate(text: string): Buffer {
    const r = this.rng;
    const bytes = [...Buffer.from(text)];
    for (let n = r.int(1, 4); n > 0; n--) {
      const at = r.int(0, Math.max(0, bytes.length - 1));
      const op = r.int(0, 2);
      if (op === 0) bytes[at] = r.int(0, 255);
      else if (op === 1) bytes.splice(at, 0, r.int(0, 255));
      else bytes.splice(at, 1);
    }
    return Buffer.from(bytes);
  }
}

/** Options of {@link sendFuzz}. */
export interface FuzzRunOptions {
  /** Frames to send in all. */
  readonly frames: number;
  /** Sockets open at once. Default 16. */
  readonly concurrency?: number;
  /** Most benign frames one socket sends before its last frame (of any kind). Default 8. */
  readonly maxFramesPerSocket?: number;
  /** Called every `progressEvery` frames. */
  readonly onProgress?: (report: FuzzReport) => void;
  readonly progressEvery?: number;
}

/** What a fuzz run did. */
export interface FuzzReport {
  framesSent: number;
  sockets: number;
  /** Close codes the server chose, with counts (1000 = the driver's own close). */
  closeCodes: Record<number, number>;
  /** Frames sent, by generator kind. */
  kinds: Record<string, number>;
}

/**
 * Sends `frames` fuzz frames to `url` from short-lived sockets, `concurrency` at a time. Each
 * socket sends 0 to `maxFramesPerSocket` frames that should not kill it, then one of any kind
 * (probably hostile); then it
 * waits for the server's close (or, if the socket survived, a heartbeat reply and closes itself)
 * and is replaced by a new one. Resolves when every frame was sent and every socket closed.
 */
export async function sendFuzz(url: string, fuzzer: FrameFuzzer, options: FuzzRunOptions): Promise<FuzzReport> {
  const report: FuzzReport = { framesSent: 0, sockets: 0, closeCodes: {}, kinds: {} };
  const concurrency = options.concurrency ?? 16;
  const maxBenign = options.maxFramesPerSocket ?? 8;
  const progressEvery = options.progressEvery ?? 10_000;
  let nextProgress = progressEvery;

  const lane = async (): Promise<void> => {
    while (report.framesSent < options.frames) {
      // Frames are generated here, in one order per run: the seed fixes what is sent (which
      // socket sends it depends on timing).
      const budget = Math.min(fuzzer.rng.int(0, maxBenign) + 1, options.frames - report.framesSent);
      const batch: FuzzFrame[] = [];
      while (batch.length < budget - 1) batch.push(fuzzer.nextBenign());
      batch.push(fuzzer.next());
      report.framesSent += batch.length;
      report.sockets++;
      const code = await oneSocket(url, batch);
      report.closeCodes[code] = (report.closeCodes[code] ?? 0) + 1;
      for (const frame of batch) report.kinds[frame.kind] = (report.kinds[frame.kind] ?? 0) + 1;
      if (report.framesSent >= nextProgress) {
        nextProgress += progressEvery;
        options.onProgress?.(report);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return report;
}

/** Opens a socket, sends `batch`, and resolves with the close code once it is closed. */
function oneSocket(url: string, batch: readonly FuzzFrame[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { maxPayload: 64 * 1024 * 1024 });
    const heartbeatRef = 'fuzz-hb';
    // A server that neither answers nor closes within this bound is a finding, not a hang.
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`a fuzz socket got neither a heartbeat reply nor a close within 10 s after: ${batch.map((f) => f.kind).join(', ')}`));
    }, 10_000);
    ws.on('error', () => {});
    ws.on('open', () => {
      for (const frame of batch) ws.send(frame.data, { binary: frame.binary });
      ws.send(JSON.stringify([null, heartbeatRef, 'phoenix', 'heartbeat', {}]));
    });
    ws.on('message', (data: Buffer, binary: boolean) => {
      // Only the heartbeat's reply matters; it proves the server read every frame before it.
      if (!binary && data.includes(heartbeatRef) && data.includes('"phoenix"')) ws.close(1000);
    });
    ws.on('close', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}
