/**
 * supabase-js, unchanged, in real Chromium against `npm run realtime`: two pages served from
 * another origin (as a Supabase project's clients are) subscribe, see each other's presence and
 * each other's broadcasts.
 */
import { createServer, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { launchChromium } from '@starling/test-support/browser';
import { eventually } from '@starling/test-support/eventually';
import { key, startServer, stopServers } from './support/realtime-process.ts';

let browser: Browser;
let pages: Server;
let pagesUrl: string;

beforeAll(async () => {
  const bundle = await build({
    entryPoints: [fileURLToPath(new URL('./page/app.ts', import.meta.url))],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    write: false,
  });
  const script = bundle.outputFiles[0]!.text;
  pages = createServer((req, res) => {
    if (req.url?.startsWith('/app.js')) return void res.writeHead(200, { 'content-type': 'text/javascript' }).end(script);
    res
      .writeHead(200, { 'content-type': 'text/html' })
      .end('<!doctype html><meta charset="utf-8"><title>realtime page</title><script type="module" src="/app.js"></script>');
  });
  await new Promise<void>((resolve) => pages.listen(0, '127.0.0.1', resolve));
  const address = pages.address();
  pagesUrl = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => pages?.close(resolve));
  await stopServers();
});

async function events(page: Page): Promise<unknown[]> {
  return page.evaluate(() => (globalThis as unknown as { events?: unknown[] }).events ?? []);
}

it('two supabase-js pages in Chromium subscribe, see each other in presence and hear each other’s broadcasts', async () => {
  const port = await startServer();
  const anon = await key({ role: 'anon' });
  const open = async (name: string): Promise<Page> => {
    const page = await browser.newPage();
    await page.goto(`${pagesUrl}/?url=${encodeURIComponent(`http://127.0.0.1:${port}`)}&key=${anon}&name=${name}`);
    return page;
  };
  const ada = await open('ada');
  await eventually(async () => expect(await events(ada)).toContainEqual({ status: 'SUBSCRIBED' }), 10_000);
  const bob = await open('bob');
  await eventually(async () => {
    expect(await events(ada)).toContainEqual({ presence: ['ada', 'bob'] });
    expect(await events(ada)).toContainEqual({ broadcast: { from: 'bob' } });
    expect(await events(bob)).toContainEqual({ presence: ['ada', 'bob'] });
    expect(await events(bob)).toContainEqual({ broadcast: { from: 'bob' } });
  }, 10_000);
  expect(await events(bob)).not.toContainEqual({ broadcast: { from: 'ada' } }); // sent before bob subscribed
});
