/**
 * The chat's socket: a valid user token (param `token`) identifies the user; no token makes a
 * guest (reads the lobby, cannot post); a tampered, expired or revoked token is refused (403). The
 * client's IP address (behind a trusted proxy, the one it forwards) is kept for per-IP budgets.
 * `rooms:*` topics go to the room channel.
 */
import { Socket, accept, refuse } from 'starling-channels';
import type { Identity } from './identity.ts';
import type { Budgets } from './limits.ts';
import { createRoomChannel, type RoomAssigns, type RoomChannelOptions } from './room-channel.ts';
import { StoreError, type MessageStore } from './store/index.ts';

/** Creates the chat's socket definition; `rooms` is what the room channel needs of the endpoint. */
export function createUserSocket(identity: Identity, store: MessageStore, budgets: Budgets, rooms: RoomChannelOptions): Socket<RoomAssigns> {
  return new Socket<RoomAssigns>({
    async connect(params, info) {
      // The client's, also behind a trusted proxy (TRUSTED_PROXIES): the key of every per-address budget.
      const ip = info.clientAddress;
      if (params.token === undefined) return accept({ userId: null, ip });
      try {
        const session = await identity.verify(params.token);
        return session === null ? refuse() : accept({ userId: session.userId, ip });
      } catch (err) {
        // Revocations unreadable (store outage): the client retries later.
        if (err instanceof StoreError) return refuse(503);
        throw err;
      }
    },
    id: (assigns) => (assigns.userId ? `users_socket:${assigns.userId}` : null),
  }).channel('rooms:*', createRoomChannel(store, budgets, rooms));
}
