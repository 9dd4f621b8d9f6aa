/**
 * The chat page (`examples/chat/web/`) in real Chromium against the chat running in-process:
 * chatting between pages, history on reload and after a lost connection (resumed from the room's
 * replay stream over WebSocket or LongPoll without reloading history, or reloaded when the stream
 * no longer covers the outage), presence, the
 * connection state, user text rendered as text under a CSP without inline script, private rooms
 * with invite links, and use on a phone-sized screen and from the keyboard.
 *
 * Each test opens pages in fresh browser contexts (a context is one visitor: its own
 * localStorage, hence its own identity and name). Chromium comes from `useChromium` (test-support);
 * without it the file fails and says how to install it.
 */
import { mkdirSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import { connect as tcpConnect, createServer as createTcpServer, type Socket as TcpSocket } from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import { useChromium } from '@starling/test-support/browser';
import { sendAll, tampered, useChats, type TestChat } from '../support/chat.ts';
import { eventually, sleep } from '@starling/test-support/eventually';
import { joined, joinOutcome } from '@starling/test-support/official-client';
import { TcpProxy } from '@starling/test-support/tcp-proxy';

const chats = useChats();

const browser = useChromium();
const contexts: BrowserContext[] = [];
const proxies: Array<{ close(): Promise<void> }> = [];
/** Uncaught errors and dialogs (alert, confirm…) of every page a test opened. */
let pageErrors: string[] = [];
let dialogs: string[] = [];

afterEach(async () => {
  await Promise.all(contexts.splice(0).map((context) => context.close()));
  await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
  const seen = { pageErrors, dialogs };
  pageErrors = [];
  dialogs = [];
  expect(seen, 'no page may throw or open a dialog').toEqual({ pageErrors: [], dialogs: [] });
});

/** A new visitor (fresh context: no stored token or name) with a blank page. */
async function newVisitor(options: Parameters<Browser['newContext']>[0] = {}): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 900, height: 640 }, ...options });
  contexts.push(context);
  const page = await context.newPage();
  page.on('pageerror', (error) => pageErrors.push(error.message));
  page.on('dialog', (dialog) => {
    dialogs.push(`${dialog.type()}: ${dialog.message()}`);
    void dialog.dismiss();
  });
  return page;
}

/** A new visitor with one page open at `url`. */
async function visit(url: string, options: Parameters<Browser['newContext']>[0] = {}): Promise<Page> {
  const page = await newVisitor(options);
  await page.goto(url);
  return page;
}

/** Records the topic of every `phx_join` the page sends, across reconnects. */
function joinsSentBy(page: Page): string[] {
  const topics: string[] = [];
  page.on('websocket', (socket) =>
    socket.on('framesent', ({ payload }) => {
      const frame = JSON.parse(String(payload)) as unknown[]; // V2: [join_ref, ref, topic, event, payload]
      if (frame[3] === 'phx_join') topics.push(String(frame[2]));
    }),
  );
  return topics;
}

async function waitForStatus(page: Page, state: 'connecting' | 'online' | 'reconnecting', timeoutMs = 5000): Promise<void> {
  await page.locator(`#status[data-state="${state}"]`).waitFor({ timeout: timeoutMs });
  expect(await page.locator('#status').textContent()).toBe(state);
}

/** Resolves after the page has rendered two more frames: what a change makes it do within a frame is done. */
async function animationFrames(page: Page): Promise<void> {
  await page.evaluate('new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(() => resolve(undefined))))');
}

/** Opens the profile dialog (the name form and "Sign out other devices" are in it, on every size). */
async function openProfile(page: Page): Promise<void> {
  await page.locator('#profile-button').click();
  await page.locator('#profile-dialog').waitFor();
}

/** Saves `name` as the page's display name in the profile dialog, then waits until the page is back in its room under that name. */
async function setName(page: Page, name: string): Promise<void> {
  await openProfile(page);
  await page.locator('#name-input').fill(name);
  await page.locator('#name-input').press('Enter');
  await eventually(async () => expect(await online(page)).toContain(name), 5000);
}

/** Types `body` into the message input and presses Enter. */
async function say(page: Page, body: string): Promise<void> {
  await page.locator('#message-input').fill(body);
  await page.locator('#message-input').press('Enter');
}

/** The names in the page's who's-online list, without their marks (see `onlineAsShown`). */
const online = (page: Page): Promise<string[]> => page.locator('#online li .name').allTextContents();

/** The who's-online list as shown: `name#mark`. */
const onlineAsShown = (page: Page): Promise<string[]> => page.locator('#online li').allTextContents();

/** The page's message list as "author: body", the author's name without its mark. */
async function messages(page: Page): Promise<string[]> {
  return page
    .locator('#messages li')
    .evaluateAll((items) => items.map((item) => `${item.querySelector('.author .name')?.textContent}: ${item.querySelector('.body')?.textContent}`));
}

async function waitForMessages(page: Page, expected: string[], timeoutMs = 5000): Promise<void> {
  await eventually(async () => expect(await messages(page)).toEqual(expected), timeoutMs);
}

/** Presses Tab until `selector` has the focus; fails after 20 presses. */
async function tabTo(page: Page, selector: string): Promise<void> {
  for (let i = 0; i < 20; i++) {
    await page.keyboard.press('Tab');
    if (await page.locator(selector).evaluate((element) => element.matches(':focus'))) return;
  }
  throw new Error(`Tab never reached ${selector}`);
}

/**
 * Whether `target` is entirely on screen as the page is now, without scrolling: inside the
 * viewport and, when given, inside `within` (a scrolling container clips what it does not show).
 */
async function onScreen(target: Locator, within?: Locator): Promise<boolean> {
  const viewport = target.page().viewportSize();
  const box = await target.boundingBox();
  const frame = within === undefined ? null : await within.boundingBox();
  if (viewport === null || box === null || (within !== undefined && frame === null)) return false;
  const contains = (outer: { x: number; y: number; width: number; height: number }): boolean =>
    box.x >= outer.x - 0.5 && box.y >= outer.y - 0.5 && box.x + box.width <= outer.x + outer.width + 0.5 && box.y + box.height <= outer.y + outer.height + 0.5;
  return contains({ x: 0, y: 0, ...viewport }) && (frame === null || contains(frame));
}

/** Posts `count` lobby messages "message 1"… as "bot" through the official client. */
async function postAsBot(chat: TestChat, count: number): Promise<void> {
  const writer = (await chats.userSocket(chat)).socket.channel('rooms:lobby', { name: 'bot' });
  await joined(writer);
  await sendAll(
    writer,
    Array.from({ length: count }, (_, i) => `message ${i + 1}`),
  );
  writer.leave();
}

/** A chat (with `options`) and the URL of its page. */
async function startChat(options: Parameters<typeof chats.start>[0] = {}): Promise<{ chat: TestChat; url: string }> {
  const chat = await chats.start(options);
  return { chat, url: `${chat.baseUrl}/` };
}

/** A `phx_join` of a room that a page sent: over which transport, with which params. */
interface RoomJoin {
  readonly transport: 'websocket' | 'longpoll';
  readonly params: Record<string, unknown>;
}

/**
 * Every `phx_join` of a room the page sends, from WebSocket frames and LongPoll POST bodies (a
 * page that lost its WebSocket may come back over LongPoll), across reconnects.
 */
function roomJoinsSentBy(page: Page): RoomJoin[] {
  const joins: RoomJoin[] = [];
  const record = (transport: RoomJoin['transport'], text: string): void => {
    const frame = JSON.parse(text) as unknown[]; // V2: [join_ref, ref, topic, event, payload]
    if (frame[3] === 'phx_join' && String(frame[2]).startsWith('rooms:')) joins.push({ transport, params: frame[4] as Record<string, unknown> });
  };
  page.on('websocket', (socket) => socket.on('framesent', ({ payload }) => record('websocket', String(payload))));
  page.on('request', (request) => {
    if (request.method() !== 'POST' || !request.url().includes('/socket/longpoll')) return;
    for (const line of (request.postData() ?? '').split('\n')) if (line !== '') record('longpoll', line);
  });
  return joins;
}

/**
 * A TCP line to the chat that can drop every connection and hold new ones — accepted, neither
 * refused nor relayed — until {@link release}. A page whose WebSocket was dropped reconnects into
 * the held line and, once released, over that WebSocket: its reconnect never fails, so phoenix.js
 * has no reason to fall back to LongPoll (as it does when a reconnect is refused, see TcpProxy).
 */
interface HoldingLine {
  readonly port: number;
  /** Destroys every relayed connection; new ones wait. */
  drop(): void;
  /** Relays the waiting connections, and new ones again. */
  release(): void;
}

async function startHoldingLine(target: number): Promise<HoldingLine> {
  const relayed = new Set<TcpSocket>();
  let held: TcpSocket[] | null = null;
  const relay = (client: TcpSocket): void => {
    const upstream = tcpConnect(target, '127.0.0.1');
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      relayed.add(from);
      from.pipe(to);
      from.on('error', () => to.destroy());
      from.on('close', () => {
        relayed.delete(from);
        to.destroy();
      });
    }
  };
  const server = createTcpServer((client) => {
    if (held === null) return relay(client);
    client.pause(); // what it sends waits in the socket until release
    client.on('error', () => client.destroy());
    held.push(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxies.push({
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of [...relayed, ...(held ?? [])]) socket.destroy();
        server.close(() => resolve());
      }),
  });
  return {
    port: (server.address() as { port: number }).port,
    drop() {
      held ??= [];
      for (const socket of relayed) socket.destroy();
    },
    release() {
      const waiting = held ?? [];
      held = null;
      for (const client of waiting) if (!client.destroyed) relay(client);
    },
  };
}

/** How many history pages the chat has read from its store, by request (`chat_history_pages_total` in `/metrics`). */
async function pagesRead(chat: TestChat): Promise<{ join: number; history: number }> {
  const text = await (await fetch(`${chat.baseUrl}/metrics`)).text();
  const count = (request: string): number => {
    const line = text.split('\n').find((l) => l.startsWith(`chat_history_pages_total{request="${request}"} `));
    return line === undefined ? 0 : Number(line.split(' ')[1]);
  };
  return { join: count('join'), history: count('history') };
}

/** A writer in the lobby through the official client, as "alice". */
async function lobbyWriter(chat: TestChat): Promise<(bodies: string[]) => Promise<void>> {
  const writer = (await chats.userSocket(chat)).socket.channel('rooms:lobby', { name: 'alice' });
  await joined(writer);
  return async (bodies) => void (await sendAll(writer, bodies));
}

const numbered = (count: number, prefix: string): string[] => Array.from({ length: count }, (_, i) => `${prefix} ${i + 1}`);
const byAlice = (bodies: string[]): string[] => bodies.map((body) => `alice: ${body}`);

/** An HTTP proxy in front of the chat that forwards requests but refuses every WebSocket upgrade. */
interface BlockingProxy {
  readonly url: string;
  readonly port: number;
  refusedUpgrades: number;
  target: number;
}

async function startWebSocketBlockingProxy(): Promise<BlockingProxy> {
  const proxy: BlockingProxy = { url: '', port: 0, refusedUpgrades: 0, target: 0 };
  const server = createServer((req, res) => {
    const forward = httpRequest({ host: '127.0.0.1', port: proxy.target, path: req.url, method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    forward.on('error', () => res.writeHead(502).end());
    req.pipe(forward);
  });
  server.on('upgrade', (_req, socket: Duplex) => {
    proxy.refusedUpgrades++;
    socket.end('HTTP/1.1 403 Forbidden\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxies.push({ close: () => new Promise<void>((resolve) => server.close(() => resolve())) });
  const port = (server.address() as { port: number }).port;
  return Object.assign(proxy, { port, url: `http://127.0.0.1:${port}/` });
}

/** Starts a chat whose public URL is the proxy's (so its origin check admits the proxied pages). */
async function startChatBehind(proxy: BlockingProxy): Promise<{ chat: TestChat }> {
  const chat = await chats.start({ publicUrl: `http://127.0.0.1:${proxy.port}` });
  proxy.target = chat.chat.port;
  return { chat };
}

/** Saves side-by-side screenshots of `pages` as one PNG under test-results/. */
async function screenshotSideBySide(pages: Page[], file: string): Promise<void> {
  const shots = await Promise.all(pages.map((page) => page.screenshot()));
  const context = await browser.newContext({ viewport: { width: 1800, height: 640 } });
  contexts.push(context);
  const canvas = await context.newPage();
  await canvas.setContent(
    `<body style="margin:0;display:flex;gap:8px;background:#444">${shots
      .map((shot) => `<img src="data:image/png;base64,${shot.toString('base64')}">`)
      .join('')}</body>`,
  );
  const dir = fileURLToPath(new URL('../../../../test-results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  await canvas.screenshot({ path: join(dir, file), fullPage: true });
}

describe('the chat page', () => {
  it('shows everyone as name#mark: two people who both chose "alice" are told apart everywhere', async () => {
    const { url } = await startChat();
    const first = await visit(url);
    const second = await visit(url);
    await setName(first, 'alice');
    await setName(second, 'alice');
    const markOf = async (page: Page): Promise<string> => {
      const you = (await page.locator('#you').textContent()) ?? '';
      expect(you).toMatch(/^You appear as alice#[\w-]{6}$/);
      return you.slice(you.indexOf('#'));
    };
    const firstMark = await markOf(first);
    const secondMark = await markOf(second);
    expect(firstMark).not.toBe(secondMark);

    await eventually(async () => expect((await onlineAsShown(first)).sort()).toEqual([`alice${firstMark}`, `alice${secondMark}`].sort()), 5000);
    await say(second, 'it is me');
    await eventually(async () => expect(await first.locator('#messages li .author').allTextContents()).toEqual([`alice${secondMark}`]), 5000);
    // A reload keeps the user, so the mark stays.
    await second.reload();
    await waitForStatus(second, 'online');
    expect(await markOf(second)).toBe(secondMark);
  });

  it('shows the mark in an element of its own, a badge: a name typed as "alice#<alice’s mark>" shows as a name, followed by its author’s real mark', async () => {
    const { url } = await startChat();
    const alice = await visit(url);
    const mallory = await visit(url);
    await setName(alice, 'alice');
    const aliceMark = (await alice.locator('#you .mark').textContent()) ?? '';
    expect(aliceMark).toMatch(/^#[\w-]{6}$/);
    const fake = `alice${aliceMark}`;
    await setName(mallory, fake);
    const malloryMark = (await mallory.locator('#you .mark').textContent()) ?? '';
    expect(malloryMark).not.toBe(aliceMark);
    await say(mallory, 'it is me');
    await eventually(async () => expect(await messages(alice)).toEqual([`${fake}: it is me`]), 5000);

    /** How a shown person is drawn: its elements with their text, and the font of each. */
    const drawn = (person: Locator): Promise<Array<{ tag: string; className: string; text: string; font: string; isolated: string }>> =>
      person.evaluate((element) => {
        // (The page's own window: the test project has no DOM types, so no global getComputedStyle.)
        const view = element.ownerDocument.defaultView!;
        return [...element.children].map((child) => ({
          tag: child.tagName.toLowerCase(),
          className: child.className,
          text: child.textContent ?? '',
          font: view.getComputedStyle(child).fontFamily,
          isolated: view.getComputedStyle(child).unicodeBidi,
        }));
      });
    const expectNameThenMark = async (person: Locator, name: string, mark: string): Promise<void> => {
      // The text reads name#mark (copy, search, screen readers) ...
      expect(await person.textContent()).toBe(`${name}${mark}`);
      const [shownName, shownMark, ...rest] = await drawn(person);
      expect(rest).toEqual([]);
      // ... the "#…" typed into the name is text of the name, in the name's font, bidi-isolated ...
      expect(shownName).toMatchObject({ tag: 'bdi', className: 'name', text: name, isolated: 'isolate' });
      expect(shownName!.font).not.toMatch(/monospace/);
      // ... and the one mark is its own element, a monospace badge.
      expect(shownMark).toMatchObject({ tag: 'span', className: 'mark', text: mark });
      expect(shownMark!.font).toMatch(/monospace/);
    };

    // In a message, in the online list and in "You appear as".
    await expectNameThenMark(alice.locator('#messages li .author'), fake, malloryMark);
    await eventually(async () => expect(await onlineAsShown(alice)).toContain(`${fake}${malloryMark}`), 5000);
    await expectNameThenMark(alice.locator('#online li', { hasText: malloryMark }).locator('.person'), fake, malloryMark);
    // (Alice's own entry only: "alice#<her mark>" is also how Mallory's entry begins.)
    await expectNameThenMark(alice.locator('#online li', { hasText: new RegExp(`^alice${aliceMark}$`) }).locator('.person'), 'alice', aliceMark);
    await expectNameThenMark(mallory.locator('#you .person'), fake, malloryMark);
    // A screen reader hears the mark announced as one (the badge's alternative text).
    // Read out as a screen reader meets it, in the profile dialog.
    await openProfile(mallory);
    expect(await mallory.locator('#you').ariaSnapshot()).toContain(`You appear as ${fake} mark ${malloryMark}`);
    expect(await alice.locator('.mark').evaluateAll((marks) => marks.map((mark) => mark.textContent))).toEqual(
      expect.arrayContaining([aliceMark, malloryMark]),
    );
    expect(await alice.locator('#messages .mark').count()).toBe(1);
  });

  it('refuses a name with a right-to-left override in the name form, and keeps the name it had', async () => {
    const { url } = await startChat();
    const mallory = await visit(url);
    await setName(mallory, 'mallory');

    await openProfile(mallory);
    await mallory.locator('#name-input').fill('alice#Xk3f9a\u202e');
    await mallory.locator('#name-input').press('Enter');

    expect(await mallory.locator('#name-input').evaluate((input) => (input as unknown as { validationMessage: string }).validationMessage)).toMatch(
      /invisible formatting characters/,
    );
    expect(await mallory.locator('#you .name').textContent()).toBe('mallory');
    expect(await online(mallory)).toEqual(['mallory']);
  });

  it('lets two people chat both ways: Enter sends, both pages show author and text', async () => {
    const { url } = await startChat();
    const alice = await visit(url);
    const bob = await visit(url);
    await setName(alice, 'alice');
    await setName(bob, 'bob');

    await say(alice, 'hi bob');
    await waitForMessages(bob, ['alice: hi bob']);
    await say(bob, 'hello alice');

    await waitForMessages(alice, ['alice: hi bob', 'bob: hello alice']);
    await waitForMessages(bob, ['alice: hi bob', 'bob: hello alice']);
    expect(await alice.locator('#message-input').inputValue()).toBe('');
    const time = alice.locator('#messages li time').first();
    expect(await time.getAttribute('datetime')).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(await time.textContent()).toMatch(/\d/);
    await screenshotSideBySide([alice, bob], 'chat-two-pages.png');
  });

  it('shows the history after a reload and remembers the display name', async () => {
    const { url } = await startChat();
    const alice = await visit(url);
    await setName(alice, 'alice');
    await say(alice, 'first');
    await say(alice, 'second');
    await waitForMessages(alice, ['alice: first', 'alice: second']);

    await alice.reload();

    await waitForMessages(alice, ['alice: first', 'alice: second']);
    expect(await alice.locator('#name-input').inputValue()).toBe('alice');
    await eventually(async () => expect(await online(alice)).toEqual(['alice']), 5000);
  });

  it('offers older messages beyond the last 50 and loads them on request; the newest and the input stay on screen', async () => {
    const { chat, url } = await startChat();
    await postAsBot(chat, 60);
    const reader = await visit(url);

    await eventually(async () => expect(await messages(reader)).toHaveLength(50), 5000);
    expect((await messages(reader))[0]).toBe('bot: message 11');
    expect(await onScreen(reader.locator('#messages li').last(), reader.locator('#messages'))).toBe(true);
    expect(await onScreen(reader.locator('#message-input'))).toBe(true);
    await reader.locator('#older').click();

    await eventually(async () => expect(await messages(reader)).toHaveLength(60), 5000);
    expect((await messages(reader))[0]).toBe('bot: message 1');
    expect(await reader.locator('#older').isHidden()).toBe(true);
  });

  it('shows a page that lost its connection as reconnecting, then what it missed once it is back', async () => {
    const { chat, url } = await startChat();
    const proxy = await TcpProxy.start(chat.chat.port);
    proxies.push(proxy);
    const alice = await visit(url);
    const bob = await visit(`http://127.0.0.1:${proxy.port}/`);
    await setName(alice, 'alice');
    await setName(bob, 'bob');
    await say(alice, 'before');
    await waitForMessages(bob, ['alice: before']);

    proxy.cut();
    await waitForStatus(bob, 'reconnecting');
    await say(alice, 'while you were away');
    await say(alice, 'and this too');
    await waitForMessages(alice, ['alice: before', 'alice: while you were away', 'alice: and this too']);
    expect(await messages(bob)).toEqual(['alice: before']);

    proxy.restore();

    await waitForStatus(bob, 'online', 10_000);
    await waitForMessages(bob, ['alice: before', 'alice: while you were away', 'alice: and this too']);
  });

  it('shows who is online from Presence and drops a person when their page closes', async () => {
    const { url } = await startChat();
    const alice = await visit(url);
    const bob = await visit(url);
    await setName(alice, 'alice');
    await setName(bob, 'bob');

    await eventually(async () => expect(await online(alice)).toEqual(['alice', 'bob']), 5000);

    await bob.close();

    await eventually(async () => expect(await online(alice)).toEqual(['alice']), 5000);
  });

  it('shows the connection state: online, reconnecting while the server is gone, online once it is back', async () => {
    const { chat, url } = await startChat();
    const alice = await visit(url);
    await waitForStatus(alice, 'online');
    await setName(alice, 'alice');
    await say(alice, 'before the restart');
    await waitForMessages(alice, ['alice: before the restart']);

    await chat.close();
    await waitForStatus(alice, 'reconnecting');
    await chats.start({ port: chat.chat.port, dataDir: chat.dataDir });

    await waitForStatus(alice, 'online', 10_000);
    await say(alice, 'after the restart');
    await waitForMessages(alice, ['alice: before the restart', 'alice: after the restart']);
  });

  it('chats over LongPoll behind a proxy that refuses WebSockets', async () => {
    const proxy = await startWebSocketBlockingProxy();
    const { chat } = await startChatBehind(proxy);
    const alice = await visit(proxy.url);
    const bob = await visit(proxy.url);
    await setName(alice, 'alice');
    await setName(bob, 'bob');

    await say(alice, 'through long polling');
    await waitForMessages(bob, ['alice: through long polling'], 10_000);
    await expect.poll(() => alice.locator('#status').textContent()).toMatch(/online/);
    expect(proxy.refusedUpgrades).toBeGreaterThan(0);
    // Both pages hold a LongPoll session: no WebSocket ever reached the chat.
    expect(chat.chat.endpoint.connectionCount).toBe(2);
  });

  it('renders message text as text: markup shows literally and runs nothing', async () => {
    const { url } = await startChat();
    const mallory = await visit(url);
    const alice = await visit(url);
    await setName(mallory, '<b>mallory</b>');
    await setName(alice, 'alice');
    const attack = '<img src=x onerror=alert(1)><script>alert(2)</script>';

    await say(mallory, attack);

    await waitForMessages(alice, [`<b>mallory</b>: ${attack}`]);
    expect(await alice.locator('#messages img, #messages script, #messages b, #online b').count()).toBe(0);
    expect(await online(alice)).toContain('<b>mallory</b>');
    await sleep(200); // an onerror handler would have run by now
    expect(dialogs).toEqual([]);
  });

  it('is served with a Content-Security-Policy that forbids inline script, and Chromium enforces it', async () => {
    const { url } = await startChat();
    const alice = await visit(url);
    const response = await alice.request.get(url);
    const csp = response.headers()['content-security-policy'] ?? '';
    const scriptSrc = csp
      .split(';')
      .map((directive) => directive.trim())
      .find((directive) => directive.startsWith('script-src'));

    expect(scriptSrc).toBe("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('unsafe-eval');

    // What an injected inline script would do. (In-page code is a string: the test project has no DOM types.)
    const outcome = await alice.evaluate<{ ran: boolean; violated: string | null }>(`new Promise((resolve) => {
      let violated = null;
      document.addEventListener('securitypolicyviolation', (event) => (violated = event.effectiveDirective));
      const script = document.createElement('script');
      script.textContent = 'window.inlineScriptRan = true';
      document.body.append(script);
      setTimeout(() => resolve({ ran: window.inlineScriptRan === true, violated }), 100);
    })`);
    expect(outcome).toEqual({ ran: false, violated: 'script-src-elem' });
  });
});

describe('the page coming back after a lost connection', () => {
  const POSITION = /^[^:]+:\d+$/;

  /**
   * Bob says "back" from the page and waits to see it after `shown`: the page's pushes go in
   * order and the room handles them in order, so any reload of history it asked for on its
   * rejoin has been counted by then.
   */
  async function back(bob: Page, shown: string[]): Promise<void> {
    await say(bob, 'back');
    await waitForMessages(bob, [...shown, 'bob: back']);
  }

  it('shows what it missed once and in order, replayed by the server from where it left off over a new WebSocket: no history is reloaded', async () => {
    const { chat } = await startChat();
    const line = await startHoldingLine(chat.chat.port);
    const post = await lobbyWriter(chat);
    const bob = await visit(`http://127.0.0.1:${line.port}/`);
    const joins = roomJoinsSentBy(bob);
    await setName(bob, 'bob');
    await post(['before 1', 'before 2']);
    await waitForMessages(bob, byAlice(['before 1', 'before 2']));
    const pages = await pagesRead(chat);

    line.drop();
    await waitForStatus(bob, 'reconnecting');
    await post(numbered(5, 'missed'));
    expect(await messages(bob)).toEqual(byAlice(['before 1', 'before 2']));
    line.release();

    await waitForStatus(bob, 'online', 10_000);
    await waitForMessages(bob, byAlice(['before 1', 'before 2', ...numbered(5, 'missed')]));
    await post(['live']);
    await back(bob, byAlice(['before 1', 'before 2', ...numbered(5, 'missed'), 'live']));
    // The rejoin sent the position of the last message seen, and the server read no page for it.
    expect(joins.map((join) => join.transport)).toEqual(['websocket', 'websocket', 'websocket']);
    expect(joins.at(-1)?.params).toEqual({ name: 'bob', recover: expect.stringMatching(POSITION) });
    expect(await pagesRead(chat)).toEqual(pages);
  });

  it('resumes the same way when its reconnects are refused and phoenix.js falls back to LongPoll', async () => {
    const { chat } = await startChat();
    const proxy = await TcpProxy.start(chat.chat.port);
    proxies.push(proxy);
    const post = await lobbyWriter(chat);
    const bob = await visit(`http://127.0.0.1:${proxy.port}/`);
    const joins = roomJoinsSentBy(bob);
    await setName(bob, 'bob');
    await post(['before']);
    await waitForMessages(bob, byAlice(['before']));
    const pages = await pagesRead(chat);

    // The line comes back only once phoenix.js has switched to LongPoll (its first poll, refused
    // like the WebSocket before it): restored any earlier, a WebSocket retry could get through.
    const polled = bob.waitForRequest((request) => request.url().includes('/socket/longpoll'), { timeout: 10_000 });
    proxy.cut();
    await waitForStatus(bob, 'reconnecting');
    await polled;
    await post(numbered(5, 'missed'));
    proxy.restore();

    await waitForStatus(bob, 'online', 10_000);
    await waitForMessages(bob, byAlice(['before', ...numbered(5, 'missed')]));
    await back(bob, byAlice(['before', ...numbered(5, 'missed')]));
    expect(joins.map((join) => join.transport)).toEqual(['websocket', 'websocket', 'longpoll']);
    expect(joins.at(-1)?.params).toEqual({ name: 'bob', recover: expect.stringMatching(POSITION) });
    expect(await pagesRead(chat)).toEqual(pages);
  });

  it('resumes the same way once it has fallen back to LongPoll behind a proxy that refuses WebSockets', async () => {
    const blocking = await startWebSocketBlockingProxy();
    const line = await TcpProxy.start(blocking.port);
    proxies.push(line);
    const chat = await chats.start({ publicUrl: `http://127.0.0.1:${line.port}` });
    blocking.target = chat.chat.port;
    const post = await lobbyWriter(chat);
    const bob = await visit(`http://127.0.0.1:${line.port}/`);
    const joins = roomJoinsSentBy(bob);
    await setName(bob, 'bob');
    await post(['before']);
    await waitForMessages(bob, byAlice(['before']), 10_000);
    expect(blocking.refusedUpgrades).toBeGreaterThan(0);
    const pages = await pagesRead(chat);

    line.cut();
    await waitForStatus(bob, 'reconnecting', 10_000);
    await post(numbered(4, 'missed'));
    line.restore();

    await waitForStatus(bob, 'online', 10_000);
    await waitForMessages(bob, byAlice(['before', ...numbered(4, 'missed')]), 10_000);
    await back(bob, byAlice(['before', ...numbered(4, 'missed')]));
    expect(joins.map((join) => join.transport)).toEqual(['longpoll', 'longpoll', 'longpoll']);
    expect(joins.at(-1)?.params).toEqual({ name: 'bob', recover: expect.stringMatching(POSITION) });
    expect(await pagesRead(chat)).toEqual(pages);
  });

  it('reloads the latest page when it was away longer than the room keeps, and shows every message once', async () => {
    const { chat } = await startChat({ limits: { replayMessages: 2 } });
    const proxy = await TcpProxy.start(chat.chat.port);
    proxies.push(proxy);
    const post = await lobbyWriter(chat);
    const bob = await visit(`http://127.0.0.1:${proxy.port}/`);
    await setName(bob, 'bob');
    await post(['before']);
    await waitForMessages(bob, byAlice(['before']));
    const pages = await pagesRead(chat);

    proxy.cut();
    await waitForStatus(bob, 'reconnecting');
    await post(numbered(5, 'missed'));
    proxy.restore();

    await waitForStatus(bob, 'online', 10_000);
    await waitForMessages(bob, byAlice(['before', ...numbered(5, 'missed')]));
    await post(['live']);
    await back(bob, byAlice(['before', ...numbered(5, 'missed'), 'live']));
    // Three messages fell out of the room's stream: the page asked for the latest page, once.
    expect(await pagesRead(chat)).toEqual({ join: pages.join, history: pages.history + 1 });
  });

  it('shows no hole when it missed more than a page: the latest page, then older ones on request', async () => {
    const { chat } = await startChat({ limits: { replayMessages: 2 } });
    const proxy = await TcpProxy.start(chat.chat.port);
    proxies.push(proxy);
    const post = await lobbyWriter(chat);
    const bob = await visit(`http://127.0.0.1:${proxy.port}/`);
    await post(['before']);
    await waitForMessages(bob, byAlice(['before']));

    proxy.cut();
    await waitForStatus(bob, 'reconnecting');
    await post(numbered(55, 'missed'));
    proxy.restore();

    // The 50 newest, not "before" followed by a jump to "missed 6".
    await waitForStatus(bob, 'online', 10_000);
    await waitForMessages(bob, byAlice(numbered(55, 'missed').slice(5)));
    await bob.locator('#older').click();
    await waitForMessages(bob, byAlice(['before', ...numbered(55, 'missed')]));
    expect(await bob.locator('#older').isHidden()).toBe(true);
  });
});

describe('private rooms in the page', () => {
  it('creates a room with an invite link; whoever opens the link joins and can chat there; others are refused', async () => {
    const { chat, url } = await startChat();
    const alice = await visit(url);
    await setName(alice, 'alice');

    await alice.locator('#new-room').click();
    await alice.locator('#invite').waitFor({ state: 'visible', timeout: 5000 });
    const invite = await alice.locator('#invite-link').inputValue();
    const roomId = await alice.locator('#rooms button[aria-current="true"]').getAttribute('data-room');
    expect(invite.startsWith(`${url}?invite=`), invite).toBe(true);
    expect(roomId).not.toBe('lobby');
    expect(await alice.locator('#room-title').textContent()).toBe("# alice's room");

    const bob = await visit(invite);
    await setName(bob, 'bob');
    expect(await bob.locator('#room-title').textContent()).toBe("# alice's room");
    expect(await bob.locator('#rooms button').allTextContents()).toEqual(['# lobby', "# alice's room"]);
    expect(bob.url()).toBe(`${url}?room=${roomId}`);
    await eventually(async () => expect(await online(alice)).toEqual(['alice', 'bob']), 5000);
    await say(bob, 'thanks for the invite');
    await waitForMessages(alice, ['bob: thanks for the invite']);
    await say(alice, 'welcome');
    await waitForMessages(bob, ['bob: thanks for the invite', 'alice: welcome']);

    // The room's address brings a member back to it, history included.
    await bob.reload();
    await eventually(async () => expect(await bob.locator('#room-title').textContent()).toBe("# alice's room"), 5000);
    await waitForMessages(bob, ['bob: thanks for the invite', 'alice: welcome']);

    // A third person with an identity of their own, but no invite, is refused the room.
    const carol = await chat.newUser();
    expect(await joinOutcome(chats.socket(chat, { token: carol.token }).channel(`rooms:${roomId}`))).toEqual({
      status: 'error',
      response: { reason: 'unauthorized' },
    });

    // Once Alice revokes the link, it admits nobody more.
    await alice.locator('#revoke-invite').click();
    await eventually(async () => expect(await alice.locator('#revoke-invite').textContent()).toBe('Link revoked'), 5000);
    const dave = await visit(invite);
    await eventually(
      async () => expect(await dave.locator('#room-error').textContent()).toBe('Invite not accepted: this invite is invalid, revoked, used up or has expired'),
      5000,
    );
    expect(await dave.locator('#room-title').textContent()).toBe('# lobby');
  });

  it('lists a room’s members; its owner removes one, whose page is then told it is not a member', async () => {
    const { url } = await startChat();
    const alice = await visit(url);
    await setName(alice, 'alice');
    await alice.locator('#new-room').click();
    await alice.locator('#invite').waitFor({ state: 'visible', timeout: 5000 });
    const invite = await alice.locator('#invite-link').inputValue();
    const bob = await visit(invite);
    await setName(bob, 'bob');
    const members = (page: Page): Promise<string[]> => page.locator('#members li .name').allTextContents();
    await eventually(async () => expect((await members(alice)).sort()).toEqual(['alice', 'bob']), 5000);
    await eventually(async () => expect((await members(bob)).sort()).toEqual(['alice', 'bob']), 5000);
    // Only the owner has Remove buttons, and not for herself.
    expect(await bob.locator('#members button').count()).toBe(0);
    expect(await alice.locator('#members button').count()).toBe(1);

    await alice.locator('#members button').click();

    await eventually(async () => expect(await members(alice)).toEqual(['alice']), 5000);
    await eventually(
      async () => expect(await bob.locator('#room-error').textContent()).toBe('You are not a member of this room: ask for an invite link.'),
      10_000,
    );
  });

  it('signs out other devices: a copy of the token stops working, this page keeps its identity', async () => {
    const { url } = await startChat();
    const laptop = await visit(url);
    await setName(laptop, 'alice');
    const mark = ((await laptop.locator('#you').textContent()) ?? '').split('#')[1];
    const token = String(await laptop.evaluate("localStorage.getItem('starling:token')"));
    // Another device holding the same token.
    const phone = await newVisitor();
    // Copied once: a reload then runs with whatever the page stored since.
    await phone.addInitScript(
      `if (sessionStorage.getItem('copied') === null) {
        localStorage.setItem('starling:token', ${JSON.stringify(token)});
        localStorage.setItem('starling:name', 'alice');
        sessionStorage.setItem('copied', 'yes');
      }`,
    );
    await phone.goto(url);
    await waitForStatus(phone, 'online');
    expect(await phone.locator('#you').textContent()).toBe(`You appear as alice#${mark}`);

    await openProfile(laptop);
    await laptop.locator('#sign-out-others').click();
    await laptop.locator('#profile-close').click();

    // The server closes both pages' sockets; only the laptop comes back, as the same user.
    await waitForStatus(phone, 'reconnecting', 10_000);
    await waitForStatus(laptop, 'online', 10_000);
    expect(await laptop.locator('#you').textContent()).toBe(`You appear as alice#${mark}`);
    await say(laptop, 'still me');
    await waitForMessages(laptop, ['alice: still me']);
    // The phone's token is dead: a reload makes it a new user, with another mark.
    await phone.reload();
    await waitForStatus(phone, 'online', 10_000);
    expect(await phone.locator('#you').textContent()).not.toBe(`You appear as alice#${mark}`);
  });

  it('says so when an invite link is not valid, asks the server only once, and stays in the lobby', async () => {
    const { chat } = await startChat();
    const owner = await chat.newUser();
    const { invite } = await chat.createRoom(owner, 'Book club');
    const forged = new URL(invite);
    forged.searchParams.set('invite', tampered(forged.searchParams.get('invite') ?? ''));
    const page = await newVisitor();
    const accepts: string[] = [];
    page.on('request', (request) => {
      if (request.url().endsWith('/api/invites/accept')) accepts.push(request.url());
    });

    await page.goto(forged.toString());

    const error = page.locator('#room-error');
    await error.waitFor({ state: 'visible', timeout: 5000 });
    expect(await error.textContent()).toBe('Invite not accepted: this invite is invalid, revoked, used up or has expired');
    // Still there once the page has joined the lobby (a successful join clears join errors only).
    await eventually(async () => expect(await online(page)).toHaveLength(1), 5000);
    expect(await error.isVisible()).toBe(true);
    expect(accepts).toHaveLength(1);
    expect(await page.locator('#room-title').textContent()).toBe('# lobby');
    expect(await page.locator('#rooms button').allTextContents()).toEqual(['# lobby']);
  });

  it('tells a visitor who is not a member that the room needs an invite, once, without retrying the join', async () => {
    const { chat, url } = await startChat();
    const owner = await chat.newUser();
    const { room } = await chat.createRoom(owner, 'Book club');
    const stranger = await newVisitor();
    const joins = joinsSentBy(stranger);

    await stranger.goto(`${url}?room=${room.id}`);

    const error = stranger.locator('#room-error');
    await error.waitFor({ state: 'visible', timeout: 5000 });
    expect(await error.textContent()).toBe('You are not a member of this room: ask for an invite link.');
    // phoenix.js would rejoin a refused channel after 1 s, then 2 s, 5 s… for ever.
    await sleep(1500); // a refutation window: longer than phoenix.js's first rejoin delay
    expect(joins.filter((topic) => topic === `rooms:${room.id}`)).toHaveLength(1);
    expect(await error.isVisible()).toBe(true);
    expect(await stranger.locator('#messages li').count()).toBe(0);

    // The lobby still works.
    await stranger.locator('#rooms button[data-room="lobby"]').click();
    await say(stranger, 'hello, anyone?');
    await eventually(async () => expect(await messages(stranger)).toHaveLength(1), 5000);
    expect(await error.isHidden()).toBe(true);
  });
});

describe('the page on a phone and from the keyboard', () => {
  it('fits a 375×667 phone screen: with a long history, the newest message, the input and the send button are on screen', async () => {
    const { chat, url } = await startChat();
    await postAsBot(chat, 60);
    const phone = await visit(url, { viewport: { width: 375, height: 667 }, isMobile: true, hasTouch: true });
    await setName(phone, 'pocket');
    await eventually(async () => expect(await messages(phone)).toHaveLength(50), 5000);
    const input = phone.locator('#message-input');
    const send = phone.locator('#message-form button[type="submit"]');
    const newest = () => phone.locator('#messages li').last();

    expect(await phone.evaluate<number>('document.documentElement.scrollWidth'), 'no sideways scrolling').toBeLessThanOrEqual(375);
    expect(await onScreen(input)).toBe(true);
    expect(await onScreen(send)).toBe(true);
    await eventually(async () => expect(await onScreen(newest(), phone.locator('#messages'))).toBe(true));
    // Big enough to hit with a thumb.
    expect((await input.boundingBox())!.width).toBeGreaterThan(150);
    expect((await send.boundingBox())!.height).toBeGreaterThanOrEqual(30);

    await input.tap();
    await input.fill('sent from a phone');
    await send.tap();

    await eventually(async () => expect((await messages(phone)).at(-1)).toBe('pocket: sent from a phone'), 5000);
    await eventually(async () => expect(await onScreen(newest(), phone.locator('#messages'))).toBe(true));
  });

  it('leaves a reader who scrolled up where they are when a message arrives, and follows new messages again once back at the bottom', async () => {
    const { chat, url } = await startChat();
    await postAsBot(chat, 60);
    const page = await visit(url, { viewport: { width: 800, height: 600 } });
    await eventually(async () => expect(await messages(page)).toHaveLength(50), 5000);
    const list = page.locator('#messages');
    const newest = () => page.locator('#messages li').last();
    await eventually(async () => expect(await onScreen(newest(), list)).toBe(true));

    // The reader scrolls up with the wheel to read older messages.
    const box = (await list.boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.wheel(0, -400);
    await eventually(async () => expect(await onScreen(newest(), list)).toBe(false));
    const readingAt = await list.evaluate((element) => element.scrollTop);

    await postAsBot(chat, 1);
    await eventually(async () => expect((await messages(page)).at(-1)).toBe('bot: message 1'), 5000);
    await animationFrames(page); // the page renders and scrolls within a frame of a message
    expect(await list.evaluate((element) => element.scrollTop), 'the reader was not moved').toBe(readingAt);
    expect(await onScreen(newest(), list)).toBe(false);

    // Back at the bottom, the list follows the conversation again.
    await page.mouse.wheel(0, 100_000);
    await eventually(async () => expect(await onScreen(newest(), list)).toBe(true));
    await postAsBot(chat, 1);
    await eventually(async () => expect(await page.locator('#messages li').count()).toBe(52), 5000);
    await eventually(async () => expect(await onScreen(newest(), list)).toBe(true));
  });

  it('can be used with the keyboard alone: Tab reaches the profile, the buttons and the message input; the name is set in the profile dialog', async () => {
    const { url } = await startChat();
    const page = await visit(url);
    await waitForStatus(page, 'online');
    const reached: string[] = [];

    for (let i = 0; i < 12; i++) {
      await page.keyboard.press('Tab');
      // "#id", or "tag:text" for an element without an id.
      reached.push(
        await page.evaluate<string>(`(() => {
          const active = document.activeElement;
          return active.id ? '#' + active.id : active.tagName.toLowerCase() + ':' + active.textContent.trim();
        })()`),
      );
    }

    expect(reached).toEqual(expect.arrayContaining(['#profile-button', 'button:# lobby', '#new-room', '#message-input', 'button:Send']));
    // Tab order follows the page: the header's profile, rooms, then the message box.
    expect(reached.indexOf('#profile-button')).toBeLessThan(reached.indexOf('#new-room'));
    expect(reached.indexOf('#new-room')).toBeLessThan(reached.indexOf('#message-input'));

    // Type a name and a message without the mouse: the dialog opens on the name input.
    await tabTo(page, '#profile-button');
    await page.keyboard.press('Enter');
    expect(await page.locator('#name-input').evaluate((element) => element.matches(':focus'))).toBe(true);
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.type('keys');
    await page.keyboard.press('Enter');
    await eventually(async () => expect(await online(page)).toEqual(['keys']), 5000);
    await tabTo(page, '#message-input');
    await page.keyboard.type('typed, not clicked');
    await page.keyboard.press('Enter');
    await waitForMessages(page, ['keys: typed, not clicked']);
  });
});
