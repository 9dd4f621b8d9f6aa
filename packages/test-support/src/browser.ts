/**
 * Real Chromium for the end-to-end tests, driven by `playwright-core` (the library only: it
 * downloads no browser). The browser is Debian's `/usr/bin/chromium`, which CI installs
 * (`.ci/run`); when it is missing, {@link launchChromium} fails with a message saying how to
 * install it — the tests never skip.
 *
 * {@link useChromium} gives a test file one browser, launched before its tests and closed after.
 *
 * @example
 * const browser = await launchChromium();
 * const page = await (await browser.newContext()).newPage();
 * await page.goto(url);
 * await browser.close();
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';

/** Where Debian's `chromium` package installs the browser. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

// No sandbox: CI runs as root in a container, where Chromium's sandbox cannot start. The rest
// keeps the browser from phoning home or updating itself mid-test, and off QUIC/GPU paths that
// containers lack.
const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Launches headless Chromium; throws with install instructions when it is not there. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `The end-to-end tests need Chromium at ${CHROMIUM_PATH}, which is missing. Install it with ` +
        '`apt-get install chromium` (CI does this in .ci/run) or set CHROMIUM_PATH.',
    );
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: ARGS, timeout: 15_000 });
}

/** What a test file does with the browser of {@link useChromium}: new contexts and pages. */
export type TestBrowser = Pick<Browser, 'newContext' | 'newPage'>;

/**
 * One Chromium for the calling test file: launched in `beforeAll`, closed in `afterAll`. Call it at
 * the file's top level; the browser it returns is usable inside tests and hooks that run after the
 * launch.
 */
export function useChromium(): TestBrowser {
  let browser: Browser | undefined;
  beforeAll(async () => {
    browser = await launchChromium();
  }, 30_000);
  afterAll(async () => {
    await browser?.close();
  });
  const launched = (): Browser => {
    if (browser === undefined) throw new Error('useChromium: the browser is launched in beforeAll; use it inside a test');
    return browser;
  };
  return {
    newContext: (options) => launched().newContext(options),
    newPage: (options) => launched().newPage(options),
  };
}
