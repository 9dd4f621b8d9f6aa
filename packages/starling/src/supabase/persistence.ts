/**
 * @module supabase/persistence
 * Internal: the channel's side of broadcast persist and replay — what a join's
 * `config.broadcast.replay` and a broadcast's `persist` may ask, and the reason the client gets
 * when it cannot be served. The store behind them is supabase/broadcast-store's contract; who may
 * read or write the channel was decided before.
 */
import { isBinaryPayload } from '../protocol.ts';
import type { Logger } from '../logger.ts';
import { MAX_REPLAY, type BroadcastStore, type StoredBroadcast } from './broadcast-store.ts';

/** Why persist or replay cannot be served by a server without a store. */
export const NO_STORE = 'this server keeps no broadcasts: persist and replay need a database (DATABASE_URL) or history for realtime-persisted:*';

/** A join's replay and a broadcast's persist, over `store` (null: both refused, saying why). */
export interface Persistence {
  /**
   * The stored broadcasts the join's `replay` config asks for; null when it asks none, a reason
   * string when it cannot have them (the join is refused with it).
   */
  replayFor(name: string, isPrivate: boolean, readsBroadcast: boolean, replay: unknown): Promise<StoredBroadcast[] | string | null>;
  /**
   * Stores a broadcast whose `persist` is true or `{ttl: <seconds>}`; null once stored, else why not.
   */
  persist(name: string, isPrivate: boolean, event: string, payload: unknown, persist: unknown): Promise<string | null>;
}

function record(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

/** The persistence of the realtime channel over `store`. */
export function createPersistence(store: BroadcastStore | null, logger: Logger, unauthorizedRead: (name: string) => string): Persistence {
  return {
    async replayFor(name, isPrivate, readsBroadcast, replay) {
      if (replay === undefined) return null;
      const { since, limit } = record(replay);
      if (!isPrivate) return 'broadcast replay is only for private channels';
      if (!Number.isSafeInteger(since) || (limit !== undefined && !Number.isSafeInteger(limit))) {
        return 'broadcast.replay needs {since: <ms since the epoch>, limit?: <integer>}';
      }
      if (store === null) return NO_STORE;
      if (!readsBroadcast) return unauthorizedRead(name);
      try {
        const outcome = await store.replay(name, since as number, (limit as number | undefined) ?? MAX_REPLAY);
        return 'refused' in outcome ? outcome.refused : [...outcome.messages];
      } catch (err) {
        logger.warn({ err, topic: name }, 'realtime: stored broadcasts could not be read for a replay');
        return 'Realtime was unable to replay messages';
      }
    },

    async persist(name, isPrivate, event, payload, persist) {
      if (!isPrivate) return 'only broadcasts of private channels can be stored';
      if (store === null) return NO_STORE;
      if (isBinaryPayload(payload)) return 'binary broadcasts cannot be stored';
      const ttl = record(persist).ttl;
      try {
        await store.persist(name, event, payload, typeof ttl === 'number' && ttl > 0 ? ttl * 1000 : null);
        return null;
      } catch (err) {
        logger.warn({ err, topic: name }, 'realtime: a broadcast could not be stored');
        return 'the broadcast could not be stored';
      }
    },
  };
}
