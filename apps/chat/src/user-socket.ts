/**
 * The chat's socket: a valid user token (param `token`) identifies the user; no token makes a
 * guest (reads the lobby, cannot post); a tampered or expired token is refused (403). The peer's
 * IP address is kept for per-IP budgets. `rooms:*` topics go to the room channel.
 */
import { Socket, accept, refuse } from 'starling';
import type { Identity } from './identity.ts';
import type { Budgets } from './limits.ts';
import { createRoomChannel, type RoomAssigns } from './room-channel.ts';
import type { MessageStore } from './store/index.ts';

/** Creates the chat's socket definition. */
export function createUserSocket(identity: Identity, store: MessageStore, budgets: Budgets): Socket<RoomAssigns> {
  return new Socket<RoomAssigns>({
    connect(params, info) {
      const ip = info.peer.address;
      if (params.token === undefined) return accept({ userId: null, ip });
      const userId = identity.userOf(params.token);
      return userId === null ? refuse() : accept({ userId, ip });
    },
    id: (assigns) => (assigns.userId ? `users_socket:${assigns.userId}` : null),
  }).channel('rooms:*', createRoomChannel(store, budgets));
}
