/**
 * No message lost to live viewers when Redis blips (issue 24), in real Chromium: two chat
 * instances share a store and a Redis; a page on each. While Redis is down, a message sent on the
 * first is stored but cannot be published: its sender is told so, and its page reloads the room
 * (phx_stream recovered: false) and shows it; once Redis is back, the other instance's page is
 * told the same and shows it too. Nothing is shown twice.
 */
import { randomBytes } from 'node:crypto';
import type { Page } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import { useChromium } from '@starling/test-support/browser';
import { eventually } from '@starling/test-support/eventually';
import { startThrowawayRedis, type ThrowawayRedis } from '@starling/test-support/redis';
import { useChats } from '../support/chat.ts';

const chats = useChats();
const browser = useChromium();
let redis: ThrowawayRedis | undefined;

afterEach(async () => {
  await redis?.stop();
  redis = undefined;
});

/** The bodies of the messages a page shows. */
const bodies = (page: Page): Promise<string[]> => page.locator('#messages li .body').allTextContents();

async function say(page: Page, body: string): Promise<void> {
  await page.locator('#message-input').fill(body);
  await page.locator('#message-input').press('Enter');
}

describe('a Redis outage', () => {
  it('loses no stored message for pages that stayed connected: the sender is told, and every page shows it', async () => {
    redis = await startThrowawayRedis();
    const dataDir = chats.tempDir();
    const secretKeyBase = randomBytes(48).toString('base64');
    const [one, two] = [await chats.start({ redisUrl: redis.url, dataDir, secretKeyBase }), await chats.start({ redisUrl: redis.url, dataDir, secretKeyBase })];
    const pages: Page[] = [];
    for (const chat of [one!, two!]) {
      const page = await (await browser.newContext()).newPage();
      await page.goto(`http://127.0.0.1:${chat.chat.port}/`);
      await eventually(async () => expect(await page.locator('#status').getAttribute('data-state')).toBe('online'), 10_000);
      pages.push(page);
    }
    const [sender, reader] = pages as [Page, Page];
    await say(sender, 'before the outage');
    for (const page of pages) await eventually(async () => expect(await bodies(page)).toContain('before the outage'), 5000);

    await redis.stop();
    await eventually(() => expect(one!.chat.endpoint.pubsub.connected).toBe(false), 5000);
    await say(sender, 'during the outage');
    await eventually(async () => expect(await sender.locator('#room-error').textContent()).toMatch(/others see it once the servers reconnect/), 5000);
    await eventually(async () => expect(await bodies(sender)).toEqual(['before the outage', 'during the outage']), 5000);

    await redis.restart();
    await eventually(async () => expect(await bodies(reader)).toEqual(['before the outage', 'during the outage']), 15_000);
    // Back to normal: a message after the outage reaches both, once each.
    await say(reader, 'after the outage');
    for (const page of pages)
      await eventually(async () => expect(await bodies(page)).toEqual(['before the outage', 'during the outage', 'after the outage']), 10_000);
    for (const page of pages) await page.context().close();
  });
});
