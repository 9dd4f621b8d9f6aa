/**
 * A reconnect storm: 1,500 official clients (phoenix 1.8.16 over `ws`), each joined to
 * `test:lobby`, lose their server to a restart — the endpoint drains (close 1012), a new one
 * starts on the same port once every client has had a reconnect refused (each is then in
 * phoenix.js's backoff, as in a real restart) — and all of them come back at once. Every socket must
 * reconnect and every channel rejoin within 30 s, with the server's heap no bigger than before the
 * restart (plus a margin), and the new endpoint must still answer a fresh heartbeat.
 *
 * The clients use phoenix.js's default reconnect backoff (10 ms, 50 ms, … 5 s), not the suite's
 * FAST_RECOVERY, so the storm has the shape a real deployment sees; rejoins are fast (50 ms).
 * Clients and server share this process (one process manages 1,500 sockets easily), so the heap
 * measured is both sides' — the same sides before and after, which is what the bound compares.
 * `rateLimit: false` keeps the limiter out of what is measured.
 */
import { heapAfterGc, MiB } from '@starling/test-support/heap';
import { afterEach, describe, expect, it } from 'vitest';
import type { Channel, Socket } from 'phoenix';
import { startFixture, type Fixture } from '../support/fixture.ts';
import { ClientPool, freePort, joined, phoenix18Client } from '@starling/test-support/official-client';
import { RawClient } from '@starling/test-support/raw-client';
import { eventually } from '@starling/test-support/eventually';

const CLIENTS = 2500;
const RECOVERY_BOUND_MS = 30_000;
/** Refused reconnects per client before the new server starts. */
const REFUSALS = 1;
/** phoenix.js's own default reconnect schedule. */
const DEFAULT_BACKOFF = (tries: number): number => [10, 50, 100, 150, 200, 250, 500, 1000, 2000][tries - 1] ?? 5000;

const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function fixtureOn(port: number): Promise<Fixture> {
  const fixture = await startFixture({ port, socket: { rateLimit: false, maxConnectionsPerIp: Infinity } }); // every client is 127.0.0.1
  let closed = false;
  cleanups.push(() => (closed ? undefined : fixture.close()));
  return { ...fixture, close: async () => ((closed = true), await fixture.close()) };
}

const joinsOf = (fixture: Fixture): number => fixture.calls.filter((call) => call.callback === 'join').length;

describe('reconnect storm', () => {
  it(
    `reconnects and rejoins all ${CLIENTS} clients within ${RECOVERY_BOUND_MS / 1000} s of a server restart, with a bounded heap`,
    { timeout: 90_000 },
    async () => {
      const port = await freePort();
      const first = await fixtureOn(port);
      const pool = new ClientPool(phoenix18Client);
      cleanups.push(() => pool.close());
      const sockets: Socket[] = [];
      const channels: Channel[] = [];
      const closeCodes = new Map<number, number>();
      const errors = new Array<number>(CLIENTS).fill(0);
      for (let i = 0; i < CLIENTS; i++) {
        const socket = pool.socket(`ws://127.0.0.1:${port}/socket`, { reconnectAfterMs: DEFAULT_BACKOFF });
        socket.onClose((event) => closeCodes.set(event.code, (closeCodes.get(event.code) ?? 0) + 1));
        socket.onError(() => errors[i]!++);
        sockets.push(socket);
        channels.push(socket.channel('test:lobby', { n: i }));
      }
      await Promise.all(channels.map((channel) => joined(channel, 20_000)));
      expect(joinsOf(first)).toBe(CLIENTS);
      first.calls.length = 0;
      const heapBefore = heapAfterGc();

      const restartStarted = performance.now();
      await first.close();
      const drainMs = performance.now() - restartStarted;
      // Every client saw the drain's "service restart" close, not a dropped connection.
      await eventually(() => expect(closeCodes.get(1012)).toBe(CLIENTS), 5000);
      errors.fill(0);
      // Down until every client has been refused a few times, as in a real restart.
      await eventually(() => expect(Math.min(...errors)).toBeGreaterThanOrEqual(REFUSALS), 15_000, 50);
      const downMs = performance.now() - restartStarted - drainMs;
      const second = await fixtureOn(port);
      const upAt = performance.now();

      await eventually(
        () => {
          expect(sockets.filter((socket) => socket.isConnected())).toHaveLength(CLIENTS);
          expect(channels.filter((channel) => channel.state === 'joined')).toHaveLength(CLIENTS);
        },
        RECOVERY_BOUND_MS,
        50,
      );
      const recoveredMs = performance.now() - upAt;
      // Each channel joined the new server exactly once: no duplicate rejoins left behind.
      expect(joinsOf(second)).toBe(CLIENTS);
      second.calls.length = 0;

      const fresh = await RawClient.connect(`${second.wsUrl}?vsn=2.0.0`);
      cleanups.push(() => fresh.close());
      fresh.send([null, '1', 'phoenix', 'heartbeat', {}]);
      expect(await fresh.reply('1')).toEqual([null, '1', 'phoenix', 'phx_reply', { status: 'ok', response: {} }]);

      const heapAfter = heapAfterGc();
      console.log(
        `reconnect storm: ${CLIENTS} clients; drain ${drainMs.toFixed(0)} ms; all reconnected and rejoined ${recoveredMs.toFixed(0)} ms after the new server was up ` +
          `(down ${downMs.toFixed(0)} ms); heap after GC ${MiB(heapBefore)} before, ${MiB(heapAfter)} after; close codes ${JSON.stringify([...closeCodes])}`,
      );
      expect(recoveredMs).toBeLessThan(RECOVERY_BOUND_MS);
      // The same clients on a fresh server: nothing of the old endpoint may be retained.
      expect(heapAfter).toBeLessThan(heapBefore * 1.5 + 16 * 1024 * 1024);
    },
  );
});
