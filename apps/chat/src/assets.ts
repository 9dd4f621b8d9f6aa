/**
 * The page's static assets: `web/app.ts` and the modules it imports bundled with esbuild (the
 * official `phoenix` client included) at startup, in memory, so `npm start` needs no separate build
 * step and never serves a stale bundle.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/** One servable file. */
export interface Asset {
  readonly contentType: string;
  readonly body: Buffer;
}

const webDir = fileURLToPath(new URL('../web/', import.meta.url));

/** Builds the page: path → asset. */
export async function buildAssets(): Promise<Map<string, Asset>> {
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
  return new Map<string, Asset>([
    ['/', { contentType: 'text/html; charset=utf-8', body: await readFile(`${webDir}index.html`) }],
    ['/assets/app.js', { contentType: 'text/javascript; charset=utf-8', body: Buffer.from(script.contents) }],
    ['/assets/app.css', { contentType: 'text/css; charset=utf-8', body: await readFile(`${webDir}app.css`) }],
  ]);
}
