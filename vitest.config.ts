import { defineConfig } from 'vitest/config';

// Every workspace's tests in one run (`npm test`); each workspace also runs its own with `npm test -w <name>`.
export default defineConfig({
  test: {
    projects: ['packages/starling', 'apps/chat', 'apps/realtime'],
    reporters: ['default', ['json', { outputFile: 'test-results/vitest.json' }]],
    // Most test files spend their time waiting on sockets, child processes, databases and
    // browsers, not on the CPU: two files at a time keep two cores busy. (Vitest's default, one
    // less than the cores, runs this suite one file at a time on a two-core machine; three at a
    // time was faster still but made timing-sensitive tests flaky.) Every file brings its own
    // ports, Redis prefixes or servers, databases and browser, so files in parallel share
    // nothing. `--maxWorkers` overrides it.
    maxWorkers: 2,
  },
});
