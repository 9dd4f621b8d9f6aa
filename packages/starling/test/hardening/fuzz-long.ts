/**
 * The fuzz run of `fuzz.test.ts`, as long as you like (not part of `npm test`):
 *
 *   npx tsx test/hardening/fuzz-long.ts --frames 2000000 [--seed N] [--concurrency 16]
 *
 * Starts a fixture endpoint in this process (`rateLimit: false`, as the test does), sends the
 * frames, prints progress with the heap after GC, then checks that a fresh socket's heartbeat is
 * answered. Exits 1 if it is not or if a fuzz socket hung. Run with `node --expose-gc --import tsx`
 * for exact heap figures; without it the heap is sampled as it is.
 */
import { parseArgs } from 'node:util';
import { startFixture } from '../support/fixture.ts';
import { FrameFuzzer, sendFuzz } from '../support/fuzz-frames.ts';
import { RawClient } from '@starling/test-support/raw-client';

const { values } = parseArgs({
  options: {
    frames: { type: 'string', default: '2000000' },
    seed: { type: 'string' },
    concurrency: { type: 'string', default: '16' },
  },
});
const frames = Number(values.frames);
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 32) : Number(values.seed);
const gc = (globalThis as { gc?: () => void }).gc;
const heapMiB = (): string => {
  gc?.();
  return `${(process.memoryUsage().heapUsed / 1024 / 1024).toFixed(1)} MiB${gc ? ' after GC' : ''}`;
};

console.log(`fuzz seed ${seed}, ${frames} frames`);
const fixture = await startFixture({ socket: { rateLimit: false } });
const started = performance.now();
let exitCode = 0;
try {
  const report = await sendFuzz(`${fixture.wsUrl}?vsn=2.0.0`, new FrameFuzzer(seed), {
    frames,
    concurrency: Number(values.concurrency),
    progressEvery: 100_000,
    onProgress: (r) => {
      fixture.calls.length = 0;
      fixture.connects.length = 0;
      const seconds = (performance.now() - started) / 1000;
      console.log(`${r.framesSent} frames, ${r.sockets} sockets, ${seconds.toFixed(0)} s, heap ${heapMiB()}, closes ${JSON.stringify(r.closeCodes)}`);
    },
  });
  fixture.calls.length = 0;
  fixture.connects.length = 0;
  console.log(`done: ${report.framesSent} frames on ${report.sockets} sockets in ${((performance.now() - started) / 1000).toFixed(1)} s; heap ${heapMiB()}`);
  console.log(`kinds ${JSON.stringify(report.kinds)}`);
  const fresh = await RawClient.connect(`${fixture.wsUrl}?vsn=2.0.0`);
  fresh.send([null, '1', 'phoenix', 'heartbeat', {}]);
  const reply = await fresh.reply('1');
  fresh.close();
  console.log(`fresh heartbeat answered: ${JSON.stringify(reply)}`);
} catch (err) {
  console.error(`fuzz seed ${seed} failed:`, err);
  exitCode = 1;
} finally {
  await fixture.close();
}
process.exit(exitCode);
