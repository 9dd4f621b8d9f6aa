/**
 * @module transport/long-poll/long-poll-forwarding
 * Internal: LongPoll without sticky sessions (§6.11). A session lives on the node that created it, but a
 * load balancer may send any request to any node. A node that receives a poll or publish for a
 * session it does not own forwards it over the PubSub to the owner's private topic and relays the
 * owner's answer. The owner acknowledges a forwarded request at once; no acknowledgement within
 * `timeoutMs` (default 2 s) means the owner or the session is gone, and the request is treated as
 * one for an unknown session (GET → new session, POST → 410), as Phoenix does.
 */
import { randomBytes } from 'node:crypto';
import type { Clock, ClockTimer } from '../../clock.ts';
import type { BroadcastMessage } from '../../protocol.ts';
import type { PubSub, Subscriber } from '../../pubsub/pubsub.ts';
import type { LongPollBody, PollResponder } from './long-poll-session.ts';

/** Version of the forwarding messages between nodes. */
const FORMAT = 1;

type Request =
  | { readonly v: number; readonly kind: 'poll'; readonly reqId: string; readonly from: string; readonly sid: string }
  | {
      readonly v: number;
      readonly kind: 'publish';
      readonly reqId: string;
      readonly from: string;
      readonly sid: string;
      readonly lines: string[];
      readonly ndjson: boolean;
    }
  | { readonly v: number; readonly kind: 'cancel'; readonly reqId: string; readonly from: string };

type Response =
  | { readonly v: number; readonly kind: 'ack'; readonly reqId: string }
  /** `body` null: the owner has no such session. */
  | { readonly v: number; readonly kind: 'answer'; readonly reqId: string; readonly body: LongPollBody | null };

/** What the owner side does with forwarded requests. */
export interface SessionHandlers {
  /** Holds or answers a poll for session `sid`; false when there is no such session here. */
  poll(sid: string, responder: PollResponder): boolean;
  /** Processes published lines for `sid`; null when there is no such session here. */
  publish(sid: string, lines: string[], ndjson: boolean): Promise<LongPollBody | null>;
}

interface Pending {
  onAck(): void;
  onAnswer(body: LongPollBody | null): void;
}

/** Forwards LongPoll requests to the node that owns their session, and serves forwarded ones. */
export class LongPollForwarder implements Subscriber {
  readonly #pending = new Map<string, Pending>();
  /** Forwarded polls held here, by request id, so that a cancel can release them. */
  readonly #held = new Map<string, () => void>();
  #started = false;

  private readonly pubsub: PubSub;
  /** Distinguishes the LongPoll transports of several mounts. */
  private readonly mountPath: string;
  private readonly handlers: SessionHandlers;
  private readonly timeoutMs;
  /** The endpoint's clock: the ack and answer timeouts run on it. */
  private readonly clock: Clock;
  constructor(pubsub: PubSub, mountPath: string, handlers: SessionHandlers, clock: Clock, timeoutMs = 2_000) {
    this.pubsub = pubsub;
    this.mountPath = mountPath;
    this.handlers = handlers;
    this.clock = clock;
    this.timeoutMs = timeoutMs;
  }

  /** Subscribes to this node's private topic. */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    await this.pubsub.subscribe(this.#topicOf(this.pubsub.nodeId), this);
  }

  /** Unsubscribes. */
  stop(): void {
    if (!this.#started) return;
    this.#started = false;
    this.pubsub.unsubscribe(this.#topicOf(this.pubsub.nodeId), this);
  }

  /**
   * Forwards a poll to `owner`. Resolves true once the owner took it (its answer then goes to
   * `responder`), false when nobody answered within the timeout or the session is unknown.
   */
  forwardPoll(owner: string, sid: string, token: string, responder: PollResponder, windowMs: number): Promise<boolean> {
    const reqId = randomBytes(9).toString('base64url');
    return new Promise((resolve) => {
      const { clock } = this;
      let answerTimer: ClockTimer | undefined;
      const ackTimer = clock.setTimeout(() => finish(false), this.timeoutMs);
      const finish = (taken: boolean): void => {
        clock.clearTimeout(ackTimer);
        if (answerTimer !== undefined) clock.clearTimeout(answerTimer);
        this.#pending.delete(reqId);
        resolve(taken);
      };
      this.#pending.set(reqId, {
        onAck: () => {
          clock.clearTimeout(ackTimer);
          // The owner holds the poll up to its window; if its answer is lost, answer "nothing yet".
          answerTimer = clock.setTimeout(() => {
            this.#pending.delete(reqId);
            responder.respond({ status: 204, token, messages: [] });
          }, windowMs + this.timeoutMs);
          resolve(true);
        },
        onAnswer: (body) => {
          if (body === null) return finish(false);
          clock.clearTimeout(ackTimer);
          if (answerTimer !== undefined) clock.clearTimeout(answerTimer);
          this.#pending.delete(reqId);
          responder.respond(body);
          resolve(true);
        },
      });
      responder.onGone(() => {
        if (!this.#pending.has(reqId)) return;
        this.#send(owner, 'request', { v: FORMAT, kind: 'cancel', reqId, from: this.pubsub.nodeId });
      });
      this.#send(owner, 'request', { v: FORMAT, kind: 'poll', reqId, from: this.pubsub.nodeId, sid });
    });
  }

  /** Forwards published lines to `owner`; resolves its answer, or null (no owner, no session). */
  forwardPublish(owner: string, sid: string, lines: string[], ndjson: boolean, windowMs: number): Promise<LongPollBody | null> {
    const reqId = randomBytes(9).toString('base64url');
    return new Promise((resolve) => {
      const { clock } = this;
      let timer = clock.setTimeout(() => finish(null), this.timeoutMs);
      const finish = (body: LongPollBody | null): void => {
        clock.clearTimeout(timer);
        this.#pending.delete(reqId);
        resolve(body);
      };
      this.#pending.set(reqId, {
        onAck: () => {
          clock.clearTimeout(timer);
          // Processing may wait up to the window (frames held behind a join, then 408).
          timer = clock.setTimeout(() => finish(null), windowMs + this.timeoutMs);
        },
        onAnswer: finish,
      });
      this.#send(owner, 'request', { v: FORMAT, kind: 'publish', reqId, from: this.pubsub.nodeId, sid, lines, ndjson });
    });
  }

  deliver(message: BroadcastMessage): void {
    const payload = message.payload as Request | Response;
    if (payload?.v !== FORMAT) return;
    switch (payload.kind) {
      case 'ack':
        this.#pending.get(payload.reqId)?.onAck();
        return;
      case 'answer':
        this.#pending.get(payload.reqId)?.onAnswer(payload.body);
        return;
      case 'poll':
        return this.#servePoll(payload);
      case 'publish':
        return this.#servePublish(payload);
      case 'cancel':
        this.#held.get(payload.reqId)?.();
        return;
    }
  }

  #servePoll({ reqId, from, sid }: { reqId: string; from: string; sid: string }): void {
    let answered = false;
    const responder: PollResponder = {
      respond: (body) => {
        if (answered) return;
        answered = true;
        this.#held.delete(reqId);
        this.#send(from, 'response', { v: FORMAT, kind: 'answer', reqId, body });
      },
      onGone: (callback) => {
        this.#held.set(reqId, () => {
          this.#held.delete(reqId);
          if (!answered) callback();
        });
      },
    };
    if (!this.handlers.poll(sid, responder)) {
      this.#send(from, 'response', { v: FORMAT, kind: 'answer', reqId, body: null });
      return;
    }
    // Possibly after the answer itself (when frames were waiting): the forwarder ignores a late ack.
    this.#send(from, 'response', { v: FORMAT, kind: 'ack', reqId });
  }

  #servePublish({ reqId, from, sid, lines, ndjson }: { reqId: string; from: string; sid: string; lines: string[]; ndjson: boolean }): void {
    this.#send(from, 'response', { v: FORMAT, kind: 'ack', reqId });
    this.handlers.publish(sid, lines, ndjson).then(
      (body) => this.#send(from, 'response', { v: FORMAT, kind: 'answer', reqId, body }),
      () => this.#send(from, 'response', { v: FORMAT, kind: 'answer', reqId, body: null }),
    );
  }

  #send(node: string, event: string, payload: Request | Response): void {
    this.pubsub.broadcast(this.#topicOf(node), event, payload);
  }

  #topicOf(node: string): string {
    return `starling:longpoll:${this.mountPath}:${node}`;
  }
}
