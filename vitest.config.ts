import { configDefaults, defineConfig } from 'vitest/config';

// Two groups, one after the other. First the tests by subject, two files at a time: each uses its own queue
// prefix, bucket and free loopback ports, so files do not share state. Then test/e2e, one file at a time:
// its suites spawn `cxr worker` processes that load the model, and its lock and drain timings must not share
// the CPU with another file. The fault suite has its own config (test/faults/vitest.config.ts); npm test runs
// it after these.
export default defineConfig({
  test: {
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    pool: 'forks',
    projects: [
      {
        extends: true,
        test: {
          name: 'by-subject',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, 'test/faults/**', 'test/e2e/**'],
          fileParallelism: true,
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
