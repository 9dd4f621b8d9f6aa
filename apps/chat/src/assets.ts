/**
 * The page's static assets: `web/app.ts` and the modules it imports, bundled with esbuild (the
 * official `phoenix` client included). Under `npm start` it is bundled at startup, in memory, so
 * there is no separate build step and never a stale bundle. The production server (`dist/server.js`, built by `build.mjs`)
 * serves the bundle made with it instead: no compiler at run time, no esbuild process beside the
 * server.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

/** Defined as `true` by `build.mjs` in the production bundle, whose page is `dist/app.js`. */
declare const CHAT_PAGE_PREBUILT: boolean | undefined;

/** One servable file. */
export interface Asset {
  readonly contentType: string;
  readonly body: Buffer;
}

const webDir = fileURLToPath(new URL('../web/', import.meta.url));

/** The page's script: bundled now, or the production bundle's. */
async function pageScript(): Promise<Buffer> {
  if (typeof CHAT_PAGE_PREBUILT !== 'undefined' && CHAT_PAGE_PREBUILT) return readFile(new URL('./app.js', import.meta.url));
  const { build } = await import('esbuild');
  // The same options as `build.mjs`'s page bundle.
  const bundle = await build({
    entryPoints: [`${webDir}app.ts`],
    bundle: true,
    format: 'esm',
    target: 'es2020',
    minify: true,
    write: false,
    logLevel: 'silent',
  });
  const script = bundle.outputFiles[0];
  if (script === undefined) throw new Error('esbuild produced no output for the chat page');
  return Buffer.from(script.contents);
}

/** Builds the page: path → asset. */
export async function buildAssets(): Promise<Map<string, Asset>> {
  return new Map<string, Asset>([
    ['/', { contentType: 'text/html; charset=utf-8', body: await readFile(`${webDir}index.html`) }],
    ['/assets/app.js', { contentType: 'text/javascript; charset=utf-8', body: await pageScript() }],
    ['/assets/app.css', { contentType: 'text/css; charset=utf-8', body: await readFile(`${webDir}app.css`) }],
  ]);
}
