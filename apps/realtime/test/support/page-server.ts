/**
 * A test page for Chromium: a TypeScript entry under `test/page/` bundled with esbuild (the
 * unchanged client libraries inside) and served from its own origin, as a Supabase project's web
 * app is served from another origin than the realtime server.
 */
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/** A served page: open `${url}/?…` (the page reads its settings from the query). */
export interface PageServer {
  readonly url: string;
  close(): Promise<void>;
}

/** Bundles `test/page/<entry>` and serves it as the only script of every page. */
export async function servePage(entry: string): Promise<PageServer> {
  const bundle = await build({
    entryPoints: [fileURLToPath(new URL(`../page/${entry}`, import.meta.url))],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    write: false,
  });
  const script = bundle.outputFiles[0]!.text;
  const server = createServer((req, res) => {
    if (req.url?.startsWith('/app.js')) return void res.writeHead(200, { 'content-type': 'text/javascript' }).end(script);
    res
      .writeHead(200, { 'content-type': 'text/html' })
      .end('<!doctype html><meta charset="utf-8"><title>realtime page</title><script type="module" src="/app.js"></script>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    url: `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
