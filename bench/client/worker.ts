/**
 * @module bench/client/worker
 * A load-generator process. The harness starts one or more (pinned to the client core), tells
 * each how many sockets to open, then drives a scenario over IPC:
 *
 * - **fan-out**: every socket is a subscriber and counts the bodies it gets per seq number —
 *   loss, order (per socket) and latency (`now − t`, clocks shared across processes). The first
 *   socket of the first worker is also the publisher. A seq is *done* once every socket of every
 *   worker has it; in burst mode the publisher keeps at most a window of messages not yet done,
 *   so delivery is always the bottleneck and nothing queues without bound.
 * - **postgres-changes**: the same bookkeeping on sockets joined with postgres_changes bindings
 *   (supabase peer); the bodies come inside the rows the harness inserts in PostgreSQL, and no
 *   socket publishes. `fanout-measure` starts a new measured phase (latency, counts) mid-run.
 * - **request/reply**: every socket keeps one `ping` in flight and sends the next on the reply.
 * - **recovery** (history topics): three sockets — publisher, stayer, subscriber. The subscriber
 *   notes its last position and leaves; the publisher publishes N while it is away; the subscriber
 *   rejoins with `recover` and times phx_join → phx_stream, checking that exactly the N missed
 *   publications were replayed, in order, with consecutive positions ({@link RecoveryClient}).
 *
 * Hot path: bodies are read from the frame bytes ({@link readBody}), never JSON-parsed, and the
 * `ws` client skips UTF-8 validation — the same cheap client for every peer.
 */
import type { Socket as NetSocket } from 'node:net';
import { WebSocket } from 'ws';
import { body, nowMicros, readBody, type BodyFields } from '../lib/body.ts';
import { Histogram } from '../lib/histogram.ts';
import type { ConnectCommand, Connected, FanoutInit, FromWorker, PublishCommand, RecoveryDone, ToWorker } from '../lib/messages.ts';
import { KEEP_ALIVE_MS, TOPIC, dialectFor, type Dialect } from './dialects.ts';

interface Connection {
  readonly ws: WebSocket;
  readonly dialect: Dialect;
  joined: boolean;
  /** Fan-out: highest seq seen on this socket. */
  lastSeq: number;
  /** Request/reply: seq of the ping in flight, -1 when none. */
  awaiting: number;
  nextPing: number;
  /** When set, every frame after the join goes here instead of the fan-out / request-reply path. */
  hook: ((data: Buffer) => void) | null;
}

function send(message: FromWorker): void {
  process.send?.(message);
}

const connections: Connection[] = [];
let closing = false;
let closedByServer = 0;
const fields: BodyFields = { seq: 0, sentAt: 0 };

// --- connecting ---------------------------------------------------------------------------

function openOne(command: ConnectCommand, index: number): Promise<string | null> {
  return new Promise((resolve) => {
    const dialect = dialectFor(command.peer, index, command.changes);
    const ws = new WebSocket(command.url + dialect.path, { perMessageDeflate: false, skipUTF8Validation: true });
    const connection: Connection = { ws, dialect, joined: false, lastSeq: -1, awaiting: -1, nextPing: 0, hook: null };
    let settled = false;
    const settle = (error: string | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error === null) connections.push(connection);
      else ws.terminate();
      resolve(error);
    };
    const timer = setTimeout(() => settle('handshake timeout'), command.timeoutMs);
    ws.on('open', () => {
      const first = dialect.opening();
      if (first !== null) ws.send(first);
    });
    ws.on('message', (data: Buffer) => {
      if (connection.joined) return onFrame(connection, data);
      const step = dialect.handshake(data.toString('utf8'));
      if (step.send !== null) ws.send(step.send);
      if (step.failure !== null) settle(step.failure);
      else if (step.joined) {
        connection.joined = true;
        settle(null);
      }
    });
    ws.on('error', (err) => settle(err.message));
    ws.on('close', () => {
      if (!settled) settle('closed during handshake');
      else if (!closing) closedByServer++;
    });
  });
}

async function connectAll(command: ConnectCommand): Promise<Connected> {
  let launched = 0;
  let opened = 0;
  let failed = 0;
  let firstError: string | null = null;
  await new Promise<void>((resolve) => {
    const launch = (): void => {
      if (opened + failed === command.count) return resolve();
      // Bounded by count: each handshake settles once (success, failure or its timeout).
      while (launched < command.count && launched - opened - failed < command.concurrency) {
        void openOne(command, launched++).then((error) => {
          if (error === null) opened++;
          else {
            failed++;
            firstError ??= error;
          }
          launch();
        });
      }
    };
    launch();
  });
  return { type: 'connected', opened, failed, firstError };
}

setInterval(() => {
  for (const connection of connections) {
    const frame = connection.dialect.keepAlive();
    if (frame !== null && connection.ws.readyState === WebSocket.OPEN) connection.ws.send(frame);
  }
}, KEEP_ALIVE_MS).unref();

// --- fan-out ------------------------------------------------------------------------------

interface FanoutState {
  readonly total: number;
  measureFrom: number;
  readonly solo: boolean;
  readonly counts: Uint32Array;
  readonly latency: Histogram;
  /** Seq 0 … done-1 have reached every socket of this worker. */
  done: number;
  received: number;
  measuredReceived: number;
  outOfOrder: number;
  positioned: number;
  lastDeliveryMicros: number;
  progressScheduled: boolean;
}

let fanout: FanoutState | null = null;
let publisher: Publisher | null = null;

function initFanout(command: FanoutInit): void {
  fanout = {
    total: command.total,
    measureFrom: command.measureFrom,
    solo: command.solo,
    counts: new Uint32Array(command.total),
    latency: new Histogram(),
    done: 0,
    received: 0,
    measuredReceived: 0,
    outOfOrder: 0,
    positioned: 0,
    lastDeliveryMicros: 0,
    progressScheduled: false,
  };
}

function deliver(state: FanoutState, connection: Connection, seq: number, sentAt: number): void {
  if (seq >= state.total) return;
  if (seq <= connection.lastSeq) state.outOfOrder++;
  else connection.lastSeq = seq;
  state.received++;
  if (seq >= state.measureFrom) {
    const now = nowMicros();
    state.measuredReceived++;
    state.latency.record(now - sentAt);
    state.lastDeliveryMicros = now;
  }
  if (++state.counts[seq]! >= connections.length && seq === state.done) {
    let done = state.done + 1;
    while (done < state.total && state.counts[done]! >= connections.length) done++;
    state.done = done;
    reportProgress(state);
  }
}

function reportProgress(state: FanoutState): void {
  if (state.solo) {
    publisher?.progress(state.done);
    if (!state.progressScheduled) {
      // The harness only needs to know when a phase ends: tell it once per turn, not per seq.
      state.progressScheduled = true;
      setImmediate(() => {
        state.progressScheduled = false;
        send({ type: 'progress', done: state.done });
      });
    }
    return;
  }
  if (state.progressScheduled) return;
  state.progressScheduled = true;
  setImmediate(() => {
    state.progressScheduled = false;
    send({ type: 'progress', done: state.done });
  });
}

function fanoutStats(published: number): FromWorker {
  const state = fanout;
  if (state === null) throw new Error('fanout-report before fanout-init');
  let lost = 0;
  const sockets = connections.length;
  for (let seq = 0; seq < Math.min(published, state.total); seq++) lost += Math.max(0, sockets - state.counts[seq]!);
  return {
    type: 'fanout-stats',
    sockets,
    received: state.received,
    measuredReceived: state.measuredReceived,
    outOfOrder: state.outOfOrder,
    lost,
    lastDeliveryMicros: state.lastDeliveryMicros,
    latency: state.latency.toData(),
    closed: closedByServer,
    positioned: state.positioned,
  };
}

/** Publishes from this worker's first socket. */
class Publisher {
  readonly #connection: Connection;
  readonly #raw: NetSocket;
  readonly #command: PublishCommand;
  readonly #deadline: number;
  #next: number;
  #done = 0;
  #startMicros = 0;
  #endMicros = 0;
  #lastBurst = Number.NEGATIVE_INFINITY;
  #timer: NodeJS.Timeout | null = null;
  #finished = false;
  #waiting = false;

  constructor(connection: Connection, command: PublishCommand) {
    this.#connection = connection;
    this.#raw = (connection.ws as unknown as { _socket: NetSocket })._socket;
    this.#command = command;
    this.#next = command.from;
    this.#done = command.from;
    this.#deadline = nowMicros() + command.deadlineMs * 1000;
    this.#timer = setTimeout(() => this.#finish(), command.deadlineMs);
    if (command.mode === 'rate') this.#tick();
    else this.#pump();
  }

  /** Every seq below `done` reached every subscriber. */
  progress(done: number): void {
    if (done > this.#done) this.#done = done;
    if (this.#command.mode === 'burst') this.#pump();
  }

  /** Sends `count` messages in one TCP write (corked). */
  #send(count: number): void {
    const { ws, dialect } = this.#connection;
    this.#raw.cork();
    for (let i = 0; i < count; i++) {
      const now = nowMicros();
      if (this.#next === this.#command.from) this.#startMicros = now;
      this.#endMicros = now;
      ws.send(dialect.publish(body(this.#next++, now)));
    }
    this.#raw.uncork();
  }

  #pump(): void {
    if (this.#finished) return;
    const { burst, windowMessages, burstIntervalMs, to } = this.#command;
    // Bounded: each pass publishes at least one message towards `to` or leaves the loop.
    while (this.#next < to && nowMicros() < this.#deadline) {
      const count = Math.min(burst, to - this.#next);
      if (this.#next + count - this.#done > windowMessages) return;
      const wait = this.#lastBurst + burstIntervalMs * 1000 - nowMicros();
      if (wait > 0) {
        if (!this.#waiting) {
          this.#waiting = true;
          setTimeout(
            () => {
              this.#waiting = false;
              this.#pump();
            },
            Math.ceil(wait / 1000),
          );
        }
        return;
      }
      this.#lastBurst = nowMicros();
      this.#send(count);
    }
    this.#finish();
  }

  #tick(): void {
    if (this.#finished) return;
    const { from, to, rate } = this.#command;
    const start = this.#startMicros === 0 ? nowMicros() : this.#startMicros;
    const due = Math.min(to, from + Math.floor(((nowMicros() - start) * rate) / 1e6) + 1);
    if (due > this.#next) this.#send(due - this.#next);
    if (this.#next >= to || nowMicros() >= this.#deadline) return this.#finish();
    const nextDue = start + ((this.#next - from) * 1e6) / rate;
    setTimeout(() => this.#tick(), Math.max(0, (nextDue - nowMicros()) / 1000));
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    send({ type: 'published', from: this.#command.from, to: this.#next, startMicros: this.#startMicros, endMicros: this.#endMicros });
  }
}

// --- request/reply ------------------------------------------------------------------------

const roundTrips = { running: false, measuring: false, count: 0, latency: new Histogram() };

function ping(connection: Connection): void {
  const seq = connection.nextPing++;
  connection.awaiting = seq;
  connection.ws.send(connection.dialect.ping(body(seq, nowMicros())));
}

function answered(connection: Connection, sentAt: number): void {
  connection.awaiting = -1;
  if (roundTrips.measuring) {
    roundTrips.count++;
    roundTrips.latency.record(nowMicros() - sentAt);
  }
  if (roundTrips.running) ping(connection);
}

// --- recovery -----------------------------------------------------------------------------

/** A Phoenix V2 position `"<epoch>:<offset>"`, split. */
interface Position {
  readonly epoch: string;
  readonly offset: number;
}

function parsePosition(text: string): Position | null {
  const colon = text.lastIndexOf(':');
  const offset = Number(text.slice(colon + 1));
  return colon > 0 && Number.isSafeInteger(offset) ? { epoch: text.slice(0, colon), offset } : null;
}

/** One rejoin in flight: what it must replay, what it got so far. */
interface Rejoin {
  readonly joinRef: string;
  readonly from: Position;
  readonly expected: number;
  readonly firstSeq: number;
  readonly sentAt: number;
  replyAt: number;
  replayed: number;
  error: string | null;
  readonly done: (result: RecoveryDone) => void;
}

const BROADCAST_HEAD = Buffer.from('[null,');

/**
 * The recovery scenario's client, on this worker's first three sockets (all joined to the
 * history topic): the publisher, a *stayer* that stays joined on the subscriber's node (so that
 * the node keeps the topic, as a room with other members does), and the subscriber that leaves
 * and recovers. Broadcast frames are read without JSON parsing (body seq, ref as text), so the
 * client adds little to the timed rejoin; control frames (replies, phx_stream) are parsed.
 */
class RecoveryClient {
  readonly #publisher: Connection;
  readonly #subscriber: Connection;
  readonly #raw: NetSocket;
  #seq = 0;
  #seen = { publisher: -1, stayer: -1, subscriber: -1 };
  /** The ref (position) of the last live broadcast the subscriber got. */
  #lastRef: string | null = null;
  /** The subscriber's position after its last recovery, from phx_stream: the next marker must follow it. */
  #streamPosition: Position | null = null;
  #joinRef = '1';
  #refs = 0;
  #leaveRef: string | null = null;
  #left = false;
  #from: { position: Position; firstSeq: number; expected: number } | null = null;
  #rejoin: Rejoin | null = null;
  #waiters: Array<{ test: () => boolean; resolve: () => void }> = [];

  constructor(publisher: Connection, stayer: Connection, subscriber: Connection) {
    this.#publisher = publisher;
    this.#subscriber = subscriber;
    this.#raw = (publisher.ws as unknown as { _socket: NetSocket })._socket;
    publisher.hook = (data) => this.#onBody('publisher', data);
    stayer.hook = (data) => this.#onBody('stayer', data);
    subscriber.hook = (data) => this.#onSubscriber(data);
  }

  /** Marker, leave, N publications while away; resolves with the position to recover from. */
  async prepare(messages: number, timeoutMs: number): Promise<string> {
    const marker = this.#seq;
    this.#publish(1);
    await this.#until(() => this.#seen.subscriber >= marker && this.#seen.stayer >= marker, timeoutMs, 'the marker to reach the subscriber');
    const ref = this.#lastRef;
    const position = ref === null ? null : parsePosition(ref);
    if (ref === null || position === null) throw new Error(`the marker arrived without a stream position (ref ${ref}): is history on for ${TOPIC}?`);
    const previous = this.#streamPosition;
    if (previous !== null && (previous.epoch !== position.epoch || previous.offset + 1 !== position.offset)) {
      throw new Error(`live after recovery: the marker is at ${ref}, expected ${previous.epoch}:${previous.offset + 1} (phx_stream said ${previous.offset})`);
    }

    this.#leaveRef = `L${++this.#refs}`;
    this.#left = false;
    this.#subscriber.ws.send(JSON.stringify([this.#joinRef, this.#leaveRef, TOPIC, 'phx_leave', {}]));
    await this.#until(() => this.#left, timeoutMs, 'the leave reply');

    const last = this.#seq + messages - 1;
    this.#from = { position, firstSeq: this.#seq, expected: messages };
    // Chunks of 100 per TCP write, all at once: the server parses and appends them in a few turns.
    for (let sent = 0; sent < messages; sent += 100) this.#publish(Math.min(100, messages - sent));
    await this.#until(
      () => this.#seen.publisher >= last && this.#seen.stayer >= last,
      timeoutMs,
      `${messages} publications to reach the publisher and the stayer`,
    );
    return ref;
  }

  /** Rejoins with `recover` and resolves at phx_stream (or the timeout) with the time and the checks. */
  join(timeoutMs: number): Promise<RecoveryDone> {
    const from = this.#from;
    if (from === null) throw new Error('recovery-join before recovery-prepare');
    this.#from = null;
    return new Promise((resolve) => {
      const joinRef = `J${++this.#refs}`;
      const timer = setTimeout(() => {
        const rejoin = this.#rejoin;
        this.#rejoin = null;
        resolve({
          type: 'recovery-done',
          micros: Number.NaN,
          replyMicros: Number.NaN,
          replayed: rejoin?.replayed ?? 0,
          error: `no phx_stream within ${timeoutMs} ms`,
        });
      }, timeoutMs);
      const sentAt = nowMicros();
      this.#rejoin = {
        joinRef,
        from: from.position,
        expected: from.expected,
        firstSeq: from.firstSeq,
        sentAt,
        replyAt: 0,
        replayed: 0,
        error: null,
        done: (result) => {
          clearTimeout(timer);
          resolve(result);
        },
      };
      const recover = `${from.position.epoch}:${from.position.offset}`;
      this.#subscriber.ws.send(JSON.stringify([joinRef, joinRef, TOPIC, 'phx_join', { recover }]));
    });
  }

  #publish(count: number): void {
    const { ws, dialect } = this.#publisher;
    this.#raw.cork();
    for (let i = 0; i < count; i++) ws.send(dialect.publish(body(this.#seq++, nowMicros())));
    this.#raw.uncork();
  }

  #onBody(who: 'publisher' | 'stayer', data: Buffer): void {
    if (!readBody(data, fields)) return;
    if (fields.seq > this.#seen[who]) this.#seen[who] = fields.seq;
    this.#wake();
  }

  #onSubscriber(data: Buffer): void {
    if (data.subarray(0, BROADCAST_HEAD.length).equals(BROADCAST_HEAD) && readBody(data, fields)) {
      const ref = data[6] === 0x22 ? data.toString('latin1', 7, data.indexOf(0x22, 7)) : null;
      const rejoin = this.#rejoin;
      if (rejoin !== null) this.#replayed(rejoin, fields.seq, ref);
      else {
        if (fields.seq > this.#seen.subscriber) this.#seen.subscriber = fields.seq;
        this.#lastRef = ref;
        this.#wake();
      }
      return;
    }
    let frame: unknown;
    try {
      frame = JSON.parse(data.toString('utf8'));
    } catch {
      return;
    }
    if (!Array.isArray(frame)) return;
    const [joinRef, ref, , event, payload] = frame as [unknown, unknown, unknown, unknown, unknown];
    if (event === 'phx_reply' && ref === this.#leaveRef && ref !== null) {
      this.#left = true;
      this.#wake();
      return;
    }
    const rejoin = this.#rejoin;
    if (rejoin === null || joinRef !== rejoin.joinRef) return;
    if (event === 'phx_reply' && ref === rejoin.joinRef) {
      rejoin.replyAt = nowMicros();
      const status = (payload as { status?: unknown } | null)?.status;
      if (status !== 'ok') rejoin.error ??= `rejoin refused: ${data.toString('utf8')}`;
    } else if (event === 'phx_stream') {
      this.#streamed(rejoin, payload as { position?: unknown; recovered?: unknown } | null, data);
    }
  }

  #replayed(rejoin: Rejoin, seq: number, ref: string | null): void {
    const index = rejoin.replayed++;
    if (rejoin.error !== null) return;
    const expected = `${rejoin.from.epoch}:${rejoin.from.offset + index + 1}`;
    if (rejoin.replyAt === 0) rejoin.error = 'a publication arrived before the join reply';
    else if (ref !== expected) rejoin.error = `replayed publication ${index + 1} has ref ${ref}, expected ${expected}`;
    else if (seq !== rejoin.firstSeq + index) rejoin.error = `replayed publication ${index + 1} has seq ${seq}, expected ${rejoin.firstSeq + index}`;
  }

  #streamed(rejoin: Rejoin, payload: { position?: unknown; recovered?: unknown } | null, data: Buffer): void {
    const at = nowMicros();
    this.#rejoin = null;
    this.#joinRef = rejoin.joinRef;
    const position = typeof payload?.position === 'string' ? parsePosition(payload.position) : null;
    const last = rejoin.from.offset + rejoin.expected;
    let error = rejoin.error;
    if (payload?.recovered !== true) error ??= `phx_stream without recovered: true: ${data.toString('utf8')}`;
    else if (position === null || position.epoch !== rejoin.from.epoch || position.offset !== last) {
      error ??= `phx_stream at ${String(payload.position)}, expected ${rejoin.from.epoch}:${last}`;
    } else if (rejoin.replayed !== rejoin.expected) error ??= `${rejoin.replayed} publications replayed, expected ${rejoin.expected}`;
    this.#streamPosition = position;
    rejoin.done({
      type: 'recovery-done',
      micros: at - rejoin.sentAt,
      replyMicros: rejoin.replyAt === 0 ? Number.NaN : rejoin.replyAt - rejoin.sentAt,
      replayed: rejoin.replayed,
      error,
    });
  }

  #until(test: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (test()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter = {
        test,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new Error(`recovery: no ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  #wake(): void {
    if (this.#waiters.length === 0) return;
    this.#waiters = this.#waiters.filter((waiter) => {
      if (!waiter.test()) return true;
      waiter.resolve();
      return false;
    });
  }
}

let recovery: RecoveryClient | null = null;

function recoveryClient(): RecoveryClient {
  if (recovery !== null) return recovery;
  const [publisherSocket, stayer, subscriber] = connections;
  if (publisherSocket === undefined || stayer === undefined || subscriber === undefined)
    throw new Error(`recovery needs 3 sockets, this worker has ${connections.length}`);
  recovery = new RecoveryClient(publisherSocket, stayer, subscriber);
  return recovery;
}

// --- frames -------------------------------------------------------------------------------

function onFrame(connection: Connection, data: Buffer): void {
  if (connection.hook !== null) return connection.hook(data);
  if (!readBody(data, fields)) {
    const answer = connection.dialect.control(data);
    if (answer !== null) connection.ws.send(answer);
    return;
  }
  if (connection.awaiting === fields.seq) return answered(connection, fields.sentAt);
  if (fanout !== null) {
    if (connection.dialect.hasPosition(data)) fanout.positioned++;
    deliver(fanout, connection, fields.seq, fields.sentAt);
  }
}

// --- commands -----------------------------------------------------------------------------

function close(): void {
  closing = true;
  for (const { ws } of connections) ws.terminate();
  setTimeout(() => process.exit(0), 50);
}

process.on('message', (command: ToWorker) => {
  switch (command.type) {
    case 'connect':
      void connectAll(command).then(send);
      return;
    case 'fanout-init':
      initFanout(command);
      return;
    case 'fanout-measure':
      if (fanout === null) return send({ type: 'error', message: 'fanout-measure before fanout-init' });
      fanout.measureFrom = command.from;
      fanout.measuredReceived = 0;
      fanout.lastDeliveryMicros = 0;
      fanout.latency.reset();
      return;
    case 'publish': {
      const first = connections[0];
      if (first === undefined) return send({ type: 'error', message: 'publish: no socket' });
      publisher = new Publisher(first, command);
      return;
    }
    case 'progress':
      publisher?.progress(command.done);
      return;
    case 'fanout-report':
      send(fanoutStats(command.published));
      return;
    case 'rr-start':
      roundTrips.running = true;
      for (const connection of connections) ping(connection);
      return;
    case 'rr-measure':
      roundTrips.measuring = true;
      roundTrips.count = 0;
      roundTrips.latency.reset();
      return;
    case 'rr-stop':
      roundTrips.running = false;
      roundTrips.measuring = false;
      send({ type: 'rr-stats', roundTrips: roundTrips.count, latency: roundTrips.latency.toData(), closed: closedByServer });
      return;
    case 'recovery-prepare':
      void (async () => recoveryClient().prepare(command.messages, command.timeoutMs))().then(
        (from) => send({ type: 'recovery-ready', from, error: null }),
        (err: unknown) => send({ type: 'recovery-ready', from: null, error: err instanceof Error ? err.message : String(err) }),
      );
      return;
    case 'recovery-join':
      void (async () => recoveryClient().join(command.timeoutMs))().then(send, (err: unknown) =>
        send({ type: 'recovery-done', micros: Number.NaN, replyMicros: Number.NaN, replayed: 0, error: err instanceof Error ? err.message : String(err) }),
      );
      return;
    case 'close':
      close();
      return;
  }
});

process.on('disconnect', close);
// IPC messages that arrive before a 'message' listener exists are lost: say when we listen.
send({ type: 'ready' });
process.on('uncaughtException', (err) => {
  send({ type: 'error', message: err.stack ?? String(err) });
  process.exit(1);
});
