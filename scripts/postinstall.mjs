// `npm install` / `npm ci`: builds what the apps run from.
// - The framework's dist/ (tsc), which the apps and tests import as `starling-channels`; skipped,
//   saying so, when TypeScript is not installed (`npm ci --omit=dev` for production).
// - The chat's production server, apps/chat/dist/server.js (esbuild, a dependency of the chat):
//   always, since it bundles the framework from its sources and needs no compiler.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const run = (command, args) => execFileSync(command, args, { stdio: 'inherit' });

let typescript = null;
try {
  typescript = require.resolve('typescript/bin/tsc');
} catch {
  console.log('postinstall: TypeScript is not installed (a production install): the framework is not compiled; the chat runs from apps/chat/dist/server.js');
}
if (typescript !== null) run('npm', ['run', 'build', '--workspace', 'starling-channels']);
run(process.execPath, ['apps/chat/build.mjs']);
