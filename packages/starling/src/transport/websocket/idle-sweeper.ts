/**
 * @module transport/websocket/idle-sweeper
 * Internal: closes WebSocket connections that sent nothing for `timeoutMs` (code 1002). One timer
 * sweeps every socket of a transport, instead of a timer per socket refreshed on every frame, and
 * activity is read from the TCP socket's `bytesRead` — any inbound frame, pings included, moves it —
 * so nothing is recorded per message. It keeps no set of its own: it sweeps the connections its
 * owner already tracks (the endpoint's live connections), each set entry costing ~30 bytes per
 * socket at 10,000 sockets.
 */
import { CloseCodes } from '../../protocol.ts';
import type { Clock, ClockTimer } from '../../clock.ts';
import { realClock } from '../../runtime/clock.ts';

/** Sweeps per timeout: a connection is closed between 1 and 1.125 × `timeoutMs` after its last byte. */
const SWEEPS_PER_TIMEOUT = 8;

/**
 * A connection the sweeper watches. The two `idle*` fields are the sweeper's bookkeeping, kept on
 * the connection (small integers, no object per connection) rather than in a side table.
 */
export interface IdleWatched {
  /** Bytes read from the peer so far. */
  bytesRead(): number;
  /** Closes the connection with `code`. */
  close(code: number, reason: string): void;
  /** `bytesRead()` at the last sweep that saw it change. */
  idleBytes: number;
  /** The last sweep before the latest activity seen (a byte read, or being added); -1 while not watched. */
  idleSweep: number;
}

/** Closes the connections it watches once they have been idle for `timeoutMs`. */
export class IdleSweeper<T extends IdleWatched> {
  #watched = 0;
  #timer: ClockTimer | null = null;
  #sweeps = 0;

  private readonly timeoutMs: number;
  private readonly clock: Clock;
  private readonly candidates: () => Iterable<unknown>;
  private readonly watches: (candidate: unknown) => candidate is T;
  /**
   * @param candidates every connection the sweeper may watch and others besides: it looks only at
   *   those `watches` accepts and that were added; each added one must be among them until deleted
   * @param clock the endpoint's clock (`starling-channels/testing` runs the sweeper on its manual clock)
   */
  constructor(timeoutMs: number, candidates: () => Iterable<unknown>, watches: (candidate: unknown) => candidate is T, clock: Clock = realClock) {
    this.timeoutMs = timeoutMs;
    this.candidates = candidates;
    this.watches = watches;
    this.clock = clock;
  }

  /** Starts watching `connection` (one of the candidates). */
  add(connection: T): void {
    if (connection.idleSweep >= 0) return;
    connection.idleBytes = connection.bytesRead();
    connection.idleSweep = this.#sweeps;
    this.#watched++;
    if (this.#timer === null) this.#schedule();
  }

  /** Stops watching `connection`; idempotent. */
  delete(connection: T): void {
    if (connection.idleSweep < 0) return;
    connection.idleSweep = -1;
    this.#watched--;
    if (this.#watched === 0 && this.#timer !== null) {
      this.clock.clearTimeout(this.#timer);
      this.#timer = null;
    }
  }

  /** One timer for the next sweep (re-armed after each sweep while anything is watched). */
  #schedule(): void {
    this.#timer = this.clock.setTimeout(
      () => {
        this.#timer = null;
        this.#sweep();
        if (this.#watched > 0 && this.#timer === null) this.#schedule();
      },
      Math.max(1, Math.floor(this.timeoutMs / SWEEPS_PER_TIMEOUT)),
    );
    this.#timer.unref?.();
  }

  #sweep(): void {
    const sweep = ++this.#sweeps;
    for (const connection of this.candidates()) {
      if (!this.watches(connection) || connection.idleSweep < 0) continue;
      const bytes = connection.bytesRead();
      if (bytes !== connection.idleBytes) {
        // The bytes arrived after the previous sweep.
        connection.idleBytes = bytes;
        connection.idleSweep = sweep - 1;
      } else if (sweep - connection.idleSweep > SWEEPS_PER_TIMEOUT) {
        this.delete(connection);
        connection.close(CloseCodes.idleTimeout, 'idle timeout');
      }
    }
  }
}
