/**
 * @module nats/nats-streams
 * Internal: the JetStream stream store behind {@link NatsPubSubAdapter}'s history.
 *
 * **One JetStream stream for every topic**, `P-history` on subjects `P.h.<topic token>`
 * (see {@link module:nats/subjects}), with per-subject limits: `max_msgs_per_subject` = `size`,
 * `max_bytes` = `maxBytes` (discarding the oldest), and a **republish** rule `P.h.>` → `P.t.>`:
 * JetStream publishes every message it *stored* on the topic's broadcast subject, in stream
 * order, after storing it. So append and publish are one step, taken inside the server: a
 * publication nodes receive is in the stream, and one the stream refused is delivered nowhere.
 *
 * **Offsets.** A stored message is a version-2 envelope (redis/envelope.ts) that carries its
 * position `<epoch>:<offset>`, and a header `Starling-Prev` with the stream sequence of the
 * topic's previous message. A node appends offset `n + 1` after the topic's last message `n`
 * (sequence `s`) with `Nats-Expected-Last-Subject-Sequence: s`: JetStream stores it only if `s`
 * is still the topic's last message, so two nodes can never both write offset `n + 1`. The loser
 * reads the new last message and tries again, for up to `requestTimeoutMs`: a topic takes one
 * append per JetStream round trip, cluster-wide, and a node whose appends keep losing to another
 * node's backlog on the same topic waits until it drains. A node keeps its appends of one topic in a queue
 * (one in flight per topic and node), so they take offsets in the order it made them.
 *
 * **Epochs.** A topic whose subject holds no message (never published, evicted by `maxTopics`,
 * dropped by `maxBytes`, stream lost) starts a new stream at offset 1, with the epoch
 * `<stream id>.<L>`: the stream id is a hash of the JetStream stream's creation time (a stream
 * deleted and created again, or a server that lost its store, has another), and `L` the stream's
 * last sequence when the topic was seen empty. Sequences only grow within a stream, and a topic's
 * first message has a sequence above the `L` of its epoch, so a topic never gets the same epoch
 * twice. A read of an empty topic answers offset 0 of the epoch it would get now; that position
 * recovers the topic's first publications if nothing else was appended to the stream in between
 * (otherwise the client gets `recovered: false`, never a wrong replay).
 *
 * **Bounds.** `size` and `maxBytes` are JetStream's limits. `maxTopics`: every append also
 * publishes a marker on `P.x.<topic>` in a second stream `P-topics` that keeps one per subject, so
 * its oldest message names the least recently published topic; a node that created a topic's
 * stream purges the least recently published ones (both subjects) while more than `maxTopics`
 * are counted. `ttlMs` is applied when reading: a publication older than it is not replayed (it
 * stays stored until `size` or `maxBytes` push it out, so that the topic's last offset is never
 * lost and offsets never restart within an epoch — JetStream's `max_age` would drop it).
 *
 * **Reads** of a few missed publications (up to 16) walk back from the topic's last message along
 * `Starling-Prev`, one direct get each. Longer ones read forward with one ordered consumer on the
 * topic's subject from its epoch's first sequence: one fetch of at most `size` messages (those the
 * subject keeps) instead of a round trip per publication. Both stop as soon as what they would
 * replay weighs more than `maxReplayBytes`: at most that budget plus one publication crosses from
 * NATS for a refused replay (and, read forward, the kept publications before `since`).
 */
import { createHash } from 'node:crypto';
import {
  DiscardPolicy,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
  type StoredMsg,
  type StreamConfig,
} from '@nats-io/jetstream';
import { Empty, RequestError, headers, type NatsConnection } from '@nats-io/transport-node';
import type { Clock } from '../clock.ts';
import { ErrorCodes, StarlingError } from '../errors.ts';
import type { BroadcastMessage, StreamPosition } from '../protocol.ts';
import type { StreamLimits, StreamRead } from '../pubsub/stream.ts';
import { decodeEnvelope } from '../redis/envelope.ts';
import type { Subjects } from './subjects.ts';

/** JetStream's error code for a failed `Nats-Expected-Last-Subject-Sequence`. */
const WRONG_LAST_SEQUENCE = 10071;
/** The header naming the stream sequence of the topic's previous message (0: none). */
const PREV = 'Starling-Prev';
/** Past this many missed publications a read goes forward with one consumer instead of walking back. */
const WALK_LIMIT = 16;
/** Topics whose last message this node remembers (an optimisation: a stale entry costs one retry). */
const MAX_CACHED = 4096;

/** How the streams are kept. */
export interface NatsStreamsOptions {
  readonly storage: 'file' | 'memory';
  readonly replicas: number;
  readonly requestTimeoutMs: number;
  /** Bounds the retries of an append. */
  readonly clock: Clock;
}

/** The last message of a topic, as this node last saw it. */
interface Tail {
  readonly seq: number;
  readonly epoch: string;
  readonly offset: number;
}

/** One stored publication, decoded. */
interface Entry extends Tail {
  readonly message: BroadcastMessage;
  readonly prev: number;
  readonly bytes: number;
  /** When JetStream stored it (wall clock ms, the server's). */
  readonly at: number;
}

/** Appends and reads the streams of one prefix. */
export class NatsStreams {
  readonly #js: JetStreamClient;
  readonly #jsm: Promise<JetStreamManager>;
  readonly #subjects: Subjects;
  readonly #options: NatsStreamsOptions;
  readonly #nc: NatsConnection;
  /** Resolves once both streams exist with these limits; null: check again. */
  #ensured: { limits: StreamLimits; done: Promise<void> } | null = null;
  readonly #tails = new Map<string, Tail>();

  constructor(nc: NatsConnection, subjects: Subjects, options: NatsStreamsOptions) {
    this.#nc = nc;
    this.#subjects = subjects;
    this.#options = options;
    this.#js = jetstream(nc, { timeout: options.requestTimeoutMs });
    this.#jsm = jetstreamManager(nc, { timeout: options.requestTimeoutMs, checkAPI: false });
    // Not awaited by anyone before the first use; a rejection then surfaces there.
    this.#jsm.catch(() => undefined);
  }

  /**
   * Appends a publication (its envelope: `head` + position + `body`); resolves once JetStream
   * stored it, which then republishes it to every subscribed node. Rejects if it could not.
   */
  async append(topic: string, head: Buffer, body: Buffer, limits: StreamLimits): Promise<void> {
    await this.#ensure(limits);
    const subject = this.#subjects.history(topic);
    let tail: Tail | null = this.#tails.get(topic) ?? (await this.#last(topic));
    let streamLost = false;
    let admitted = false;
    const clock = this.#options.clock;
    const deadline = clock.now() + this.#options.requestTimeoutMs;
    for (let attempt = 0; attempt === 0 || clock.now() < deadline; attempt++) {
      if (tail === null && !admitted) {
        // Before its first publication is stored: once it is visible, the evicted ones are gone.
        await this.#admit(topic, limits);
        admitted = true;
      }
      const epoch = tail?.epoch ?? (await this.#nextEpoch());
      const offset = (tail?.offset ?? 0) + 1;
      const prev = tail?.seq ?? 0;
      const position = Buffer.from(`${epoch}:${offset}`, 'utf8');
      const length = Buffer.allocUnsafe(2);
      length.writeUInt16BE(position.byteLength);
      const envelope = Buffer.concat([head, length, position, body]);
      const h = headers();
      h.set(PREV, String(prev));
      try {
        const ack = await this.#js.publish(subject, envelope, { expect: { lastSubjectSequence: prev }, headers: h });
        this.#remember(topic, { seq: ack.seq, epoch, offset });
        // Best effort, unacknowledged: a lost marker only makes the topic look older than it is.
        if (prev !== 0) this.#nc.publish(this.#subjects.marker(topic), Empty);
        return;
      } catch (err) {
        if (err instanceof JetStreamApiError && err.code === WRONG_LAST_SEQUENCE) {
          tail = await this.#last(topic); // another node appended first (or the topic was evicted)
          continue;
        }
        // No stream answered: deleted, or a server that lost its store. Create it again, once.
        // Anything else (a timeout: the append may have been stored) is not retried, never duplicated.
        if (!noResponders(err) || streamLost) throw err;
        streamLost = true;
        this.#ensured = null;
        this.#tails.clear();
        await this.#ensure(limits);
        tail = await this.#last(topic);
      }
    }
    throw new StarlingError(ErrorCodes.adapter, `append to ${topic} lost every race for the next offset for ${this.#options.requestTimeoutMs} ms`);
  }

  /** See {@link StreamRead}. Rejects if NATS fails or the stream holds something undecodable. */
  async read(topic: string, since: StreamPosition | null, limits: StreamLimits): Promise<StreamRead> {
    try {
      return await this.#read(topic, since, limits);
    } catch (err) {
      if (!noResponders(err)) throw err;
      // The stream is gone (a server that lost its store): create it again; the topic reads empty.
      this.#ensured = null;
      this.#tails.clear();
      return await this.#read(topic, since, limits);
    }
  }

  async #read(topic: string, since: StreamPosition | null, limits: StreamLimits): Promise<StreamRead> {
    await this.#ensure(limits);
    const last = await this.#last(topic);
    if (last === null) {
      const position = { epoch: await this.#nextEpoch(), offset: 0 };
      const recovered = since !== null && since.epoch === position.epoch && since.offset === 0;
      return { position, recovered, publications: [], bytes: 0 };
    }
    const position = { epoch: last.epoch, offset: last.offset };
    const refused: StreamRead = { position, recovered: false, publications: [], bytes: 0 };
    if (since === null || since.epoch !== last.epoch || since.offset > last.offset) return refused;
    if (since.offset === last.offset) return { position, recovered: true, publications: [], bytes: 0 };
    // Wall-clock time on purpose: it is compared with the timestamps NATS gave the messages.
    const oldest = Date.now() - limits.ttlMs;
    if (last.offset - since.offset > WALK_LIMIT) return this.#readForward(topic, since, last, limits, oldest);
    const publications: BroadcastMessage[] = [];
    let bytes = 0;
    let entry: Entry | null = last;
    for (;;) {
      if (entry === null || entry.at < oldest) return refused; // trimmed or expired
      bytes += entry.bytes;
      if (bytes > limits.maxReplayBytes) return { position, recovered: false, publications: [], bytes };
      publications.push(entry.message);
      if (entry.offset === since.offset + 1) break;
      entry = await this.#at(entry.prev, topic, entry.epoch, entry.offset - 1);
    }
    return { position, recovered: true, publications: publications.reverse(), bytes };
  }

  /**
   * The publications of `last`'s epoch after `since`, up to `last`, read forward from the epoch's
   * first sequence by one ordered consumer on the topic's subject (the epoch `<id>.<L>`: its first
   * message has a sequence above `L`). Refused if one is missing (trimmed), expired or over budget.
   */
  async #readForward(topic: string, since: StreamPosition, last: Entry, limits: StreamLimits, oldest: number): Promise<StreamRead> {
    const position = { epoch: last.epoch, offset: last.offset };
    const refused: StreamRead = { position, recovered: false, publications: [], bytes: 0 };
    const start = Number(last.epoch.slice(last.epoch.lastIndexOf('.') + 1)) + 1;
    const consumer = await this.#js.consumers.get(this.#subjects.historyStream, {
      filter_subjects: this.#subjects.history(topic),
      opt_start_seq: start,
      inactive_threshold: this.#options.requestTimeoutMs * 5,
    });
    const publications: BroadcastMessage[] = [];
    let bytes = 0;
    let outcome: StreamRead | null = null;
    try {
      const messages = await consumer.fetch({ max_messages: limits.size, expires: this.#options.requestTimeoutMs });
      for await (const stored of messages) {
        const entry = this.#decode(stored.seq, stored.data, stored.headers?.get(PREV), stored.time, topic);
        if (entry.epoch !== last.epoch || entry.offset <= since.offset) continue;
        if (entry.offset !== since.offset + publications.length + 1 || entry.at < oldest) {
          outcome = refused; // the one after `since` is trimmed, or expired
        } else {
          bytes += entry.bytes;
          if (bytes > limits.maxReplayBytes) outcome = { position, recovered: false, publications: [], bytes };
          else publications.push(entry.message);
          if (entry.offset === last.offset) outcome ??= { position, recovered: true, publications, bytes };
        }
        if (outcome !== null) break; // ends the fetch (awaiting its close() would wait for `expires`)
      }
    } finally {
      await consumer.delete().catch(() => false);
    }
    return outcome ?? refused;
  }

  /** A publication JetStream republished (sequence from its `Nats-Sequence` header): the topic's newest known. */
  learn(topic: string, seq: number, position: StreamPosition): void {
    const known = this.#tails.get(topic);
    if (known !== undefined && known.seq >= seq) return;
    this.#remember(topic, { seq, epoch: position.epoch, offset: position.offset });
  }

  #remember(topic: string, tail: Tail): void {
    this.#tails.delete(topic);
    this.#tails.set(topic, tail);
    if (this.#tails.size > MAX_CACHED) {
      const oldest = this.#tails.keys().next();
      if (oldest.done !== true) this.#tails.delete(oldest.value);
    }
  }

  /** Marks a topic about to get its first publication, then enforces `maxTopics`. */
  async #admit(topic: string, limits: StreamLimits): Promise<void> {
    const marker = this.#subjects.marker(topic);
    await this.#js.publish(marker, Empty);
    const jsm = await this.#jsm;
    const { state } = await jsm.streams.info(this.#subjects.topicsStream);
    for (let excess = (state.num_subjects ?? 0) - limits.maxTopics; excess > 0; excess--) {
      const oldest = await jsm.direct.getMessage(this.#subjects.topicsStream, { seq: 1, next_by_subj: `${this.#subjects.prefix}.x.>` });
      const victim = oldest === null ? null : this.#subjects.topicOfMarker(oldest.subject);
      if (oldest === null || victim === null || victim === topic) return;
      // Both purges: a node racing us may evict one topic more than needed, never keep one too many for long.
      await jsm.streams.purge(this.#subjects.historyStream, { filter: this.#subjects.history(victim) });
      await jsm.streams.purge(this.#subjects.topicsStream, { filter: oldest.subject });
      this.#tails.delete(victim);
    }
  }

  /** The epoch a topic whose subject is empty gets now: `<stream id>.<last sequence>`. */
  async #nextEpoch(): Promise<string> {
    const jsm = await this.#jsm;
    const info = await jsm.streams.info(this.#subjects.historyStream);
    const id = createHash('sha256').update(`${info.config.name}\n${info.created}`).digest('base64url').slice(0, 10);
    return `${id}.${info.state.last_seq}`;
  }

  /** The topic's last stored message, or null when its subject holds none. */
  async #last(topic: string): Promise<Entry | null> {
    const jsm = await this.#jsm;
    const stored = await jsm.direct.getMessage(this.#subjects.historyStream, { last_by_subj: this.#subjects.history(topic) });
    if (stored === null) {
      this.#tails.delete(topic);
      return null;
    }
    const entry = this.#decodeStored(stored, topic);
    this.#remember(topic, entry);
    return entry;
  }

  /** The message at `seq` if it is still the topic's publication at `offset` of `epoch`, else null. */
  async #at(seq: number, topic: string, epoch: string, offset: number): Promise<Entry | null> {
    if (seq < 1) return null;
    const jsm = await this.#jsm;
    const stored = await jsm.direct.getMessage(this.#subjects.historyStream, { seq });
    if (stored === null || stored.subject !== this.#subjects.history(topic)) return null;
    const entry = this.#decodeStored(stored, topic);
    return entry.epoch === epoch && entry.offset === offset ? entry : null;
  }

  #decodeStored(stored: StoredMsg, topic: string): Entry {
    return this.#decode(stored.seq, stored.data, stored.header.get(PREV), stored.time, topic);
  }

  #decode(seq: number, data: Uint8Array, prev: string | undefined, time: Date, topic: string): Entry {
    let envelope;
    try {
      envelope = decodeEnvelope(data);
    } catch (cause) {
      throw new StarlingError(ErrorCodes.adapter, `the stream of ${topic} holds an undecodable message at ${seq}`, { cause });
    }
    const position = envelope.message.position;
    if (position === undefined || envelope.message.topic !== topic) {
      throw new StarlingError(ErrorCodes.adapter, `the stream of ${topic} holds a foreign message at ${seq}`);
    }
    return {
      seq,
      epoch: position.epoch,
      offset: position.offset,
      message: envelope.message,
      prev: Number(prev || '0'),
      bytes: data.byteLength,
      at: time.getTime(),
    };
  }

  /** Creates both streams (or updates their limits); once per limits, again after a stream was lost. */
  #ensure(limits: StreamLimits): Promise<void> {
    if (this.#ensured?.limits === limits) return this.#ensured.done;
    const done = this.#create(limits);
    this.#ensured = { limits, done };
    done.catch(() => {
      if (this.#ensured?.done === done) this.#ensured = null;
    });
    return done;
  }

  async #create(limits: StreamLimits): Promise<void> {
    const jsm = await this.#jsm;
    const common = {
      retention: RetentionPolicy.Limits,
      storage: this.#options.storage === 'memory' ? StorageType.Memory : StorageType.File,
      num_replicas: this.#options.replicas,
      discard: DiscardPolicy.Old,
      allow_direct: true,
    } satisfies Partial<StreamConfig>;
    const p = this.#subjects.prefix;
    await upsert(jsm, {
      ...common,
      name: this.#subjects.historyStream,
      subjects: [`${p}.h.>`],
      max_msgs_per_subject: limits.size,
      max_bytes: limits.maxBytes,
      republish: { src: `${p}.h.>`, dest: `${p}.t.>` },
    });
    await upsert(jsm, { ...common, name: this.#subjects.topicsStream, subjects: [`${p}.x.>`], max_msgs_per_subject: 1 });
  }
}

/** True for the error of a JetStream publish that no stream took (the client calls it "not enabled"). */
function noResponders(err: unknown): boolean {
  if (err instanceof RequestError) return err.isNoResponders();
  return err instanceof Error && err.cause instanceof RequestError && err.cause.isNoResponders();
}

/** Adds the stream, or updates the limits of the one there. */
async function upsert(jsm: JetStreamManager, config: Partial<StreamConfig> & { name: string }): Promise<void> {
  let existing: StreamConfig;
  try {
    existing = (await jsm.streams.info(config.name)).config;
  } catch (err) {
    if (!(err instanceof JetStreamApiError) || err.code !== 10059) throw err;
    try {
      await jsm.streams.add(config);
    } catch (raced) {
      // Another node created it meanwhile (with other limits: it wins until the next update).
      if (!(raced instanceof JetStreamApiError) || raced.code !== 10058) throw raced;
    }
    return;
  }
  if (existing.max_msgs_per_subject !== config.max_msgs_per_subject || (config.max_bytes !== undefined && existing.max_bytes !== config.max_bytes)) {
    await jsm.streams.update(config.name, {
      ...existing,
      max_msgs_per_subject: config.max_msgs_per_subject,
      max_bytes: config.max_bytes ?? existing.max_bytes,
    });
  }
}
