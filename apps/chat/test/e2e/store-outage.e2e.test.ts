/**
 * A visitor who arrives while the store is down (issue 24): the chat answers its first API calls
 * 503, and the page must come up by itself once the store answers again, not stay at
 * "connecting". The outage is made at the browser's network layer (the first answers to
 * `/api/identity` and `/api/rooms` are 503, as the chat gives them while PostgreSQL is down);
 * everything after goes to the real chat.
 */
import { describe, expect, it } from 'vitest';
import { useChromium } from '@starling/test-support/browser';
import { eventually } from '@starling/test-support/eventually';
import { useChats } from '../support/chat.ts';

const chats = useChats();
const browser = useChromium();

describe('a page opened during a store outage', () => {
  it('retries with backoff and comes online by itself once the API answers again', async () => {
    const chat = await chats.start();
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      let refused = 0;
      await page.route(/\/api\/(identity|rooms)/, async (route) => {
        if (refused < 2) {
          refused++;
          return route.fulfill({ status: 503, contentType: 'application/json', body: JSON.stringify({ error: 'unavailable' }) });
        }
        return route.continue();
      });
      await page.goto(`http://127.0.0.1:${chat.chat.port}/`);
      await eventually(async () => expect(await page.locator('#status').getAttribute('data-state')).toBe('online'), 15_000);
      expect(refused).toBe(2);
    } finally {
      await context.close();
    }
  });
});
