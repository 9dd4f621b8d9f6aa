/**
 * The page's static assets: `web/app.ts` and the modules it imports, bundled with esbuild (the
 * official `phoenix` client included). Under `npm start` it is bundled at startup, in memory, so
 * there is no separate build step and never a stale bundle. The production server (`dist/server.js`, built by `build.mjs`)
 * serves the bundle made with it instead: no compiler at run time, no esbuild process beside the
 * server.
 *
 * Each asset is compressed once, when it is built (brotli and gzip, through `node:zlib`), and
 * carries a strong `ETag` of its content: {@link serveAsset} picks the encoding the request
 * accepts and answers a matching `If-None-Match` with 304, so a returning page revalidates its
 * script and style sheet without downloading them again.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { brotliCompressSync, constants as zlib, gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';

/** Defined as `true` by `build.mjs` in the production bundle, whose page is `dist/app.js`. */
declare const CHAT_PAGE_PREBUILT: boolean | undefined;

/** One servable file, with its compressed forms computed once. */
export interface Asset {
  readonly contentType: string;
  readonly body: Buffer;
  /** A strong validator of `body` (quoted), the same for every encoding's representation but suffixed per encoding. */
  readonly etag: string;
  /** `body` compressed with brotli, or null when that would not make it smaller. */
  readonly br: Buffer | null;
  /** `body` compressed with gzip, or null when that would not make it smaller. */
  readonly gzip: Buffer | null;
}

/** Makes an asset of `body`: its ETag and compressed forms. */
export function asset(contentType: string, body: Buffer): Asset {
  const hash = createHash('sha256').update(body).digest('base64url').slice(0, 27);
  const smaller = (compressed: Buffer): Buffer | null => (compressed.length < body.length ? compressed : null);
  return {
    contentType,
    body,
    etag: `"${hash}"`,
    br: smaller(
      brotliCompressSync(body, {
        params: { [zlib.BROTLI_PARAM_QUALITY]: 11, [zlib.BROTLI_PARAM_MODE]: zlib.BROTLI_MODE_TEXT, [zlib.BROTLI_PARAM_SIZE_HINT]: body.length },
      }),
    ),
    gzip: smaller(gzipSync(body, { level: 9 })),
  };
}

/** The content codings `accept` (an `Accept-Encoding` header) allows, without those it gives q=0. */
function acceptedCodings(accept: string | undefined): Set<string> {
  const codings = new Set<string>();
  for (const part of (accept ?? '').split(',')) {
    const [name = '', ...params] = part.trim().toLowerCase().split(';');
    const q = params.map((param) => param.trim()).find((param) => param.startsWith('q='));
    if (name !== '' && (q === undefined || Number(q.slice(2)) > 0)) codings.add(name.trim());
  }
  return codings;
}

/** Whether an `If-None-Match` header names `etag` (weak comparison, as RFC 9110 asks for it). */
function matches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false;
  if (ifNoneMatch.trim() === '*') return true;
  return ifNoneMatch.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);
}

/**
 * Answers a GET or HEAD for `served`: brotli or gzip when the request accepts it (brotli first),
 * with `Vary: Accept-Encoding`, an `ETag` per representation and `Cache-Control: no-cache` (the
 * names are stable, so a page revalidates them on every load: one round trip, a 304 when nothing
 * changed); `headers` are added (the security headers).
 */
export function serveAsset(req: IncomingMessage, res: ServerResponse, served: Asset, headers: OutgoingHttpHeaders): void {
  const accepted = acceptedCodings(req.headers['accept-encoding']);
  const [encoding, body] =
    served.br !== null && accepted.has('br')
      ? ['br', served.br]
      : served.gzip !== null && (accepted.has('gzip') || accepted.has('x-gzip'))
        ? ['gzip', served.gzip]
        : [null, served.body];
  // A representation's validator differs per coding (RFC 9110 8.8.3): a cache never mixes them up.
  const etag = encoding === null ? served.etag : `${served.etag.slice(0, -1)}-${encoding}"`;
  const common: OutgoingHttpHeaders = { ...headers, etag, 'cache-control': 'no-cache', vary: 'Accept-Encoding' };
  if (matches(req.headers['if-none-match'], etag)) {
    res.writeHead(304, common).end();
    return;
  }
  res.writeHead(200, {
    ...common,
    'content-type': served.contentType,
    'content-length': body.length,
    ...(encoding === null ? {} : { 'content-encoding': encoding }),
  });
  res.end(req.method === 'HEAD' ? undefined : body);
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
    ['/', asset('text/html; charset=utf-8', await readFile(`${webDir}index.html`))],
    ['/assets/app.js', asset('text/javascript; charset=utf-8', await pageScript())],
    ['/assets/app.css', asset('text/css; charset=utf-8', await readFile(`${webDir}app.css`))],
  ]);
}
