/**
 * The official `phoenix` JavaScript client under Node, in the two versions the server must serve
 * (§0.1): 1.8.16, the main test client, and 1.7.21 (npm alias `phoenix17`). Tests loop over
 * {@link officialClients}. A {@link ClientPool} opens sockets with the `ws` WebSocket (Node 20 has
 * no global one) or the client's own LongPoll, with short reconnect and rejoin delays so that
 * recovery tests stay fast, and disconnects all of them at the end of a test.
 *
 * Outcomes of the client's callback API become promises ({@link joinOutcome}, {@link pushOutcome})
 * and events land in an {@link Inbox}, so tests read top to bottom.
 */
import WebSocket from 'ws';
import './browser-self.ts';
import * as phoenix18 from 'phoenix';
import * as phoenix17 from 'phoenix17';
import type { Channel, Socket, SocketOptions } from 'phoenix';
import { installFetchXhr } from './fetch-xhr.ts';
import { Inbox } from 'starling-channels/testing';

/** One version of the official client. */
export interface OfficialClient {
  readonly name: string;
  readonly Socket: typeof phoenix18.Socket;
  readonly Presence: typeof phoenix18.Presence;
  readonly LongPoll: typeof phoenix18.LongPoll;
  /** 1.7's LongPoll only speaks XMLHttpRequest, which Node lacks (1.8 falls back to fetch). */
  readonly longPollNeedsXhr: boolean;
}

/** phoenix.js 1.8.16, the main test client; also for behaviours only 1.8 has (auth token, 410 recovery). */
export const phoenix18Client: OfficialClient = {
  name: 'phoenix 1.8.16',
  Socket: phoenix18.Socket,
  Presence: phoenix18.Presence,
  LongPoll: phoenix18.LongPoll,
  longPollNeedsXhr: false,
};

/** phoenix.js 1.7.21, which must pass the basic flows. */
export const phoenix17Client: OfficialClient = {
  name: 'phoenix 1.7.21',
  Socket: phoenix17.Socket,
  Presence: phoenix17.Presence,
  LongPoll: phoenix17.LongPoll,
  longPollNeedsXhr: true,
};

/** Every client version the suite runs against. */
export const officialClients: readonly OfficialClient[] = [phoenix18Client, phoenix17Client];

/** Reconnect and rejoin delays short enough for tests (the defaults start at 10 ms and 1 s). */
export const FAST_RECOVERY = {
  reconnectAfterMs: () => 20,
  rejoinAfterMs: () => 50,
} as const satisfies SocketOptions;

/** Options of {@link ClientPool.socket}. */
export interface PoolSocketOptions extends Omit<SocketOptions, 'transport'> {
  /** Use the client's LongPoll transport instead of WebSocket. */
  readonly longPoll?: boolean;
  /**
   * The WebSocket's local address, e.g. `127.0.0.2`: another loopback address is, to the server,
   * another client IP (for per-IP limits). WebSocket only.
   */
  readonly localAddress?: string;
}

/** `ws`'s WebSocket bound to `localAddress`. */
function webSocketFrom(localAddress: string): SocketOptions['transport'] {
  return class extends WebSocket {
    constructor(address: string, protocols?: string | string[]) {
      super(address, protocols, { localAddress });
    }
  } as unknown as SocketOptions['transport'];
}

/** Sockets of one client version opened by a test; {@link close} disconnects them all. */
export class ClientPool {
  readonly #sockets: Socket[] = [];
  #uninstallXhr: (() => void) | null = null;

  readonly client: OfficialClient;
  constructor(client: OfficialClient) {
    this.client = client;
  }

  /**
   * Opens a socket to `endpoint` (the mount prefix, e.g. `ws://127.0.0.1:4000/socket`) and
   * starts connecting it.
   */
  socket(endpoint: string, options: PoolSocketOptions = {}): Socket {
    const { longPoll = false, localAddress, ...rest } = options;
    if (longPoll && this.client.longPollNeedsXhr && this.#uninstallXhr === null) this.#uninstallXhr = installFetchXhr();
    const socket = new this.client.Socket(endpoint, {
      ...FAST_RECOVERY,
      ...rest,
      transport: longPoll ? this.client.LongPoll : localAddress === undefined ? WebSocket : webSocketFrom(localAddress),
    });
    socket.connect();
    this.#sockets.push(socket);
    return socket;
  }

  /** Disconnects every socket of the pool (waiting for the client to finish) and undoes the XHR shim. */
  async close(): Promise<void> {
    const sockets = this.#sockets.splice(0);
    await Promise.all(sockets.map((socket) => new Promise<void>((resolve) => socket.disconnect(resolve))));
    this.#uninstallXhr?.();
    this.#uninstallXhr = null;
  }
}

/** How a join or push was answered: the reply's status and response, or `timeout`. */
export interface Outcome {
  readonly status: string;
  readonly response: unknown;
}

/**
 * Joins `channel` and resolves with the first answer to that join.
 * @param timeoutMs the client-side join timeout
 */
export function joinOutcome(channel: Channel, timeoutMs = 3000): Promise<Outcome> {
  return new Promise((resolve) => {
    channel
      .join(timeoutMs)
      .receive('ok', (response) => resolve({ status: 'ok', response }))
      .receive('error', (response) => resolve({ status: 'error', response }))
      .receive('timeout', () => resolve({ status: 'timeout', response: undefined }));
  });
}

/** Joins `channel`; rejects unless the join is answered ok. Resolves with the join's response. */
export async function joined(channel: Channel, timeoutMs = 3000): Promise<unknown> {
  const outcome = await joinOutcome(channel, timeoutMs);
  if (outcome.status !== 'ok') throw new Error(`join of ${channel.topic} answered ${outcome.status}: ${JSON.stringify(outcome.response)}`);
  return outcome.response;
}

/**
 * Pushes `event` and resolves with its reply.
 * @param statuses the reply statuses to listen for besides `ok` and `error` (phoenix.js matches any string)
 */
export function pushOutcome(channel: Channel, event: string, payload: object, statuses: readonly string[] = [], timeoutMs = 3000): Promise<Outcome> {
  return new Promise((resolve) => {
    const push = channel.push(event, payload, timeoutMs);
    for (const status of ['ok', 'error', ...statuses]) push.receive(status, (response) => resolve({ status, response }));
    push.receive('timeout', () => resolve({ status: 'timeout', response: undefined }));
  });
}

/** Leaves `channel` and resolves with the answer to the leave. */
export function leaveOutcome(channel: Channel, timeoutMs = 3000): Promise<Outcome> {
  return new Promise((resolve) => {
    channel
      .leave(timeoutMs)
      .receive('ok', (response) => resolve({ status: 'ok', response }))
      .receive('timeout', () => resolve({ status: 'timeout', response: undefined }));
  });
}

/** Resolves after a heartbeat round trip: every frame the server wrote to `socket` before has arrived. */
export function roundTrip(socket: Socket, timeoutMs = 3000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no heartbeat reply')), timeoutMs);
    const sent = socket.ping(() => {
      clearTimeout(timer);
      resolve();
    });
    if (!sent) {
      clearTimeout(timer);
      reject(new Error('socket not connected'));
    }
  });
}

// One inbox for every test client: the harness's (`starling-channels/testing`), re-exported here.
export { Inbox };

/** Collects the payloads of `event` on `channel`. */
export function inboxOf(channel: Channel, event: string): Inbox {
  const inbox = new Inbox();
  channel.on(event, inbox.add);
  return inbox;
}

export { freePort } from './free-port.ts';
