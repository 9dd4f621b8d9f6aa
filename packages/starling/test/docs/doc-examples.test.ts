/**
 * The `@example` of every public module compiles against the package's own types: each example is
 * written to a file of its own (with `declare`s for the few names it takes from its context, such
 * as a `socket` inside a channel) and type-checked by `tsc` with `starling-channels` mapped to the sources.
 * An example that drifts from the API fails here.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));
const REPO = fileURLToPath(new URL('../../../../', import.meta.url));
const WORK = fileURLToPath(new URL('./.examples/', import.meta.url));

/** Public modules, and what their example takes from its surroundings. */
const MODULES: Record<string, string> = {
  'index.ts': '',
  'channel.ts': '',
  'socket.ts': "import type { Channel, Endpoint } from 'starling-channels';\ndeclare const endpoint: Endpoint;\ndeclare const RoomChannel: Channel;",
  'endpoint.ts': "import type { Socket } from 'starling-channels';\ndeclare const userSocket: Socket;",
  'topic.ts': '',
  'logger.ts': '',
  'pubsub/pubsub.ts': '',
  'pubsub/memory-adapter.ts': '',
  'pubsub/stream.ts': '',
  'presence/presence-state.ts': '',
  'redis/index.ts': '',
  'supabase/index.ts': '',
  'testing/index.ts': '',
  'client/index.ts': 'declare const token: string;',
  'client/recovery.ts': 'declare const token: string;\ndeclare function reloadHistory(): Promise<void>;\ndeclare function show(message: unknown): void;',
  'metrics/index.ts':
    "import type { ServerResponse } from 'node:http';\nimport type { Endpoint } from 'starling-channels';\ndeclare const endpoint: Endpoint;\ndeclare const path: string;\ndeclare const res: ServerResponse;",
};

/** The code of a module's `@example`, without the comment's ` * ` margin. */
function exampleOf(module: string): string {
  const source = readFileSync(join(SRC, module), 'utf8');
  const doc = source.slice(0, source.indexOf('*/'));
  const at = doc.indexOf('@example');
  if (at < 0) throw new Error(`${module} has no @example`);
  return doc
    .slice(at + '@example'.length)
    .split('\n')
    .map((line) => line.replace(/^\s*\* ?/, ''))
    .join('\n')
    .trim();
}

afterAll(() => rmSync(WORK, { recursive: true, force: true }));

it('every public module example type-checks', async () => {
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(WORK, { recursive: true });
  const files = Object.entries(MODULES).map(([module, context], i) => {
    const file = join(WORK, `example-${i}-${module.replace(/\W/g, '-')}.ts`);
    // Context first: imports must precede the example's own code; an `export {}` keeps each a module.
    writeFileSync(file, `${context}\n${exampleOf(module)}\nexport {};\n`);
    return file;
  });
  writeFileSync(
    join(WORK, 'tsconfig.json'),
    JSON.stringify({
      extends: '../../../../../tsconfig.base.json',
      compilerOptions: {
        noUnusedLocals: false,
        baseUrl: '.',
        paths: { 'starling-channels': [join(SRC, 'index.ts')], 'starling-channels/*': [join(SRC, '*/index.ts')] },
      },
      // The official client's types, as the repository declares them (phoenix ships none).
      files: [...files, join(REPO, 'types/phoenix.d.ts')],
    }),
  );
  const outcome = await promisify(execFile)(process.execPath, [join(REPO, 'node_modules/typescript/bin/tsc'), '-p', WORK]).then(
    () => '',
    (err: { stdout: string }) => err.stdout,
  );
  expect(outcome).toBe('');
}, 90_000);
