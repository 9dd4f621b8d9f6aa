/**
 * The chat's socket: a valid user token identifies the user; no token makes a guest (reads the
 * lobby, cannot post); a tampered, expired or revoked token is refused (403). The page sends its
 * token as phoenix.js's `authToken`, hex-encoded (out of the URL: see `web/app.ts`); native
 * clients may still pass it as the `token` param. The client's IP address (behind a trusted proxy,
 * the one it forwards) is kept for per-IP budgets. `rooms:*` topics go to the room channel.
 */
import { Socket, accept, refuse } from 'starling-channels';
import type { Identity } from './identity.ts';
import type { Budgets } from './limits.ts';
import { createRoomChannel, type RoomAssigns, type RoomChannelOptions } from './room-channel.ts';
import { StoreError, type ChatStore } from './store/index.ts';

/**
 * The token in a hex `authToken`; undefined when there is none. Anything else than hex is passed
 * on as it is, to be refused by the token check.
 */
function fromHex(authToken: string | undefined): string | undefined {
  if (authToken === undefined || authToken === '') return undefined;
  if (!/^(?:[0-9a-f]{2})+$/.test(authToken)) return authToken;
  return Buffer.from(authToken, 'hex').toString('latin1');
}

/** Creates the chat's socket definition; `rooms` is what the room channel needs of the endpoint. */
export function createUserSocket(identity: Identity, store: ChatStore, budgets: Budgets, rooms: RoomChannelOptions): Socket<RoomAssigns> {
  return new Socket<RoomAssigns>({
    async connect(params, info) {
      // The client's, also behind a trusted proxy (TRUSTED_PROXIES): the key of every per-address budget.
      const ip = info.clientAddress;
      const token = params.token ?? fromHex(info.authToken);
      if (token === undefined) return accept({ userId: null, ip });
      try {
        const session = await identity.verify(token);
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
