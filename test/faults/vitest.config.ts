import { defineConfig } from 'vitest/config';

// The fault suite (npm run test:faults): it starts, kills and restarts its own redis-server, S3 server and
// `cxr worker` processes, so it runs alone, one file at a time.
export default defineConfig({
  test: {
    include: ['test/faults/**/*.test.ts'],
    testTimeout: 300_000,
    hookTimeout: 300_000,
    fileParallelism: false,
    pool: 'forks',
  },
});
