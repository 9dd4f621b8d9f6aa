/**
 * @module runtime/channel-server
 * Internal: the runtime of one joined topic on one socket (Phoenix's channel process). It runs the
 * channel's callbacks one at a time through a mailbox — sync callbacks run inline, async ones hold
 * the mailbox until they settle — and turns their results into frames. A thrown error or rejected
 * promise ends this channel with `phx_error`; the socket and its other channels carry on.
 */
import {
  isGracefulStop,
  reply,
  type ChannelSchemas,
  type StandardSchemaV1,
  type UntypedEvents,
  type Assigns,
  type Channel,
  type ChannelSocket,
  type HandleInResult,
  type HandleResult,
  type InfoBroadcast,
  type OutPayload,
  type Reply,
  type SocketRef,
  type StopReason,
  type TerminateReason,
} from '../channel.ts';
import { ErrorCodes, StarlingError } from '../errors.ts';
import { Events, isBinaryPayload, Reasons, type BroadcastMessage, type Message, type Ref } from '../protocol.ts';
import type { Subscriber } from '../pubsub/pubsub.ts';
import { formatPosition, parsePosition, type StreamPosition, type StreamRead } from '../pubsub/stream.ts';
import type { Frame } from '../serializer/frame.ts';
import { broadcastFrame } from './broadcast-frames.ts';
import { ChannelContext } from './channel-context.ts';
import type { ClockTimer } from './clock.ts';
import type { Connection } from './connection.ts';
import { CountedErrors } from './endpoint-stats.ts';
import type { Services } from './services.ts';

/** How a join was decided. */
export type JoinOutcome = 'ok' | 'error';

type Task =
  | { readonly kind: 'in'; readonly message: Message }
  | { readonly kind: 'out'; readonly event: string; readonly payload: OutPayload; readonly position: StreamPosition | undefined }
  | { readonly kind: 'info'; readonly message: unknown }
  | { readonly kind: 'leave'; readonly ref: Ref }
  // A publication's frame written in mailbox order: replayed (docs/recovery.md), or queued behind
  // an intercepted one; and the phx_stream push that ends a join's replay.
  | { readonly kind: 'replay'; readonly message: BroadcastMessage }
  | { readonly kind: 'stream'; readonly position: StreamPosition; readonly recovered: boolean | undefined };

type State = 'joining' | 'joined' | 'closed';

function isPromise<T>(value: unknown): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

/** The runtime of one joined topic. */
export class ChannelServer implements Subscriber {
  readonly topic: string;
  readonly joinRef: Ref;
  /** The PubSub topic behind {@link topic}: the same unless the join chose another (`JoinOptions`). */
  #pubsubTopic: string;
  /** The socket connection this channel runs on. */
  readonly connection: Connection;
  readonly #channel: Channel;
  #state: State = 'joining';
  // Created on first use: most channels never need them, and thousands of idle sockets each hold one.
  #mailbox: Task[] | null = null;
  #busy = false;
  /** Ref of the client push being handled, for `socketRef()`. */
  #currentRef: Ref = null;
  /** The position of the publication `handleOut` is handling: the ref of the pushes it makes. */
  #publicationRef: string | null = null;
  /** Non-null while a join on a history topic reads the stream: live publications held meanwhile. */
  #recovery: BroadcastMessage[] | null = null;
  /**
   * Publications of a history topic waiting in the mailbox (intercepted ones, and those queued
   * behind them). While there are any, later ones queue too: the client sees its stream in
   * offset order, so the last position it saw means "everything up to here".
   */
  #queuedPublications = 0;
  #pendingPushes: Frame[] | null = null;
  /** Whether this join's client was sent `presence_state` (by the channel or by the first track). */
  #presenceStateSent = false;
  readonly #intercepts: ReadonlySet<string> | null;
  #infoSubscriptions: Map<string, Subscriber> | null = null;
  #timers: Set<ClockTimer> | null = null;
  readonly #socket: ChannelSocket;

  constructor(connection: Connection, channel: Channel, topic: string, joinRef: Ref, assigns: Assigns) {
    this.connection = connection;
    this.#channel = channel;
    this.topic = topic;
    this.#pubsubTopic = topic;
    this.joinRef = joinRef;
    this.#intercepts = interceptsOf(channel);
    this.#socket = new ChannelContext(this, assigns);
  }

  get #services(): Services {
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
    let result;
    try {
      result = this.#channel.join(this.topic, payload, this.#socket);
    } catch (err) {
      return this.#joinCrashed(err, ref, replyJoinRef);
    }
    if (!isPromise(result)) return this.#decideJoin(result, payload, ref, replyJoinRef);
    const { clock } = this.#services;
    return new Promise<JoinOutcome>((resolve) => {
      const timer = clock.setTimeout(() => {
        this.#writeReply(replyJoinRef, ref, 'error', { reason: Reasons.joinTimeout });
        this.#close();
        resolve('error');
      }, timeoutMs);
      result.then(
        (decided) => {
          clock.clearTimeout(timer);
          if (this.#state === 'joining') resolve(this.#decideJoin(decided, payload, ref, replyJoinRef));
          else resolve('error');
        },
        (err: unknown) => {
          clock.clearTimeout(timer);
          if (this.#state === 'joining') resolve(this.#joinCrashed(err, ref, replyJoinRef));
          else resolve('error');
        },
      );
    });
  }

  #decideJoin(result: unknown, params: unknown, ref: Ref, replyJoinRef: Ref): JoinOutcome {
    const decided = result as { kind?: unknown; response?: unknown; pubsubTopic?: unknown } | null;
    if (decided?.kind === 'ok') {
      if (decided.pubsubTopic !== undefined) {
        if (typeof decided.pubsubTopic !== 'string' || decided.pubsubTopic === '') {
          return this.#joinCrashed(new StarlingError(ErrorCodes.invalidCallbackResult, 'ok(…, {pubsubTopic}) needs a non-empty string'), ref, replyJoinRef);
        }
        this.#pubsubTopic = decided.pubsubTopic;
      }
      // Subscribe and reply in the same tick: no broadcast can reach the client before the reply.
      this.#state = 'joined';
      const { pubsub } = this.#services;
      const subscribed = pubsub.subscribe(this.#pubsubTopic, this);
      this.#writeReply(replyJoinRef, ref, 'ok', decided.response ?? {});
      const pushes = this.#pendingPushes;
      this.#pendingPushes = null;
      if (pushes) for (const frame of pushes) this.connection.send(frame);
      if (pubsub.hasHistory(this.#pubsubTopic)) this.#recover(params, subscribed);
      else this.#drain();
      return 'ok';
    }
    if (decided?.kind === 'error') {
      this.#writeReply(replyJoinRef, ref, 'error', decided.response ?? {});
      this.#close();
      return 'error';
    }
    return this.#joinCrashed(new StarlingError(ErrorCodes.invalidCallbackResult, `join returned ${String(result)}; use ok() or error()`), ref, replyJoinRef);
  }

  #joinCrashed(err: unknown, ref: Ref, replyJoinRef: Ref): JoinOutcome {
    this.#services.stats.errors[CountedErrors.joinCrash]++;
    this.#services.logger.error({ err, code: CountedErrors.joinCrash, socketId: this.connection.socketId, topic: this.topic }, 'join crashed');
    this.#writeReply(replyJoinRef, ref, 'error', { reason: Reasons.joinCrashed });
    this.#close();
    return 'error';
  }

  /** Queues a client event for `handleIn`. */
  handleIn(message: Message): void {
    this.#enqueue({ kind: 'in', message });
  }

  /** Queues the client's `phx_leave`: reply ok, `phx_close`, then `terminate({shutdown: "left"})`. */
  leave(ref: Ref): void {
    this.#enqueue({ kind: 'leave', ref });
  }

  /** Queues an in-process message for `handleInfo`. */
  info(message: unknown, delayMs?: number): void {
    if (delayMs === undefined || delayMs <= 0) {
      this.#enqueue({ kind: 'info', message });
      return;
    }
    const timer = this.#services.clock.setTimeout(() => {
      this.#timers?.delete(timer);
      this.#enqueue({ kind: 'info', message });
    }, delayMs);
    (this.#timers ??= new Set()).add(timer);
  }

  /** Fastlane: called by PubSub for every broadcast on the topic. */
  deliver(message: BroadcastMessage): void {
    if (this.#state !== 'joined') return;
    if (this.#recovery !== null) {
      this.#recovery.push(message);
      return;
    }
    if (this.#intercepts?.has(message.event)) {
      if (message.position !== undefined) this.#queuedPublications++;
      this.#enqueue({ kind: 'out', event: message.event, payload: message.payload as OutPayload, position: message.position });
      return;
    }
    if (message.position !== undefined && this.#queuedPublications > 0) {
      this.#queuedPublications++;
      this.#enqueue({ kind: 'replay', message });
      return;
    }
    const { connection } = this;
    const frame = broadcastFrame(message, connection.serializer, connection.mount.services.stats, this.topic);
    if (frame !== null) connection.send(frame);
  }

  /**
   * Ends the channel because of its socket (closed, disconnected, draining) or a duplicate join.
   * No frame is sent; `terminate` runs unless `runTerminate` is false.
   */
  shutdown(reason: TerminateReason, runTerminate = true): void {
    if (this.#state === 'closed') return;
    this.#close();
    if (runTerminate) this.#terminate(reason);
  }

  /** Writes this channel's `phx_close` (used after a duplicate join replaced it). */
  sendClose(): void {
    this.#sendControl(Events.close, {});
  }

  // --- used by ChannelContext -------------------------------------------------------------

  /** Sends a push to this channel's client. */
  push(event: string, payload: OutPayload): void {
    assertOutPayload(payload);
    if (event === Events.presenceState) this.#presenceStateSent = true;
    const frame = this.connection.serializer.encodePush({ joinRef: this.joinRef, ref: this.#publicationRef, topic: this.topic, event, payload });
    if (frame === null) {
      this.#services.logger.debug({ topic: this.topic, event }, 'push skipped: transport cannot carry binary');
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
    if (this.#presenceStateSent || this.#channel.syncPresence === false) return;
    this.push(Events.presenceState, this.#services.presence.list(this.#pubsubTopic));
  }

  /** Broadcasts on the topic; `fromSelf` excludes this channel. */
  broadcast(event: string, payload: OutPayload, fromSelf: boolean): void {
    assertOutPayload(payload);
    this.#services.pubsub.broadcast(this.#pubsubTopic, event, payload, fromSelf ? this : null);
  }

  /** A handle to answer the push being handled later. */
  socketRef(): SocketRef {
    const ref = this.#currentRef;
    const { joinRef } = this;
    return {
      topic: this.topic,
      joinRef,
      ref,
      reply: (status: string, response: unknown = {}) => this.#writeReply(joinRef, ref, status, response),
    };
  }

  /** Subscribes to another topic; broadcasts arrive in `handleInfo`. */
  subscribeInfo(topic: string): void {
    if (this.#state === 'closed' || this.#infoSubscriptions?.has(topic)) return;
    const subscriber: Subscriber = {
      deliver: (message) => {
        const info: InfoBroadcast = { kind: 'broadcast', ...message };
        this.#enqueue({ kind: 'info', message: info });
      },
    };
    (this.#infoSubscriptions ??= new Map()).set(topic, subscriber);
    void this.#services.pubsub.subscribe(topic, subscriber);
  }

  /** Undoes {@link subscribeInfo}. */
  unsubscribeInfo(topic: string): void {
    const subscriber = this.#infoSubscriptions?.get(topic);
    if (subscriber === undefined) return;
    this.#infoSubscriptions?.delete(topic);
    this.#services.pubsub.unsubscribe(topic, subscriber);
  }

  // --- recovery (docs/recovery.md) ------------------------------------------------------------

  /**
   * After the join reply on a history topic: holds the mailbox and live publications, reads the
   * stream once the subscription is in place, then queues — ahead of anything the client sent
   * meanwhile — the replay (when `recover` is honoured) and the phx_stream push, which releases
   * the live publications not already replayed.
   */
  #recover(params: unknown, subscribed: Promise<void>): void {
    const asked = recoverParam(params);
    this.#recovery = [];
    this.#busy = true;
    subscribed
      .then(() => this.#services.pubsub.readStream(this.#pubsubTopic, asked ?? null))
      .then(
        (read) => this.#replay(read, asked),
        (err: unknown) => {
          if (this.#state !== 'joined') return;
          this.#busy = false;
          this.#crash(err);
        },
      );
  }

  #replay(read: StreamRead, asked: StreamPosition | null | undefined): void {
    if (this.#state !== 'joined') return;
    // A replay is bounded twice (docs/recovery.md): by history.maxReplayBytes (the store refused
    // it) and by the room left in this client's transport; past either, recovered: false.
    const fits = read.recovered && this.connection.hasRoomFor(read.bytes);
    if (asked != null && read.bytes > 0 && !fits) this.#services.stats.replaysRefused++;
    const recovered = asked != null && fits;
    const tasks: Task[] = [];
    if (recovered) {
      for (const message of read.publications) {
        tasks.push(
          this.#intercepts?.has(message.event)
            ? { kind: 'out', event: message.event, payload: message.payload as OutPayload, position: message.position }
            : { kind: 'replay', message },
        );
      }
    }
    this.#queuedPublications += tasks.length;
    tasks.push({ kind: 'stream', position: read.position, recovered: asked === undefined ? undefined : recovered });
    this.#mailbox = this.#mailbox === null ? tasks : tasks.concat(this.#mailbox);
    this.#drain();
  }

  /**
   * Sends phx_stream, then the live publications held during the read. After a replay the held
   * ones it covered are skipped. Without one, every held publication reached this node after the
   * subscription and is sent — so the position announced is the one just before the first of
   * them (not the read's, which may be later): live traffic follows it without a gap.
   */
  #endRecovery(position: StreamPosition, recovered: boolean | undefined): void {
    const held = this.#recovery ?? [];
    this.#recovery = null;
    let from = position;
    if (recovered !== true) {
      const first = held.find((message) => message.position?.epoch === position.epoch)?.position;
      if (first !== undefined && first.offset <= position.offset) from = { epoch: position.epoch, offset: first.offset - 1 };
    }
    const payload = recovered === undefined ? { position: formatPosition(from) } : { position: formatPosition(from), recovered };
    const frame = this.connection.serializer.encodePush({ joinRef: this.joinRef, ref: null, topic: this.topic, event: Events.stream, payload });
    if (frame !== null) this.connection.send(frame);
    for (const message of held) {
      const at = message.position;
      if (at !== undefined && at.epoch === from.epoch && at.offset <= from.offset) continue;
      this.deliver(message);
    }
  }

  // --- mailbox ------------------------------------------------------------------------------

  #enqueue(task: Task): void {
    if (this.#state === 'closed') return;
    (this.#mailbox ??= []).push(task);
    if (this.#state === 'joined' && !this.#busy) this.#drain();
  }

  #drain(): void {
    this.#busy = true;
    while (this.#state === 'joined' && this.#mailbox !== null && this.#mailbox.length > 0) {
      const task = this.#mailbox.shift() as Task;
      let result: unknown;
      try {
        result = this.#run(task);
      } catch (err) {
        this.#crash(err);
        break;
      }
      if (isPromise(result)) {
        result.then(
          (settled) => {
            this.#finish(task, settled);
            this.#drain();
          },
          (err: unknown) => {
            this.#crash(err);
            this.#busy = false;
          },
        );
        return;
      }
      this.#finish(task, result);
    }
    this.#busy = false;
  }

  #run(task: Task): unknown {
    this.#publicationRef = null;
    switch (task.kind) {
      case 'in':
        this.#currentRef = task.message.ref;
        if (this.#channel.handleIn === undefined) {
          throw new StarlingError(ErrorCodes.invalidCallbackResult, `no handleIn for event ${task.message.event}`);
        }
        if (this.#channel.schemas !== undefined) return this.#validateIn(this.#channel.schemas, task.message);
        return this.#channel.handleIn(task.message.event, task.message.payload, this.#socket);
      case 'out':
        this.#currentRef = null;
        this.#publicationRef = task.position === undefined ? null : formatPosition(task.position);
        if (this.#channel.handleOut === undefined) {
          // Intercepting without handleOut: deliver as Phoenix's default would, as a push.
          this.push(task.event, task.payload);
          return undefined;
        }
        return this.#channel.handleOut(task.event, task.payload, this.#socket);
      case 'info':
        this.#currentRef = null;
        if (this.#channel.handleInfo === undefined) {
          this.#services.logger.warn({ topic: this.topic }, 'message for a channel without handleInfo dropped');
          return undefined;
        }
        return this.#channel.handleInfo(task.message, this.#socket);
      case 'leave':
        return undefined;
      case 'replay': {
        const frame = broadcastFrame(task.message, this.connection.serializer, this.#services.stats, this.topic);
        if (frame !== null) this.connection.send(frame);
        return undefined;
      }
      case 'stream':
        this.#endRecovery(task.position, task.recovered);
        return undefined;
    }
  }

  /**
   * Validates an inbound payload with its event's schema, then hands the schema's output to
   * `handleIn`; a failure (or an event without a schema) is answered with an error reply instead.
   */
  #validateIn(schemas: ChannelSchemas<UntypedEvents>, message: Message): unknown {
    const schema = Object.hasOwn(schemas, message.event) ? schemas[message.event] : undefined;
    if (schema === undefined) return reply('error', { reason: Reasons.unknownEvent });
    const result = schema['~standard'].validate(message.payload);
    if (isPromise<StandardSchemaV1.Result<unknown>>(result)) return result.then((settled) => this.#afterValidation(settled, message.event));
    return this.#afterValidation(result, message.event);
  }

  #afterValidation(result: StandardSchemaV1.Result<unknown>, event: string): unknown {
    if (result.issues !== undefined) return reply('error', { reason: Reasons.invalidPayload, issues: result.issues.map(wireIssue) });
    return this.#channel.handleIn!(event, result.value, this.#socket);
  }

  #finish(task: Task, result: unknown): void {
    this.#publicationRef = null;
    if (task.kind === 'replay' || (task.kind === 'out' && task.position !== undefined)) this.#queuedPublications--;
    if (this.#state !== 'joined') return;
    if (task.kind === 'leave') {
      this.#writeReply(this.joinRef, task.ref, 'ok', {});
      this.#sendControl(Events.close, {});
      this.#close();
      this.#terminate({ shutdown: 'left' });
      return;
    }
    if (result === undefined) return;
    const outcome = result as HandleInResult | HandleResult;
    switch (outcome.kind) {
      case 'noreply':
        return;
      case 'reply':
        if (task.kind !== 'in') {
          this.#crash(new StarlingError(ErrorCodes.invalidCallbackResult, 'only handleIn can reply'));
          return;
        }
        this.#writeReply(this.joinRef, task.message.ref, outcome.status, outcome.response);
        return;
      case 'stop':
        this.#stop(outcome.reason, task.kind === 'in' ? task.message.ref : null, 'reply' in outcome ? outcome.reply : undefined);
        return;
      default:
        this.#crash(new StarlingError(ErrorCodes.invalidCallbackResult, `invalid callback result ${JSON.stringify(result)}`));
    }
  }

  #stop(reason: StopReason, ref: Ref, replyWith: Reply | undefined): void {
    if (replyWith !== undefined) this.#writeReply(this.joinRef, ref, replyWith.status, replyWith.response);
    if (isGracefulStop(reason)) this.#sendControl(Events.close, {});
    else this.#sendControl(Events.error, { reason: Reasons.channelCrash });
    this.#close();
    this.connection.channelEnded(this);
    this.#terminate(reason);
  }

  #crash(err: unknown): void {
    if (this.#state === 'closed') return;
    this.#services.stats.errors[CountedErrors.channelCrash]++;
    this.#services.logger.error({ err, code: CountedErrors.channelCrash, socketId: this.connection.socketId, topic: this.topic }, 'channel crashed');
    this.#sendControl(Events.error, { reason: Reasons.channelCrash });
    this.#close();
    this.connection.channelEnded(this);
  }

  /** Leaves every subscription and presence, drops the mailbox and timers. Sends nothing. */
  #close(): void {
    this.#state = 'closed';
    this.#mailbox = null;
    this.#pendingPushes = null;
    this.#recovery = null;
    this.#services.pubsub.unsubscribe(this.#pubsubTopic, this);
    if (this.#infoSubscriptions !== null) {
      for (const [topic, subscriber] of this.#infoSubscriptions) this.#services.pubsub.unsubscribe(topic, subscriber);
      this.#infoSubscriptions = null;
    }
    if (this.#timers !== null) {
      for (const timer of this.#timers) this.#services.clock.clearTimeout(timer);
      this.#timers = null;
    }
    this.#services.presence.untrackAll(this);
  }

  #terminate(reason: TerminateReason): void {
    if (this.#channel.terminate === undefined) return;
    try {
      const done = this.#channel.terminate(reason, this.#socket);
      if (isPromise(done)) done.catch((err: unknown) => this.#services.logger.error({ err, topic: this.topic }, 'terminate failed'));
    } catch (err) {
      this.#services.logger.error({ err, topic: this.topic }, 'terminate failed');
    }
  }

  #writeReply(joinRef: Ref, ref: Ref, status: string, response: unknown): void {
    const frame = this.connection.serializer.encodeReply({ joinRef, ref, topic: this.topic, status, response });
    if (frame !== null) this.connection.send(frame);
  }

  #sendControl(event: string, payload: object): void {
    const frame = this.connection.serializer.encodePush({ joinRef: this.joinRef, ref: this.joinRef, topic: this.topic, event, payload });
    if (frame !== null) this.connection.send(frame);
  }
}

const interceptCache = new WeakMap<Channel, ReadonlySet<string> | null>();

/** The channel's intercepted events as a set, shared by all its servers. */
function interceptsOf(channel: Channel): ReadonlySet<string> | null {
  let intercepts = interceptCache.get(channel);
  if (intercepts === undefined) {
    intercepts = channel.intercept?.length ? new Set(channel.intercept) : null;
    interceptCache.set(channel, intercepts);
  }
  return intercepts;
}

/** A validation issue as the client receives it: its message and its path as JSON keys. */
function wireIssue(issue: StandardSchemaV1.Issue): { message: string; path: Array<string | number> } {
  const path = (issue.path ?? []).map((segment) => {
    const key = typeof segment === 'object' ? segment.key : segment;
    return typeof key === 'number' ? key : String(key);
  });
  return { message: issue.message, path };
}

/** The join's `recover` param: a position, null when present but not one, undefined when absent. */
function recoverParam(params: unknown): StreamPosition | null | undefined {
  if (typeof params !== 'object' || params === null || !Object.hasOwn(params, 'recover')) return undefined;
  return parsePosition((params as { recover?: unknown }).recover);
}

function assertOutPayload(payload: unknown): void {
  if (isBinaryPayload(payload)) return;
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    throw new StarlingError(ErrorCodes.invalidPayload, 'push and broadcast payloads must be objects or {binary}');
  }
}
