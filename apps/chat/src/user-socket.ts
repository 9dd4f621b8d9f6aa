/**
 * The chat's socket: a valid user token (param `token`) identifies the user; no token makes a
 * guest (lobby only); a tampered or expired token is refused (403). `rooms:*` topics go to the
 * room channel.
 */
import { Socket, accept, refuse } from 'starling';
import type { Identity } from './identity.ts';
import { createRoomChannel, type RoomAssigns } from './room-channel.ts';
import type { MessageStore } from './store/index.ts';

/** Creates the chat's socket definition. */
export function createUserSocket(identity: Identity, store: MessageStore): Socket<RoomAssigns> {
  return new Socket<RoomAssigns>({
    connect(params) {
      if (params.token === undefined) return accept({ userId: null });
      const userId = identity.userOf(params.token);
      return userId === null ? refuse() : accept({ userId });
    },
    id: (assigns) => (assigns.userId ? `users_socket:${assigns.userId}` : null),
  }).channel('rooms:*', createRoomChannel(store));
}
