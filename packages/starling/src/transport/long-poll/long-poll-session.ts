/**
 * @module transport/long-poll/long-poll-session
 * Internal: one LongPoll session: the buffered transport of one connection. Frames wait in the buffer until
 * a poll takes them; a poll is held until frames arrive or the window elapses; a session not
 * polled for 1.5 × the window ends, and so does one whose buffer grows past `maxQueuedBytes` (a
 * client that stopped polling but keeps the session alive cannot grow the heap). Whoever polls — an HTTP request on this node, or a request
 * forwarded from another node — is a {@link PollResponder}.
 */
import type { TerminateReason } from '../../channel.ts';
import type { Connection } from '../../runtime/connection.ts';
import type { Mount } from '../../runtime/services.ts';
import type { Frame } from '../../serializer/frame.ts';
import type { LiveConnection, TransportHandle } from '../transport.ts';

/** The body of a LongPoll answer (§6.2). */
export interface LongPollBody {
  readonly status: number;
  readonly token?: string;
  readonly messages?: readonly string[];
}

/** Whoever waits for a poll's answer. */
export interface PollResponder {
  /** Sends the answer (once). */
  respond(body: LongPollBody): void;
  /** Calls `callback` if the poller goes away before it was answered. */
  onGone(callback: () => void): void;
}

/** What every session of one transport shares (the transport itself). */
export interface SessionShared {
  readonly mount: Mount;
  /** How long a poll is held; a session not polled for 1.5 × this ends. */
  readonly windowMs: number;
  /** UTF-8 bytes of frames a session may buffer; past it the session ends (slow reader). */
  readonly maxQueuedBytes: number;
}

/** A buffered transport for one connection. */
export class LongPollSession implements TransportHandle, LiveConnection {
  readonly name = 'longpoll';
  /** Unique in the cluster: `<nodeId>.<random>`. */
  readonly id: string;
  readonly token: string;
  readonly #shared: SessionShared;
  readonly #onEnd: (session: LongPollSession) => void;
  connection!: Connection;
  #buffer: string[] = [];
  #bufferedBytes = 0;
  #overflowed = false;
  #poll: { responder: PollResponder; timer: NodeJS.Timeout } | null = null;
  #flushScheduled = false;
  #expiry: NodeJS.Timeout;
  #ended = false;

  constructor(id: string, token: string, shared: SessionShared, onEnd: (session: LongPollSession) => void) {
    this.id = id;
    this.token = token;
    this.#shared = shared;
    this.#onEnd = onEnd;
    this.#expiry = setTimeout(() => this.end({ shutdown: 'inactive' }), shared.windowMs * 1.5);
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** The session is its connection's transport. */
  get transport(): TransportHandle {
    return this;
  }

  /**
   * Buffers `frame` for the next poll. A frame that would take the buffer past `maxQueuedBytes`
   * ends the session instead (the next poll gets 410) — unless the buffer is empty: a single
   * frame larger than the bound still travels.
   */
  send(frame: Frame): void {
    if (this.#ended || this.#overflowed || frame.binary) return;
    const size = frame.data.length;
    if (this.#bufferedBytes > 0 && this.#bufferedBytes + size > this.#shared.maxQueuedBytes) return this.#overflow();
    this.#buffer.push(frame.text);
    this.#bufferedBytes += size;
    // Flush once per event-loop turn so frames emitted together travel in one response.
    if (this.#poll !== null && !this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => {
        this.#flushScheduled = false;
        this.#flush(200);
      });
    }
  }

  spareBytes(): number {
    if (this.#ended || this.#overflowed) return 0;
    return Math.max(0, this.#shared.maxQueuedBytes - this.#bufferedBytes);
  }

  close(_code: number, _reason: string): void {
    this.end({ shutdown: 'closed' });
  }

  /** Answers `responder` at once if frames are buffered, else holds it. A newer poll replaces an older one. */
  poll(responder: PollResponder): void {
    clearTimeout(this.#expiry);
    if (this.#poll !== null) this.#flush(204);
    if (this.#buffer.length > 0) {
      this.#answer(responder, 200);
      this.#armExpiry();
      return;
    }
    const timer = setTimeout(() => this.#flush(204), this.#shared.windowMs);
    this.#poll = { responder, timer };
    responder.onGone(() => {
      if (this.#poll?.responder === responder) {
        clearTimeout(timer);
        this.#poll = null;
        this.#armExpiry();
      }
    });
  }

  /** Ends the session: its channels terminate with `reason`; a held poll is answered 410. */
  end(reason: TerminateReason): void {
    if (this.#ended) return;
    this.#ended = true;
    clearTimeout(this.#expiry);
    if (this.#poll !== null) {
      clearTimeout(this.#poll.timer);
      this.#poll.responder.respond({ status: 410 });
      this.#poll = null;
    }
    this.connection.close(reason);
    this.#onEnd(this);
  }

  #overflow(): void {
    this.#overflowed = true;
    this.#buffer = [];
    this.#bufferedBytes = 0;
    const { stats, logger } = this.#shared.mount.services;
    stats.slowReaderCloses++;
    logger.warn({ socketId: this.connection.socketId, transport: this.name }, 'slow reader; ending session');
    // Not from inside send: a channel may be in the middle of pushing; end terminates it.
    queueMicrotask(() => this.end({ shutdown: 'closed' }));
  }

  #flush(status: 200 | 204): void {
    const poll = this.#poll;
    if (poll === null) return;
    this.#poll = null;
    clearTimeout(poll.timer);
    this.#answer(poll.responder, this.#buffer.length > 0 ? 200 : status);
    this.#armExpiry();
  }

  #answer(responder: PollResponder, status: 200 | 204): void {
    const messages = this.#buffer;
    this.#buffer = [];
    this.#bufferedBytes = 0;
    responder.respond({ status: messages.length > 0 ? 200 : status, token: this.token, messages });
  }

  #armExpiry(): void {
    if (this.#ended) return;
    clearTimeout(this.#expiry);
    this.#expiry = setTimeout(() => this.end({ shutdown: 'inactive' }), this.#shared.windowMs * 1.5);
  }
}
