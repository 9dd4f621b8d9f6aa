/**
 * @module bench/messages
 * The IPC vocabulary between the harness (`run.ts`), the peer servers (`servers/*.ts`) and the
 * load-generator workers (`client/worker.ts`). Everything travels over Node's IPC channel as
 * JSON, so only plain data here.
 */
import type { HistogramData } from './histogram.ts';
import type { PeerName } from './options.ts';

// --- harness ↔ server ------------------------------------------------------------------------

/** Harness → server. */
export type ToServer =
  | { readonly type: 'gc' }
  | { readonly type: 'stop' }
  /** Starts V8's CPU profiler in the server (the measured phase only). */
  | { readonly type: 'profile-start' }
  /** Stops it and writes the `.cpuprofile` to `file`. */
  | { readonly type: 'profile-stop'; readonly file: string }
  /** Asks for the CPU time used so far (`process.cpuUsage()`, µs precision): for phases shorter than /proc's 10 ms ticks. */
  | { readonly type: 'cpu' }
  /** Writes a V8 heap snapshot to `file` after a forced full GC (`bench/heap-diff.ts`). */
  | { readonly type: 'heap-snapshot'; readonly file: string }
  /** Asks for the server's own counters (the supabase peer: postgres_changes'). */
  | { readonly type: 'stats' }
  /** Memory by V8 heap space after a forced full GC (`bench/memory-breakdown.ts`). */
  | { readonly type: 'heap-spaces' }
  /** Starts V8's sampling heap profiler, counting objects later collected too: what is allocated, not what is kept. */
  | { readonly type: 'alloc-start' }
  /** Stops it and writes the `.heapprofile` to `file`. */
  | { readonly type: 'alloc-stop'; readonly file: string };

/** One V8 heap space after a forced full GC: bytes of its objects, and of its pages in memory. */
export interface HeapSpace {
  readonly name: string;
  readonly used: number;
  readonly physical: number;
}

/** Memory of a server after a forced full GC. */
export interface ServerMemory {
  readonly type: 'mem';
  readonly rss: number;
  readonly heapUsed: number;
  /** V8 heap reserved (used or not): what the heap holds of the RSS. */
  readonly heapTotal: number;
  /** Memory outside the V8 heap held by JS objects (Buffers, ArrayBuffers). */
  readonly external: number;
}

/** Server → harness. */
export type FromServer =
  | { readonly type: 'ready'; readonly port: number }
  | ServerMemory
  | { readonly type: 'profiled'; readonly file: string | null }
  /** User + system CPU time of the server process so far, µs. */
  | { readonly type: 'cpu'; readonly micros: number }
  | { readonly type: 'heap-snapshot'; readonly file: string }
  /** The server's own counters, by name (empty when it keeps none). */
  | { readonly type: 'stats'; readonly values: Readonly<Record<string, number>> }
  /** `process.memoryUsage()` and V8's spaces, after a forced full GC. */
  | { readonly type: 'heap-spaces'; readonly heapUsed: number; readonly external: number; readonly spaces: readonly HeapSpace[] }
  | { readonly type: 'alloc-started' }
  | { readonly type: 'alloc-stopped'; readonly file: string };

// --- harness ↔ worker ------------------------------------------------------------------------

/**
 * The postgres-changes scenario's join (supabase peer): `postgres_changes` INSERT bindings on
 * `table`, held until live; each socket with its own key (`sub` = `user-<first + i>`) or all with
 * one (`sub` = `shared`).
 */
export interface ChangesJoin {
  readonly table: string;
  readonly claims: 'distinct' | 'shared';
  /** The index of this command's first socket among all workers' (distinct users across workers). */
  readonly first: number;
}

/** Opens `count` sockets to `url` and joins `bench:fanout` on each (or the peer's topic). */
export interface ConnectCommand {
  readonly type: 'connect';
  readonly peer: PeerName;
  /** `ws://127.0.0.1:PORT`; the peer's dialect adds the path. */
  readonly url: string;
  readonly count: number;
  readonly concurrency: number;
  readonly timeoutMs: number;
  /** Join with postgres_changes bindings instead (supabase peer). */
  readonly changes?: ChangesJoin | undefined;
}

/** Prepares loss/order/latency bookkeeping for seq 0 … total-1; latency counts from `measureFrom`. */
export interface FanoutInit {
  readonly type: 'fanout-init';
  readonly total: number;
  readonly measureFrom: number;
  /** True when this worker alone holds every socket, so its own progress drives the publisher. */
  readonly solo: boolean;
}

/** Starts a new measured phase: latency and measured counts start over, counting seq ≥ `from`. */
export interface FanoutMeasure {
  readonly type: 'fanout-measure';
  readonly from: number;
}

/** Publishes seq `from` … `to`-1 from the worker's first socket. */
export interface PublishCommand {
  readonly type: 'publish';
  readonly mode: 'burst' | 'rate';
  readonly from: number;
  readonly to: number;
  readonly burst: number;
  /** Burst mode: messages allowed in flight (not yet delivered to every subscriber). */
  readonly windowMessages: number;
  readonly burstIntervalMs: number;
  /** Rate mode: messages per second. */
  readonly rate: number;
  /** Stop publishing after this long, whatever was reached. */
  readonly deadlineMs: number;
}

/** Asks for fan-out stats; `published` is how many seq numbers were published in the end. */
export interface FanoutReport {
  readonly type: 'fanout-report';
  readonly published: number;
}

/**
 * Recovery, step 1 (the worker's sockets: publisher, stayer, subscriber): the publisher publishes
 * a marker, whose position the subscriber notes; the subscriber leaves; the publisher publishes
 * `messages` more and waits until they reached it and the stayer. Answered by `recovery-ready`.
 */
export interface RecoveryPrepare {
  readonly type: 'recovery-prepare';
  readonly messages: number;
  readonly timeoutMs: number;
}

/** Recovery, step 2: the subscriber rejoins with `recover` = its last position. Answered by `recovery-done`. */
export interface RecoveryJoin {
  readonly type: 'recovery-join';
  readonly timeoutMs: number;
}

export type ToWorker =
  | ConnectCommand
  | RecoveryPrepare
  | RecoveryJoin
  | FanoutInit
  | FanoutMeasure
  | PublishCommand
  | { readonly type: 'progress'; readonly done: number }
  | FanoutReport
  | { readonly type: 'rr-start' }
  | { readonly type: 'rr-measure' }
  | { readonly type: 'rr-stop' }
  | { readonly type: 'close' };

export interface Connected {
  readonly type: 'connected';
  readonly opened: number;
  readonly failed: number;
  readonly firstError: string | null;
}

export interface Published {
  readonly type: 'published';
  readonly from: number;
  /** One past the last seq actually published (less than asked when the deadline hit). */
  readonly to: number;
  readonly startMicros: number;
  readonly endMicros: number;
}

export interface FanoutStats {
  readonly type: 'fanout-stats';
  readonly sockets: number;
  /** Bodies received, every seq. */
  readonly received: number;
  /** Bodies received with seq ≥ measureFrom. */
  readonly measuredReceived: number;
  /** Received seq not greater than the previous one on the same socket (reordered or duplicated). */
  readonly outOfOrder: number;
  /** Seq numbers published (as told by the harness) that some socket never got, summed over sockets. */
  readonly lost: number;
  /** Arrival time of the last measured body. */
  readonly lastDeliveryMicros: number;
  readonly latency: HistogramData;
  /** Sockets closed by the server during the run. */
  readonly closed: number;
  /** Bodies received in a frame whose ref is a stream position (history topics). */
  readonly positioned: number;
}

export interface RecoveryReady {
  readonly type: 'recovery-ready';
  /** The subscriber's last position before it left ("<epoch>:<offset>"), null on error. */
  readonly from: string | null;
  readonly error: string | null;
}

export interface RecoveryDone {
  readonly type: 'recovery-done';
  /** phx_join sent → phx_stream received, µs. */
  readonly micros: number;
  /** phx_join sent → its phx_reply received, µs. */
  readonly replyMicros: number;
  /** Publications replayed between the reply and phx_stream. */
  readonly replayed: number;
  /** The first thing that was not as expected (count, order, positions, phx_stream payload), or null. */
  readonly error: string | null;
}

export interface RoundTripStats {
  readonly type: 'rr-stats';
  readonly roundTrips: number;
  readonly latency: HistogramData;
  readonly closed: number;
}

export type FromWorker =
  | { readonly type: 'ready' }
  | Connected
  | Published
  | FanoutStats
  | RoundTripStats
  | RecoveryReady
  | RecoveryDone
  | { readonly type: 'progress'; readonly done: number }
  | { readonly type: 'error'; readonly message: string };
