/**
 * @module bench/body
 * The 64-byte message body every peer carries, and the clock it is stamped with.
 *
 * The body is JSON text of exactly {@link BODY_BYTES} bytes, `{"s":SEQ,"t":MICROS,"p":"xx…"}`:
 * `s` is the publisher's sequence number (loss and order), `t` the send time in µs on a clock
 * shared by every process of the machine (latency), `p` padding. `s` and `t` come first and are
 * plain integers, so JSON.parse + JSON.stringify on the server (Starling, Socket.IO) gives back the
 * same text, and receivers read both numbers straight from the frame bytes without parsing it.
 *
 * @example
 * const text = body(7, nowMicros());          // 64 bytes
 * const fields = { seq: 0, sentAt: 0 };
 * readBody(Buffer.from(`[null,null,"t","msg",${text}]`), fields); // true, fields.seq === 7
 */

/** Size of every message body in bytes. */
export const BODY_BYTES = 64;

const PAD = 'x'.repeat(BODY_BYTES);

// performance.now() is cheap but per-process; process.hrtime is CLOCK_MONOTONIC, shared by every
// process on the machine. Pin one to the other once, then stamp with the cheap one.
const OFFSET_US = (() => {
  let best = Number.POSITIVE_INFINITY;
  let offset = 0;
  for (let i = 0; i < 50; i++) {
    const before = performance.now();
    const mono = Number(process.hrtime.bigint() / 1000n);
    const after = performance.now();
    if (after - before < best) {
      best = after - before;
      offset = mono - ((before + after) / 2) * 1000;
    }
  }
  return offset;
})();

/** Monotonic time in µs, comparable between processes of this machine. */
export function nowMicros(): number {
  return OFFSET_US + performance.now() * 1000;
}

/** Builds a 64-byte body. */
export function body(seq: number, sentAt: number): string {
  const head = `{"s":${seq},"t":${Math.round(sentAt)},"p":"`;
  const padding = BODY_BYTES - head.length - 2;
  if (padding < 0) throw new RangeError(`body for seq ${seq} does not fit in ${BODY_BYTES} bytes`);
  return `${head}${PAD.slice(0, padding)}"}`;
}

/** The two numbers of a body. */
export interface BodyFields {
  seq: number;
  sentAt: number;
}

const MARK = Buffer.from('{"s":');
const T_GAP = ',"t":'.length;

/**
 * Finds a body inside a received frame (any envelope) and reads `s` and `t` into `out`.
 * @returns false when the frame carries no body (join replies, heartbeats, pings)
 */
export function readBody(frame: Buffer, out: BodyFields): boolean {
  const start = frame.indexOf(MARK);
  if (start < 0) return false;
  let i = start + MARK.length;
  let seq = 0;
  for (let c = frame[i]!; c >= 48 && c <= 57; c = frame[++i]!) seq = seq * 10 + (c - 48);
  i += T_GAP;
  let sentAt = 0;
  for (let c = frame[i]!; c >= 48 && c <= 57; c = frame[++i]!) sentAt = sentAt * 10 + (c - 48);
  out.seq = seq;
  out.sentAt = sentAt;
  return true;
}
