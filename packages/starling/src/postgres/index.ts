/**
 * @module starling-channels/postgres
 * Row changes from PostgreSQL, for any Starling app: a {@link PostgresChangeSource} reads a
 * publication's INSERTs, UPDATEs and DELETEs from a *persistent* logical replication slot
 * (pgoutput) and hands each committed transaction to your `handle`, in commit order. The slot's
 * position is confirmed only after `handle` returned, so a crash re-reads changes rather than
 * losing them; a consumer drops the re-read ones with a {@link ChangeCursor} (by commit LSN).
 * With several nodes, each starts a source: exactly one consumes the slot at a time (a
 * PostgreSQL advisory lock), and another takes over when it dies.
 *
 * Needs `pg` and `pg-logical-replication` (optional peer dependencies: install them to use this
 * subpath), `wal_level=logical`, and a role that may replicate. Tables join the stream with
 * `ALTER PUBLICATION <name> ADD TABLE …`; `REPLICA IDENTITY FULL` gives whole old rows.
 *
 * Map changes onto history topics (`new PubSub({history: {topics: ['tables:*']}})`) and every
 * change carries a stream position: a client of `starling-channels/client`'s `recoverableChannel`
 * gets the changes it missed during a disconnect (docs/recovery.md).
 *
 * Every change is visible to whoever receives it: authorize before you push rows to clients.
 *
 * @example
 * import { Endpoint } from 'starling-channels';
 * import { PostgresChangeSource, broadcastChanges } from 'starling-channels/postgres';
 *
 * const endpoint = new Endpoint();
 * const source = new PostgresChangeSource({
 *   connectionString: process.env.DATABASE_URL!,
 *   publication: 'app_changes',
 *   slot: 'app_changes',
 *   // each change to the channel of its table, e.g. "tables:public.todos", event "row_change"
 *   handle: broadcastChanges(endpoint.pubsub, (change) => `tables:${change.schema}.${change.table}`),
 * });
 * await source.start(); // throws ERR_CHANGE_SOURCE when wal_level is not logical
 */
import type { PubSub } from '../pubsub/pubsub.ts';
import type { RowChange } from './change-source.ts';

export { ChangeCursor } from './change-cursor.ts';
export {
  PostgresChangeSource,
  type PostgresChangeSourceOptions,
  type RowChange,
  type ChangeType,
  type ChangeColumn,
  type ChangeSourceStats,
} from './change-source.ts';
export type { JsonValue } from './values.ts';

/** The event {@link broadcastChanges} broadcasts each change under. */
export const ROW_CHANGE_EVENT = 'row_change';

/**
 * A `handle` for {@link PostgresChangeSource} that broadcasts every change, as a
 * {@link RowChange} payload with event {@link ROW_CHANGE_EVENT}, on the topic `topic` names
 * (one topic, or one per change). The broadcast is handed to the PubSub before the slot moves on.
 */
export function broadcastChanges(pubsub: PubSub, topic: string | ((change: RowChange) => string)): (changes: readonly RowChange[]) => void {
  return (changes) => {
    for (const change of changes) {
      pubsub.broadcast(typeof topic === 'string' ? topic : topic(change), ROW_CHANGE_EVENT, change);
    }
  };
}
