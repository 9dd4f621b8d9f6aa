/**
 * A one-channel endpoint for conformance tests that need a channel behaviour the shared fixture
 * does not offer (e.g. a `join` that pushes). The socket is mounted at `/socket`; every topic
 * routes to `channel`.
 */
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import {
  Endpoint,
  Socket,
  type Channel,
  type ChannelEvents,
  type UntypedEvents,
  type EndpointOptions,
  type SocketMountOptions,
  type SocketOptions,
} from '../../src/index.ts';

/** A running custom endpoint. */
export interface CustomEndpoint {
  readonly endpoint: Endpoint;
  /** `ws://127.0.0.1:PORT/socket/websocket` */
  readonly wsUrl: string;
  close(): Promise<void>;
}

/** Starts an endpoint whose socket routes every topic (`*`) to `channel`. */
export async function startCustomEndpoint<E extends ChannelEvents = UntypedEvents>(
  channel: Channel<Record<string, unknown>, E>,
  options: { socket?: SocketOptions<Record<string, unknown>>; mount?: SocketMountOptions; endpoint?: EndpointOptions } = {},
): Promise<CustomEndpoint> {
  const endpoint = new Endpoint({ logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }), ...options.endpoint });
  endpoint.socket('/socket', new Socket(options.socket).channel('*', channel), options.mount);
  const server = await endpoint.listen({ port: 0, host: '127.0.0.1' });
  const { port } = server.address() as AddressInfo;
  return { endpoint, wsUrl: `ws://127.0.0.1:${port}/socket/websocket`, close: () => endpoint.close({ intervalMs: 0 }) };
}
