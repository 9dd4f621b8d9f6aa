/**
 * @module runtime/channel-callbacks
 * Internal: how the channel server hands one message of its mailbox to the channel — a client
 * event to `handleIn` (validated first when the channel declares schemas), an intercepted
 * publication to `handleOut` (or, without one, pushed as Phoenix's default does), an in-process
 * message to `handleInfo` (or dropped with a warning) — and how a channel's cleanup runs when it
 * ends: `terminate`, then the disposers registered with `socket.onExit`, last first. Cleanup never
 * throws into the runtime: a throw or a rejection is logged.
 */
import type { Channel, ChannelSocket, OutPayload } from '../channel.ts';
import { ErrorCodes, StarlingError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { BroadcastMessage, Message } from '../protocol.ts';
import { isPromise } from './callback-results.ts';
import { validateInbound } from './inbound-validation.ts';

/** A mailbox message bound for one of the channel's callbacks. */
export type CallbackTask =
  | { readonly kind: 'in'; readonly message: Message }
  | { readonly kind: 'out'; readonly message: BroadcastMessage }
  | { readonly kind: 'info'; readonly message: unknown };

/** What the callbacks run on: the channel server's topic, log and push. */
export interface CallbackHost {
  readonly topic: string;
  readonly services: { readonly logger: Logger };
  push(event: string, payload: OutPayload): void;
}

/** Calls the callback of `channel` that `task` is for; returns what it returned (a promise for an async one). Throws what it throws. */
export function callChannel(channel: Channel, socket: ChannelSocket, host: CallbackHost, task: CallbackTask): unknown {
  switch (task.kind) {
    case 'in': {
      const { handleIn } = channel;
      if (handleIn === undefined) throw new StarlingError(ErrorCodes.invalidCallbackResult, `no handleIn for event ${task.message.event}`);
      if (channel.schemas !== undefined) return validateInbound(channel.schemas, task.message, (event, value) => handleIn.call(channel, event, value, socket));
      return handleIn.call(channel, task.message.event, task.message.payload, socket);
    }
    case 'out': {
      const { event, payload } = task.message;
      if (channel.handleOut !== undefined) return channel.handleOut(event, payload as OutPayload, socket);
      // Intercepting without handleOut: deliver as Phoenix's default would, as a push.
      host.push(event, payload as OutPayload);
      return undefined;
    }
    case 'info':
      if (channel.handleInfo !== undefined) return channel.handleInfo(task.message, socket);
      host.services.logger.warn({ topic: host.topic }, 'message for a channel without handleInfo dropped');
      return undefined;
  }
}

/** Runs one piece of a channel's cleanup; a throw or a rejection is logged as `failure`. */
export function runCleanup(cleanup: () => unknown, logger: Logger, topic: string, failure: string): void {
  try {
    const done = cleanup();
    if (isPromise(done)) done.catch((err: unknown) => logger.error({ err, topic }, failure));
  } catch (err) {
    logger.error({ err, topic }, failure);
  }
}

/** The disposers a channel registered with `socket.onExit`. */
export class ExitHooks {
  #hooks: Array<() => unknown> = [];

  add(dispose: () => unknown): void {
    this.#hooks.push(dispose);
  }

  /** Runs each hook once, last registered first. */
  runAll(logger: Logger, topic: string): void {
    const hooks = this.#hooks;
    this.#hooks = [];
    for (let i = hooks.length - 1; i >= 0; i--) runCleanup(hooks[i]!, logger, topic, 'exit hook failed');
  }
}
