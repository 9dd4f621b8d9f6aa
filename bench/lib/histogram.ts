/**
 * @module bench/histogram
 * A latency histogram in whole microseconds with bounded memory and < 0.8 % relative error:
 * values below 256 µs have their own bucket, above that each power of two is split into 128
 * buckets (log-linear, as HdrHistogram does). Histograms of several processes merge exactly, so
 * workers send theirs to the harness instead of raw samples.
 *
 * @example
 * const h = new Histogram();
 * h.record(120); h.record(4_500);
 * h.percentile(99); // ≈ 4500
 */

const SUB_BITS = 7;
const SUB = 1 << SUB_BITS;
const MAX_VALUE = 2 ** 31 - 1;
const BUCKETS = (31 - SUB_BITS) * SUB + 2 * SUB;

function bucketOf(value: number): number {
  if (value < 2 * SUB) return value;
  const shift = 31 - Math.clz32(value) - SUB_BITS;
  return shift * SUB + (value >>> shift);
}

/** The middle of a bucket's range: the value reported for samples in it. */
function valueOf(bucket: number): number {
  if (bucket < 2 * SUB) return bucket;
  const shift = (bucket >>> SUB_BITS) - 1;
  const low = (bucket - shift * SUB) * 2 ** shift;
  return low + (2 ** shift - 1) / 2;
}

/** A histogram as sent between processes: sparse `[bucket, count]` pairs plus exact extremes. */
export interface HistogramData {
  readonly buckets: ReadonlyArray<readonly [number, number]>;
  readonly count: number;
  readonly sum: number;
  readonly max: number;
}

/** Latency distribution in µs. */
export class Histogram {
  readonly #counts = new Float64Array(BUCKETS);
  count = 0;
  sum = 0;
  max = 0;

  /** Records one sample in µs (clamped to [0, 2^31)). */
  record(micros: number): void {
    const value = micros <= 0 ? 0 : micros >= MAX_VALUE ? MAX_VALUE : Math.round(micros);
    this.#counts[bucketOf(value)]!++;
    this.count++;
    this.sum += value;
    if (value > this.max) this.max = value;
  }

  /** Adds another histogram's samples. */
  merge(data: HistogramData): void {
    for (const [bucket, count] of data.buckets) this.#counts[bucket]! += count;
    this.count += data.count;
    this.sum += data.sum;
    if (data.max > this.max) this.max = data.max;
  }

  /** The value at percentile `p` (0–100) in µs; 0 when empty. */
  percentile(p: number): number {
    if (this.count === 0) return 0;
    if (p >= 100) return this.max;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (let bucket = 0; bucket < BUCKETS; bucket++) {
      seen += this.#counts[bucket]!;
      if (seen >= rank) return Math.min(valueOf(bucket), this.max);
    }
    return this.max;
  }

  /** The sparse form for IPC. */
  toData(): HistogramData {
    const buckets: Array<[number, number]> = [];
    for (let bucket = 0; bucket < BUCKETS; bucket++) {
      const count = this.#counts[bucket]!;
      if (count > 0) buckets.push([bucket, count]);
    }
    return { buckets, count: this.count, sum: this.sum, max: this.max };
  }

  /** Forgets every sample. */
  reset(): void {
    this.#counts.fill(0);
    this.count = 0;
    this.sum = 0;
    this.max = 0;
  }
}
