/**
 * The chat's channels in-process, on `starling/testing`: the real socket definition and room
 * channel over a real SQLite store in a temporary folder, with budgets no test meets by accident
 * (tests of a budget pass their own). No server, no port. {@link useChatChannels} registers the
 * cleanup; {@link ChatChannels.connect} connects as a new user (or a guest).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { TokenSigner } from 'starling';
import { ChannelTest, type TestChannel, type TestSocket } from 'starling/testing';
import { afterEach, expect } from 'vitest';
import { Identity, markOf } from '../../src/identity.ts';
import { Budgets, DEFAULT_LIMITS } from '../../src/limits.ts';
import type { WireMessage } from '../../src/room-channel.ts';
import { SqliteMessageStore, type MessageStore } from '../../src/store/index.ts';
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
  readonly store: MessageStore;
  /** Connects as a new user (a fresh session token), or as a guest with `null`. */
  connect(userId?: string | null): Promise<HarnessUser>;
}

/** Registers an `afterEach` that closes every harness, store and folder made through the result. */
export function useChatChannels(): () => ChatChannels {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  let users = 0;
  return () => {
    const dir = mkdtempSync(join(tmpdir(), 'starling-chat-'));
    const store = SqliteMessageStore.open(join(dir, 'chat.sqlite3'));
    const identity = new Identity(new TokenSigner('s'.repeat(64)), { userTokenMaxAge: 3600, inviteMaxAge: 3600, sessionMaxAge: 7200 }, store);
    const budgets = new Budgets({ ...DEFAULT_LIMITS, ...UNLIMITED }, new Registry());
    const test = new ChannelTest(createUserSocket(identity, store, budgets));
    cleanups.push(
      () => rmSync(dir, { recursive: true, force: true }),
      () => store.close(),
      () => test.close(),
    );
    return {
      test,
      store,
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
