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
 * - **request/reply**: every socket keeps one `ping` in flight and sends the next on the reply.
 *
 * Hot path: bodies are read from the frame bytes ({@link readBody}), never JSON-parsed, and the
 * `ws` client skips UTF-8 validation — the same cheap client for every peer.
 */
import type { Socket as NetSocket } from 'node:net';
import { WebSocket } from 'ws';
import { body, nowMicros, readBody, type BodyFields } from '../lib/body.ts';
import { Histogram } from '../lib/histogram.ts';
import type { ConnectCommand, Connected, FanoutInit, FromWorker, PublishCommand, ToWorker } from '../lib/messages.ts';
import { KEEP_ALIVE_MS, dialectFor, type Dialect } from './dialects.ts';

interface Connection {
  readonly ws: WebSocket;
  readonly dialect: Dialect;
  joined: boolean;
  /** Fan-out: highest seq seen on this socket. */
  lastSeq: number;
  /** Request/reply: seq of the ping in flight, -1 when none. */
  awaiting: number;
  nextPing: number;
}

function send(message: FromWorker): void {
  process.send?.(message);
}

const connections: Connection[] = [];
let closing = false;
let closedByServer = 0;
const fields: BodyFields = { seq: 0, sentAt: 0 };

// --- connecting ---------------------------------------------------------------------------

function openOne(command: ConnectCommand): Promise<string | null> {
  return new Promise((resolve) => {
    const dialect = dialectFor(command.peer);
    const ws = new WebSocket(command.url + dialect.path, { perMessageDeflate: false, skipUTF8Validation: true });
    const connection: Connection = { ws, dialect, joined: false, lastSeq: -1, awaiting: -1, nextPing: 0 };
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
        launched++;
        void openOne(command).then((error) => {
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
  readonly measureFrom: number;
  readonly solo: boolean;
  readonly counts: Uint32Array;
  readonly latency: Histogram;
  /** Seq 0 … done-1 have reached every socket of this worker. */
  done: number;
  received: number;
  measuredReceived: number;
  outOfOrder: number;
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

// --- frames -------------------------------------------------------------------------------

function onFrame(connection: Connection, data: Buffer): void {
  if (!readBody(data, fields)) {
    const answer = connection.dialect.control(data);
    if (answer !== null) connection.ws.send(answer);
    return;
  }
  if (connection.awaiting === fields.seq) return answered(connection, fields.sentAt);
  if (fanout !== null) deliver(fanout, connection, fields.seq, fields.sentAt);
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
