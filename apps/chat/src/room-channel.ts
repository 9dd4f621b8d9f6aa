/**
 * The chat's room channel. `rooms:lobby` is open to everyone; `rooms:<id>` is a private room that
 * only its members may join (membership is checked in the store), anyone else gets
 * `{reason: "unauthorized"}`. The join reply carries the room's last messages (oldest first, at
 * most 50 and at most `historyPageBytes` of JSON).
 *
 * Who is who comes from the socket's verified token (`socket.assigns.userId`), never from the
 * client: a user joins with `{name: NAME}`, which becomes their profile's name (kept in the store;
 * a join without a name uses the profile's), and is shown, in presence, announcements and the
 * messages they store, as `NAME#mark` (see `identity.ts`). Guests (no token) may read the lobby
 * but not post: `new_msg` from a guest is answered `{reason: "sign in to post"}`.
 *
 * Events: `new_msg {body}` stores the message, then broadcasts `new_msg {id, body, author,
 * inserted_at}` to everyone on the topic, sender included (no reply: the broadcast is the
 * acknowledgement); `history {before}` replies with the page before that id; `ping` replies with
 * its payload. A user's join tracks presence under their user id (meta `{name}`) and announces
 * `user_joined {user: NAME#mark}` at most once a minute per room; it is intercepted so that sockets
 * that joined with `{ignore: NAME#mark}` do not hear about that user. Budgets (messages, joins) are
 * answered `{reason: "slow down"}`.
 */
import { error, noreply, ok, reply, type Channel, type ChannelSocket, type HandleInResult } from 'starling';
import { displayName } from './identity.ts';
import type { Budgets } from './limits.ts';
import { StoreError, type MessageStore, type StoredMessage } from './store/index.ts';
import { messageBody, nameText } from './text.ts';

/** Per-channel state of a room. */
export interface RoomAssigns extends Record<string, unknown> {
  /** The user id from the socket's token, or null for a guest. */
  userId: string | null;
  /** The connection's IP address, for per-IP budgets. */
  ip: string;
  /** How this user is shown (`name#mark`), or null for a guest. */
  user?: string | null;
  /** A display name whose `user_joined` this socket does not want. */
  ignore?: string | null;
}

const LOBBY = 'lobby';
const AFTER_JOIN = 'after_join';
const MAX_BODY = 2000;
const MAX_NAME = 32;
const PAGE_MESSAGES = 50;
const SLOW_DOWN = { reason: 'slow down' } as const;

function field(value: unknown, name: string): unknown {
  // Own properties only: a payload key such as "__proto__" must not reach Object.prototype.
  return typeof value === 'object' && value !== null && Object.hasOwn(value, name) ? (value as Record<string, unknown>)[name] : undefined;
}

/** The wire form of a stored message. */
function wire(message: StoredMessage): Record<string, unknown> {
  return { id: message.id, body: message.body, author: message.author, inserted_at: message.insertedAt };
}

function storeFailure(err: unknown): HandleInResult {
  // A store outage is an error reply, never a channel crash: the client may retry.
  if (err instanceof StoreError) return reply('error', { reason: 'unavailable' });
  throw err;
}

/** Creates the room channel over `store`, spending from `budgets`. */
export function createRoomChannel(store: MessageStore, budgets: Budgets): Channel<RoomAssigns> {
  /** The newest messages before `before` that fit the page's byte cap (always at least one). */
  async function page(room: string, before?: number): Promise<{ messages: Record<string, unknown>[]; more: boolean }> {
    const stored = await store.history(room, before === undefined ? { limit: PAGE_MESSAGES } : { before, limit: PAGE_MESSAGES });
    const messages: Record<string, unknown>[] = [];
    let bytes = 0;
    for (let i = stored.length - 1; i >= 0; i--) {
      const message = wire(stored[i]!);
      bytes += Buffer.byteLength(JSON.stringify(message));
      if (messages.length > 0 && bytes > budgets.limits.historyPageBytes) break;
      messages.unshift(message);
    }
    return { messages, more: messages.length < stored.length || stored.length === PAGE_MESSAGES };
  }

  return {
    async join(topic, params, socket: ChannelSocket<RoomAssigns>) {
      const room = topic.slice('rooms:'.length);
      const { userId, ip } = socket.assigns;
      // `user` is the name param of pages from before `name`; either way it is only a chosen name.
      const requested = field(params, 'name') ?? field(params, 'user');
      const name = requested === undefined ? null : nameText(requested, MAX_NAME);
      if (requested !== undefined && name === null) return error({ reason: 'invalid name' });
      if (budgets.take('join', ip, userId) !== null) return error(SLOW_DOWN);
      try {
        if (room !== LOBBY && (!userId || !(await store.isMember(room, userId)))) return error({ reason: 'unauthorized' });
        // The name is the user's server-side profile: a join that names one updates it.
        let user: string | null = null;
        if (userId !== null) {
          if (name !== null) await store.setProfileName(userId, name);
          user = displayName(name ?? (await store.profileName(userId)) ?? 'anonymous', userId);
        }
        const history = await page(room);
        const ignore = field(params, 'ignore');
        socket.assign({ user, ignore: typeof ignore === 'string' ? ignore : null });
        socket.sendInfo(AFTER_JOIN);
        return ok(history);
      } catch (err) {
        if (err instanceof StoreError) return error({ reason: 'unavailable' });
        throw err;
      }
    },

    handleInfo(message, socket) {
      if (message !== AFTER_JOIN) return noreply();
      // State first, then our own join arrives as a diff; the client de-duplicates by phx_ref.
      socket.push('presence_state', socket.listPresence());
      const { userId, user } = socket.assigns;
      if (userId && user) {
        socket.track(userId, { name: user, online_at: String(Date.now()) });
        // A re-join is tracked (the page needs it) but announced at most once per window.
        if (budgets.announce(socket.topic, userId)) socket.broadcast('user_joined', { user });
      }
      return noreply();
    },

    async handleIn(event, payload, socket) {
      const room = socket.topic.slice('rooms:'.length);
      switch (event) {
        case 'new_msg': {
          const { userId, user, ip } = socket.assigns;
          if (userId === null || !user) return reply('error', { reason: 'sign in to post' });
          const body = messageBody(field(payload, 'body'), MAX_BODY);
          if (body === null) return reply('error', { reason: 'invalid message' });
          if (budgets.take('message', ip, userId) !== null) return reply('error', SLOW_DOWN);
          try {
            // Stored before it is broadcast: whatever a client has seen survives a restart.
            const stored = await store.append(room, user, body);
            socket.broadcast('new_msg', wire(stored));
            return noreply();
          } catch (err) {
            return storeFailure(err);
          }
        }
        case 'history': {
          const before = field(payload, 'before');
          if (before !== undefined && (typeof before !== 'number' || !Number.isInteger(before))) {
            return reply('error', { reason: 'invalid history request' });
          }
          try {
            return reply('ok', await page(room, before));
          } catch (err) {
            return storeFailure(err);
          }
        }
        case 'ping':
          return reply('ok', payload);
        default:
          return reply('error', { reason: 'unknown event' });
      }
    },

    intercept: ['user_joined'],

    handleOut(event, payload, socket) {
      if (field(payload, 'user') === socket.assigns.ignore) return noreply();
      socket.push(event, payload as Record<string, unknown>);
      return noreply();
    },
  };
}
