import { defineConfig } from 'vitest/config';

// Every workspace's tests in one run (`npm test`); each workspace also runs its own with `npm test -w <name>`.
export default defineConfig({
  test: {
    projects: ['packages/starling', 'apps/chat', 'apps/realtime'],
    reporters: ['default', ['json', { outputFile: 'test-results/vitest.json' }]],
  },
});
