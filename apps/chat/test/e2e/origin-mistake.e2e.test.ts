/**
 * The operator's mistake of issue 24 in real Chromium: the chat's `PUBLIC_URL` names another origin
 * than the one the page is served from (a proxy in front, the setting forgotten or wrong). The
 * WebSocket is refused, the page falls back to LongPoll, whose same-origin polls carry no `Origin`
 * while its publishes do. Before the fix every retry opened a session and retried at once (315
 * requests in 10 s from one tab); now the page backs off as for any refused connect.
 */
import { describe, expect, it } from 'vitest';
import { useChromium } from '@starling/test-support/browser';
import { sleep } from '@starling/test-support/eventually';
import { useChats } from '../support/chat.ts';

const chats = useChats();
const browser = useChromium();

describe('a page whose origin the chat does not expect', () => {
  it('makes a bounded number of socket requests, at phoenix.js’s backoff, not a storm', async () => {
    const chat = await chats.start({ publicUrl: 'https://chat.example.com' });
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const socketRequests: string[] = [];
      page.on('request', (request) => {
        const path = new URL(request.url()).pathname;
        if (path.startsWith('/socket/')) socketRequests.push(`${request.method()} ${path}`);
      });
      let websockets = 0;
      page.on('websocket', () => websockets++);
      await page.goto(`http://127.0.0.1:${chat.chat.port}/`);
      // A refutation window: the storm this pins was ~30 requests a second.
      await sleep(8000);
      const longPolls = socketRequests.filter((request) => request.endsWith('/socket/longpoll'));
      // phoenix.js's reconnect backoff (10 ms … 2 s, then 5 s) allows about a dozen tries in 8 s.
      expect(longPolls.length).toBeGreaterThan(0);
      expect(longPolls.length).toBeLessThan(40);
      expect(websockets).toBeLessThan(20);
    } finally {
      await context.close();
    }
  });
});
