/**
 * A Starling server for the conformance suites: one socket at `/socket` whose `test:*` channel does
 * whatever the client asks (reply, push, broadcast, stop, crash, track presence…), so that raw-frame
 * tests can drive every protocol path. `calls` records callbacks for assertions.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import {
  Endpoint,
  Socket,
  accept,
  error,
  noreply,
  ok,
  refuse,
  reply,
  stop,
  type Channel,
  type ConnectInfo,
  type EndpointOptions,
  type Params,
  type SocketMountOptions,
} from '../../src/index.ts';

/** A callback the fixture saw. */
export interface Call {
  readonly callback: string;
  readonly topic: string;
  readonly event?: string;
  readonly payload?: unknown;
  readonly reason?: unknown;
}

/** A running fixture server. */
export interface Fixture {
  readonly endpoint: Endpoint;
  readonly port: number;
  /** `ws://127.0.0.1:PORT/socket/websocket` */
  readonly wsUrl: string;
  /** `http://127.0.0.1:PORT/socket/longpoll` */
  readonly longPollUrl: string;
  /** Callbacks seen, in order. */
  readonly calls: Call[];
  /** Params and info every accepted `connect` received. */
  readonly connects: Array<{ params: Params; info: ConnectInfo }>;
  /**
   * Resolves once the server has handled its next request with `method` (on any path): the
   * endpoint's listener was registered first, so it has run. A long-poll GET of a session is held
   * within it, so after this a broadcast finds the poll waiting.
   */
  handled(method: 'GET' | 'POST'): Promise<void>;
  close(): Promise<void>;
}

function nextRequest(server: Server, method: string): Promise<void> {
  return new Promise((resolve) => {
    const listener = (req: { method?: string | undefined }): void => {
      if (req.method !== method) return;
      server.off('request', listener);
      resolve();
    };
    server.on('request', listener);
  });
}

/** The test channel's own slowness (a join or event that takes `ms`): what the server does meanwhile is under test. */
const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function field(payload: unknown, name: string): unknown {
  return typeof payload === 'object' && payload !== null ? (payload as Record<string, unknown>)[name] : undefined;
}

function makeTestChannel(calls: Call[]): Channel {
  return {
    async join(topic, payload, socket) {
      calls.push({ callback: 'join', topic, payload });
      if (field(payload, 'crash')) throw new Error('join crashed on purpose');
      const wait = field(payload, 'delayMs');
      if (typeof wait === 'number') await delay(wait);
      if (field(payload, 'refuse')) return error({ reason: 'unauthorized' });
      socket.assign({ dropIntercepted: field(payload, 'dropIntercepted') === true });
      const key = field(payload, 'track');
      if (typeof key === 'string') socket.sendInfo({ track: key });
      const only = field(payload, 'trackOnly');
      if (typeof only === 'string') socket.sendInfo({ trackOnly: only });
      const replyWith = field(payload, 'reply');
      const pubsubTopic = field(payload, 'pubsubTopic');
      return ok(replyWith ?? {}, { pubsubTopic: typeof pubsubTopic === 'string' ? pubsubTopic : undefined });
    },
    handleInfo(message, socket) {
      // Presence in one call: no presence_state pushed by the app.
      const only = field(message, 'trackOnly');
      if (typeof only === 'string') socket.track(only, { online_at: '1' });
      const key = field(message, 'track');
      if (typeof key === 'string') {
        socket.push('presence_state', socket.listPresence());
        socket.track(key, { online_at: '1' });
      }
      return noreply();
    },
    async handleIn(event, payload, socket) {
      calls.push({ callback: 'handleIn', topic: socket.topic, event, payload });
      switch (event) {
        case 'echo':
          return reply('ok', payload);
        case 'reply_ok':
          return reply('ok');
        case 'reply_error':
          return reply('error', { e: 1 });
        case 'reply_not_found':
          return reply('not_found', {});
        case 'noreply':
          return noreply();
        case 'push':
          socket.push(String(field(payload, 'event')), (field(payload, 'payload') ?? {}) as Record<string, unknown>);
          return noreply();
        case 'broadcast':
          socket.broadcast(String(field(payload, 'event')), (field(payload, 'payload') ?? {}) as Record<string, unknown>);
          return reply('ok');
        case 'broadcast_from':
          socket.broadcastFrom(String(field(payload, 'event')), (field(payload, 'payload') ?? {}) as Record<string, unknown>);
          return noreply();
        case 'async_reply': {
          const ref = socket.socketRef();
          setTimeout(() => ref.reply('ok', { later: true }), 50);
          return noreply();
        }
        case 'binary': {
          const bytes = field(payload, 'binary');
          return reply('ok', { binary: bytes instanceof Uint8Array ? bytes : new Uint8Array([1, 2, 3, 4]) });
        }
        case 'binary_push':
          socket.push('bin', { binary: new Uint8Array([1, 2]) });
          return noreply();
        case 'binary_broadcast':
          socket.broadcast('bin', { binary: new Uint8Array([0xff]) });
          return noreply();
        case 'stop_normal':
          return stop('normal');
        case 'stop_with_reply':
          return stop('shutdown', { status: 'ok', response: { bye: true } });
        case 'stop_abnormal':
          return stop('something went wrong');
        case 'crash':
          throw new Error('handleIn crashed on purpose');
        case 'slow':
          await delay(Number(field(payload, 'ms') ?? 100));
          return reply('ok', payload);
        case 'update_presence':
          socket.updatePresence(String(field(payload, 'key')), { status: 'away' });
          return reply('ok');
        default:
          return reply('error', { reason: 'unknown event' });
      }
    },
    intercept: ['intercepted'],
    handleOut(event, payload, socket) {
      calls.push({ callback: 'handleOut', topic: socket.topic, event, payload });
      if (socket.assigns.dropIntercepted === true) return noreply();
      socket.push(event, { ...(payload as Record<string, unknown>), by: socket.joinRef });
      return noreply();
    },
    terminate(reason, socket) {
      calls.push({ callback: 'terminate', topic: socket.topic, reason });
    },
  };
}

/**
 * The fixture's socket: `connect` accepts unless `refuse` is given (then refuses with `status`),
 * `user_id=X` makes the socket id `users_socket:X`, and `test:*` and `exact` route to the test
 * channel. Callbacks are recorded in `calls`, accepted connects in `connects`. Exported for
 * servers outside this process (the cluster suite's node script), so they behave as
 * {@link startFixture}'s.
 */
export function createFixtureSocket(calls: Call[], connects: Array<{ params: Params; info: ConnectInfo }>): Socket<Record<string, unknown>> {
  return new Socket<Record<string, unknown>>({
    connect(params, info) {
      if (params.refuse) return refuse(typeof params.status === 'string' ? Number(params.status) : 403);
      connects.push({ params, info });
      return accept({ userId: typeof params.user_id === 'string' ? params.user_id : null });
    },
    id: (assigns) => (typeof assigns.userId === 'string' ? `users_socket:${assigns.userId}` : null),
  })
    .channel('test:*', makeTestChannel(calls))
    .channel('exact', makeTestChannel(calls));
}

/** Starts a fixture server on a free loopback port. */
export async function startFixture(options: { socket?: SocketMountOptions; endpoint?: EndpointOptions; port?: number } = {}): Promise<Fixture> {
  const calls: Call[] = [];
  const connects: Fixture['connects'] = [];
  const socket = createFixtureSocket(calls, connects);
  const endpoint = new Endpoint({ logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }), ...options.endpoint });
  endpoint.socket('/socket', socket, options.socket);
  const server = await endpoint.listen({ port: options.port ?? 0, host: '127.0.0.1' });
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint,
    port,
    wsUrl: `ws://127.0.0.1:${port}/socket/websocket`,
    longPollUrl: `http://127.0.0.1:${port}/socket/longpoll`,
    calls,
    connects,
    handled: (method) => nextRequest(server, method),
    close: () => endpoint.close({ intervalMs: 0 }),
  };
}
