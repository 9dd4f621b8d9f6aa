/**
 * supabase-js, unchanged, in real Chromium against `npm run realtime`: two pages served from
 * another origin (as a Supabase project's clients are) subscribe, see each other's presence and
 * each other's broadcasts.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { useChromium } from '@starling/test-support/browser';
import { eventually } from '@starling/test-support/eventually';
import { servePage, type PageServer } from './support/page-server.ts';
import { key, startServer, stopServers } from './support/realtime-process.ts';

const browser = useChromium();
let pages: PageServer;

beforeAll(async () => {
  pages = await servePage('app.ts');
}, 60_000);

afterAll(async () => {
  await pages?.close();
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
    await page.goto(`${pages.url}/?url=${encodeURIComponent(`http://127.0.0.1:${port}`)}&key=${anon}&name=${name}`);
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
