/**
 * A bounded fuzz run: 100,000 random and mutated frames (`test/support/fuzz-frames.ts`) from many
 * short-lived raw sockets against a live fixture endpoint, while two honest official clients chat
 * beside it. The server must keep serving, keep its heap bounded, and lose nothing of the honest
 * conversation. The seed is printed; rerun a failure with `FUZZ_SEED=<seed>`. For longer runs:
 * `npx tsx test/hardening/fuzz-long.ts --frames 2000000`.
 *
 * Choices:
 * - The fixture is mounted with `rateLimit: false`: the run sends far beyond 100 msg/s per socket,
 *   and with the limiter on most sockets would die of 1008 before their frames were read — the
 *   fuzz would test the limiter, which `rate-limit.test.ts` already does.
 * - The server runs in this process, so "heap" is this process's heap (server + fuzz clients). It
 *   is measured after a full GC: `--expose-gc` is switched on at run time
 *   (`v8.setFlagsFromString` + `vm.runInNewContext('gc')`), so the test needs no pool option.
 * - The fixture records every callback in `calls` and every connect in `connects`; the run empties
 *   both as it goes, or the record itself would be the leak (about 0.8 KiB per socket).
 */
import { heapAfterGc, MiB } from '@starling/test-support/heap';
import { afterEach, describe, expect, it } from 'vitest';
import { startFixture, type Fixture } from '../support/fixture.ts';
import { FrameFuzzer, sendFuzz, type FuzzReport } from '../support/fuzz-frames.ts';
import { ClientPool, Inbox, joined, phoenix18Client, pushOutcome } from '@starling/test-support/official-client';
import { RawClient } from '@starling/test-support/raw-client';
import { eventually } from '@starling/test-support/eventually';

const FRAMES = 100_000;
const SEED = process.env.FUZZ_SEED === undefined ? Math.floor(Math.random() * 2 ** 32) : Number(process.env.FUZZ_SEED);
/** Heap growth (after a full GC) allowed between before and after the run. */
const HEAP_GROWTH_BOUND = 24 * 1024 * 1024;

const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface ChatLine {
  readonly from: string;
  readonly n: number;
}

/**
 * Two official clients on `test:honest`, each broadcasting numbered lines until `until` resolves,
 * one line each time `paced` resolves (so the conversation is spread over the whole run, at the
 * fuzz's pace rather than the clock's). Returns how many each sent and what each heard from the other.
 */
async function honestPair(
  fixture: Fixture,
  until: Promise<unknown>,
  paced: () => Promise<void>,
): Promise<{ sent: Record<string, number>; heard: Record<string, Inbox<ChatLine>> }> {
  const pool = new ClientPool(phoenix18Client);
  cleanups.push(() => pool.close());
  const names = ['alice', 'bob'] as const;
  const channels = names.map((name) => pool.socket(`ws://127.0.0.1:${fixture.port}/socket`).channel('test:honest', { name }));
  const heard: Record<string, Inbox<ChatLine>> = {};
  names.forEach((name, i) => {
    const inbox = new Inbox<ChatLine>();
    channels[i]!.on('chat', (line: ChatLine) => {
      if (line.from !== name) inbox.add(line);
    });
    heard[name] = inbox;
  });
  await Promise.all(channels.map((channel) => joined(channel)));

  let done = false;
  void until.finally(() => (done = true));
  const sent: Record<string, number> = {};
  await Promise.all(
    names.map(async (name, i) => {
      let n = 0;
      // At least 50 lines each, and more for as long as the fuzz runs.
      while (!done || n < 50) {
        n++;
        const outcome = await pushOutcome(channels[i]!, 'broadcast', { event: 'chat', payload: { from: name, n } }, [], 10_000);
        if (outcome.status !== 'ok') throw new Error(`${name}'s line ${n} was answered ${outcome.status}`);
        sent[name] = n;
        await Promise.race([paced(), until]);
      }
    }),
  );
  return { sent, heard };
}

describe('fuzz', () => {
  it(`survives ${FRAMES} hostile frames with a bounded heap while honest clients lose nothing`, { timeout: 120_000 }, async () => {
    console.log(`fuzz seed ${SEED} (rerun with FUZZ_SEED=${SEED})`);
    const fixture = await startFixture({ socket: { rateLimit: false } });
    cleanups.push(() => fixture.close());
    const before = heapAfterGc();
    let peak = before;
    const sampler = setInterval(() => {
      fixture.calls.length = 0;
      fixture.connects.length = 0;
      peak = Math.max(peak, process.memoryUsage().heapUsed);
    }, 100);
    cleanups.push(() => clearInterval(sampler));

    const started = performance.now();
    // The honest clients send a line each per 100 hostile frames.
    const waiting: Array<() => void> = [];
    const nextHundredFrames = (): Promise<void> => new Promise((resolve) => waiting.push(resolve));
    const onProgress = (): void => {
      for (const resolve of waiting.splice(0)) resolve();
    };
    const fuzz = sendFuzz(`${fixture.wsUrl}?vsn=2.0.0`, new FrameFuzzer(SEED), { frames: FRAMES, progressEvery: 100, onProgress });
    const [report, chat] = await Promise.all([fuzz, honestPair(fixture, fuzz, nextHundredFrames)]);
    const seconds = (performance.now() - started) / 1000;

    // The endpoint still serves: a fresh socket's heartbeat is answered.
    const fresh = await RawClient.connect(`${fixture.wsUrl}?vsn=2.0.0`);
    cleanups.push(() => fresh.close());
    fresh.send([null, '1', 'phoenix', 'heartbeat', {}]);
    expect(await fresh.reply('1')).toEqual([null, '1', 'phoenix', 'phx_reply', { status: 'ok', response: {} }]);

    // Each honest client heard every line of the other, once and in order.
    for (const [name, other] of [
      ['alice', 'bob'],
      ['bob', 'alice'],
    ] as const) {
      const inbox = chat.heard[name]!;
      const expected = Array.from({ length: chat.sent[other]! }, (_, i) => i + 1);
      await eventually(() => expect(inbox.items.length).toBeGreaterThanOrEqual(expected.length), 5000);
      expect(inbox.items.map((line) => line.n)).toEqual(expected);
    }

    clearInterval(sampler);
    fixture.calls.length = 0;
    fixture.connects.length = 0;
    const after = heapAfterGc();
    logRun(report, seconds, chat.sent, { before, peak, after });
    expect(report.framesSent).toBe(FRAMES);
    // Many sockets must have been closed for a malformed frame; else the fuzz stopped being hostile.
    expect(report.closeCodes[1007] ?? 0).toBeGreaterThan(report.sockets / 10);
    expect(after - before).toBeLessThan(HEAP_GROWTH_BOUND);
  });
});

function logRun(report: FuzzReport, seconds: number, sent: Record<string, number>, heap: { before: number; peak: number; after: number }): void {
  console.log(
    [
      `fuzz seed ${SEED}: ${report.framesSent} frames on ${report.sockets} sockets in ${seconds.toFixed(1)} s`,
      `close codes ${JSON.stringify(report.closeCodes)}`,
      `kinds ${JSON.stringify(report.kinds)}`,
      `honest lines sent ${JSON.stringify(sent)}`,
      `heap after GC: before ${MiB(heap.before)}, after ${MiB(heap.after)} (growth ${MiB(heap.after - heap.before)}, bound ${MiB(HEAP_GROWTH_BOUND)}); peak sampled ${MiB(heap.peak)}`,
    ].join('\n'),
  );
}
