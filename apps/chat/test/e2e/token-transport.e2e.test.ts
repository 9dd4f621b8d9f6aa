/**
 * The user token stays out of URLs (issue 24): proxies and access logs record URLs. The page hands
 * its token to phoenix.js as `authToken`, which travels in `Sec-WebSocket-Protocol` (LongPoll: the
 * `X-Phoenix-AuthToken` header) — checked here in Chromium, whose WebSocket URL must carry no
 * token while the user is still recognised (posts under their own name) — and the official
 * client's LongPoll does the same with the header.
 */
import { describe, expect, it } from 'vitest';
import { useChromium } from '@starling/test-support/browser';
import { eventually } from '@starling/test-support/eventually';
import { ClientPool, joined, phoenix18Client } from '@starling/test-support/official-client';
import { sendAll, useChats } from '../support/chat.ts';

const chats = useChats();
const browser = useChromium();

describe('the user token', () => {
  it('is not in the page’s WebSocket URL, and still identifies the user', async () => {
    const chat = await chats.start();
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const sockets: string[] = [];
      page.on('websocket', (socket) => sockets.push(socket.url()));
      await page.goto(`http://127.0.0.1:${chat.chat.port}/`);
      await page.locator('#profile-button').click();
      await page.locator('#name-input').fill('ada');
      await page.locator('#name-input').press('Enter');
      await page.locator('#message-input').fill('signed in without a token in the URL');
      await page.locator('#message-input').press('Enter');
      // Only a recognised user may post (guests are refused): the message shows under her name.
      await eventually(async () => expect(await page.locator('#messages li .author .name').allTextContents()).toContain('ada'), 5000);
      expect(sockets.length).toBeGreaterThan(0);
      for (const url of sockets) expect(new URL(url).searchParams.has('token'), url).toBe(false);
    } finally {
      await context.close();
    }
  });

  it('travels in X-Phoenix-AuthToken over LongPoll (the official client, hex as the page sends it)', async () => {
    const chat = await chats.start();
    const user = await chat.newUser();
    const pool = new ClientPool(phoenix18Client);
    try {
      const hex = Buffer.from(user.token, 'latin1').toString('hex');
      const lobby = pool.socket(chat.socketUrl, { longPoll: true, authToken: hex }).channel('rooms:lobby', { name: 'lp' });
      await joined(lobby);
      // A guest's post is refused ("sign in to post"); this one is broadcast, under the user's name.
      const [heard] = await sendAll(lobby, ['over LongPoll']);
      expect(heard!.author).toMatch(/^lp#/);
    } finally {
      await pool.close();
    }
  });
});
