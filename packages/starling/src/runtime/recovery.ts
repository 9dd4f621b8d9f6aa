/**
 * @module runtime/recovery
 * Internal: the history side of one channel on a history topic (docs/recovery.md). A channel
 * server makes one when its join is accepted on such a topic and hands it every publication of the
 * topic from then on; the recovery owns what that needs and nothing else does:
 *
 * - the join's **replay**: it holds the channel's mailbox and the live publications while the
 *   stream is read (after the subscription is in place, so nothing falls between the read and the
 *   live traffic), then queues — ahead of whatever the client sent meanwhile — the publications
 *   the client missed and the **`phx_stream`** push, which releases the live ones not replayed;
 * - the **stream order** of live traffic: a publication that waits in the mailbox (an intercepted
 *   one, for `handleOut`) is never overtaken by a later one, so the last position a client saw
 *   means "everything up to here".
 *
 * The channel server stays about its mailbox and lifecycle: it sees the recovery only through
 * {@link Recovery.start} and {@link Recovery.deliver}, and the recovery sees the channel only
 * through {@link RecoveringChannel}.
 */
import { Events, formatPosition, parsePosition, type BroadcastMessage, type StreamPosition } from '../protocol.ts';
import type { StreamRead } from '../pubsub/stream.ts';
import type { ChannelHost } from './channel-host.ts';
import type { Services } from './services.ts';

/**
 * A step the recovery queues in its channel's mailbox: `out` runs the channel's `handleOut` for an
 * intercepted publication (as for live ones); `step` runs `run` once everything queued before it
 * has finished.
 */
export type RecoveryTask = { readonly kind: 'out'; readonly message: BroadcastMessage } | { readonly kind: 'step'; readonly run: () => void };

/** What a {@link Recovery} needs from its channel (the channel server implements it). */
export interface RecoveringChannel {
  /** The PubSub topic whose stream is read. */
  readonly pubsubTopic: string;
  /** The endpoint's services: the PubSub that reads the stream, the stats that count refusals. */
  readonly services: Services;
  /** True from the accepted join until the channel ends. */
  readonly joined: boolean;
  /** True when the channel's `handleOut` intercepts `event`. */
  intercepts(event: string): boolean;
  /** Writes a publication's frame to the client at once. */
  write(message: BroadcastMessage): void;
  /** Sends a push of the channel to its client (ref null: it comes from no publication). */
  push(event: string, payload: object): void;
  /** The socket it runs on: the room its transport has left bounds a replay. */
  readonly connection: Pick<ChannelHost<never>, 'hasRoomFor'>;
  /** Queues `task` at the end of the mailbox. */
  enqueue(task: RecoveryTask): void;
  /** Stops the mailbox from running (client messages queue behind it) until {@link resume}. */
  hold(): void;
  /** Puts `tasks` at the front of the mailbox and runs it again. */
  resume(tasks: RecoveryTask[]): void;
  /** Ends the channel with `phx_error` (the client rejoins, with the same `recover`). */
  crash(err: unknown): void;
}

/** The history side of one channel on a history topic. */
export class Recovery {
  readonly #channel: RecoveringChannel;
  /** Live publications held while the join reads the stream; null once `phx_stream` was sent. */
  #held: BroadcastMessage[] | null = [];
  /**
   * Publications waiting in the mailbox (intercepted ones, and those queued behind them). While
   * there are any, later ones queue too: the client sees its stream in offset order.
   */
  #queued = 0;
  /** The position of the last publication handed on (or announced by `phx_stream`), for {@link lost}. */
  #position: StreamPosition | null = null;
  /** A publication was lost while the join read the stream: its `phx_stream` says `recovered: false`. */
  #lostDuringRead = false;

  constructor(channel: RecoveringChannel) {
    this.#channel = channel;
  }

  /**
   * Right after the join reply: holds the mailbox and the live publications, reads the stream once
   * `subscribed` resolved, then queues the replay (when `params.recover` is honoured) and the
   * `phx_stream` push ahead of anything the client sent meanwhile.
   */
  start(params: unknown, subscribed: Promise<void>): void {
    const channel = this.#channel;
    const asked = recoverParam(params);
    channel.hold();
    subscribed
      .then(() => channel.services.pubsub.readStream(channel.pubsubTopic, asked ?? null))
      .then(
        (read) => this.#replay(read, asked),
        (err: unknown) => {
          if (channel.joined) channel.crash(err);
        },
      );
  }

  /**
   * A live publication of the topic: held while the join reads the stream, queued behind the
   * publications waiting in the mailbox, handed to `handleOut` when intercepted, else written.
   * One at or below the position the client already has (announced by `phx_stream`, or handed on)
   * is dropped: a node may dispatch publications the client's read already covered (in flight
   * during the read, or read back to fill the node's gap), and the client sees each once, in order.
   */
  deliver(message: BroadcastMessage): void {
    if (this.#held !== null) {
      this.#held.push(message);
      return;
    }
    const at = message.position;
    if (at !== undefined) {
      const last = this.#position;
      if (last !== null && at.epoch === last.epoch && at.offset <= last.offset) return;
      this.#position = at;
    }
    const positioned = at !== undefined;
    if (this.#channel.intercepts(message.event) || (positioned && this.#queued > 0)) {
      for (const task of this.#tasksOf(message)) this.#channel.enqueue(task);
      return;
    }
    this.#channel.write(message);
  }

  /**
   * A publication of the topic was lost on its way into the stream (the store was unreachable):
   * no read can give it back, so the client is told as after an outage it cannot recover from —
   * `phx_stream {recovered: false}`, after what it was already sent — and refetches its state.
   */
  lost(): void {
    if (this.#held !== null) {
      this.#lostDuringRead = true;
      return;
    }
    this.#channel.enqueue({
      kind: 'step',
      run: () =>
        this.#channel.push(Events.stream, this.#position === null ? { recovered: false } : { position: formatPosition(this.#position), recovered: false }),
    });
  }

  /** The mailbox steps of one publication: its `handleOut` or its frame, then its release. */
  #tasksOf(message: BroadcastMessage): RecoveryTask[] {
    const out: RecoveryTask = { kind: 'out', message };
    if (message.position === undefined) return [out]; // no place in the stream (a presence_diff)
    this.#queued++;
    if (this.#channel.intercepts(message.event)) return [out, { kind: 'step', run: () => this.#queued-- }];
    return [
      {
        kind: 'step',
        run: () => {
          this.#queued--;
          this.#channel.write(message);
        },
      },
    ];
  }

  #replay(read: StreamRead, asked: StreamPosition | null | undefined): void {
    const channel = this.#channel;
    if (!channel.joined) return;
    // A replay is bounded twice (docs/recovery.md §4.1): by history.maxReplayBytes (the store
    // refused it) and by the room left in this client's transport; past either, recovered: false.
    const fits = read.recovered && channel.connection.hasRoomFor(read.bytes);
    if (asked != null && read.bytes > 0 && !fits) channel.services.stats.replaysRefused++;
    const recovered = asked != null && fits;
    const tasks: RecoveryTask[] = [];
    if (recovered) for (const message of read.publications) tasks.push(...this.#tasksOf(message));
    const outcome = this.#lostDuringRead ? false : asked === undefined ? undefined : recovered;
    tasks.push({ kind: 'step', run: () => this.#endRecovery(read.position, outcome) });
    channel.resume(tasks);
  }

  /**
   * Sends `phx_stream`, then the live publications held during the read. After a replay the held
   * ones it covered are skipped. Without one, every held publication reached this node after the
   * subscription and is sent — so the position announced is the one just before the first of
   * them (not the read's, which may be later): live traffic follows it without a gap.
   */
  #endRecovery(position: StreamPosition, recovered: boolean | undefined): void {
    const held = this.#held ?? [];
    this.#held = null;
    let from = position;
    if (recovered !== true) {
      const first = held.find((message) => message.position?.epoch === position.epoch)?.position;
      if (first !== undefined && first.offset <= position.offset) from = { epoch: position.epoch, offset: first.offset - 1 };
    }
    this.#position = from;
    this.#channel.push(Events.stream, recovered === undefined ? { position: formatPosition(from) } : { position: formatPosition(from), recovered });
    for (const message of held) {
      const at = message.position;
      if (at !== undefined && at.epoch === from.epoch && at.offset <= from.offset) continue;
      this.deliver(message);
    }
  }
}

/** The join's `recover` param: a position, null when present but not one, undefined when absent. */
function recoverParam(params: unknown): StreamPosition | null | undefined {
  if (typeof params !== 'object' || params === null || !Object.hasOwn(params, 'recover')) return undefined;
  return parsePosition((params as { recover?: unknown }).recover);
}
