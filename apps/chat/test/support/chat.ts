/**
 * The chat example (`examples/chat/app.ts`) run in-process for integration and end-to-end tests.
 * {@link useChats} registers an `afterEach` that closes every chat, client socket and temporary
 * data directory a test made, so each test starts from an empty store on a free port.
 *
 * @example
 * const chats = useChats();
 * it('…', async () => {
 *   const chat = await chats.start();
 *   const alice = await chat.newUser();
 *   const room = chats.socket(chat, { token: alice.token }).channel('rooms:lobby', { user: 'alice' });
 * });
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Channel, Socket } from 'phoenix';
import { pino } from 'pino';
import { afterEach } from 'vitest';
import { startChat, type Chat, type ChatOptions } from '../../src/app.ts';
import type { ChatLimits } from '../../src/limits.ts';
import { ClientPool, Inbox, phoenix18Client } from '@starling/test-support/official-client';

/** A user as `POST /api/identity` returns it. */
export interface ChatUser {
  readonly userId: string;
  readonly token: string;
  /** The mark shown after this user's name (`name#mark`). */
  readonly mark: string;
}

/** A JSON API answer: the status and the parsed body. */
export interface ApiResponse<T = Record<string, unknown>> {
  readonly status: number;
  readonly body: T;
}

/** Options of {@link ChatApi.call}. */
export interface ApiCall {
  /** Sent as `Authorization: Bearer <token>`. */
  readonly token?: string;
  /** Sent as JSON. */
  readonly body?: unknown;
}

/** The chat's JSON API at `baseUrl` (`http://host:port`). */
export class ChatApi {
  readonly baseUrl: string;
  constructor(baseUrl: string) {
    this.baseUrl = baseUrl;
  }

  async call<T = Record<string, unknown>>(method: string, path: string, options: ApiCall = {}): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
    const response = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
    return { status: response.status, body: (await response.json()) as T };
  }

  /** `POST /api/identity` without a token: a brand-new user. */
  async newUser(): Promise<ChatUser> {
    const { status, body } = await this.call<ChatUser>('POST', '/api/identity', { body: {} });
    if (status !== 200) throw new Error(`POST /api/identity answered ${status}`);
    return body;
  }

  /** `POST /api/rooms` as `owner`; throws unless the room is created. */
  async createRoom(owner: ChatUser, name: string): Promise<{ room: { id: string; name: string }; invite: string; inviteId: string }> {
    const { status, body } = await this.call<{ room: { id: string; name: string }; invite: string; inviteId: string }>('POST', '/api/rooms', {
      token: owner.token,
      body: { name },
    });
    if (status !== 201) throw new Error(`POST /api/rooms answered ${status}: ${JSON.stringify(body)}`);
    return body;
  }
}

/** A chat started by {@link useChats}. */
export interface TestChat extends ChatApi {
  readonly chat: Chat;
  readonly dataDir: string;
  /** The socket mount for the official client: `ws://127.0.0.1:PORT/socket`. */
  readonly socketUrl: string;
  /** Closes the chat (idempotent); its data directory stays until the test ends. */
  close(): Promise<void>;
}

const PLENTY = { count: 1_000_000, seconds: 1 };

/**
 * Budgets no test meets by accident: every test client shares 127.0.0.1. Tests of a budget pass
 * that budget in `limits`; the defaults themselves are tested as defaults in budgets.test.ts.
 */
export const UNLIMITED: Partial<ChatLimits> = {
  messagesPerUser: PLENTY,
  messagesPerIp: PLENTY,
  roomsPerUser: PLENTY,
  roomsPerIp: PLENTY,
  invitesPerUser: PLENTY,
  invitesPerIp: PLENTY,
  identitiesPerIp: PLENTY,
  joinsPerUser: PLENTY,
  joinsPerIp: PLENTY,
  announcementsPerUser: PLENTY,
  historyPerUser: PLENTY,
  historyPerIp: PLENTY,
  historyPerGuestIp: PLENTY,
  editsPerUser: PLENTY,
  editsPerIp: PLENTY,
  typingPerUser: PLENTY,
  typingPerIp: PLENTY,
  readsPerUser: PLENTY,
  readsPerIp: PLENTY,
};

/** Per-test chats, client sockets and data directories; see the module doc. */
export interface ChatTestKit {
  /** A fresh temporary directory, removed after the test. */
  tempDir(): string;
  /** Starts a chat on a free port (unless `port` is given) with a silent logger and, by default, a fresh `dataDir`. */
  start(options?: ChatOptions): Promise<TestChat>;
  /** Opens an official-client (phoenix 1.8.16) WebSocket to `chat`, with `params` as connect params. */
  socket(chat: { readonly socketUrl: string }, params?: Record<string, unknown>): Socket;
  /** A new user of `chat` and a socket connected with their token: someone who may post. */
  userSocket(chat: TestChat): Promise<{ user: ChatUser; socket: Socket }>;
}

/** Registers the cleanup and returns the kit; call it once at the top of a test file or `describe`. */
export function useChats(): ChatTestKit {
  const chats: TestChat[] = [];
  const dirs: string[] = [];
  let pool = new ClientPool(phoenix18Client);

  afterEach(async () => {
    const used = pool;
    pool = new ClientPool(phoenix18Client);
    await used.close();
    await Promise.all(chats.splice(0).map((chat) => chat.close()));
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  function tempDir(): string {
    const dir = mkdtempSync(join(tmpdir(), 'starling-chat-'));
    dirs.push(dir);
    return dir;
  }

  return {
    tempDir,
    async start(options = {}) {
      const dataDir = options.dataDir ?? tempDir();
      const chat = await startChat({ port: 0, logger: pino({ level: 'silent' }), ...options, limits: { ...UNLIMITED, ...options.limits }, dataDir });
      let closing: Promise<void> | undefined;
      const api = new ChatApi(`http://127.0.0.1:${chat.port}`);
      const testChat: TestChat = Object.assign(api, {
        chat,
        dataDir,
        socketUrl: `ws://127.0.0.1:${chat.port}/socket`,
        close: () => (closing ??= chat.close()),
      });
      chats.push(testChat);
      return testChat;
    },
    socket(chat, params = {}) {
      return pool.socket(chat.socketUrl, { params });
    },
    async userSocket(chat) {
      const user = await chat.newUser();
      return { user, socket: pool.socket(chat.socketUrl, { params: { token: user.token } }) };
    },
  };
}

/** A message as the room channel sends it (`new_msg` broadcasts, join and history replies). */
export interface WireMessage {
  readonly id: number;
  readonly body: string;
  readonly author: string;
  readonly inserted_at: string;
}

/** A page of history: the join reply and the `history` reply. */
export interface HistoryPage {
  readonly messages: WireMessage[];
  readonly more: boolean;
}

/**
 * Pushes each body as `new_msg` on `channel`, one after the other, and resolves with the
 * broadcasts that came back (the sender hears its own), in order.
 */
export async function sendAll(channel: Channel, bodies: readonly string[]): Promise<WireMessage[]> {
  const heard = new Inbox<WireMessage>();
  const ref = channel.on('new_msg', heard.add);
  try {
    const sent: WireMessage[] = [];
    for (const body of bodies) {
      channel.push('new_msg', { body });
      sent.push(await heard.next((message) => message.body === body));
    }
    return sent;
  } finally {
    channel.off('new_msg', ref);
  }
}

/**
 * `token` (a Phoenix.Token, `SFMyNTY.<payload>.<signature>`) with the first character of its
 * signature changed. Not the last one: in base64url its low bits are padding that a decoder may
 * ignore, which would leave the signature intact.
 */
export function tampered(token: string): string {
  const dot = token.lastIndexOf('.');
  const first = token[dot + 1] === 'A' ? 'B' : 'A';
  return `${token.slice(0, dot + 1)}${first}${token.slice(dot + 2)}`;
}
