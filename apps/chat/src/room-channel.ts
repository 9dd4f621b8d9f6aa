/**
 * The chat's room channel. `rooms:lobby` is open to everyone; `rooms:<id>` is a private room that
 * only its members may join (membership is checked in the store), anyone else gets
 * `{reason: "unauthorized"}`. The join reply carries the room's last 50 messages (oldest first).
 *
 * Events: `new_msg {body}` stores the message, then broadcasts `new_msg {id, body, author,
 * inserted_at}` to everyone on the topic, sender included (no reply: the broadcast is the
 * acknowledgement); `history {before}` replies with the page before that id; `ping` replies with
 * its payload. Join params `{user: NAME}` track presence under NAME and announce `user_joined`,
 * which is intercepted so that sockets that joined with `{ignore: NAME}` do not hear about NAME.
 */
import { error, noreply, ok, reply, type Channel, type ChannelSocket, type HandleInResult } from 'starling';
import { StoreError, type MessageStore, type StoredMessage } from './store/index.ts';

/** Per-channel state of a room. */
export interface RoomAssigns extends Record<string, unknown> {
  /** The user id from the socket's token, or null for a guest. */
  userId: string | null;
  /** Display name from the join params. */
  user?: string | null;
  /** A name whose `user_joined` this socket does not want. */
  ignore?: string | null;
}

const LOBBY = 'lobby';
const AFTER_JOIN = 'after_join';
const MAX_BODY = 2000;
const MAX_NAME = 32;

function field(value: unknown, name: string): unknown {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[name] : undefined;
}

/** A trimmed string of 1..max characters (code points), or null. */
function text(value: unknown, max: number): string | null {
  if (typeof value !== 'string') return null;
  const trimmed = value.trim();
  const length = [...trimmed].length;
  return length >= 1 && length <= max ? trimmed : null;
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

/** Creates the room channel over `store`. */
export function createRoomChannel(store: MessageStore): Channel<RoomAssigns> {
  async function page(room: string, before?: number): Promise<{ messages: Record<string, unknown>[]; more: boolean }> {
    const limit = 50;
    const messages = await store.history(room, before === undefined ? { limit } : { before, limit });
    return { messages: messages.map(wire), more: messages.length === limit };
  }

  return {
    async join(topic, params, socket: ChannelSocket<RoomAssigns>) {
      const room = topic.slice('rooms:'.length);
      const requestedName = field(params, 'user');
      const user = requestedName === undefined ? null : text(requestedName, MAX_NAME);
      if (requestedName !== undefined && user === null) return error({ reason: 'invalid name' });
      try {
        if (room !== LOBBY) {
          const userId = socket.assigns.userId;
          if (!userId || !(await store.isMember(room, userId))) return error({ reason: 'unauthorized' });
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
      const user = socket.assigns.user;
      if (user) {
        socket.track(user, { online_at: String(Date.now()) });
        socket.broadcast('user_joined', { user });
      }
      return noreply();
    },

    async handleIn(event, payload, socket) {
      const room = socket.topic.slice('rooms:'.length);
      switch (event) {
        case 'new_msg': {
          const body = text(field(payload, 'body'), MAX_BODY);
          if (body === null) return reply('error', { reason: 'invalid message' });
          try {
            // Stored before it is broadcast: whatever a client has seen survives a restart.
            const stored = await store.append(room, socket.assigns.user ?? 'guest', body);
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
