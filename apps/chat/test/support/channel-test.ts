/**
 * The chat's channels in-process, on `starling-channels/testing`: the real socket definition and room
 * channel over a real SQLite store in a temporary folder, on an endpoint whose rooms keep history
 * as the chat's do (`roomHistory`, default bounds unless a test passes its own), with budgets no
 * test meets by accident (tests of a budget pass their own). No server, no port.
 * {@link useChatChannels} registers the cleanup; {@link ChatChannels.connect} connects as a new
 * user (or a guest).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { Endpoint, silentLogger, TokenSigner } from 'starling-channels';
import { ChannelTest, type TestChannel, type TestSocket } from 'starling-channels/testing';
import { afterEach, expect } from 'vitest';
import { Identity, markOf } from '../../src/identity.ts';
import { Budgets, DEFAULT_LIMITS, type ChatLimits } from '../../src/limits.ts';
import { roomHistory, type WireMessage } from '../../src/room-channel.ts';
import { SqliteChatStore, type ChatStore } from '../../src/store/index.ts';
import { createUserSocket } from '../../src/user-socket.ts';
import { UNLIMITED } from './chat.ts';

/** A user of the harness: their id, the mark shown after their name, and a connected client. */
export interface HarnessUser {
  readonly userId: string;
  readonly mark: string;
  readonly client: TestSocket;
}

/** The chat's socket definition on a harness, with its store. */
export interface ChatChannels {
  readonly test: ChannelTest;
  readonly store: ChatStore;
  /** The endpoint's metrics registry as the chat's `/metrics` would show it (`chat_*` series). */
  readonly registry: Registry;
  /** Connects as a new user (a fresh session token), or as a guest with `null`. */
  connect(userId?: string | null): Promise<HarnessUser>;
}

/** Options of a harness. */
export interface ChatChannelsOptions {
  /** Limits on top of the unlimited budgets (e.g. small replay bounds). */
  readonly limits?: Partial<ChatLimits>;
  /** Rooms keep history (the chat's configuration); `false` for an endpoint without any. Default true. */
  readonly history?: boolean;
}

/** Registers an `afterEach` that closes every harness, store and folder made through the result. */
export function useChatChannels(): (options?: ChatChannelsOptions) => ChatChannels {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  let users = 0;
  return (options = {}) => {
    const dir = mkdtempSync(join(tmpdir(), 'starling-chat-'));
    const store = SqliteChatStore.open(join(dir, 'chat.sqlite3'));
    const identity = new Identity(new TokenSigner('s'.repeat(64)), { userTokenMaxAge: 3600, inviteMaxAge: 3600, sessionMaxAge: 7200 }, store.users);
    const limits: ChatLimits = { ...DEFAULT_LIMITS, ...UNLIMITED, ...options.limits };
    const registry = new Registry();
    const budgets = new Budgets(limits, registry);
    const endpoint = new Endpoint({ logger: silentLogger, history: options.history === false ? undefined : roomHistory(limits) });
    endpoint.socket('/socket', createUserSocket(identity, store, budgets, { pubsub: endpoint.pubsub, registry }), { websocket: false, longpoll: false });
    const test = new ChannelTest(endpoint);
    cleanups.push(
      () => rmSync(dir, { recursive: true, force: true }),
      () => store.close(),
      () => endpoint.close(),
      () => test.close(),
    );
    return {
      test,
      store,
      registry,
      async connect(userId = `user-${++users}`) {
        const client = await test.connect(userId === null ? {} : { token: identity.newSession(userId).token });
        return { userId: userId ?? '', mark: userId === null ? '' : markOf(userId), client };
      },
    };
  };
}

/** Joins `topic` and expects the join to be accepted; resolves with the channel and the join reply. */
export async function joined<R>(client: TestSocket, topic: string, params: Record<string, unknown> = {}): Promise<{ channel: TestChannel; reply: R }> {
  const { status, response, channel } = await client.join(topic, params);
  expect({ status, response }).toMatchObject({ status: 'ok' });
  return { channel, reply: response as R };
}

/** Sends each body as `new_msg` and waits for its broadcast; resolves with the broadcasts. */
export async function sendAll(channel: TestChannel, bodies: readonly string[]): Promise<WireMessage[]> {
  const sent: WireMessage[] = [];
  for (const body of bodies) {
    channel.push('new_msg', { body });
    sent.push((await channel.assertBroadcast('new_msg', (payload) => (payload as WireMessage).body === body)) as WireMessage);
  }
  return sent;
}
