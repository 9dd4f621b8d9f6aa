/**
 * Heap measurement for tests that bound memory: V8's `gc` exposed at run time (no
 * `--expose-gc` flag needed on the worker), and the heap in use after two full collections.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** `heapUsed` after two full garbage collections. */
export function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** Bytes as MiB with one decimal, for messages. */
export const MiB = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
