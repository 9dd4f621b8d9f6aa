/**
 * The chat as a product people keep open (issue 22), in real Chromium against the chat running
 * in-process, between two browser contexts (two people, or two devices of one person): unread
 * counts kept on the server (room badges, the tab title, the "new messages" divider, the same on
 * another device), typing indicators, editing and deleting one's own messages (also through a
 * reconnect), mentions with highlighting and a notification, links made clickable safely, the
 * phone layout (conversation full screen, a drawer, a profile dialog), and no axe-core
 * violations on a desktop and a 375×667 phone.
 *
 * axe-core is injected into the page from `node_modules/axe-core/axe.min.js` as an init script of
 * the browser context (added by the browser before the page's own scripts, which the page's CSP
 * does not govern: the CSP stays as strict as it is).
 */
import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import { useChromium } from '@starling/test-support/browser';
import { eventually } from '@starling/test-support/eventually';
import { TcpProxy } from '@starling/test-support/tcp-proxy';
import { useChats, type TestChat } from '../support/chat.ts';

const chats = useChats();
const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
const DESKTOP = { width: 900, height: 640 };
const PHONE = { viewport: { width: 375, height: 667 }, isMobile: true, hasTouch: true };
/** The page's timers (web/unread.ts, web/compose.ts), which a test's page clock jumps over. */
const UNREAD_POLL_MS = 10_000;
const TYPING_SHOW_MS = 5000;

const browser = useChromium();
const contexts: BrowserContext[] = [];
const proxies: TcpProxy[] = [];
let pageErrors: string[] = [];

afterEach(async () => {
  await Promise.all(contexts.splice(0).map((context) => context.close()));
  await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
  const seen = pageErrors;
  pageErrors = [];
  expect(seen, 'no page may throw').toEqual([]);
});

/** A new visitor (a fresh context: their own token and name), or another device of one whose token is given. */
/**
 * Opens `url` in a new context and waits until the page is online. With `clock`, the page's timers
 * run on Playwright's clock: time flows as usual, and `page.clock.fastForward(ms)` jumps ahead.
 */
async function visit(url: string, options: Parameters<Browser['newContext']>[0] & { token?: string; axe?: boolean; clock?: boolean } = {}): Promise<Page> {
  const { token, axe, clock, ...contextOptions } = options;
  const context = await browser.newContext({ viewport: DESKTOP, ...contextOptions });
  contexts.push(context);
  if (clock === true) await context.clock.install();
  if (axe === true) await context.addInitScript({ path: AXE });
  if (token !== undefined) await context.addInitScript(`localStorage.setItem('starling:token', ${JSON.stringify(token)})`);
  const page = await context.newPage();
  page.on('pageerror', (error) => pageErrors.push(error.message));
  page.on('dialog', (dialog) => {
    pageErrors.push(`dialog: ${dialog.message()}`);
    void dialog.dismiss();
  });
  await page.goto(url);
  await page.locator('#status[data-state="online"]').waitFor({ timeout: 10_000 });
  return page;
}

/** Saves `name` in the profile dialog, then waits until the page is back in its room under that name. */
async function setName(page: Page, name: string): Promise<void> {
  await page.locator('#profile-button').click();
  await page.locator('#name-input').fill(name);
  await page.locator('#name-input').press('Enter');
  await page.locator('#profile-dialog').waitFor({ state: 'hidden' });
  await eventually(async () => expect(await page.locator('#online li .name').allTextContents()).toContain(name), 5000);
}

async function say(page: Page, body: string): Promise<void> {
  await page.locator('#message-input').fill(body);
  await page.locator('#message-input').press('Enter');
}

/** The message list as "author: body", the author without their mark (deleted ones say so). */
const messages = (page: Page): Promise<string[]> =>
  page
    .locator('#messages li')
    .evaluateAll((items) =>
      items.map(
        (item) =>
          `${item.querySelector('.author .name')?.textContent}: ${item.querySelector('.body')?.textContent}${item.querySelector('.edited')?.textContent ?? ''}`,
      ),
    );

async function waitForMessages(page: Page, expected: string[], timeoutMs = 5000): Promise<void> {
  await eventually(async () => expect(await messages(page)).toEqual(expected), timeoutMs);
}

/** This page's user token (for a second device of the same user) and mark. */
async function identityOf(page: Page): Promise<{ token: string; mark: string }> {
  const token = await page.evaluate<string | null>(`localStorage.getItem('starling:token')`);
  const mark = await page.locator('#you .mark').textContent();
  return { token: token!, mark: mark!.slice(1) };
}

/** The unread badge of room `id` in the room list, '' when none. */
const badgeOf = (page: Page, id: string): Promise<string> =>
  page.locator(`#rooms button[data-room="${id}"] .unread [aria-hidden="true"]`).evaluateAll((badges) => badges.map((badge) => badge.textContent).join(''));

/** Resolves once the status badge says online and every CSS transition and animation on the page has finished. */
async function settledView(page: Page): Promise<void> {
  await page.locator('#status[data-state="online"]').waitFor({ timeout: 5000 });
  await page.evaluate('Promise.all(document.getAnimations().map((animation) => animation.finished)).then(() => undefined)');
}

/** Resolves once the server counts `count` unread messages in `room` for the user of `token`. */
async function untilUnread(chat: TestChat, token: string, room: string, count: number): Promise<void> {
  await eventually(async () => {
    const { body } = await chat.call<{ rooms: Array<{ id: string; count: number }> }>('GET', '/api/unread', { token });
    expect(body.rooms.find((entry) => entry.id === room)?.count ?? 0).toBe(count);
  }, 5000);
}

async function startChat(): Promise<{ chat: TestChat; url: string }> {
  const chat = await chats.start();
  return { chat, url: `${chat.baseUrl}/` };
}

/** Runs axe-core (see `visit`'s `axe`) on the page as it is now; resolves with its violations as "rule: target…". */
async function axeViolations(page: Page): Promise<string[]> {
  // A string, evaluated in the page: this file is type-checked without the DOM's types.
  return page.evaluate<string[]>(`window.axe.run().then((result) =>
    result.violations.map((violation) => violation.id + ': ' + violation.nodes.map((node) => JSON.stringify(node.target)).join(' ')))`);
}

/** Creates a private room from `owner`'s page; resolves with its id and invite link. */
async function createRoom(owner: Page): Promise<{ id: string; invite: string }> {
  await owner.locator('#new-room').click();
  await owner.locator('#invite').waitFor({ state: 'visible', timeout: 5000 });
  const invite = await owner.locator('#invite-link').inputValue();
  const id = (await owner.locator('#rooms button[aria-current="true"]').getAttribute('data-room'))!;
  return { id, invite };
}

describe('unread counts', () => {
  it('counts what others posted in a room while the reader is elsewhere: the room badge and the tab title, the same after a reload and on another device; opening the room shows the "new messages" divider and clears the counts everywhere', async () => {
    const { chat, url } = await startChat();
    const ada = await visit(url);
    await setName(ada, 'ada');
    await say(ada, 'read before');
    await waitForMessages(ada, ['ada: read before']);
    const bob = await visit(url, { clock: true });
    await setName(bob, 'bob');
    await waitForMessages(bob, ['ada: read before']);
    const elsewhere = await createRoom(bob); // Bob is elsewhere now: in his own room
    const bobToken = (await identityOf(bob)).token;

    await say(ada, 'one');
    await say(ada, 'two');
    await say(ada, 'three');

    // Polled from the server (every 10 s, and at once on load): the server has counted them, and
    // Bob's page clock jumps to its next poll.
    await untilUnread(chat, bobToken, 'lobby', 3);
    await bob.clock.fastForward(UNREAD_POLL_MS);
    await eventually(async () => expect(await badgeOf(bob, 'lobby')).toBe('3'), 5000);
    expect(await bob.title()).toBe('(3) Starling chat');
    await bob.reload();
    await eventually(async () => expect(await badgeOf(bob, 'lobby')).toBe('3'), 10_000);
    expect(await bob.title()).toBe('(3) Starling chat');
    // Bob's phone: the same user, another browser, in that room too (opening the lobby would read it).
    const phone = await visit(`${url}?room=${elsewhere.id}`, { ...PHONE, token: bobToken, clock: true });
    await eventually(async () => expect(await phone.title()).toBe('(3) Starling chat'), 10_000);

    await bob.locator('#rooms button[data-room="lobby"]').click();

    await waitForMessages(bob, ['ada: read before', 'ada: one', 'ada: two', 'ada: three']);
    const divider = bob.locator('#messages li:has(.new-messages)');
    expect(await divider.locator('.body').textContent()).toBe('one');
    expect(await bob.title()).toBe('Starling chat');
    expect(await badgeOf(bob, 'lobby')).toBe('');
    // The phone learns it from the server once Bob's page has told it how far he read: at its next poll.
    await untilUnread(chat, bobToken, 'lobby', 0);
    await phone.clock.fastForward(UNREAD_POLL_MS);
    await eventually(async () => expect(await phone.title()).toBe('Starling chat'), 5000);
  }, 90_000);
});

describe('typing indicators', () => {
  it('shows "bob is typing…" to the others, not to Bob; it vanishes when his message arrives, or a few seconds after he stops', async () => {
    const { url } = await startChat();
    const ada = await visit(url, { clock: true });
    await setName(ada, 'ada');
    const bob = await visit(url);
    await setName(bob, 'bob');

    await bob.locator('#message-input').pressSequentially('hel');
    await eventually(async () => expect(await ada.locator('#typing').textContent()).toMatch(/^bob#.{6} is typing…$/), 5000);
    expect(await bob.locator('#typing').textContent()).toBe('');

    await bob.locator('#message-input').pressSequentially('lo');
    await bob.locator('#message-input').press('Enter');
    await waitForMessages(ada, ['bob: hello']);
    expect(await ada.locator('#typing').textContent()).toBe('');

    // A new bout of typing, then Bob stops without sending: the indicator goes by itself.
    await bob.locator('#message-input').pressSequentially('hm');
    await eventually(async () => expect(await ada.locator('#typing').textContent()).toContain('is typing…'), 5000);
    await ada.clock.fastForward(TYPING_SHOW_MS);
    await eventually(async () => expect(await ada.locator('#typing').textContent()).toBe(''), 2000);
  });
});

describe('editing and deleting', () => {
  it('lets the author edit and delete their message, shown to everyone as "(edited)" and "message deleted"; others get no Edit or Delete', async () => {
    const { url } = await startChat();
    const ada = await visit(url);
    await setName(ada, 'ada');
    const bob = await visit(url);
    await setName(bob, 'bob');
    await say(ada, 'helo');
    await say(ada, 'oops');
    await waitForMessages(bob, ['ada: helo', 'ada: oops']);
    expect(await bob.locator('#messages .actions').count()).toBe(0);

    await ada.locator('#messages li', { hasText: 'helo' }).locator('button.edit').click();
    expect(await ada.locator('#message-input').inputValue()).toBe('helo');
    await ada.locator('#message-input').fill('hello');
    await ada.locator('#message-input').press('Enter');
    await ada.locator('#messages li', { hasText: 'oops' }).locator('button.delete').click();

    for (const page of [ada, bob]) await waitForMessages(page, ['ada: hello (edited)', 'ada: message deleted']);
    // Pages read later show them too.
    await bob.reload();
    await waitForMessages(bob, ['ada: hello (edited)', 'ada: message deleted']);
  });

  it('shows edits and deletes made while a page was away once it is back, without reloading', async () => {
    const { chat } = await startChat();
    const line = await TcpProxy.start(chat.chat.port);
    proxies.push(line);
    const ada = await visit(`${chat.baseUrl}/`);
    await setName(ada, 'ada');
    const bob = await visit(`http://127.0.0.1:${line.port}/`);
    await setName(bob, 'bob');
    await say(ada, 'first');
    await say(ada, 'second');
    await waitForMessages(bob, ['ada: first', 'ada: second']);

    line.cut();
    await bob.locator('#status[data-state="reconnecting"]').waitFor({ timeout: 5000 });
    await ada.locator('#messages li', { hasText: 'first' }).locator('button.edit').click();
    await ada.locator('#message-input').fill('first, edited');
    await ada.locator('#message-input').press('Enter');
    await ada.locator('#messages li', { hasText: 'second' }).locator('button.delete').click();
    await waitForMessages(ada, ['ada: first, edited (edited)', 'ada: message deleted']);
    expect(await messages(bob)).toEqual(['ada: first', 'ada: second']);
    line.restore();

    await bob.locator('#status[data-state="online"]').waitFor({ timeout: 15_000 });
    await waitForMessages(bob, ['ada: first, edited (edited)', 'ada: message deleted']);
  });
});

describe('mentions', () => {
  it('offers the room’s people after @; the mention is highlighted for the one mentioned, who is notified while the tab is hidden', async () => {
    const { url } = await startChat();
    const ada = await visit(url);
    await setName(ada, 'ada');
    await ada.context().grantPermissions(['notifications']);
    // Records what the page shows, then shows it for real.
    await ada.evaluate(`(() => {
      const Real = window.Notification;
      window.shown = [];
      window.Notification = class extends Real {
        constructor(title, options) {
          super(title, options);
          window.shown.push(title + ' | ' + (options?.body ?? ''));
        }
      };
    })()`);
    const shown = (): Promise<string[]> => ada.evaluate<string[]>('window.shown');
    const bob = await visit(url);
    await setName(bob, 'bob');
    const adaMark = (await identityOf(ada)).mark;

    await bob.locator('#message-input').pressSequentially('hi @ad');
    await bob.locator('#mention-list button').first().click();
    expect(await bob.locator('#message-input').inputValue()).toBe(`hi @ada#${adaMark} `);
    await bob.locator('#message-input').pressSequentially('look');
    await bob.locator('#message-input').press('Enter');

    await waitForMessages(ada, [`bob: hi @ada#${adaMark} look`]);
    expect(await ada.locator('#messages li.mentions-me').count()).toBe(1);
    expect(await ada.locator('#messages li .mention').textContent()).toBe(`@ada#${adaMark}`);
    expect(await bob.locator('#messages li.mentions-me').count()).toBe(0);
    expect(await shown()).toEqual([]);

    // Ada's tab goes to the background: the next mention notifies her.
    await ada.evaluate(`Object.defineProperty(document, 'visibilityState', { value: 'hidden', configurable: true })`);
    await say(bob, `@ada#${adaMark} ping`);
    const bobMark = (await identityOf(bob)).mark;
    await eventually(async () => expect(await shown()).toEqual([`bob#${bobMark} mentioned you in #lobby | @ada#${adaMark} ping`]), 5000);
  });
});

describe('reading comfort', () => {
  it('makes links clickable with rel="noopener noreferrer", never javascript: links, and markup stays text', async () => {
    const { url } = await startChat();
    const ada = await visit(url);
    await say(ada, 'see https://example.com/a?b=1, or javascript:alert(1) <b>bold</b>');
    await eventually(async () => expect(await ada.locator('#messages li a').count()).toBe(1), 5000);
    const link = ada.locator('#messages li a');
    expect(await link.getAttribute('href')).toBe('https://example.com/a?b=1');
    expect(await link.getAttribute('rel')).toBe('noopener noreferrer');
    expect(await link.textContent()).toBe('https://example.com/a?b=1');
    expect(await ada.locator('#messages li b').count()).toBe(0);
    expect(await ada.locator('#messages li .body').textContent()).toBe('see https://example.com/a?b=1, or javascript:alert(1) <b>bold</b>');
  });

  it('shows the author once for consecutive messages and a day separator before the first', async () => {
    const { url } = await startChat();
    const ada = await visit(url);
    await say(ada, 'one');
    await say(ada, 'two');
    await eventually(async () => expect(await ada.locator('#messages li').count()).toBe(2), 5000);
    expect(await ada.locator('#messages li .day').count()).toBe(1);
    expect(await ada.locator('#messages li').nth(1).getAttribute('class')).toContain('continued');
    // Visually hidden (still read out): a 1-pixel clipped box.
    expect((await ada.locator('#messages li').nth(1).locator('.author').boundingBox())!.width).toBeLessThanOrEqual(1);
    expect((await ada.locator('#messages li').nth(0).locator('.author').boundingBox())!.width).toBeGreaterThan(10);
  });
});

describe('the phone layout', () => {
  it('gives the conversation at least 60 % of a 375×667 screen; rooms and people open in a drawer from the header; the name is in a profile dialog', async () => {
    const { url } = await startChat();
    const phone = await visit(url, PHONE);
    const list = (await phone.locator('#messages').boundingBox())!;
    expect(list.height / 667).toBeGreaterThanOrEqual(0.6);
    expect(await phone.evaluate<number>('document.documentElement.scrollWidth'), 'no sideways scrolling').toBeLessThanOrEqual(375);
    expect(await phone.locator('#sidebar').isVisible()).toBe(false);
    expect(await phone.locator('#name-input').isVisible()).toBe(false);

    await phone.locator('#drawer-toggle').tap();
    await eventually(async () => expect(await phone.locator('#rooms button[data-room="lobby"]').isVisible()).toBe(true), 2000);
    expect(await phone.locator('#drawer-toggle').getAttribute('aria-expanded')).toBe('true');
    await phone.locator('#new-room').tap();
    await phone.locator('#invite').waitFor({ state: 'visible', timeout: 5000 });
    await phone.locator('#rooms button[data-room="lobby"]').tap();
    // Choosing a room closes the drawer.
    await eventually(async () => expect(await phone.locator('#sidebar').isVisible()).toBe(false), 2000);
    expect(await phone.locator('#room-title').textContent()).toBe('# lobby');

    await setName(phone, 'pocket');
    await say(phone, 'from the phone');
    await waitForMessages(phone, ['pocket: from the phone']);
  }, 60_000);

  it('keeps the input above the on-screen keyboard: the page follows the visual viewport', async () => {
    const { url } = await startChat();
    const phone = await visit(url, PHONE);
    // The keyboard takes 300 px: Chromium shrinks the visual viewport (emulated by resizing it).
    await phone.setViewportSize({ width: 375, height: 367 });
    await eventually(async () => {
      const input = (await phone.locator('#message-input').boundingBox())!;
      expect(input.y + input.height).toBeLessThanOrEqual(367);
    }, 2000);
  });
});

describe('accessibility', () => {
  for (const [size, options] of [
    ['desktop', {}],
    ['phone', PHONE],
  ] as const) {
    it(`has no axe-core violations on the ${size}: the lobby with messages, a private room, the drawer and the profile dialog`, async () => {
      const { url } = await startChat();
      const page = await visit(url, { ...options, axe: true });
      await setName(page, 'ada');
      await say(page, 'hello, see https://example.com');
      await say(page, 'and again');
      await waitForMessages(page, ['ada: hello, see https://example.com', 'ada: and again']);
      // axe-core measures what it sees: wait for the status badge's final colours.
      await settledView(page);
      expect(await axeViolations(page), 'lobby').toEqual([]);
      // The README's picture of the page.
      const dir = fileURLToPath(new URL('../../../../test-results/', import.meta.url));
      mkdirSync(dir, { recursive: true });
      await page.screenshot({ path: join(dir, `chat-${size}.png`) });

      if (size === 'phone') await page.locator('#drawer-toggle').tap();
      await createRoom(page);
      await settledView(page); // the drawer's slide has ended
      expect(await axeViolations(page), size === 'phone' ? 'drawer open in a private room' : 'private room').toEqual([]);

      await page.locator('#profile-button').click();
      await page.locator('#profile-dialog').waitFor();
      expect(await axeViolations(page), 'profile dialog').toEqual([]);
      await page.locator('#profile-close').click();
    });
  }
});
