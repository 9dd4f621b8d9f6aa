import { afterEach, describe, expect, it, vi } from 'vitest';
import { IdleSweeper, type IdleWatched } from '../../../src/transport/websocket/idle-sweeper.ts';

/** A watched connection whose inbound byte count the test moves by hand. */
function watched(): IdleWatched & { bytes: number; closedWith: number | null } {
  return {
    bytes: 0,
    closedWith: null,
    idleBytes: 0,
    idleSweep: -1,
    bytesRead() {
      return this.bytes;
    },
    close(code) {
      this.closedWith = code;
    },
  };
}

/** A sweeper over `candidates`, as the WebSocket transport's sweeps the endpoint's live connections. */
function sweeperOf(timeoutMs: number, candidates: ReadonlySet<IdleWatched>): IdleSweeper<IdleWatched> {
  return new IdleSweeper(
    timeoutMs,
    () => candidates,
    (c): c is IdleWatched => candidates.has(c as IdleWatched),
  );
}

describe('IdleSweeper', () => {
  afterEach(() => void vi.useRealTimers());

  it('closes a connection that read nothing with 1002 between 1 and 1.125 × the timeout', () => {
    vi.useFakeTimers();
    const quiet = watched();
    const sweeper = sweeperOf(800, new Set([quiet]));
    sweeper.add(quiet);
    vi.advanceTimersByTime(799);
    expect(quiet.closedWith).toBeNull();
    vi.advanceTimersByTime(101); // 900 ms = 1.125 × 800
    expect(quiet.closedWith).toBe(1002);
  });

  it('counts any byte read as activity, and closes once the bytes stop', () => {
    vi.useFakeTimers();
    const busy = watched();
    const sweeper = sweeperOf(800, new Set([busy]));
    sweeper.add(busy);
    for (let i = 0; i < 20; i++) {
      busy.bytes += 6;
      vi.advanceTimersByTime(300);
    }
    // The last bytes came 300 ms ago.
    expect(busy.closedWith).toBeNull();
    vi.advanceTimersByTime(499);
    expect(busy.closedWith, '799 ms after the last byte').toBeNull();
    vi.advanceTimersByTime(101);
    expect(busy.closedWith, '900 ms after the last byte').toBe(1002);
  });

  it('forgets a deleted connection: it is never closed', () => {
    vi.useFakeTimers();
    const gone = watched();
    const sweeper = sweeperOf(800, new Set([gone]));
    sweeper.add(gone);
    sweeper.delete(gone);
    sweeper.delete(gone);
    vi.advanceTimersByTime(5_000);
    expect(gone.closedWith).toBeNull();
  });

  it('watches only the candidates it was told to add, and stops its timer when none is left', () => {
    vi.useFakeTimers();
    const added = watched();
    const other = watched();
    const sweeper = sweeperOf(800, new Set([added, other]));
    sweeper.add(added);
    vi.advanceTimersByTime(900);
    expect(added.closedWith).toBe(1002);
    expect(other.closedWith, 'never added').toBeNull();
    expect(vi.getTimerCount(), 'no sweep scheduled once nothing is watched').toBe(0);
  });

  it('leaves alone the candidates another sweeper watches (two mounts share the live connections)', () => {
    vi.useFakeTimers();
    const live = new Set<IdleWatched>();
    const mineOf = new Map<IdleWatched, 'a' | 'b'>();
    const sweeper = (mount: 'a' | 'b'): IdleSweeper<IdleWatched> =>
      new IdleSweeper(
        800,
        () => live,
        (c): c is IdleWatched => mineOf.get(c as IdleWatched) === mount,
      );
    const [a, b] = [sweeper('a'), sweeper('b')];
    const ofA = watched();
    const ofB = watched();
    for (const [connection, mount] of [
      [ofA, 'a'],
      [ofB, 'b'],
    ] as const) {
      live.add(connection);
      mineOf.set(connection, mount);
    }
    b.add(ofB);
    a.add(ofA);
    vi.advanceTimersByTime(700);
    ofB.bytes += 6; // b's connection is active: a's sweeps must not close it either
    vi.advanceTimersByTime(200);
    expect(ofA.closedWith).toBe(1002);
    expect(ofB.closedWith).toBeNull();
  });
});
