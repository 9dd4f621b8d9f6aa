// Builds the chat's production server, `dist/server.js`: one ES module that plain `node` runs
// (no tsx, no npm in the process chain), with the framework bundled in from its TypeScript
// sources so that `npm ci --omit=dev` (no TypeScript compiler) still yields a runnable server.
// Dependencies stay in node_modules. The page is bundled now too, as `dist/app.js`, which the
// production server serves (`src/assets.ts`): it runs no esbuild of its own.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const framework = here('../../packages/starling/src/');
// The framework from its sources, for the server and the page alike.
const alias = {
  'starling-channels/redis': `${framework}redis/index.ts`,
  'starling-channels/nats': `${framework}nats/index.ts`,
  'starling-channels/metrics': `${framework}metrics/index.ts`,
  'starling-channels/client': `${framework}client/index.ts`,
  'starling-channels': `${framework}index.ts`,
};

await build({
  entryPoints: [here('src/server.ts')],
  outfile: here('dist/server.js'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  alias,
  // An ES module bundle of CommonJS-era code may still call require().
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
  define: { CHAT_PAGE_PREBUILT: 'true' },
  sourcemap: true,
  logLevel: 'warning',
});

await build({
  entryPoints: [here('web/app.ts')],
  outfile: here('dist/app.js'),
  bundle: true,
  format: 'esm',
  target: 'es2020',
  minify: true,
  alias,
  logLevel: 'warning',
});
