/**
 * @module runtime/channel-server
 * Internal: the runtime of one joined topic on one socket (Phoenix's channel process). It runs the
 * channel's callbacks one at a time through a mailbox — sync callbacks run inline, async ones hold
 * the mailbox until they settle — and turns their results into frames. A thrown error or rejected
 * promise ends this channel with `phx_error`; the socket and its other channels carry on.
 */
import { isGracefulStop, type Assigns, type Channel, type ChannelSocket, type OutPayload, type SocketRef, type TerminateReason } from '../channel.ts';
import { CountedErrors } from '../errors.ts';
import { Events, formatPosition, Reasons, type BroadcastMessage, type Message, type Ref } from '../protocol.ts';
import type { Subscriber } from '../pubsub/pubsub.ts';
import type { Frame } from '../serializer/frame.ts';
import { broadcastFrame } from './broadcast-frames.ts';
import { ChannelContext } from './channel-context.ts';
import { settleWithin } from './clock.ts';
import type { ChannelHost } from './channel-host.ts';
import { assertOutPayload, callbackOutcome, channelKindOf, isPromise, joinDecision, type ChannelKind } from './callback-results.ts';
import { callChannel, ExitHooks, runCleanup, type CallbackHost, type CallbackTask } from './channel-callbacks.ts';
import { InfoSources } from './info-sources.ts';
import { Recovery, type RecoveringChannel, type RecoveryTask } from './recovery.ts';
import type { Services } from './services.ts';

/** How a join was decided. */
export type JoinOutcome = 'ok' | 'error';

/** One entry of the mailbox: `out` is an intercepted publication for `handleOut`; `step` a recovery step (recovery.ts). */
type Task = CallbackTask | { readonly kind: 'leave'; readonly ref: Ref } | RecoveryTask;

type State = 'joining' | 'joined' | 'closed';

// Bits of `ChannelServer.#flags`: three booleans in one field (an idle server holds one channel
// server per joined socket, and every field is 8 bytes of each).
/** The mailbox is running or held (a callback settling, a join's replay being read). */
const BUSY = 1;
/** This join's client was sent `presence_state` (by the channel or by the first track). */
const PRESENCE_STATE_SENT = 2;
/** `#ref` is the position of the publication `handleOut` is handling, not a client push's ref. */
const REF_IS_POSITION = 4;

/**
 * The runtime of one joined topic. Private methods are TypeScript `private`, not `#`: a class with
 * `#` methods gives each instance a hidden brand field, and an idle server holds one channel
 * server per joined socket.
 */
export class ChannelServer implements Subscriber, RecoveringChannel, CallbackHost {
  readonly topic: string;
  readonly joinRef: Ref;
  /** The PubSub topic behind {@link topic}: the same unless the join chose another (`JoinOptions`). */
  #pubsubTopic: string;
  /** The socket connection this channel runs on, seen through what a channel needs of it. */
  readonly connection: ChannelHost<ChannelServer>;
  /** The channel definition and its intercepted events. */
  readonly #kind: ChannelKind;
  #state: State = 'joining';
  /** BUSY, PRESENCE_STATE_SENT and REF_IS_POSITION. */
  #flags = 0;
  // Created on first use: most channels never need them, and thousands of idle sockets each hold one.
  #mailbox: Task[] | null = null;
  /**
   * The ref of the client push being handled, for `socketRef()`; or, with REF_IS_POSITION, the
   * position of the publication `handleOut` is handling: the ref of the pushes it makes.
   */
  #ref: Ref = null;
  /** The history side of a channel on a history topic (docs/recovery.md); null on other topics. */
  #recovery: Recovery | null = null;
  #pendingPushes: Frame[] | null = null;
  /** Other topics subscribed to and delayed `sendInfo` timers, made on first use. */
  #info: InfoSources | null = null;
  /** What the channel registered with `socket.onExit`, run last in first out when it ends; made on first use. */
  #exitHooks: ExitHooks | null = null;
  readonly #socket: ChannelSocket;

  constructor(connection: ChannelHost<ChannelServer>, channel: Channel, topic: string, joinRef: Ref, assigns: Assigns) {
    this.connection = connection;
    this.#kind = channelKindOf(channel);
    this.topic = topic;
    this.#pubsubTopic = topic;
    this.joinRef = joinRef;
    this.#socket = new ChannelContext(this, assigns);
  }

  /** The endpoint's services: the one route to them, for this channel and its recovery. */
  get services(): Services {
    return this.connection.services;
  }

  /** The PubSub topic this channel subscribes to, broadcasts on and tracks presence on. */
  get pubsubTopic(): string {
    return this.#pubsubTopic;
  }

  /** True once the join was accepted and until the channel ends. */
  get joined(): boolean {
    return this.#state === 'joined';
  }

  /**
   * Runs the channel's `join` and writes its reply. Sync joins are decided before this returns.
   * @param replyJoinRef the join_ref exactly as the client sent it (the reply echoes it)
   */
  join(payload: unknown, ref: Ref, replyJoinRef: Ref, timeoutMs: number): JoinOutcome | Promise<JoinOutcome> {
    const watched = this.watchJoin();
    let result;
    try {
      result = this.#kind.channel.join(this.topic, payload, this.#socket);
    } catch (err) {
      return this.joinCrashed(err, ref, replyJoinRef);
    }
    if (!isPromise(result)) return this.decideJoin(result, payload, ref, replyJoinRef, watched);
    return settleWithin(result, timeoutMs, this.services.clock).then((settled) => {
      if (this.#state !== 'joining') return 'error';
      if (settled.kind === 'resolved') return this.decideJoin(settled.value, payload, ref, replyJoinRef, watched);
      if (settled.kind === 'rejected') return this.joinCrashed(settled.error, ref, replyJoinRef);
      this.writeReply(replyJoinRef, ref, 'error', { reason: Reasons.joinTimeout });
      this.end(null);
      return 'error';
    });
  }

  /**
   * The join window (docs/recovery.md §2.2): on a history topic this node already subscribes to,
   * the joining channel subscribes before its `join` runs, and its recovery holds what is
   * published meanwhile. A `join` that reads the app's state (a page of history) then misses
   * nothing published after that read: it follows `phx_stream` as live traffic. Only where the
   * subscription costs nothing (no adapter subscription is started for a join that may be refused).
   * @returns the subscription, or null when there is no window
   */
  private watchJoin(): Promise<void> | null {
    const { pubsub } = this.services;
    if (!pubsub.hasHistory(this.topic) || pubsub.subscriberCount(this.topic) === 0) return null;
    this.#recovery = new Recovery(this);
    return pubsub.subscribe(this.topic, this);
  }

  private decideJoin(result: unknown, params: unknown, ref: Ref, replyJoinRef: Ref, watched: Promise<void> | null): JoinOutcome {
    const decided = joinDecision(result);
    if (decided.kind === 'invalid') return this.joinCrashed(decided.error, ref, replyJoinRef);
    if (decided.kind === 'error') {
      this.writeReply(replyJoinRef, ref, 'error', decided.response);
      this.end(null);
      return 'error';
    }
    const { pubsub } = this.services;
    this.#pubsubTopic = decided.pubsubTopic ?? this.topic;
    const rewired = watched !== null && this.#pubsubTopic !== this.topic;
    if (rewired) {
      // Wired to another PubSub topic: what the window held is not this channel's.
      pubsub.unsubscribe(this.topic, this);
      this.#recovery = null;
    }
    // Subscribe and reply in the same tick: no broadcast can reach the client before the reply.
    this.#state = 'joined';
    const subscribed = watched !== null && !rewired ? watched : pubsub.subscribe(this.#pubsubTopic, this);
    this.writeReply(replyJoinRef, ref, 'ok', decided.response);
    const pushes = this.#pendingPushes;
    this.#pendingPushes = null;
    if (pushes) for (const frame of pushes) this.connection.send(frame);
    if (pubsub.hasHistory(this.#pubsubTopic)) (this.#recovery ??= new Recovery(this)).start(params, subscribed);
    else this.drain();
    return 'ok';
  }

  private joinCrashed(err: unknown, ref: Ref, replyJoinRef: Ref): JoinOutcome {
    this.services.stats.errors[CountedErrors.joinCrash]++;
    this.services.logger.error({ err, code: CountedErrors.joinCrash, socketId: this.connection.socketId, topic: this.topic }, 'join crashed');
    this.writeReply(replyJoinRef, ref, 'error', { reason: Reasons.joinCrashed });
    this.end(null);
    return 'error';
  }

  /** Queues a client event for `handleIn`. */
  handleIn(message: Message): void {
    this.enqueue({ kind: 'in', message });
  }

  /** Queues the client's `phx_leave`: reply ok, `phx_close`, then `terminate({shutdown: "left"})`. */
  leave(ref: Ref): void {
    this.enqueue({ kind: 'leave', ref });
  }

  /** Queues an in-process message for `handleInfo`. */
  info(message: unknown): void {
    this.enqueue({ kind: 'info', message });
  }

  /** What else feeds `handleInfo` (subscriptions, delayed messages): made on first use; null once closed. */
  infoSources(): InfoSources | null {
    if (this.#state === 'closed') return null;
    return (this.#info ??= new InfoSources(this.services.pubsub, this.services.clock, (message) => this.info(message)));
  }

  /** PubSub: publications of this history topic were lost (see `Subscriber.lost`). */
  lost(): void {
    if (this.#state !== 'closed') this.#recovery?.lost();
  }

  /** Fastlane: called by PubSub for every broadcast on the topic. */
  deliver(message: BroadcastMessage): void {
    // While joining, only the join window's recovery is there to hold it.
    if (this.#recovery !== null) this.#recovery.deliver(message);
    else if (this.#state !== 'joined') return;
    else if (this.#kind.intercepts?.has(message.event)) this.enqueue({ kind: 'out', message });
    else this.write(message);
  }

  /**
   * Ends the channel because of its socket (closed, disconnected, draining) or a duplicate join.
   * No frame is sent; `terminate` runs unless `runTerminate` is false.
   */
  shutdown(reason: TerminateReason, runTerminate = true): void {
    if (this.#state === 'closed') return;
    this.end(runTerminate ? reason : null);
  }

  /** Writes this channel's `phx_close` (used after a duplicate join replaced it). */
  sendClose(): void {
    this.sendControl(Events.close, {});
  }

  // --- used by ChannelContext -------------------------------------------------------------

  /** Sends a push to this channel's client. */
  push(event: string, payload: OutPayload): void {
    assertOutPayload(payload);
    if (event === Events.presenceState) this.#flags |= PRESENCE_STATE_SENT;
    const ref = this.#flags & REF_IS_POSITION ? this.#ref : null;
    const frame = this.connection.serializer.encodePush({ joinRef: this.joinRef, ref, topic: this.topic, event, payload });
    if (frame === null) {
      this.services.logger.debug({ topic: this.topic, event }, 'push skipped: transport cannot carry binary');
      return;
    }
    if (this.#state === 'joining') (this.#pendingPushes ??= []).push(frame);
    else this.connection.send(frame);
  }

  /**
   * Before this channel's first track: sends its client `presence_state` unless one was sent or
   * the channel opted out (`syncPresence: false`). State first, then the track's own diff, as the
   * Phoenix guide orders them.
   */
  beforeTrack(): void {
    if (this.#flags & PRESENCE_STATE_SENT || this.#kind.channel.syncPresence === false) return;
    this.push(Events.presenceState, this.services.presence.list(this.#pubsubTopic));
  }

  /** A handle to answer the push being handled later. */
  socketRef(): SocketRef {
    const ref = this.#flags & REF_IS_POSITION ? null : this.#ref;
    const { joinRef } = this;
    return {
      topic: this.topic,
      joinRef,
      ref,
      reply: (status: string, response: unknown = {}) => this.writeReply(joinRef, ref, status, response),
    };
  }

  // --- used by Recovery (recovery.ts) -------------------------------------------------------

  /** True when `handleOut` intercepts `event`. */
  intercepts(event: string): boolean {
    return this.#kind.intercepts?.has(event) === true;
  }

  /** Writes a publication's frame, encoded once per serializer for all its subscribers. */
  write(message: BroadcastMessage): void {
    const frame = broadcastFrame(message, this.connection.serializer, this.services.stats, this.topic);
    if (frame !== null) this.connection.send(frame);
  }

  hold(): void {
    this.#flags |= BUSY;
  }

  resume(tasks: RecoveryTask[]): void {
    if (this.#state !== 'joined') return;
    this.#mailbox = this.#mailbox === null ? tasks : [...tasks, ...this.#mailbox];
    this.drain();
  }

  // --- mailbox ------------------------------------------------------------------------------

  /** Queues `task`; runs the mailbox unless it is busy (a callback settling, a join's replay being read). */
  enqueue(task: Task): void {
    if (this.#state === 'closed') return;
    (this.#mailbox ??= []).push(task);
    if (this.#state === 'joined' && !(this.#flags & BUSY)) this.drain();
  }

  private drain(): void {
    this.#flags |= BUSY;
    while (this.#state === 'joined' && this.#mailbox !== null && this.#mailbox.length > 0) {
      const task = this.#mailbox.shift() as Task;
      let result: unknown;
      try {
        result = this.run(task);
      } catch (err) {
        this.crash(err);
        break;
      }
      if (isPromise(result)) {
        result.then(
          (settled) => {
            this.finish(task, settled);
            this.drain();
          },
          (err: unknown) => this.crash(err),
        );
        return;
      }
      this.finish(task, result);
    }
    this.#flags &= ~BUSY;
  }

  private run(task: Task): unknown {
    const position = task.kind === 'out' ? task.message.position : undefined;
    if (position !== undefined) {
      this.#ref = formatPosition(position);
      this.#flags |= REF_IS_POSITION;
    } else {
      this.#ref = task.kind === 'in' ? task.message.ref : null;
      this.#flags &= ~REF_IS_POSITION;
    }
    if (task.kind === 'leave') return undefined;
    if (task.kind === 'step') {
      task.run();
      return undefined;
    }
    return callChannel(this.#kind.channel, this.#socket, this, task);
  }

  private finish(task: Task, result: unknown): void {
    // The publication `handleOut` handled is done: pushes made later carry no position.
    if (this.#flags & REF_IS_POSITION) {
      this.#flags &= ~REF_IS_POSITION;
      this.#ref = null;
    }
    if (this.#state !== 'joined') return;
    if (task.kind === 'leave') {
      this.writeReply(this.joinRef, task.ref, 'ok', {});
      this.sendControl(Events.close, {});
      this.end({ shutdown: 'left' });
      return;
    }
    const outcome = callbackOutcome(result, task.kind === 'in');
    const ref = task.kind === 'in' ? task.message.ref : null;
    if (outcome.kind === 'invalid') return this.crash(outcome.error);
    const reply = outcome.kind === 'stop' ? outcome.reply : outcome.kind === 'reply' ? outcome : undefined;
    if (reply !== undefined) this.writeReply(this.joinRef, ref, reply.status, reply.response);
    if (outcome.kind !== 'stop') return;
    // {stop, reason}: phx_close for a graceful reason, phx_error otherwise; then terminate(reason).
    if (isGracefulStop(outcome.reason)) this.sendControl(Events.close, {});
    else this.sendControl(Events.error, { reason: Reasons.channelCrash });
    this.connection.channelEnded(this);
    this.end(outcome.reason);
  }

  /** Ends the channel with `phx_error` (a callback threw, or the stream could not be read); the socket carries on. */
  crash(err: unknown): void {
    this.#flags &= ~BUSY;
    if (this.#state === 'closed') return;
    this.services.stats.errors[CountedErrors.channelCrash]++;
    this.services.logger.error({ err, code: CountedErrors.channelCrash, socketId: this.connection.socketId, topic: this.topic }, 'channel crashed');
    this.sendControl(Events.error, { reason: Reasons.channelCrash });
    this.connection.channelEnded(this);
    // No terminate after a crash (Phoenix's rule), but what the channel holds is released.
    this.end(null);
  }

  /**
   * Runs `dispose` when this channel ends, whatever ends it (see `ChannelSocket.onExit`); at once
   * when it has ended already.
   */
  onExit(dispose: () => unknown): void {
    if (this.#state === 'closed') runCleanup(dispose, this.services.logger, this.topic, 'exit hook failed');
    else (this.#exitHooks ??= new ExitHooks()).add(dispose);
  }

  /**
   * The one way a channel ends: it stops receiving (subscriptions, presence, mailbox, timers),
   * `terminate` runs when given a reason, then the exit hooks, last registered first.
   */
  private end(reason: TerminateReason | null): void {
    this.close();
    const { logger } = this.services;
    const { channel } = this.#kind;
    if (reason !== null && channel.terminate !== undefined) runCleanup(() => channel.terminate!(reason, this.#socket), logger, this.topic, 'terminate failed');
    this.#exitHooks?.runAll(logger, this.topic);
    this.#exitHooks = null;
  }

  /** Leaves every subscription and presence, drops the mailbox and timers. Sends nothing. Only through {@link end}. */
  private close(): void {
    this.#state = 'closed';
    this.#mailbox = null;
    this.#pendingPushes = null;
    this.#recovery = null;
    this.services.pubsub.unsubscribe(this.#pubsubTopic, this);
    this.#info?.close();
    this.#info = null;
    this.services.presence.untrackAll(this);
  }

  private writeReply(joinRef: Ref, ref: Ref, status: string, response: unknown): void {
    const frame = this.connection.serializer.encodeReply({ joinRef, ref, topic: this.topic, status, response });
    if (frame !== null) this.connection.send(frame);
  }

  private sendControl(event: string, payload: object): void {
    const frame = this.connection.serializer.encodePush({ joinRef: this.joinRef, ref: this.joinRef, topic: this.topic, event, payload });
    if (frame !== null) this.connection.send(frame);
  }
}
